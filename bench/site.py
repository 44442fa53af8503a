#!/usr/bin/env python3
"""Site benchmarks on a generated project: 100 components, 2,000 incident posts, three
regions of state with history. Everything stays on this machine.

  build   `pharos build` of the 100 x 2,000 project: CPU seconds, wall seconds and peak
          RSS (medians of --runs), files and bytes written, index.html raw and gzipped
          (issue 22: <= 0.5 CPU-s, index <= 200 KB and <= 30 KB gzipped).
  sizes   builds at 100 x 2,000, 500 x 10,000, 1,000 x 20,000 and 2,000 x 50,000
          (components x posts, or --sizes): the same figures per size and the growth
          exponent between sizes (issue 22: 2,000 x 50,000 <= 30 CPU-s and <= 2 GB,
          exponent from 500 x 10,000 <= 1.2; the compact home page <= 150 KB gzipped).
  watch   `pharos watch` running; one post is edited: time from the write to the new
          page in site/ and the files the rebuild wrote (issue 22: <= 100 ms), median of
          --runs edits.

Projects: components in groups of 10 (the first of each a dependency of the others),
one probe each, posts over two years (1 in 10 a maintenance), three regions' state with
90 days of history (outages seen everywhere, blips seen by one region, group outages).

Usage: bench/site.py [build|sizes|watch|all] [--runs 5] [--keep DIR] [--work DIR]
                     [--sizes 500x10000,2000x50000]
Needs a release build (made if missing).
"""

import argparse
import datetime as dt
import gzip
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "pharos")
COMPONENTS = 100
INCIDENTS = 2000
HISTORY_DAYS = 90
REGIONS = ["eu-west", "us-east", "ap-south"]
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(dir, components=None, incidents=None):
    """A project of `components` components in groups of 10 (each group's first component
    is a dependency of the other nine), one probe each, `incidents` posts over two years
    (one in ten a maintenance, 1 to 4 updates each) and three regions' state with 90 days of
    history. Deterministic: the same sizes give the same files."""
    global COMPONENTS, INCIDENTS
    COMPONENTS = components or COMPONENTS
    INCIDENTS = incidents or INCIDENTS
    rnd = random.Random(7)
    groups = (COMPONENTS + 9) // 10
    with open(os.path.join(dir, "components.yaml"), "w") as f:
        f.write("page:\n  title: Bench Status\n  base_url: https://status.bench.example\ngroups:\n")
        for g in range(groups):
            f.write(f"  - id: g{g}\n    name: Group {g}\n")
        f.write("components:\n")
        for c in range(COMPONENTS):
            f.write(f"  - id: c{c:04}\n    name: Component {c}\n    group: g{c // 10}\n"
                    f"    description: Service number {c}.\n")
            if c % 10:
                f.write(f"    depends_on: [c{c - c % 10:04}]\n")
    with open(os.path.join(dir, "probes.yaml"), "w") as f:
        f.write("regions:\n" + "".join(f"  - name: {r}\n" for r in REGIONS) + "probes:\n")
        for c in range(COMPONENTS):
            f.write(f"  - id: p{c:04}\n    kind: http\n    url: https://c{c}.bench.example/\n"
                    f"    components: [c{c:04}]\n    interval: 30s\n")
    inc = os.path.join(dir, "incidents")
    os.makedirs(inc, exist_ok=True)
    span_min = 2 * 365 * 1440
    texts = [
        ("resolved", "Error rates are back to normal."),
        ("monitoring", "A fix is deployed; we are watching the error rates."),
        ("identified", "A **bad deploy** is being rolled back."),
        ("investigating", "We are investigating elevated error rates.\n\n- item one\n- item two"),
    ]
    for i in range(INCIDENTS):
        start = NOW - dt.timedelta(minutes=span_min * (INCIDENTS - i) // INCIDENTS + 120)
        comps = sorted({f"c{rnd.randrange(COMPONENTS):04}" for _ in range(rnd.randint(1, 3))})
        if i % 10 == 9:
            name = f"{start:%Y-%m-%d}-maintenance-{i:05}.md"
            until = start + dt.timedelta(hours=1)
            front = (f"title: Maintenance number {i}\nkind: maintenance\ncomponents: [{', '.join(comps)}]\n"
                     f"scheduled_for: {iso(start)}\nscheduled_until: {iso(until)}\n")
            updates = [(start - dt.timedelta(days=2), "scheduled", "We will upgrade a **database**.")]
        else:
            name = f"{start:%Y-%m-%d}-incident-{i:05}.md"
            front = (f"title: Incident number {i}\nimpact: {rnd.choice(['minor', 'major'])}\n"
                     f"components: [{', '.join(comps)}]\n")
            n = rnd.randint(1, 4)
            # Newest first, always ending resolved: a real archive is almost all closed.
            chosen = {1: [0], 2: [0, 3], 3: [0, 2, 3], 4: [0, 1, 2, 3]}[n]
            updates = [(start + dt.timedelta(minutes=15 * (n - 1 - k)), *texts[j])
                       for k, j in enumerate(chosen)]
        with open(os.path.join(inc, name), "w") as f:
            f.write(f"---\n{front}---\n")
            for at, status, text in updates:
                f.write(f"## {iso(at)} {status}\n{text}\n\n")
    write_state(dir, rnd)
    return [n for n in sorted(os.listdir(inc)) if n.endswith(".md")]


def write_state(dir, rnd):
    """Three regions' state with 90 days of history: transitions (outages seen by every
    region, blips seen by one, and group outages through a shared dependency) and the
    daily and hourly roll-ups the worker keeps, consistent with the transitions."""
    state = os.path.join(dir, "state")
    os.makedirs(state, exist_ok=True)
    start = NOW - dt.timedelta(days=HISTORY_DAYS)
    # Outages per probe: (start, minutes, health, regions).
    events = {c: [] for c in range(COMPONENTS)}
    for c in range(COMPONENTS):
        for _ in range(rnd.randint(0, 3)):
            at = start + dt.timedelta(minutes=rnd.randrange(HISTORY_DAYS * 1440 - 200))
            events[c].append((at, rnd.randint(5, 90), rnd.choice(["down", "degraded"]), {0, 1, 2}))
        for _ in range(rnd.randint(0, 3)):
            at = start + dt.timedelta(minutes=rnd.randrange(HISTORY_DAYS * 1440 - 200))
            events[c].append((at, rnd.randint(3, 30), "down", {rnd.randrange(3)}))
    for base in range(0, COMPONENTS, 10):
        # The group's first component is what the others depend on: when it fails,
        # every probe of the group fails in every region.
        for _ in range(2):
            at = start + dt.timedelta(minutes=rnd.randrange(HISTORY_DAYS * 1440 - 200))
            for c in range(base, min(base + 10, COMPONENTS)):
                events[c].append((at, rnd.randint(20, 60), "down", {0, 1, 2}))
    first_day = (NOW - dt.timedelta(days=HISTORY_DAYS - 1)).date()
    first_hour = (NOW - dt.timedelta(hours=167)).replace(minute=0, second=0)
    for r, region in enumerate(REGIONS):
        probes = []
        for c in range(COMPONENTS):
            spans = []
            for at, minutes, health, regions in events[c]:
                if r in regions:
                    at = at + dt.timedelta(seconds=rnd.randrange(40))
                    spans.append((at, at + dt.timedelta(minutes=minutes), health))
            spans.sort()
            merged = []
            for s in spans:
                if merged and s[0] <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], s[1]), merged[-1][2])
                else:
                    merged.append(s)
            transitions = [f'{{"at":"{iso(NOW - dt.timedelta(days=120))}","to":"up"}}']
            down = [0.0] * HISTORY_DAYS
            degraded = [0.0] * HISTORY_DAYS
            for a, b, health in merged:
                transitions.append(f'{{"at":"{iso(a)}","to":"{health}"}}')
                transitions.append(f'{{"at":"{iso(b)}","to":"up"}}')
                t = a
                while t < b:
                    day_end = dt.datetime.combine(t.date() + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
                    end = min(b, day_end)
                    i = (t.date() - first_day).days
                    if 0 <= i < HISTORY_DAYS:
                        (down if health == "down" else degraded)[i] += (end - t).total_seconds()
                    t = end
            worst = "".join("d" if down[i] else "g" if degraded[i] else "u" for i in range(HISTORY_DAYS))
            p50 = [round(40 + 10 * rnd.random(), 1) for _ in range(HISTORY_DAYS)]
            daily = (f'"first_day":"{first_day}","checks":[{",".join(["2880"] * HISTORY_DAYS)}],'
                     f'"failures":[{",".join(str(int(d // 30)) for d in down)}],'
                     f'"down_s":[{",".join(f"{d:.1f}" for d in down)}],'
                     f'"degraded_s":[{",".join(f"{d:.1f}" for d in degraded)}],'
                     f'"worst":"{worst}","p50_ms":[{",".join(map(str, p50))}],'
                     f'"p95_ms":[{",".join(str(round(p * 2.1, 1)) for p in p50)}]')
            hp = [round(40 + 10 * rnd.random(), 1) for _ in range(168)]
            hourly = (f'"first_hour":"{iso(first_hour)}","n":[{",".join(["120"] * 168)}],'
                      f'"p50_ms":[{",".join(map(str, hp))}],'
                      f'"p95_ms":[{",".join(str(round(p * 2, 1)) for p in hp)}],'
                      f'"p99_ms":[{",".join(str(round(p * 3, 1)) for p in hp)}]')
            last = iso(NOW - dt.timedelta(seconds=10))
            probes.append(
                f'"p{c:04}":{{"kind":"http","target":"https://c{c}.bench.example/","interval_s":30.0,'
                f'"last":{{"at":"{last}","health":"up","latency_ms":42.0,"detail":"HTTP 200"}},'
                f'"recent":[],"transitions":[{",".join(transitions)}],'
                f'"history":{{"accounted_until":"{iso(NOW)}","hourly":{{{hourly}}},"daily":{{{daily}}}}}}}')
        with open(os.path.join(state, f"{region}.json"), "w") as f:
            f.write(f'{{"schema":2,"region":"{region}","written_at":"{iso(NOW)}","probes":{{\n'
                    + ",\n".join(probes) + "\n}}\n")


def ensure_binary():
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)


def measure(dir, runs):
    """Build `dir` `runs` times; medians of CPU seconds (user + system, from wait4), wall
    seconds and peak RSS, with the files and bytes written."""
    cpu, wall, rss = [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.Popen([BIN, "--root", dir, "build", "--now", iso(NOW)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall.append(time.perf_counter() - t)
        if status != 0:
            raise SystemExit(f"build of {dir} failed ({status})")
        cpu.append(usage.ru_utime + usage.ru_stime)
        rss.append(usage.ru_maxrss / 1024)
    files = 0
    size = 0
    for root, _, names in os.walk(os.path.join(dir, "site")):
        files += len(names)
        size += sum(os.path.getsize(os.path.join(root, n)) for n in names)
    index = open(os.path.join(dir, "site", "index.html"), "rb").read()
    return {
        "cpu": statistics.median(cpu), "wall": statistics.median(wall),
        "rss": statistics.median(rss), "files": files, "bytes": size,
        "index": len(index), "index_gz": len(gzip.compress(index, 9)),
    }


def bench_build(dir, runs):
    m = measure(dir, runs)
    print(f"BUILD {COMPONENTS} x {INCIDENTS}: median {m['cpu']:.2f} CPU-s, {m['wall']:.2f} s wall, "
          f"{m['rss']:.0f} MB peak RSS over {runs} runs; {m['files']} files, "
          f"{m['bytes'] / 2**20:.1f} MiB; index.html {m['index'] / 1000:.1f} KB, "
          f"{m['index_gz'] / 1000:.1f} KB gzipped (targets: <= 0.5 CPU-s; index <= 200 KB, <= 30 KB gzipped)")


SIZES = [(100, 2000), (500, 10000), (1000, 20000), (2000, 50000)]


def bench_sizes(runs, sizes=SIZES, work=None):
    """Each size generated and built `runs` times; the growth exponent between sizes is
    log(cpu ratio) / log(work ratio), with work = components + posts."""
    rows = []
    for comps, posts in sizes:
        dir = tempfile.mkdtemp(prefix="pharos-bench-size-", dir=work)
        try:
            generate(dir, comps, posts)
            m = measure(dir, runs)
            rows.append((comps, posts, m))
            print(f"SIZE {comps} x {posts}: {m['cpu']:.2f} CPU-s, {m['wall']:.2f} s wall, "
                  f"{m['rss']:.0f} MB peak RSS (medians of {runs}); {m['files']} files, "
                  f"{m['bytes'] / 2**20:.0f} MiB; index.html {m['index'] / 1000:.0f} KB, "
                  f"{m['index_gz'] / 1000:.1f} KB gzipped", flush=True)
        finally:
            shutil.rmtree(dir, ignore_errors=True)
    for (c0, p0, m0), (c1, p1, m1) in zip(rows, rows[1:]):
        k = math.log(m1["cpu"] / m0["cpu"]) / math.log((c1 + p1) / (c0 + p0))
        print(f"  growth {c0} x {p0} -> {c1} x {p1}: CPU x{m1['cpu'] / m0['cpu']:.2f} "
              f"for x{(c1 + p1) / (c0 + p0):.2f} the work: exponent {k:.2f}")
    if len(rows) > 2:
        # The span: from 500 x 10,000 (or the first size) to the last.
        start = next((r for r in rows if r[:2] == (500, 10000)), rows[0])
        (c0, p0, m0), (c1, p1, m1) = start, rows[-1]
        k = math.log(m1["cpu"] / m0["cpu"]) / math.log((c1 + p1) / (c0 + p0))
        print(f"  growth {c0} x {p0} -> {c1} x {p1}: exponent {k:.2f} (target <= 1.2)")


def bench_watch(dir, names, runs):
    env = dict(os.environ, PHAROS_NOW=iso(NOW), PHAROS_LOG="warn")
    proc = subprocess.Popen([BIN, "--root", dir, "watch"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        line = proc.stdout.readline()
        if "rebuilt" not in line:
            raise SystemExit(f"watch did not build: {line!r}")
        proc.stdout.readline()  # "watching …"
        latencies = []
        written = []
        for n in range(runs):
            name = [m for m in names if "-incident-" in m][-1 - n]
            slug = name[:-3]
            page = os.path.join(dir, "site", "incidents", slug, "index.html")
            marker = f"Edit number {n} of the benchmark."
            path = os.path.join(dir, "incidents", name)
            with open(path) as f:
                text = f.read()
            text = text.replace("Error rates are back to normal.", marker, 1)
            time.sleep(0.3)
            t = time.perf_counter()
            with open(path, "w") as f:
                f.write(text)
            deadline = t + 10
            while True:
                try:
                    with open(page) as f:
                        if marker in f.read():
                            break
                except FileNotFoundError:
                    pass
                if time.perf_counter() > deadline:
                    raise SystemExit("the edit never reached the site")
                time.sleep(0.001)
            latencies.append((time.perf_counter() - t) * 1000)
            line = proc.stdout.readline()
            m = re.search(r"\((\d+) written\)", line)
            written.append(int(m.group(1)) if m else -1)
        print(f"WATCH {COMPONENTS} x {INCIDENTS}, edit of one post → new page in site/: median "
              f"{statistics.median(latencies):.0f} ms over {runs} edits (min {min(latencies):.0f}, "
              f"max {max(latencies):.0f}); files written per rebuild: {written} (target <= 100 ms)")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="all", choices=["build", "sizes", "watch", "all"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", help="generate the project into this folder and keep it")
    ap.add_argument("--work", help="folder for the generated projects (e.g. /dev/shm: "
                    "a tmpfs takes the disk out of the figures)")
    ap.add_argument("--sizes", help="components x posts, comma separated, e.g. 500x10000,2000x50000")
    args = ap.parse_args()
    ensure_binary()
    sizes = SIZES
    if args.sizes:
        sizes = [tuple(int(n) for n in s.split("x")) for s in args.sizes.split(",")]
    if args.what == "sizes":
        return bench_sizes(args.runs, sizes, args.work)
    dir = args.keep or tempfile.mkdtemp(prefix="pharos-bench-site-", dir=args.work)
    os.makedirs(dir, exist_ok=True)
    try:
        names = generate(dir)
        if args.what in ("build", "all"):
            bench_build(dir, args.runs)
        if args.what in ("watch", "all"):
            bench_watch(dir, names, args.runs)
        if args.what == "all":
            bench_sizes(args.runs, sizes, args.work)
    finally:
        if not args.keep:
            shutil.rmtree(dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
