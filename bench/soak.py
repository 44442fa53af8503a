#!/usr/bin/env python3
"""Soak (issue 8): one worker with 1,000 HTTP probes against a local nginx for a while,
sampling its resident memory, open file descriptors, the state file's size and the
schedule lag; it fails when memory or descriptors leak or the state file outgrows its bound.

The probes, by design: 60 % answer 200 at once, 15 % always 503, 10 % are slow (a 3 KB
body at 1 KB/s, about 3 s), 15 % flap (503 on half the requests, at random). Interval
10 s, timeout 5 s, confirm 2; every probe goes to the one nginx, so the worker runs with
`--per-host 1000 --concurrency 256`.

  bench/soak.py [--seconds 600] [--idle 20] [--bin PATH]   (10 minutes of load by default; an hour: --seconds 3600)

CI runs a short soak of the debug binary (tests/testsuite/soak.rs).

How many checks are in flight depends on how busy the machine is, so the verdicts do not
compare figures taken under load. The load runs between two idle phases, in which nginx
is stopped: every check is then refused at once, nothing stays in flight, and what the
worker still holds is what it keeps. The verdicts that hold on any machine:
- open fds: the fewest open in the idle phase after the load, against the fewest in the
  idle phase before it (at most 4 more: a state write may be under way);
- leaked sockets: none of the worker's sockets stays open through the whole idle phase
  after the load, beyond those it held before (no check lives that long);
- RSS: the idle memory after the load, against before it: at most 25 % + 8 MB more, plus
  what the state file grew (the state is held in memory);
- state file: within 40 KB per probe (its windows are bounded: the last 20 samples,
  168 hours, 400 days, at most 500 transitions per probe).
Runs of 450 s or more also report the schedule lag (the largest gap between a probe's last
two samples beyond its interval) in the first and last third of the load, after a 210 s
warm-up while the state's windows fill, and fail when it grows by more than 2 s: that one
is for a quiet machine. Needs nginx (Debian nginx-light) and a release build.
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


def fd_targets(pid):
    """{fd: what it points at} for the worker's open descriptors."""
    out = {}
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                out[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
    except OSError:
        pass
    return out


def idle(worker, seconds):
    """Watch an idle worker once a second: the fewest descriptors, the sockets open all
    along, and the median RSS of the second half."""
    fewest, steady, rss = None, None, []
    end = time.time() + seconds
    while time.time() < end:
        seen = fd_targets(worker.pid)
        fewest = len(seen) if fewest is None else min(fewest, len(seen))
        sockets = {t for t in seen.values() if t.startswith("socket:")}
        steady = sockets if steady is None else steady & sockets
        if time.time() > end - seconds / 2:
            rss.append(stat(worker.pid)[2] / 2**20)
        time.sleep(1)
    return {"fds": fewest or 0, "sockets": steady or set(), "rss": statistics.median(rss or [0.0])}


def lag_verdict(rows, warmup):
    body = [r for r in rows if r["t"] >= warmup] or rows
    third = max(1, len(body) // 3)
    med = lambda rs: statistics.median(r["lag"] for r in rs)
    a, b = med(body[:third]), med(body[-third:])
    return ("schedule lag", f"{a:.2f} → {b:.2f} s (median)", b <= a + 2)


def verdicts(before, after, state_before, state_after, rows, warmup, long_run):
    out = []
    out.append(("open fds", f"{before['fds']} → {after['fds']} (fewest while idle)",
                after["fds"] <= before["fds"] + 4))
    leaked = after["sockets"] - before["sockets"]
    out.append(("leaked sockets", f"{len(leaked)} open through the idle phase",
                not leaked))
    grown = max(0, state_after - state_before) / 2**20
    out.append(("RSS", f"{before['rss']:.1f} → {after['rss']:.1f} MB while idle "
                f"(the state grew {grown:.1f} MB)",
                after["rss"] <= before["rss"] * 1.25 + 8 + grown))
    out.append(("state file", f"{state_before / 1024:.0f} → {state_after / 1024:.0f} KB "
                f"({state_after / PROBES / 1024:.1f} KB per probe; bound {STATE_BOUND_PER_PROBE // 1024} KB)",
                state_after <= PROBES * STATE_BOUND_PER_PROBE))
    if long_run:
        out.append(lag_verdict(rows, warmup))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=600, help="the load phase")
    ap.add_argument("--idle", type=int, default=20, help="each idle phase (at least 3 timeouts)")
    ap.add_argument("--bin", help="the pharos binary (default: target/release/pharos, built if missing)")
    args = ap.parse_args()
    global BIN
    if args.bin:
        BIN = args.bin
    elif not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="pharos-soak-")
    nginx, worker = None, None
    size = lambda: os.path.getsize(state) if os.path.exists(state) else 0
    try:
        nginx, port = start_nginx(tmp)
        nginx.stop()
        write_project(tmp, port)
        # Every probe goes to the one local nginx: lift the per-host politeness cap.
        worker = subprocess.Popen([BIN, "--root", tmp, "probe", "--region", "soak",
                                   "--per-host", "1000", "--concurrency", "256"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        state = os.path.join(tmp, "state", "soak.json")
        # Idle before: every check refused at once (one full round of the probes first).
        time.sleep(INTERVAL)
        before = idle(worker, args.idle)
        state_before = size()
        print(f"  idle before: fds={before['fds']} rss={before['rss']:.1f} MB "
              f"state={state_before / 1024:.0f} KB", flush=True)
        nginx.start()
        long_run = args.seconds >= 450
        warmup = 21 * INTERVAL if long_run else 0
        rows = []
        start = time.time()
        next_at = start
        while time.time() - start < args.seconds:
            next_at += 10
            fds = 0
            while time.time() < min(next_at, start + args.seconds):
                fds = max(fds, len(os.listdir(f"/proc/{worker.pid}/fd")))
                time.sleep(max(0.0, min(1.0, next_at - time.time())))
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited with {worker.returncode}")
            row = {"t": round(time.time() - start), "rss": stat(worker.pid)[2] / 2**20,
                   "fds": fds, "state": size(), "lag": lag_s(state) or 0.0}
            rows.append(row)
            print(f"  t={row['t']:>5}s rss={row['rss']:.1f} MB fds={row['fds']} (most in 10 s) "
                  f"state={row['state'] / 1024:.0f} KB lag={row['lag']:.2f} s", flush=True)
        # Idle after: nginx stops; the checks still in flight end within their timeout.
        nginx.stop()
        time.sleep(5 + 1)
        after = idle(worker, args.idle)
        state_after = size()
        print(f"  idle after: fds={after['fds']} rss={after['rss']:.1f} MB "
              f"state={state_after / 1024:.0f} KB", flush=True)
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
        ok = code == 0
        print(f"SOAK {PROBES} probes, {args.seconds} s, worker exit {code}:")
        for name, figures, good in verdicts(before, after, state_before, state_after,
                                            rows, warmup, long_run):
            ok &= good
            print(f"  {name}: {figures} — {'bounded' if good else 'GROWING'}")
        sys.exit(0 if ok else 1)
    finally:
        if worker and worker.poll() is None:
            worker.kill()
        if nginx:
            nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
