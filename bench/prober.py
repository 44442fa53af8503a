#!/usr/bin/env python3
"""Prober benchmarks (issue 3). Everything runs on 127.0.0.1 and stops by itself.

  http     HTTP probes against a local nginx, a fresh connection each, concurrency 50:
           probes per second and CPU milliseconds per probe of the prober process.
  icmp     ICMP echo to 127.0.0.1 at a high rate: CPU microseconds per echo, beside fping.
  command  Plugin probes: CPU per run of the prober and plugin against the plugin run by
           a lean C launcher at the same start times.
  soak     1,000 HTTP probes at a 30 s interval: resident memory and schedule drift.

Usage: bench/prober.py [http|icmp|command|soak|all] [--runs 3] [--soak-seconds 600]
Needs: nginx-light, fping, monitoring-plugins-basic (Debian), a release build (made if
missing). CPU figures come from /proc/<pid>/stat (utime+stime; cutime+cstime for plugins),
except the command bench's totals, which come from wait4 (to the microsecond).
"""

import argparse
import calendar
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# PHAROS_BENCH_BIN runs another build (e.g. target/profiling/pharos for perf).
BIN = os.environ.get("PHAROS_BENCH_BIN") or os.path.join(ROOT, "target", "release", "pharos")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def build():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, seconds=30):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


class Nginx:
    """nginx-light on 127.0.0.1; by default answering every request with 200 "ok".
    `http` adds directives to the http block, `locations` replaces the server's
    locations (both nginx syntax), and the server's root is `tmp`."""

    def __init__(self, tmp, locations='location / { return 200 "ok\\n"; }', http=""):
        self.port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp};
  keepalive_timeout 0;
  {http}
  server {{
    listen 127.0.0.1:{self.port} backlog=4096;
    root {tmp};
    {locations}
  }}
}}
""")
        self.conf, self.tmp = conf, tmp
        self.start()

    def start(self):
        """(Re)start on the same port. nginx is a fixture, not what is measured: it runs on
        the real clock even when the caller runs under libfaketime (the test suite's
        calendar guard), and holds none of the caller's output pipes."""
        env = {k: v for k, v in os.environ.items()
               if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}
        self.proc = subprocess.Popen(["nginx", "-c", self.conf, "-p", self.tmp], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(self.port)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def project(tmp, probes, region="bench"):
    """A project in `tmp`: one component and the given probes.yaml entries in `region`."""
    with open(os.path.join(tmp, "components.yaml"), "w") as f:
        f.write("page:\n  title: Bench\n  base_url: https://status.bench.test\ncomponents:\n  - id: web\n    name: Web\n")
    with open(os.path.join(tmp, "probes.yaml"), "w") as f:
        f.write(f"regions:\n  - name: {region}\nprobes:\n" + probes)


def load_state(tmp, region="bench"):
    """The region's state file, parsed."""
    with open(os.path.join(tmp, "state", f"{region}.json")) as f:
        return json.load(f)


def parse_at(text):
    """RFC 3339 UTC with nanoseconds → seconds since the epoch."""
    whole, _, frac = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + (frac or "0"))


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[11..14] = utime stime cutime cstime (stat fields 14..17)
    u, s, cu, cs = (int(x) for x in fields[11:15])
    rss = int(fields[21]) * PAGE
    return (u + s) / TICK, (cu + cs) / TICK, rss


# The environment of a prober run as a service (systemd gives about this much). Plugins
# inherit it, so its size is part of what every spawn costs; the lean launcher that
# measures a plugin's own cost gets exactly the same one.
SERVICE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/var/lib/pharos",
    "USER": "pharos",
    "LOGNAME": "pharos",
    "INVOCATION_ID": "0123456789abcdef0123456789abcdef",
    "JOURNAL_STREAM": "8:12345",
    "PHAROS_LOG": "info",
}


def run_worker(tmp, seconds, extra=()):
    """Run the worker for `seconds`; return samples, wall time, own CPU s, children CPU s."""
    cmd = [BIN, "probe", "--region", "bench", "--root", tmp, *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=SERVICE_ENV)
    start = time.time()
    time.sleep(seconds)
    own, children, _ = stat(proc.pid)
    wall = time.time() - start
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    m = re.search(r"samples=(\d+)", err)
    if not m:
        raise SystemExit(f"no summary from the worker:\n{err[-2000:]}")
    return int(m.group(1)), wall, own, children


def healths(state):
    """How many probes ended up, degraded, down or unknown in the state."""
    from collections import Counter
    return dict(Counter(p["last"]["health"] for p in state["probes"].values()))


def bench_http(runs):
    tmp = tempfile.mkdtemp(prefix="pharos-bench-http-")
    nginx = Nginx(tmp)
    try:
        n = 4000
        probes = "".join(
            f"  - id: p{i}\n    kind: http\n    url: http://127.0.0.1:{nginx.port}/p{i}\n"
            f"    components: [web]\n    interval: 1s\n    timeout: 1s\n"
            for i in range(n))
        project(tmp, probes)
        results = []
        for _ in range(runs):
            samples, wall, own, _ = run_worker(tmp, 20, ["--concurrency", "50", "--per-host", "50"])
            results.append((samples / wall, own * 1e3 / samples))
            print(f"  http run: {samples} probes in {wall:.1f}s = {samples / wall:.0f}/s, "
                  f"{own:.2f} CPU-s, {own * 1e3 / samples:.4f} CPU-ms per probe; last samples {healths(load_state(tmp))}")
        rate = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        print(f"HTTP: median {rate:.0f} probes/s, {cpu:.4f} CPU-ms per probe "
              f"({n} probes, interval 1s, concurrency 50, fresh connection each; target <= 0.15)")
        return cpu
    finally:
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def fping_cpu_us_per_echo(echoes):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["fping", "-q", "-c", str(echoes), "-p", "1", "-i", "1", "127.0.0.1"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu * 1e6 / echoes


def bench_icmp(runs):
    tmp = tempfile.mkdtemp(prefix="pharos-bench-icmp-")
    try:
        n, count = 400, 5
        probes = "".join(
            f"  - id: p{i}\n    kind: icmp\n    host: 127.0.0.1\n    count: {count}\n"
            f"    components: [web]\n    interval: 1s\n    timeout: 1s\n"
            for i in range(n))
        project(tmp, probes)
        ours, theirs = [], []
        for _ in range(runs):
            samples, wall, own, _ = run_worker(tmp, 15, ["--concurrency", "400", "--per-host", "400"])
            echoes = samples * count
            ours.append(own * 1e6 / echoes)
            theirs.append(fping_cpu_us_per_echo(5000))
            print(f"  icmp run: {echoes} echoes in {wall:.1f}s ({echoes / wall:.0f}/s), "
                  f"pharos {ours[-1]:.1f} CPU-us/echo, fping {theirs[-1]:.1f} CPU-us/echo; last samples {healths(load_state(tmp))}")
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"ICMP: median pharos {a:.1f} CPU-us per echo, fping {b:.1f}; ratio {a / b:.2f}x (target <= 2x)")
        return a / b
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def lean_launcher_exe():
    """bench/spawn_baseline.c, compiled once per benchmark run."""
    exe = os.path.join(tempfile.gettempdir(), "pharos-spawn-baseline")
    if not getattr(lean_launcher_exe, "built", False):
        subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "spawn_baseline.c")], check=True)
        lean_launcher_exe.built = True
    return exe


def lean_launcher(plugin_argv, runs):
    """The plugin run by the leanest launcher (bench/spawn_baseline.c), either `runs` times
    back to back (an int) or at the start times in the list `runs` (seconds from the
    first). Returns CPU ms per run of the launcher and of the plugin, and the median ms
    from spawn to reaped."""
    exe = lean_launcher_exe()
    if isinstance(runs, int):
        how = str(runs)
    else:
        starts = os.path.join(tempfile.gettempdir(), "pharos-spawn-baseline.starts")
        with open(starts, "w") as f:
            f.write("".join(f"{t:.9f}\n" for t in runs))
        how = "@" + starts
    out = subprocess.run([exe, how, *plugin_argv], capture_output=True, text=True, check=True,
                         env=SERVICE_ENV).stdout.split()
    own, children, n, wall = float(out[0]), float(out[1]), int(out[2]), float(out[3])
    return own * 1e3 / n, children * 1e3 / n, wall


def worker_cpu(tmp, seconds, extra=()):
    """Run the worker for `seconds` from an empty state. Returns the samples it took, the
    CPU seconds of the worker and its plugins together (from wait4, to the microsecond)
    and of the worker alone (from /proc, in clock ticks)."""
    shutil.rmtree(os.path.join(tmp, "state"), ignore_errors=True)
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen([BIN, "probe", "--region", "bench", "--root", tmp, *extra],
                                stdout=subprocess.DEVNULL, stderr=err, env=SERVICE_ENV)
        time.sleep(seconds)
        own = stat(proc.pid)[0]
        proc.send_signal(signal.SIGTERM)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        err.seek(0)
        log = err.read()
    m = re.search(r"samples=(\d+)", log)
    if not m:
        raise SystemExit(f"no summary from the worker:\n{log[-2000:]}")
    return int(m.group(1)), usage.ru_utime + usage.ru_stime, own


def median_latency_ms(state):
    """Median duration of the plugin runs in the state, as the prober timed them."""
    return statistics.median(s["latency_ms"] for p in state["probes"].values() for s in p["recent"])


def start_times(state):
    """When the worker started each plugin run still in the state (its recent window),
    in seconds from the first, in order."""
    ats = sorted(parse_at(s["at"]) for p in state["probes"].values() for s in p["recent"])
    return [t - ats[0] for t in ats]


def bench_command(runs):
    """The prober's cost per plugin run against the leanest launcher running the same
    plugin, with the same environment, at the same start times. A run after an idle gap
    costs more than one back to back (caches go cold), so the lean launcher replays the
    start times the worker recorded in its previous round, and it does so *while* the
    worker runs: this machine's speed drifts by ±15 % over minutes, which cancels only
    when both are measured at once (each is idle over 95 % of the time, so they seldom
    meet). The worker's figures are the difference between a 4 s and a 21 s run, which
    takes its start-up and stop out."""
    import threading
    tmp = tempfile.mkdtemp(prefix="pharos-bench-cmd-")
    nginx = Nginx(tmp)
    try:
        plugin = "/usr/lib/nagios/plugins/check_http"
        if not os.path.exists(plugin):
            raise SystemExit("install monitoring-plugins-basic")
        out = {}
        for name, argv, plain in [
            ("check_http", f"[{plugin}, -H, 127.0.0.1, -p, \"{nginx.port}\"]", [plugin, "-H", "127.0.0.1", "-p", str(nginx.port)]),
            ("check_dummy", "[/usr/lib/nagios/plugins/check_dummy, \"0\", ok]", ["/usr/lib/nagios/plugins/check_dummy", "0", "ok"]),
        ]:
            n = 100
            probes = "".join(
                f"  - id: p{i}\n    kind: command\n    command: {argv}\n"
                f"    components: [web]\n    interval: 1s\n    timeout: 1s\n"
                for i in range(n))
            project(tmp, probes)
            # One plugin at a time, as the lean launcher runs them.
            flags = ["--concurrency", "1"]
            lean_launcher_exe()
            # The state keeps each probe's last 20 samples: 20 s of start times to replay,
            # so the measured worker run lasts about as long.
            worker_cpu(tmp, 21, flags)
            previous = start_times(load_state(tmp))
            versus, walls, shares = [], [], []
            for _ in range(runs):
                s1, total1, own1 = worker_cpu(tmp, 4, flags)
                lean = {}

                def replay_starts():
                    try:
                        lean["r"] = lean_launcher(plain, previous)
                    except Exception as e:  # reported below, in the main thread
                        lean["error"] = e

                replay = threading.Thread(target=replay_starts)
                replay.start()
                s2, total2, own2 = worker_cpu(tmp, 21, flags)
                replay.join()
                if "error" in lean:
                    raise SystemExit(f"the lean launcher failed: {lean['error']}")
                state = load_state(tmp)
                previous = start_times(state)
                samples = s2 - s1
                ours = (total2 - total1) * 1e3 / samples
                own = (own2 - own1) * 1e3 / samples
                latency = median_latency_ms(state)
                lean_own, lean_child, lean_wall = lean["r"]
                both = lean_own + lean_child
                versus.append((ours - both) / both * 100)
                walls.append((latency - lean_wall) / lean_wall * 100)
                shares.append(own / (ours - own) * 100)
                print(f"  {name} run: {samples} runs; CPU per run: prober and plugin {ours:.3f} ms (the prober "
                      f"about {own:.3f}) vs lean launcher and plugin {both:.3f} ms ({lean_own:.3f} + {lean_child:.3f}) "
                      f"= {versus[-1]:+.1f}%; median wall per run: {latency:.3f} ms vs {lean_wall:.3f} ms "
                      f"({walls[-1]:+.1f}%); last samples {healths(state)}", flush=True)
            b2b_own, b2b_child, b2b_wall = lean_launcher(plain, 2000)
            out[name] = statistics.median(versus)
            print(f"COMMAND {name} (target <= 10%): CPU per run {statistics.median(versus):+.1f}% over the plugin "
                  f"run by a lean C launcher at the same start times (median of {runs}); median wall per run "
                  f"{statistics.median(walls):+.1f}%; the prober's own CPU is about {statistics.median(shares):.0f}% "
                  f"of the plugin's. (Back to back, with no idle gaps, the lean launcher and plugin take "
                  f"{b2b_own + b2b_child:.3f} CPU-ms and {b2b_wall:.3f} ms per run.)", flush=True)
        return out
    finally:
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_soak(seconds):
    tmp = tempfile.mkdtemp(prefix="pharos-bench-soak-")
    nginx = Nginx(tmp)
    try:
        n, interval = 1000, 30
        probes = "".join(
            f"  - id: p{i}\n    kind: http\n    url: http://127.0.0.1:{nginx.port}/p{i}\n"
            f"    components: [web]\n    interval: {interval}s\n    timeout: 5s\n"
            for i in range(n))
        project(tmp, probes)
        proc = subprocess.Popen([BIN, "probe", "--region", "bench", "--root", tmp],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rss = []
        start = time.time()
        while time.time() - start < seconds:
            time.sleep(10)
            rss.append(stat(proc.pid)[2] / 2**20)
            print(f"  t={time.time() - start:5.0f}s rss={rss[-1]:.1f} MB", flush=True)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        state = load_state(tmp)
        drifts, slopes = [], []
        for p in state["probes"].values():
            times = [parse_at(s["at"]) for s in p["recent"]]
            if len(times) < 3:
                continue
            errors = [(t - times[0]) - k * interval for k, t in enumerate(times)]
            drifts.append(max(abs(e) for e in errors))
            # Drift is a trend in the error from round to round. Round 0 has no jitter and
            # later rounds have 0-2 %, so fit the slope over rounds 1..n only.
            ks = list(range(1, len(errors)))
            es = errors[1:]
            if len(ks) >= 2:
                mk, me = statistics.mean(ks), statistics.mean(es)
                slopes.append(sum((k - mk) * (e - me) for k, e in zip(ks, es)) / sum((k - mk) ** 2 for k in ks))
        print(f"SOAK: {n} probes, {seconds}s: RSS max {max(rss):.1f} MB, last {rss[-1]:.1f} MB (target <= 60); "
              f"schedule error max {max(drifts):.3f}s, median {statistics.median(drifts):.3f}s over "
              f"{len(drifts)} probes (jitter is up to 2% = {interval * 0.02:.1f}s); drift (least-squares slope of "
              f"the error over rounds) mean {statistics.mean(slopes) * 1e3:.2f} ms/round, "
              f"max |slope| {max(abs(x) for x in slopes) * 1e3:.2f} ms/round, over {len(slopes[0:]) and len(times)} rounds")
    finally:
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", default="all", choices=["http", "icmp", "command", "soak", "all"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--soak-seconds", type=int, default=600)
    args = ap.parse_args()
    if not os.path.exists(BIN):
        build()
    if args.what in ("http", "all"):
        bench_http(args.runs)
    if args.what in ("icmp", "all"):
        bench_icmp(args.runs)
    if args.what in ("command", "all"):
        bench_command(args.runs)
    if args.what in ("soak", "all"):
        bench_soak(args.soak_seconds)


if __name__ == "__main__":
    sys.exit(main())
