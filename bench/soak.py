#!/usr/bin/env python3
"""Soak (issue 8): one worker with 1,000 HTTP probes against a local nginx for a while,
sampling every 10 s its resident memory, open file descriptors, the state file's size
and the schedule lag; it fails when one of them keeps growing.

The probes, by design: 60 % answer 200 at once, 15 % always 503, 10 % are slow (a 3 KB
body at 1 KB/s, about 3 s), 15 % flap (503 on half the requests, at random). Interval
10 s, timeout 5 s, confirm 2; every probe goes to the one nginx, so the worker runs with
`--per-host 1000 --concurrency 256`.

  bench/soak.py [--seconds 600] [--bin PATH]   (10 minutes by default; an hour: --seconds 3600)

CI runs a 60-second soak of the debug binary (tests/testsuite/soak.rs).

A verdict per figure compares the last third of the samples with the first third after a
warm-up (210 s in runs of 450 s or more, while the state's windows fill; 30 s otherwise):
RSS may grow at most 25 % + 4 MB, open file descriptors (the most seen in each 10 s) at
most 16, the schedule lag (the largest gap between a probe's last two samples beyond its
interval) at most 2 s. The state file holds bounded windows (the last 20 samples, 168 hours, 400 days,
at most 500 transitions per probe), so it grows until they fill and then stops: it must
stay within 40 KB per probe. Needs nginx (Debian nginx-light) and a release build.
Exit code 0 when every figure is bounded, 1 otherwise.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from prober import Nginx, parse_at, project, stat  # bench/prober.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "pharos")
PROBES = 1000
INTERVAL = 10
STATE_BOUND_PER_PROBE = 40 * 1024


def start_nginx(tmp):
    with open(os.path.join(tmp, "slow.txt"), "w") as f:
        f.write("x" * 3072)
    nginx = Nginx(
        tmp,
        http='split_clients "${request_id}" $flap { 50% bad; * good; }',
        locations="""location /ok { return 200 "ok\\n"; }
    location /fail { return 503 "down\\n"; }
    location /slow { limit_rate 1k; limit_rate_after 0; try_files /slow.txt =404; }
    location /flap { if ($flap = bad) { return 503 "flap\\n"; } return 200 "ok\\n"; }""",
    )
    return nginx, nginx.port


def write_project(tmp, port):
    kinds = ["ok"] * 60 + ["fail"] * 15 + ["slow"] * 10 + ["flap"] * 15
    probes = "".join(
        f"  - id: p{i}\n    kind: http\n    url: http://127.0.0.1:{port}/{kinds[i % 100]}?p={i}\n"
        f"    components: [web]\n    interval: {INTERVAL}s\n    timeout: 5s\n    retries: 0\n"
        for i in range(PROBES))
    project(tmp, probes, region="soak")


def lag_s(state_path):
    """The schedule lag: the largest gap between a probe's last two samples beyond its
    interval. Unlike a sample's age, it does not depend on when in the probes' cycle the
    soak happens to look."""
    try:
        with open(state_path) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    worst = 0.0
    for p in state["probes"].values():
        recent = p.get("recent", [])
        if len(recent) >= 2:
            gap = parse_at(recent[-1]["at"]) - parse_at(recent[-2]["at"])
            worst = max(worst, gap - p.get("interval_s", INTERVAL))
    return max(worst, 0.0)


def verdicts(rows, warmup):
    body = [r for r in rows if r["t"] >= warmup] or rows
    third = max(1, len(body) // 3)
    first, last = body[:third], body[-third:]
    med = lambda rs, k: statistics.median(r[k] for r in rs)
    out = []
    a, b = med(first, "rss"), med(last, "rss")
    out.append(("RSS", f"{a:.1f} → {b:.1f} MB", b <= a * 1.25 + 4))
    a, b = max(r["fds"] for r in first), max(r["fds"] for r in last)
    out.append(("open fds", f"{a} → {b}", b <= a + 16))
    a, b = med(first, "lag"), med(last, "lag")
    out.append(("schedule lag", f"{a:.2f} → {b:.2f} s (median)", b <= a + 2))
    size = rows[-1]["state"]
    out.append(("state file", f"{rows[0]['state'] / 1024:.0f} → {size / 1024:.0f} KB "
                f"({size / PROBES / 1024:.1f} KB per probe; bound {STATE_BOUND_PER_PROBE // 1024} KB)",
                size <= PROBES * STATE_BOUND_PER_PROBE))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--bin", help="the pharos binary (default: target/release/pharos, built if missing)")
    args = ap.parse_args()
    global BIN
    if args.bin:
        BIN = args.bin
    elif not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="pharos-soak-")
    nginx, port = start_nginx(tmp)
    worker = None
    try:
        write_project(tmp, port)
        # Every probe goes to the one local nginx: lift the per-host politeness cap.
        worker = subprocess.Popen([BIN, "--root", tmp, "probe", "--region", "soak",
                                   "--per-host", "1000", "--concurrency", "256"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        state = os.path.join(tmp, "state", "soak.json")
        rows = []
        start = time.time()
        # The state's windows fill first (the last 20 samples take 20 intervals): the
        # verdicts compare what comes after.
        warmup = 21 * INTERVAL if args.seconds >= 450 else 30
        next_at = start
        while time.time() - start < args.seconds:
            # Open descriptors change within each round (checks in flight): take the most
            # seen over the 10 s, read once a second, so the figure does not depend on
            # where in the probes' cycle the soak looks.
            next_at += 10
            fds = 0
            while time.time() < min(next_at, start + args.seconds):
                fds = max(fds, len(os.listdir(f"/proc/{worker.pid}/fd")))
                time.sleep(max(0.0, min(1.0, next_at - time.time())))
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited with {worker.returncode}")
            now = time.time()
            row = {"t": round(now - start), "rss": stat(worker.pid)[2] / 2**20, "fds": fds,
                   "state": os.path.getsize(state) if os.path.exists(state) else 0,
                   "lag": lag_s(state) or 0.0}
            rows.append(row)
            print(f"  t={row['t']:>5}s rss={row['rss']:.1f} MB fds={row['fds']} (most in 10 s) "
                  f"state={row['state'] / 1024:.0f} KB lag={row['lag']:.2f} s", flush=True)
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
        ok = code == 0
        print(f"SOAK {PROBES} probes, {args.seconds} s, worker exit {code}:")
        for name, figures, good in verdicts(rows, warmup):
            ok &= good
            print(f"  {name}: {figures} — {'bounded' if good else 'GROWING'}")
        sys.exit(0 if ok else 1)
    finally:
        if worker and worker.poll() is None:
            worker.kill()
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
