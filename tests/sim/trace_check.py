#!/usr/bin/env python3
"""Timelines and link use of simulated runs (docs/simulator.md, "Timelines and link use").

Runs nsccl-model --sim --trace / --links-csv and nsccl-claims --trace, loads every trace with
Python's json module (a real parser, not the code that wrote it) and checks what the format and
the simulation promise:
  - the Trace Event Format shape: traceEvents, displayTimeUnit, process_name / thread_name metadata
    for every rank and every link that has slices;
  - every slice lies inside the collective's span; every link's busy intervals are disjoint and
    add up to at most the span;
  - every message is accounted: SEND bytes == RECV + RECV_REDUCE bytes == message bytes == what the
    schedule sends by the textbook (ring all-reduce: 2 (n-1) B in all); the bytes-in-flight counter
    never goes negative and ends at zero;
  - the link table against a hand computation: a ring all-gather on an 8-ring torus puts
    (n-1)/n B on each link i -> i+1 and nothing on the reverse links, busy B (n-1)/n / bandwidth,
    span (n-1) (alpha + B/n / bandwidth + latency);
  - the limit: --trace-limit caps the events, the file stays valid and says from when it dropped;
  - scripts/plot-trace renders a trace into a PNG (when gnuplot is installed).

usage: trace_check.py NSCCL_MODEL NSCCL_CLAIMS [PLOT_TRACE]
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

MODEL, CLAIMS = sys.argv[1], sys.argv[2]
PLOT = sys.argv[3] if len(sys.argv) > 3 else None  # scripts/plot-trace
TMP = tempfile.mkdtemp(prefix="nsccl-trace-")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def run(cmd, expect=0):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    check(p.returncode == expect,
          "%s exited %d (expected %d): %s" % (" ".join(cmd), p.returncode, expect, p.stderr.strip()[:300]))
    return p


def load(path):
    with open(path) as f:
        return json.load(f)


def check_trace(d, name, truncated_ok=False):
    """The invariants of every run in trace d; returns the runs' per-run facts."""
    check(isinstance(d.get("traceEvents"), list), name + ": traceEvents is a list")
    check(d.get("displayTimeUnit") in ("ms", "ns"), name + ": displayTimeUnit ms or ns")
    meta = d.get("nsccl", {})
    runs = meta.get("runs", [])
    check(len(runs) >= 1, name + ": at least one run in the nsccl table")
    events = d["traceEvents"]
    limited = [e for e in events if e["ph"] not in ("M", "C") and e.get("name") != "collective"]
    check(len(limited) == meta.get("events"), name + ": events counted as written (%d vs %s)" %
          (len(limited), meta.get("events")))
    check(len(limited) <= meta.get("event_limit", 0), name + ": no more events than the limit")
    by_pid = {}
    for e in events:
        by_pid.setdefault(e.get("pid"), []).append(e)
    pids = set()
    for run_ in runs:
        rp, lp, n = run_["ranks_pid"], run_["links_pid"], run_["ranks"]
        label = "%s [%s]" % (name, run_["label"])
        check(rp not in pids and lp not in pids and rp != lp, label + ": pids of its own")
        pids.update((rp, lp))
        span = run_["span_us"]
        eps = 2e-4 + 1e-9 * span  # slices are printed to 0.1 ns
        ev_r, ev_l = by_pid.get(rp, []), by_pid.get(lp, [])
        pnames = {e["pid"]: e["args"]["name"] for e in ev_r + ev_l if e["ph"] == "M" and e["name"] == "process_name"}
        check(pnames.get(rp, "").endswith(": ranks") and pnames.get(lp, "").endswith(": links"),
              label + ": process_name metadata for both processes")
        tnames_r = {e["tid"]: e["args"]["name"] for e in ev_r if e["ph"] == "M" and e["name"] == "thread_name"}
        tnames_l = {e["tid"]: e["args"]["name"] for e in ev_l if e["ph"] == "M" and e["name"] == "thread_name"}
        check(all(tnames_r.get(r + 1) == "rank %d" % r for r in range(n)), label + ": a named track per rank")
        coll = [e for e in ev_r if e["ph"] == "X" and e["name"] == "collective"]
        check(len(coll) == 1 and abs(coll[0]["dur"] - span) <= eps, label + ": one collective slice over the span")
        steps = [e for e in ev_r if e["ph"] == "X" and e.get("cat") == "step"]
        links = [e for e in ev_l if e["ph"] == "X"]
        for e in steps + links:
            if not check(e["dur"] >= 0 and e["ts"] >= -eps and e["ts"] + e["dur"] <= span + eps,
                         label + ": slice %s inside the span [0, %.6f]" % (json.dumps(e), span)):
                break
        check(all(e["tid"] >= 1 for e in steps), label + ": steps on rank tracks")
        lanes = {}
        for e in steps:
            lanes.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
        for tid, iv in lanes.items():
            r, lane = (tid - 1) % n, (tid - 1) // n
            check(tnames_r.get(tid) == ("rank %d lane %d" % (r, lane) if lane else "rank %d" % r),
                  label + ": track %d named after rank %d lane %d (%s)" % (tid, r, lane, tnames_r.get(tid)))
            iv.sort()
            # Perfetto nests the slices of one thread: concurrent steps must sit on separate lanes.
            if run_.get("crowded_slices", 0) == 0:
                check(all(iv[i + 1][0] >= iv[i][1] - eps for i in range(len(iv) - 1)),
                      label + ": slices of track %d do not overlap" % tid)
        per_link = {}
        for e in links:
            per_link.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"], e["args"]["bytes"]))
        for tid, iv in per_link.items():
            check(tnames_l.get(tid, "").startswith("link %d: " % (tid - 1)), label + ": link track %d named" % tid)
            iv.sort()
            check(all(iv[i + 1][0] >= iv[i][1] - eps for i in range(len(iv) - 1)),
                  label + ": busy intervals of link %d disjoint" % (tid - 1))
            check(sum(b - a for a, b, _ in iv) <= span + eps, label + ": link %d busy at most the span" % (tid - 1))
        truncated = run_["truncated_at_us"] is not None
        if truncated:
            check(truncated_ok, label + ": truncated only where the test asks for a limit")
            continue
        check(meta.get("dropped_events") == 0 or truncated_ok, label + ": nothing dropped")
        sends = [e for e in steps if e["name"] == "SEND"]
        recvs = [e for e in steps if e["name"] in ("RECV", "RECV_REDUCE")]
        sb, rb = sum(e["args"]["bytes"] for e in sends), sum(e["args"]["bytes"] for e in recvs)
        check(sb == rb == run_["message_bytes"] == run_["send_bytes"] == run_["recv_bytes"],
              label + ": SEND bytes %d == RECV bytes %d == message bytes %s" % (sb, rb, run_["message_bytes"]))
        check(len(sends) == len(recvs) == run_["messages"], label + ": one SEND and one receive per message")
        check(len(steps) == run_["steps"], label + ": a slice per step")
        check(all(0 <= e["args"]["peer"] < n for e in sends + recvs), label + ": peers are ranks")
        check(all(e["args"].get("ready_us", e["ts"]) <= e["ts"] + eps for e in sends + recvs),
              label + ": a transfer starts when its step is ready or later")
        check(all(e["args"]["peer"] != (e["tid"] - 1) % n for e in sends), label + ": nobody sends to itself here")
        ctr = sorted((e["ts"], e["args"]["bytes"]) for e in ev_r if e["ph"] == "C")
        check(len(ctr) == run_["counter_points"] and len(ctr) <= max(1000, meta["event_limit"] // 10) + 1,
              label + ": counter points counted and within their budget")
        if check(len(ctr) > 0, label + ": a bytes-in-flight counter"):
            check(min(v for _, v in ctr) >= 0 and ctr[-1][1] == 0, label + ": in flight >= 0 and ends at 0")
            check(max(v for _, v in ctr) <= run_["message_bytes"], label + ": in flight at most all bytes")
        link_bytes = sum(e["args"]["bytes"] for e in links)
        check(link_bytes >= run_["message_bytes"],
              label + ": links carried at least every message once (%d vs %d)" % (link_bytes, run_["message_bytes"]))
    return runs


def trace_of(args, name, expect_runs=None, truncated_ok=False):
    path = os.path.join(TMP, name + ".json")
    p = run([MODEL] + args + ["--sim", "--trace", path])
    if p.returncode != 0 or not check(os.path.exists(path), name + ": trace written"):
        return None, None
    d = load(path)
    runs = check_trace(d, name, truncated_ok)
    if expect_runs is not None:
        check(len(runs) == expect_runs, name + ": %d runs (got %d)" % (expect_runs, len(runs)))
    print("%s: %d events, %d bytes" % (name, len(d["traceEvents"]), os.path.getsize(path)))
    return d, runs


# ---- ring all-reduce on trn2-16: the textbook bytes ----
MIB = 1 << 20
d, runs = trace_of(["--topo", "trn2-16", "--coll", "allreduce", "--algo", "ring/topo", "-b", "1M", "-e", "1M"],
                   "ring16", 1)
if runs:
    n = runs[0]["ranks"]
    check(runs[0]["message_bytes"] == 2 * (n - 1) * MIB,
          "ring16: ring all-reduce sends 2 (n-1) B = %d bytes (trace: %s)" % (2 * (n - 1) * MIB,
                                                                              runs[0]["message_bytes"]))

# ---- the Gantt rendering of docs/simulator.md ----
if PLOT and shutil.which("gnuplot"):
    png = os.path.join(TMP, "ring16.png")
    p = run([sys.executable, PLOT, os.path.join(TMP, "ring16.json"), png])
    if p.returncode == 0:
        with open(png, "rb") as f:
            if check(f.read(8) == b"\x89PNG\r\n\x1a\n", "plot-trace wrote a PNG"):
                print("plot-trace: %d bytes of PNG" % os.path.getsize(png))

# ---- more shapes: store-and-forward torus, switch, tree, every family in a sweep ----
trace_of(["--topo", "torus:dims=4x2,link_bandwidth=1e10,endpoint_overhead=1e-6,link_latency=1e-7,"
          "reduce_bandwidth=1e10,forward=store", "--coll", "allgather", "--algo", "direct", "-b", "64K", "-e", "64K"],
         "store8", 1)
d, runs = trace_of(["--topo", "trn3-u64", "--coll", "reducescatter", "--algo", "tree", "-b", "256K", "-e", "256K"],
                   "switch64", 1)
if runs:
    names = [e["args"]["name"] for e in d["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"]
    check(any(nm.endswith("rank 0 -> switch 0") for nm in names) and any("switch 0 -> rank 0" in nm for nm in names),
          "switch64: links named by their endpoints, the switch included")
sweep_csv = os.path.join(TMP, "sweep.csv")
d, runs = trace_of(["--topo", "trn2-16", "--coll", "allreduce", "--algo", "all", "-b", "4K", "-e", "16K", "-f", "4",
                    "--links-csv", sweep_csv], "sweep", 6)

# ---- the link table and the trace agree, per link ----
if runs:
    with open(sweep_csv) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) == 6 * 64, "sweep: a CSV row per link per run (%d)" % len(rows))
    first = runs[0]
    lp = first["links_pid"]
    tr_busy, tr_bytes = {}, {}
    for e in d["traceEvents"]:
        if e["ph"] == "X" and e["pid"] == lp:
            tr_busy[e["tid"] - 1] = tr_busy.get(e["tid"] - 1, 0) + e["dur"]
            tr_bytes[e["tid"] - 1] = tr_bytes.get(e["tid"] - 1, 0) + e["args"]["bytes"]
    mine = [r for r in rows if r["algorithm"] == "ring" and r["bytes"] == "4096"]
    check(len(mine) == 64, "sweep: 64 links of the first run in the CSV")
    for r in mine:
        l = int(r["link"])
        if not check(abs(float(r["busy_us"]) - tr_busy.get(l, 0)) <= 1e-4 and
                     float(r["carried_bytes"]) == tr_bytes.get(l, 0),
                     "sweep: link %d: CSV busy %s us / %s bytes, trace %s us / %s bytes" %
                     (l, r["busy_us"], r["carried_bytes"], tr_busy.get(l), tr_bytes.get(l))):
            break

# ---- --links against a hand computation: ring all-gather on an 8-ring ----
N, B, BW, ALPHA, LAT = 8, 8 * MIB, 1e9, 1e-6, 1e-7
spec = ("torus:dims=%d,link_bandwidth=%g,endpoint_overhead=%g,link_latency=%g,reduce_bandwidth=1e10" %
        (N, BW, ALPHA, LAT))
lcsv = os.path.join(TMP, "ring8.csv")
p = run([MODEL, "--topo", spec, "--coll", "allgather", "--algo", "ring/topo", "-b", str(B), "-e", str(B), "--sim",
         "--links=3", "--links-csv", lcsv])
if p.returncode == 0:
    with open(lcsv) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) == 2 * N, "ring8: %d directed links" % (2 * N))
    per = B * (N - 1) // N
    span_ref = (N - 1) * (ALPHA + B / N / BW + LAT) * 1e6
    for r in rows:
        a, b = int(r["from"].split()[1]), int(r["to"].split()[1])
        want = per if b == (a + 1) % N else 0
        check(int(r["carried_bytes"]) == want, "ring8: link %s -> %s carries %d (got %s)" % (a, b, want,
                                                                                           r["carried_bytes"]))
        check(abs(float(r["busy_us"]) - want / BW * 1e6) <= 1e-3, "ring8: link %s -> %s busy %.3f us (got %s)" %
              (a, b, want / BW * 1e6, r["busy_us"]))
        check(abs(float(r["span_us"]) - span_ref) <= 1e-3 * span_ref,
              "ring8: span %.3f us = (n-1)(alpha + B/n/bw + latency) (got %s)" % (span_ref, r["span_us"]))
        check(abs(float(r["busy_share"]) - want / BW * 1e6 / float(r["span_us"])) <= 1e-5, "ring8: share")
    table = [ln for ln in p.stdout.splitlines() if ln.strip() and ln.split()[0].isdigit() and "rank" in ln]
    check(len(table) == 3, "ring8: --links=3 prints 3 rows (%d)" % len(table))
    check(all("%.2f%%" % (100 * per / BW * 1e6 / span_ref) in ln for ln in table),
          "ring8: the busiest rows show the hand-computed share: %s" % table)

# ---- the limit: capped, still valid JSON, says from when ----
path = os.path.join(TMP, "limited.json")
p = run([MODEL, "--topo", "trn2-16", "--coll", "allreduce", "--algo", "ring/topo", "-b", "1M", "-e", "1M", "--sim",
         "--trace", path, "--trace-limit", "200"])
if p.returncode == 0:
    d = load(path)
    runs = check_trace(d, "limited", truncated_ok=True)
    check(d["nsccl"]["events"] == 200 and d["nsccl"]["dropped_events"] > 0, "limited: 200 events, the rest dropped")
    check(runs and runs[0]["truncated_at_us"] is not None, "limited: truncated_at_us recorded")
    check("dropped" in p.stderr, "limited: the tool says it dropped events")
    # Every slice that ends before truncated_at_us is in the file: compare with the full trace.
    full = load(os.path.join(TMP, "ring16.json"))
    cut = runs[0]["truncated_at_us"] if runs else 0

    def key(e):
        return (e["pid"], e["name"], e["args"].get("step", -1), e["args"].get("bytes"), round(e["ts"], 3))

    have = {key(e) for e in d["traceEvents"] if e["ph"] == "X" and e.get("cat") in ("step", "link")}
    want = [e for e in full["traceEvents"] if e["ph"] == "X" and e.get("cat") in ("step", "link") and
            e["ts"] + e["dur"] < cut - 1e-3]
    check(len(want) > 0 and all(key(e) in have for e in want),
          "limited: all %d slices ending before %.3f us are kept" % (len(want), cut))

# ---- the counter's own budget: downsampled to peaks, still >= 0 and back to 0 ----
# (direct RS + AG all-reduce on trn3-u64 at 1 MiB: about 21,000 events and 3,800 distinct counter
# times, over the counter's budget of a tenth of the event limit)
d, runs = trace_of(["--topo", "trn3-u64", "--coll", "allreduce", "--algo", "direct/rsag", "-b", "1M", "-e", "1M",
                    "--trace-limit", "30000"], "sampled", 1)
if runs:
    check(runs[0]["counter_sampled"] and runs[0]["counter_points"] <= 3001,
          "sampled: the counter is downsampled to its budget (%d points)" % runs[0]["counter_points"])

# ---- nsccl-claims: the peak point of each collective, both sides ----
path = os.path.join(TMP, "claims.json")
p = run([CLAIMS, "--torus", "trn2-16", "--switch", "trn3-u64", "--coll", "allgather,allreduce", "-b", "64K", "-e",
         "1M", "-f", "4", "--selected-only", "--quiet", "--trace", path, "--links=2"])
if p.returncode == 0:
    d = load(path)
    runs = check_trace(d, "claims")
    check(len(runs) == 4, "claims: two collectives x two sides (%d runs)" % len(runs))
    check(p.stdout.count("# busiest links at the peak") == 4, "claims: four link tables")

# ---- errors are clear, nothing half-written ----
run([MODEL, "--topo", "trn2-16", "--trace", os.path.join(TMP, "x.json")], expect=2)
p = run([MODEL, "--topo", "trn2-16", "-b", "1K", "-e", "1K", "--sim", "--trace", "/nonexistent/dir/x.json"], expect=1)
check("cannot create" in p.stderr, "unwritable trace path named: " + p.stderr.strip())
run([MODEL, "--topo", "trn2-16", "--sim", "--links", "--csv"], expect=2)
run([CLAIMS, "--torus", "trn2-16", "--switch", "trn3-u64", "--links=0"], expect=2)

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("all trace checks passed")
