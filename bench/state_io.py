#!/usr/bin/env python3
"""What keeping a region's state costs (issue 16): the state in pieces (schema 3) beside
the single file it replaced (schema 2, built from --baseline-rev), in the same run.

For each store (a folder, and Ceph RGW through a counting proxy) both formats run side by
side for --minutes: a worker with --probes HTTP probes at --interval against a local nginx,
starting from a state that already holds a year of history for every probe (generated
here in schema 2, which the new worker migrates on its first write), plus one canary probe
that goes down halfway through. Printed per format:

  bytes_written_per_day  the worker's writes after its first minute, extrapolated to a day:
                         write_bytes of /proc/<pid>/io for a folder (what reached the disk;
                         wchar, which also counts the probes' HTTP requests, is shown too),
                         the PUT bodies the proxy counted for Ceph. The first minute (the
                         migration) is shown apart.
  puts_per_day           state writes (files renamed into place, or PUTs) per day.
  gets_per_day           GET/HEAD/LIST requests of the worker per day (Ceph).
  rebuild_read_bytes     what one `pharos watch` rebuild read after the worker's writes
                         (live-only changes): rchar of the watch process (folder: every file
                         it reads, the config included) or the response bytes of its
                         requests (Ceph: listings and polls included), divided by its
                         rebuilds. The new format also logs what each read of the state
                         read (`rebuild_state_bytes_median`).
  detect_s, recover_s     from the canary's target going down (up) to the site the watch
                         built showing it (api/v2/components.json, looked at every
                         0.25 s); the median of as many down-and-up rounds as the run
                         leaves room for (`changes` counts both).
  detect_after_last_check_s
                         the median time from the check that confirmed a change (the
                         canary's last answer of that kind) to the site showing it: what
                         the state's write and the builder's read add. The rest is the
                         probe's schedule and confirm:, the same for both formats.

The last line is one JSON object: the figures of the new format, and the same keys
prefixed `baseline_` for schema 2, per store (`folder_…`, `ceph_…`) and, unprefixed, for
the last store run.

Usage: bench/state_io.py [--minutes 10] [--store folder|ceph|both] [--probes 1000]
                         [--interval 30] [--baseline-rev 9c54c68] [--work DIR]
Needs: nginx-light, radosgw + ceph-mon + ceph-osd for --store ceph (bash .ci/setup).
"""

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from prober import Nginx, free_port, wait_port  # noqa: E402

BIN = os.path.join(ROOT, "target", "release", "pharos")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "ceph")
BUCKET, AK, SK = "statebucket", "benchaccesskey", "benchsecretkey0123456789"
DAY = 86400


def build_current():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return BIN


def build_baseline(rev):
    """The pharos of `rev` (schema 2), built once into target/bench-baseline/<rev>."""
    full = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    base = os.path.join(ROOT, "target", "bench-baseline", full[:12])
    exe = os.path.join(base, "target", "release", "pharos")
    if os.path.exists(exe):
        return exe
    src = os.path.join(base, "src")
    if not os.path.exists(src):
        subprocess.run(["git", "worktree", "add", "--detach", src, full], cwd=ROOT, check=True,
                       capture_output=True)
    print(f"building the baseline {full[:12]} (once)…", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--target-dir",
                    os.path.join(base, "target")], cwd=src, check=True)
    subprocess.run(["git", "worktree", "remove", "--force", src], cwd=ROOT, check=False,
                   capture_output=True)
    return exe


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def year_of_history(region, ids, url_of, interval, now):
    """A schema-2 region file in which every probe has a year of history: 400 daily
    roll-ups, 7 days of hourly percentiles, an outage every few weeks, and a last sample
    a few seconds old."""
    today = now.date()
    first_day = today - datetime.timedelta(days=399)
    first_hour = (now - datetime.timedelta(hours=167)).replace(minute=0, second=0, microsecond=0)
    probes = {}
    for n, pid in enumerate(ids):
        daily = {"first_day": first_day.isoformat(), "checks": [], "failures": [], "down_s": [],
                 "degraded_s": [], "worst": "", "p50_ms": [], "p95_ms": []}
        transitions = [{"at": ts(datetime.datetime.combine(first_day, datetime.time()) .replace(tzinfo=datetime.timezone.utc)), "to": "up"}]
        for d in range(400):
            day = first_day + datetime.timedelta(days=d)
            outage = (d * 7 + n) % 23 == 0
            daily["checks"].append(2880 if d < 399 else 0)
            daily["failures"].append(8 if outage else 0)
            daily["down_s"].append(240.0 if outage else 0.0)
            daily["degraded_s"].append(0.0)
            daily["worst"] += "d" if outage else "u"
            daily["p50_ms"].append(round(10 + (d + n) % 17 * 0.37, 1))
            daily["p95_ms"].append(round(30 + (d * 3 + n) % 29 * 0.91, 1))
            if outage and d < 399:
                start = datetime.datetime.combine(day, datetime.time(hour=(n + d) % 24)).replace(tzinfo=datetime.timezone.utc)
                transitions.append({"at": ts(start), "to": "down"})
                transitions.append({"at": ts(start + datetime.timedelta(minutes=4)), "to": "up"})
        hourly = {"first_hour": ts(first_hour), "n": [], "p50_ms": [], "p95_ms": [], "p99_ms": []}
        for h in range(168):
            hourly["n"].append(120)
            hourly["p50_ms"].append(round(10 + (h + n) % 13 * 0.41, 1))
            hourly["p95_ms"].append(round(25 + (h * 5 + n) % 31 * 0.77, 1))
            hourly["p99_ms"].append(round(40 + (h * 7 + n) % 37 * 1.13, 1))
        last_at = now - datetime.timedelta(seconds=5)
        last = {"at": ts(last_at), "health": "up", "latency_ms": 1.2, "detail": "HTTP 200",
                "http_status": 200, "attempts": 1,
                "phases": {"resolve_ms": 0.0, "connect_ms": 0.1, "tls_ms": 0.0,
                           "processing_ms": 0.9, "transfer_ms": 0.1},
                "conn": {"ip": "127.0.0.1", "ip_family": 4, "http_version": "HTTP/1.1",
                         "bytes_read": 3, "content_length": 3}}
        recent = [{"at": ts(last_at - datetime.timedelta(seconds=interval * (19 - k))),
                   "health": "up", "latency_ms": round(1.0 + k * 0.01, 2), "detail": "HTTP 200",
                   "http_status": 200, "attempts": 1} for k in range(20)]
        probes[pid] = {"kind": "http", "target": url_of(pid), "interval_s": float(interval),
                       "last": last, "recent": recent, "transitions": transitions,
                       "history": {"accounted_until": ts(last_at), "hourly": hourly, "daily": daily}}
    return {"schema": 2, "region": region, "written_at": ts(now), "probes": probes}


def write_region_file(path, state):
    """Written as pharos writes schema 2: a header, then one line per probe."""
    with open(path, "w") as f:
        f.write('{"schema":2,"region":%s,"written_at":%s,"probes":{' % (
            json.dumps(state["region"]), json.dumps(state["written_at"])))
        for i, (pid, p) in enumerate(state["probes"].items()):
            f.write(("\n" if i == 0 else ",\n") + json.dumps(pid) + ":" + json.dumps(p, separators=(",", ":")))
        f.write("\n}}\n")


class Proxy:
    """A TCP proxy in front of the store that counts, per HTTP request, its method and
    body length (Content-Length) and the bytes of the answers."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.lock = threading.Lock()
        self.methods = {}
        self.put_bytes = 0
        self.answer_bytes = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def snapshot(self):
        with self.lock:
            return dict(self.methods), self.put_bytes, self.answer_bytes

    def accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self.requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self.answers, args=(server, client), daemon=True).start()

    def requests(self, src, dst):
        # Headers are parsed; a body is passed on and counted, not kept.
        buf, body_left = b"", 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                while data:
                    if body_left:
                        n = min(body_left, len(data))
                        body_left -= n
                        data = data[n:]
                        continue
                    buf += data
                    data = b""
                    head_end = buf.find(b"\r\n\r\n")
                    if head_end < 0:
                        break
                    head = buf[:head_end].decode("latin-1")
                    method = head.split(" ", 1)[0]
                    m = re.search(r"(?im)^content-length:\s*(\d+)", head)
                    body_left = int(m.group(1)) if m else 0
                    with self.lock:
                        self.methods[method] = self.methods.get(method, 0) + 1
                        if method == "PUT":
                            self.put_bytes += body_left
                    data, buf = buf[head_end + 4:], b""
        except OSError:
            pass
        finally:
            self.close(src, dst)

    def answers(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    self.answer_bytes += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            # The store closed the connection: so does the proxy, towards the client.
            self.close(src, dst)

    @staticmethod
    def close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Canary:
    """The target of the canary probe: 200 until `down()`, then 503."""

    def __init__(self):
        import http.server

        canary = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                code = 503 if canary.is_down else 200
                canary.answered.append((time.time(), code))
                self.send_response(code)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.is_down = False
        # When each check (or recheck) was answered, and with what.
        self.answered = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        self.is_down = True

    def up(self):
        self.is_down = False

    def last_answer(self, code, before):
        """When the last check answered with `code` before `before`."""
        return max((t for t, c in self.answered if c == code and t <= before), default=None)


def median(values):
    """The median of `values`, to 0.1 s (None when there are none)."""
    if not values:
        return None
    v = sorted(values)
    mid = len(v) // 2
    return round(v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2, 1)


def io_of(pid):
    out = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, v = line.split(":")
            out[k.strip()] = int(v)
    return out


def start_ceph(tmp):
    port = free_port()
    # The schema-2 baseline overwrites a 27 MB object back to back: RGW keeps the old data
    # until its garbage collector runs (2 h by default), which filled the 1 GiB memstore
    # in 3 minutes and stalled the store for both formats. Room and a 30 s collector.
    env = dict(os.environ, D=os.path.join(tmp, "c"), RGW_PORT=str(port), AK=AK, SK=SK,
               MEMSTORE_BYTES=str(8 << 30), RGW_GC_SECONDS="30")
    subprocess.run(["bash", os.path.join(FIXTURES, "start-rgw.sh")], env=env, check=True,
                   stdin=subprocess.DEVNULL, capture_output=True)
    endpoint = f"http://127.0.0.1:{port}"
    subprocess.run(["python3", os.path.join(FIXTURES, "create-bucket.py"), endpoint, BUCKET, AK, SK],
                   check=True, capture_output=True)
    pids = []
    for d in ("rgw", "osd", "mon"):
        try:
            with open(os.path.join(tmp, "c", "run", f"{d}.pid")) as f:
                pids.append(int(f.read().strip()))
        except (OSError, ValueError):
            pass
    return port, pids


def stop_ceph(pids):
    """Kill what start_ceph started."""
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


class Run:
    """One format on one store: a project, its worker, its watch, its canary."""

    def __init__(self, name, exe, tmp, nginx_port, canary, probes, interval, store_env):
        self.name, self.exe, self.tmp = name, exe, tmp
        self.canary = canary
        os.makedirs(os.path.join(tmp, "state"), exist_ok=True)
        with open(os.path.join(tmp, "components.yaml"), "w") as f:
            f.write("page:\n  title: Bench\n  base_url: https://status.bench.test\n"
                    "components:\n  - id: web\n    name: Web\n  - id: canary\n    name: Canary\n")
        ids = [f"p{i}" for i in range(probes)]
        url_of = lambda pid: f"http://127.0.0.1:{nginx_port}/{pid}"  # noqa: E731
        lines = "".join(f"  - id: {pid}\n    kind: http\n    url: {url_of(pid)}\n    components: [web]\n"
                        f"    interval: {interval}s\n    timeout: 5s\n" for pid in ids)
        lines += (f"  - id: canary\n    kind: http\n    url: http://127.0.0.1:{canary.port}/\n"
                  f"    components: [canary]\n    interval: {interval}s\n    timeout: 5s\n")
        with open(os.path.join(tmp, "probes.yaml"), "w") as f:
            f.write("regions:\n  - name: r1\nprobes:\n" + lines)
        self.state_args = store_env.pop("__state_args__", [])
        self.env = dict(os.environ, PHAROS_LOG="info,pharos::state=debug", **store_env)
        self.history = year_of_history("r1", ids, url_of, interval,
                                       datetime.datetime.now(datetime.timezone.utc))

    def cmd(self, *args):
        return [self.exe, "--root", self.tmp, *args, *self.state_args]

    def start_worker(self):
        self.renames = Renames(os.path.join(self.tmp, "state"))
        self.worker_log = open(os.path.join(self.tmp, "worker.log"), "w")
        self.worker = subprocess.Popen(self.cmd("probe", "--region", "r1"), env=self.env,
                                       stdout=subprocess.DEVNULL, stderr=self.worker_log)

    def start_watch(self):
        self.watch_log = open(os.path.join(self.tmp, "watch.log"), "w")
        self.watch = subprocess.Popen(self.cmd("watch"), env=self.env,
                                      stdout=self.watch_log, stderr=self.watch_log)

    def rebuilds(self):
        with open(os.path.join(self.tmp, "watch.log")) as f:
            return len(re.findall(r"rebuilt \d+ files", f.read()))

    def state_reads(self):
        """What each read of the state said it read (`state: read N bytes`, logged by
        the new format only), in order."""
        with open(os.path.join(self.tmp, "watch.log")) as f:
            return [int(n) for n in re.findall(r"state: read (\d+) bytes", f.read())]

    def canary_shown(self):
        """The canary's status on the site the watch built (its Statuspage API), if any."""
        try:
            with open(os.path.join(self.tmp, "site", "api", "v2", "components.json")) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            return None
        return next((c["status"] for c in doc["components"] if c["name"] == "Canary"), None)

    def stop(self):
        if getattr(self, "renames", None):
            self.renames.running = False
        for p in (getattr(self, "watch", None), getattr(self, "worker", None)):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def measure(store, minutes, probes, interval, exes, work):
    """Run both formats side by side on `store` for `minutes`; their figures."""
    tmp = tempfile.mkdtemp(prefix=f"pharos-state-io-{store}-", dir=work)
    nginx = Nginx(os.path.join(tmp))
    ceph_pids, proxies = [], {}
    runs = {}
    try:
        if store == "ceph":
            rgw_port, ceph_pids = start_ceph(tmp)
        for name, exe in exes.items():
            canary = Canary()
            d = os.path.join(tmp, name)
            os.makedirs(d)
            store_env = {}
            if store == "ceph":
                worker_proxy, watch_proxy = Proxy(rgw_port), Proxy(rgw_port)
                proxies[name] = (worker_proxy, watch_proxy)
                store_env = {"AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
                             "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
                             "__state_args__": ["--state", f"s3://{BUCKET}/{name}"]}
            run = Run(name, exe, d, nginx.port, canary, probes, interval, store_env)
            if store == "ceph":
                run.env_worker = dict(run.env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxies[name][0].port}")
                run.env_watch = dict(run.env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxies[name][1].port}")
                body = os.path.join(d, "r1.json")
                write_region_file(body, run.history)
                subprocess.run(["python3", "-c", PUT_OBJECT, f"http://127.0.0.1:{rgw_port}", BUCKET,
                                f"{name}/r1.json", body, AK, SK], check=True)
            else:
                write_region_file(os.path.join(d, "state", "r1.json"), run.history)
            runs[name] = run
        for run in runs.values():
            if store == "ceph":
                run.env = run.env_worker
            run.start_worker()
        # The first write (the new format's migration) is shown apart from the steady state.
        time.sleep(60)
        base = {}
        for name, run in runs.items():
            base[name] = {"io": io_of(run.worker.pid), "t": time.time(),
                          "proxy": proxies[name][0].snapshot() if store == "ceph" else None,
                          "writes": run.renames.count if store == "folder" else 0}
        for run in runs.values():
            if store == "ceph":
                run.env = run.env_watch
            run.start_watch()
        time.sleep(20)
        watch_base = {}
        for name, run in runs.items():
            watch_base[name] = {"io": io_of(run.watch.pid), "rebuilds": run.rebuilds(),
                                "reads": len(run.state_reads()),
                                "proxy": proxies[name][1].snapshot() if store == "ceph" else None}
        # The canaries go down and up again, together, at the same moment of the 30 s
        # grid, as many times as the run leaves room for; each change is timed to the
        # site each watch built.
        changes = {name: {"down": [], "up": [], "after_check": []} for name in runs}
        end_of_changes = base[next(iter(runs))]["t"] + minutes * 60 - 60 - 20
        while time.time() + 8 * interval < end_of_changes:
            for going, code, shown in (("down", 503, lambda s: s not in (None, "operational")),
                                       ("up", 200, lambda s: s == "operational")):
                time.sleep(interval - (time.time() % interval) + 3)
                at = time.time()
                for run in runs.values():
                    run.canary.down() if going == "down" else run.canary.up()
                seen = set()
                while len(seen) < len(runs) and time.time() < at + 10 * interval:
                    for name, run in runs.items():
                        if name not in seen and shown(run.canary_shown()):
                            now = time.time()
                            seen.add(name)
                            changes[name][going].append(now - at)
                            # The probe's schedule (and confirm:) sets when the change is
                            # confirmed; the state format sets what follows the last check.
                            last = run.canary.last_answer(code, now)
                            if last is not None:
                                changes[name]["after_check"].append(now - last)
                    time.sleep(0.25)
        rest = minutes * 60 - (time.time() - base[next(iter(runs))]["t"]) - 60
        time.sleep(max(0.0, rest))
        figures = {}
        for name, run in runs.items():
            elapsed = time.time() - base[name]["t"]
            per_day = DAY / elapsed
            io = io_of(run.worker.pid)
            wio = io_of(run.watch.pid)
            rebuilds = run.rebuilds() - watch_base[name]["rebuilds"]
            if rebuilds < 1:
                raise SystemExit(f"{store} {name}: the watch did not rebuild; see {run.tmp}/watch.log")
            c = changes[name]
            f = {"detect_s": median(c["down"]), "recover_s": median(c["up"]),
                 "detect_after_last_check_s": median(c["after_check"]), "changes": len(c["after_check"])}
            if store == "ceph":
                methods0, put0, _ = base[name]["proxy"]
                methods1, put1, _ = proxies[name][0].snapshot()
                puts = methods1.get("PUT", 0) - methods0.get("PUT", 0)
                gets = sum(methods1.get(m, 0) - methods0.get(m, 0) for m in ("GET", "HEAD"))
                f["bytes_written_per_day"] = round((put1 - put0) * per_day)
                f["puts_per_day"] = round(puts * per_day)
                f["gets_per_day"] = round(gets * per_day)
                f["first_minute_put_bytes"] = put0
                _, _, ans0 = watch_base[name]["proxy"]
                _, _, ans1 = proxies[name][1].snapshot()
                f["rebuild_read_bytes"] = round((ans1 - ans0) / rebuilds)
            else:
                # write_bytes: what reached the disk (the state's files, fsynced); wchar also
                # counts every write to a socket (the probes' own HTTP requests).
                f["bytes_written_per_day"] = round((io["write_bytes"] - base[name]["io"]["write_bytes"]) * per_day)
                f["wchar_per_day"] = round((io["wchar"] - base[name]["io"]["wchar"]) * per_day)
                f["puts_per_day"] = round((run.renames.count - base[name]["writes"]) * per_day)
                f["first_minute_bytes"] = base[name]["io"]["wchar"]
                f["rebuild_read_bytes"] = round((wio["rchar"] - watch_base[name]["io"]["rchar"]) / rebuilds)
            reads = run.state_reads()[watch_base[name]["reads"]:]
            if reads:
                f["rebuild_state_bytes_median"] = sorted(reads)[len(reads) // 2]
            f["rebuilds"] = rebuilds
            f["minutes"] = round(elapsed / 60, 1)
            figures[name] = f
        for name, run in runs.items():
            run.stop()
            with open(os.path.join(run.tmp, "worker.log")) as log:
                m = re.findall(r"writes=(\d+)", log.read())
            figures[name]["worker_writes_whole_run"] = int(m[-1]) if m else None
            if store == "ceph":
                methods, _, _ = proxies[name][0].snapshot()
                figures[name]["proxy_puts_whole_run"] = methods.get("PUT", 0)
        if store == "ceph":
            # A full OSD stalls every request: then no figure of the run holds.
            with open(os.path.join(tmp, "c", "log", "osd.0.log"), errors="replace") as log:
                if "full status failsafe" in log.read():
                    raise SystemExit("ceph: the OSD filled up during the run; its figures are void "
                                     "(give start_ceph more MEMSTORE_BYTES)")
        return figures
    finally:
        for run in runs.values():
            run.stop()
        nginx.stop()
        stop_ceph(ceph_pids)
        shutil.rmtree(tmp, ignore_errors=True)


class Renames(threading.Thread):
    """Counts the files a worker writes into a state folder: each atomic write renames a
    new file into place, so every write shows as a new inode at its path (polled every
    50 ms; writes of one file are seconds apart)."""

    def __init__(self, folder):
        super().__init__(daemon=True)
        self.folder = folder
        self.count = 0
        self.inodes = {}
        self.running = True
        self.start()

    def run(self):
        while self.running:
            for dirpath, _, files in os.walk(self.folder):
                for name in files:
                    if name.endswith(".tmp") or name.startswith("."):
                        continue
                    path = os.path.join(dirpath, name)
                    try:
                        ino = os.stat(path).st_ino
                    except OSError:
                        continue
                    if self.inodes.get(path) != ino:
                        self.inodes[path] = ino
                        self.count += 1
            time.sleep(0.05)


PUT_OBJECT = r'''
import datetime, hashlib, hmac, sys, urllib.request
endpoint, bucket, key, path, ak, sk = sys.argv[1:7]
body = open(path, "rb").read()
host = endpoint.split("://", 1)[1]
now = datetime.datetime.now(datetime.timezone.utc)
amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
h = hashlib.sha256(body).hexdigest()
headers = {"host": host, "x-amz-content-sha256": h, "x-amz-date": amz}
signed = ";".join(sorted(headers))
canonical = "\n".join(["PUT", f"/{bucket}/{key}", ""] + [f"{k}:{headers[k]}" for k in sorted(headers)] + ["", signed, h])
scope = f"{day}/us-east-1/s3/aws4_request"
to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
k = ("AWS4" + sk).encode()
for part in (day, "us-east-1", "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(f"{endpoint}/{bucket}/{key}", data=body, method="PUT")
for a, b in headers.items():
    if a != "host":
        req.add_header(a, b)
req.add_header("Authorization", f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={signed}, Signature={sig}")
urllib.request.urlopen(req).read()
'''


def on_tmpfs(path):
    """Whether `path` is on a tmpfs (the longest mount point of /proc/mounts that holds it)."""
    path = os.path.realpath(path)
    best, kind = "", ""
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            point = fields[1].replace("\\040", " ")
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind == "tmpfs"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--store", choices=["folder", "ceph", "both"], default="both")
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=30)
    ap.add_argument("--baseline-rev", default="9c54c68")
    ap.add_argument("--work", default=None, help="where the projects go (default: the system's temporary folder)")
    args = ap.parse_args()
    if args.store != "ceph" and on_tmpfs(args.work or tempfile.gettempdir()):
        sys.exit(
            "state_io: the folder store's bytes are write_bytes of /proc/<pid>/io, which counts only "
            "what reaches a block device, and --work is on tmpfs (always 0 there): give --work a folder on a disk"
        )
    exes = {"pieces": build_current(), "baseline": build_baseline(args.baseline_rev)}
    stores = ["folder", "ceph"] if args.store == "both" else [args.store]
    result = {}
    for store in stores:
        figures = measure(store, args.minutes, args.probes, args.interval, exes, args.work)
        for name, f in figures.items():
            print(f"{store:6} {name:8} " + " ".join(f"{k}={v}" for k, v in f.items()))
        for key, value in figures["pieces"].items():
            result[f"{store}_{key}"] = value
            result[key] = value
        for key, value in figures["baseline"].items():
            result[f"{store}_baseline_{key}"] = value
            result[f"baseline_{key}"] = value
    print(json.dumps(result))


if __name__ == "__main__":
    main()
