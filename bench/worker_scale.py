#!/usr/bin/env python3
"""One worker at scale (issue 16): --probes HTTP probes (default 50,000) every --interval
(60 s) against a local nginx, in a region whose state already holds a year of history in
day pieces (generated here: 400 closed days, today's open piece and a live object, in the
format the worker writes), for --minutes. Printed: the worker's peak RSS (VmHWM), its CPU
as a share of one core over the run after its start, the 99th percentile of how late
checks started after their slot (the worker's own `lag_p99_ms`, 10 ms steps), and what it
wrote. The last line is one JSON object.

Usage: bench/worker_scale.py [--probes 50000] [--interval 60] [--minutes 10] [--work DIR]
Needs: nginx-light and zstd (Debian).
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from prober import BIN, TICK, Nginx, build  # noqa: E402


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def zstd_write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(["zstd", "-q", "-3", "-f", "-o", path], input=text.encode(), check=True)


def history(state_dir, region, ids, url_of, interval, now):
    """A year of day pieces for every probe, today's open piece and the live object."""
    today = now.date()
    first = today - datetime.timedelta(days=399)
    up_since = datetime.datetime.combine(first, datetime.time()).replace(tzinfo=datetime.timezone.utc)
    days = os.path.join(state_dir, region, "days")
    for d in range(400):
        day = first + datetime.timedelta(days=d)
        is_today = day == today
        probes = {}
        for n, pid in enumerate(ids):
            outage = (d * 7 + n) % 97 == 0 and not is_today
            p = {"from": {"at": ts(up_since), "to": "up"},
                 "daily": [1440 if not is_today else 0, 4 if outage else 0, 240.0 if outage else 0.0,
                           0.0, "d" if outage else "u", round(10 + (d + n) % 17 * 0.37, 1),
                           round(30 + (d * 3 + n) % 29 * 0.91, 1)]}
            if outage:
                start = datetime.datetime.combine(day, datetime.time(hour=n % 24)).replace(tzinfo=datetime.timezone.utc)
                p["transitions"] = [{"at": ts(start), "to": "down"},
                                    {"at": ts(start + datetime.timedelta(minutes=4)), "to": "up"}]
            if d >= 393:
                hours = 24 if not is_today else max(1, now.hour + 1)
                p["hourly"] = {"first": 0, "n": [60] * hours,
                               "p50_ms": [1.1] * hours, "p95_ms": [2.3] * hours, "p99_ms": [4.2] * hours}
            probes[pid] = p
        piece = {"schema": 3, "region": region, "day": day.isoformat(),
                 "written_at": ts(now if is_today else datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(1)).replace(tzinfo=datetime.timezone.utc)),
                 "closed": not is_today, "probes": probes}
        zstd_write(os.path.join(days, f"{day.isoformat()}.json.zst"), json.dumps(piece, separators=(",", ":")))
    last_at = now - datetime.timedelta(seconds=5)
    live = {"schema": 3, "region": region, "written_at": ts(now), "since": today.isoformat(),
            "probes": {pid: {"kind": "http", "target": url_of(pid), "interval_s": float(interval),
                             "last": {"at": ts(last_at), "health": "up", "latency_ms": 1.2,
                                      "detail": "HTTP 200", "http_status": 200, "attempts": 1},
                             "transitions": [{"at": ts(up_since), "to": "up"}]}
                       for pid in ids}}
    zstd_write(os.path.join(state_dir, region, "live.json.zst"), json.dumps(live, separators=(",", ":")))


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def hwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    return int(m.group(1)) / 1024 if m else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--probes", type=int, default=50000)
    ap.add_argument("--interval", type=int, default=60)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    build()
    tmp = tempfile.mkdtemp(prefix="pharos-worker-scale-", dir=args.work)
    nginx = Nginx(tmp, http="")
    try:
        ids = [f"p{i}" for i in range(args.probes)]
        url_of = lambda pid: f"http://127.0.0.1:{nginx.port}/{pid}"  # noqa: E731
        with open(os.path.join(tmp, "components.yaml"), "w") as f:
            f.write("page:\n  title: Bench\n  base_url: https://status.bench.test\ncomponents:\n  - id: web\n    name: Web\n")
        with open(os.path.join(tmp, "probes.yaml"), "w") as f:
            f.write("regions:\n  - name: r1\nprobes:\n")
            for pid in ids:
                f.write(f"  - id: {pid}\n    kind: http\n    url: {url_of(pid)}\n    components: [web]\n"
                        f"    interval: {args.interval}s\n    timeout: 5s\n")
        # The history takes minutes to make: it is kept for the day under
        # target/bench-cache (its targets leave out nginx's port, which the worker does
        # not compare).
        made = time.time()
        today = datetime.datetime.now(datetime.timezone.utc)
        cache = os.path.join(ROOT, "target", "bench-cache",
                             f"worker-scale-{args.probes}-{args.interval}-{today:%Y-%m-%d}")
        if not os.path.isdir(cache):
            shutil.rmtree(cache + ".tmp", ignore_errors=True)
            history(os.path.join(cache + ".tmp", "state"), "r1", ids, lambda pid: f"http://127.0.0.1/{pid}",
                    args.interval, today)
            os.rename(cache + ".tmp", cache)
        shutil.copytree(os.path.join(cache, "state"), os.path.join(tmp, "state"))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(tmp, "state")) for f in fs)
        print(f"history: 400 days of {args.probes} probes, {size / 1e6:.0f} MB stored, made in {time.time() - made:.0f} s",
              flush=True)
        log = open(os.path.join(tmp, "worker.log"), "w")
        worker = subprocess.Popen([BIN, "--root", tmp, "probe", "--region", "r1", "--concurrency", "256",
                                   "--per-host", "256"],
                                  stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ, PHAROS_LOG="info"))
        # CPU is taken after the start (reading the state, the first round's burst of
        # connections), over whole rounds.
        time.sleep(args.interval)
        cpu0, t0 = proc_stat(worker.pid), time.time()
        time.sleep(args.minutes * 60 - args.interval)
        cpu1, t1 = proc_stat(worker.pid), time.time()
        peak = hwm_mb(worker.pid)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=120)
        log.close()
        with open(os.path.join(tmp, "worker.log")) as f:
            text = f.read()
        lag = re.search(r"lag_p99_ms=(\d+)", text)
        samples = re.search(r"samples=(\d+)", text)
        late = text.count("cannot keep up")
        result = {
            "probes": args.probes,
            "interval_s": args.interval,
            "minutes": args.minutes,
            "peak_rss_mb": round(peak),
            "cpu_share": round((cpu1 - cpu0) / (t1 - t0), 3),
            "lag_p99_ms": int(lag.group(1)) if lag else None,
            "samples": int(samples.group(1)) if samples else None,
            "cannot_keep_up_warnings": late,
            "exit": worker.returncode,
        }
        print(" ".join(f"{k}={v}" for k, v in result.items()))
        print(json.dumps(result))
    finally:
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
