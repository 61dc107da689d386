#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus): well-formed messages of every
kind, so the fuzzer starts from inputs that get past the first checks. Run from anywhere; the
files are committed, this script documents how they were made."""
import os, struct

here = os.path.dirname(os.path.abspath(__file__))
boot = os.path.join(here, "corpus", "bootstrap")
params = os.path.join(here, "corpus", "params")
os.makedirs(boot, exist_ok=True)
os.makedirs(params, exist_ok=True)

def put(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def fnv1a(b):
    h = 2166136261
    for x in b:
        h = ((h ^ x) * 16777619) & 0xffffffff
    return h

def hello(rank, nranks, secret=bytes(16), version=2, size=232):
    hostid = b"host/boot-id".ljust(128, b"\0")
    hostname = b"node0".ljust(64, b"\0")
    return struct.pack("<III16siii", 0x4f4c4548, size, version, secret, rank, nranks, 99) + hostid + hostname

put(boot, "hello_ok", b"\0" + hello(1, 4))
put(boot, "hello_bad_secret", b"\0" + hello(1, 4, secret=b"\x5a" * 16))
put(boot, "hello_oversized", b"\0" + hello(1, 4, size=0x7fffffff))
put(boot, "hello_truncated", b"\0" + hello(1, 4)[:20])
put(boot, "frame_data", b"\1" + struct.pack("<IIQ", 0x4d415246, 1, 96) + struct.pack("<Q", 96))
put(boot, "frame_error", b"\1" + struct.pack("<IIQ", 0x4d415246, 2, 40) + struct.pack("<Q", 0))
put(boot, "error_payload", b"\2" + struct.pack("<i", 6) + b"init timed out: rank 3 never arrived\0")
entry = lambda host, name: struct.pack("<ii", host, 1000) + name.ljust(64, b"\0")
put(boot, "host_table", b"\3" + entry(0, b"a") + entry(0, b"a") + entry(1, b"b") + entry(2, b"c"))
# A unique id for 127.0.0.1:29500 (sockaddr_in: family 2, port, address, padding).
sa = struct.pack("<H", 2) + struct.pack(">H", 29500) + bytes([127, 0, 0, 1]) + bytes(8)
body = struct.pack("<IIII", 0x4449534e, 1, 1, 16) + sa.ljust(28, b"\0") + bytes(range(16)) + bytes(64)
put(boot, "unique_id", b"\4" + body + struct.pack("<I", fnv1a(body)))

src = os.path.join(here, "..", "..", "topologies", "presets")
for name in sorted(n for n in os.listdir(src) if n.endswith(".conf")):
    with open(os.path.join(src, name), "rb") as f:
        put(params, "file_" + name, b"\0" + f.read())
specs = [
    "torus:dims=4x4x4,dim_bandwidth=2e9,2e9,1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9",
    "torus:dims=2x3x4,link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9,forward=store",
    "switch:ranks=8,levels=2,ranks_per_switch=4,spine_bandwidth=1e10,link_bandwidth=1e10",
    "host:ranks=6,ranks_per_host=3",
    "efa:servers=2,nic=server,nic_bandwidth=25e9,network_latency=15e-6,inner.module=switch,inner.ranks=3",
]
for i, s in enumerate(specs):
    put(params, "spec_%d" % i, b"\1" + s.encode())
