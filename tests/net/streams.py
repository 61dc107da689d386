#!/usr/bin/env python3
"""One side of a TCP throughput probe over K connections (scripts/net-streams runs both sides).

    streams.py recv PORT K MIB REPS
    streams.py send HOST PORT K MIB REPS

The sender moves MIB MiB per repetition, split evenly over K connections that one thread drives
without blocking (as one libfabric endpoint drives its sockets), and waits for a one-byte reply
from the receiver after each repetition. It prints the median and best rate over the repetitions.
This asks one question: do several connections per peer pair move bytes faster than one between
these two hosts (NCCL opens several sockets per peer for that reason)."""
import select
import socket
import sys
import time


def recv(port, k, mib, reps):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(k)
    conns = [ls.accept()[0] for _ in range(k)]
    buf = memoryview(bytearray(4 << 20))
    share = (mib << 20) // k
    for _ in range(reps):
        left = {c: share for c in conns}
        for c in conns:
            c.setblocking(False)
        while left:
            ready, _, _ = select.select(list(left), [], [])
            for c in ready:
                n = c.recv_into(buf[: min(len(buf), left[c])])
                if n == 0:
                    sys.exit("streams: the sender closed a connection early")
                left[c] -= n
                if left[c] == 0:
                    del left[c]
        for c in conns:
            c.setblocking(True)
            c.sendall(b"x")


def send(host, port, k, mib, reps):
    conns = []
    for _ in range(k):
        for attempt in range(50):  # the receiver may still be starting
            try:
                s = socket.create_connection((host, port))
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        else:
            sys.exit(f"streams: cannot connect to {host}:{port}")
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(s)
    share = (mib << 20) // k
    data = memoryview(bytearray(share))
    took = []
    for _ in range(reps):
        t0 = time.perf_counter()
        off = {c: 0 for c in conns}
        for c in conns:
            c.setblocking(False)
        while off:
            _, ready, _ = select.select([], list(off), [])
            for c in ready:
                try:
                    off[c] += c.send(data[off[c]:])
                except BlockingIOError:
                    continue
                if off[c] == share:
                    del off[c]
        for c in conns:
            c.setblocking(True)
            if c.recv(1) != b"x":
                sys.exit("streams: no reply from the receiver")
        took.append(time.perf_counter() - t0)
    took.sort()
    total = share * k
    print(f"{k} connection(s), {mib} MiB: median {total / took[len(took) // 2] / 1e9:.2f} GB/s, "
          f"best {total / took[0] / 1e9:.2f} GB/s over {reps}")


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "recv":
        recv(int(a[1]), int(a[2]), int(a[3]), int(a[4]))
    elif len(a) == 6 and a[0] == "send":
        send(a[1], int(a[2]), int(a[3]), int(a[4]), int(a[5]))
    else:
        sys.exit(__doc__)
