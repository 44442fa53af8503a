#!/usr/bin/env python3
"""How much sooner the on-call hears of an outage than the page shows it (issue 19).

Three region workers (`probe`, one per region, 10 s interval, `confirm: 2`) check one
target on 127.0.0.1 that this script turns from 200 to 503 and back, and one
`watch --alert --publish` builds the site, publishes it to a folder (`publish: - to:
<folder>`, `--publish-every` at its default, 60 s, as a deployment runs it) and pages a
webhook receiver here. Per run: the target goes down at t0; printed are the seconds from
t0 to the trigger reaching the receiver, to site/index.html (the local build) showing the
outage, and to the published folder's index.html showing it (what customers see); then
the target comes back (the resolve and the published recovery are waited for,
`hold: 0s`). The last line is one JSON object with the medians and maxima.

Usage: bench/alert_latency.py [--runs 10] [--interval 10] [--publish-every 60s] [--work DIR]
"""

import argparse
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from prober import BIN, build  # noqa: E402


class Target:
    """The probed service: 200 until down(), then 503."""

    def __init__(self):
        self.is_down = False
        target = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                code = 503 if target.is_down else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Receiver:
    """The webhook alert target: when each action arrived."""

    def __init__(self):
        self.events = []
        receiver = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.events.append((time.time(), json.loads(body)["action"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def first(self, action, after):
        return next((t for t, a in self.events if a == action and t >= after), None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--publish-every", default="60s")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    build()
    tmp = tempfile.mkdtemp(prefix="pharos-alert-latency-", dir=args.work)
    target, receiver = Target(), Receiver()
    procs = []
    try:
        published = os.path.join(tmp, "public")
        with open(os.path.join(tmp, "components.yaml"), "w") as f:
            f.write("page:\n  title: Bench\n  base_url: https://status.bench.test\n"
                    "components:\n  - id: web\n    name: Web\n"
                    f"publish:\n  - to: {published}\n")
        with open(os.path.join(tmp, "probes.yaml"), "w") as f:
            f.write("regions:\n  - name: r1\n  - name: r2\n  - name: r3\nprobes:\n"
                    f"  - id: web\n    kind: http\n    url: http://127.0.0.1:{target.port}/\n"
                    f"    components: [web]\n    interval: {args.interval}s\n    timeout: 2s\n"
                    # hold 0s: a recovery resolves at once; a high rate_limit: ten runs make
                    # twenty events in minutes, which storm control (10 per 10 min) would fold
                    # into a digest.
                    "alerts:\n  hold: 0s\n  rate_limit: 1000\n  targets:\n"
                    f"    - id: hook\n      kind: webhook\n      url: http://127.0.0.1:{receiver.port}/\n")
        log = open(os.path.join(tmp, "log"), "w")
        for region in ("r1", "r2", "r3"):
            procs.append(subprocess.Popen([BIN, "--root", tmp, "probe", "--region", region],
                                          stdout=subprocess.DEVNULL, stderr=log))
        procs.append(subprocess.Popen([BIN, "--root", tmp, "watch", "--alert", "--publish",
                                       "--publish-every", args.publish_every], stdout=log, stderr=log))

        def shows_outage(folder):
            try:
                with open(os.path.join(folder, "index.html"), encoding="utf-8") as f:
                    return "Major System Outage" in f.read()
            except OSError:
                return False

        def page_down():
            return shows_outage(os.path.join(tmp, "site"))

        def published_down():
            return shows_outage(published)

        time.sleep(3 * args.interval)
        alert_s, page_s, published_s = [], [], []
        limit = 12 * args.interval + 120
        for run in range(args.runs):
            t0 = time.time()
            target.is_down = True
            alerted = paged = shown = None
            deadline = t0 + limit
            while (alerted is None or paged is None or shown is None) and time.time() < deadline:
                alerted = alerted or receiver.first("trigger", t0)
                if paged is None and page_down():
                    paged = time.time()
                if shown is None and published_down():
                    shown = time.time()
                time.sleep(0.05)
            if alerted is None or paged is None or shown is None:
                raise SystemExit(f"run {run + 1}: no trigger, page or publish within {limit} s; see {tmp}/log")
            alert_s.append(round(alerted - t0, 2))
            page_s.append(round(paged - t0, 2))
            published_s.append(round(shown - t0, 2))
            print(f"run {run + 1}: alert after {alert_s[-1]} s, built page after {page_s[-1]} s, "
                  f"published page after {published_s[-1]} s", flush=True)
            t1 = time.time()
            target.is_down = False
            while receiver.first("resolve", t1) is None or page_down() or published_down():
                if time.time() > t1 + limit:
                    raise SystemExit(f"run {run + 1}: no resolve; see {tmp}/log")
                time.sleep(0.1)
            # The next run starts on a fresh spot of the schedule.
            time.sleep(args.interval * (run % 3 + 1) / 3)
        result = {
            "runs": args.runs,
            "interval_s": args.interval,
            "alert_median_s": statistics.median(alert_s),
            "alert_max_s": max(alert_s),
            "page_median_s": statistics.median(page_s),
            "page_max_s": max(page_s),
            "published_median_s": statistics.median(published_s),
            "published_max_s": max(published_s),
            "alert_before_page_runs": sum(a <= p for a, p in zip(alert_s, page_s)),
            "alert_before_published_runs": sum(a <= p for a, p in zip(alert_s, published_s)),
            "published_minus_alert_median_s": statistics.median(
                round(p - a, 2) for a, p in zip(alert_s, published_s)),
        }
        print(" ".join(f"{k}={v}" for k, v in result.items()))
        print(json.dumps(result))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
