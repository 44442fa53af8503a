#!/usr/bin/env python3
"""Oversized inputs (issue 14): peak memory and time of `check` and `build` on a 50 MB
components.yaml, a 20 MB incident post, a 200 MB state file, 100,000 nested block quotes
and a post with 10,000 updates. Each must be refused (or, for state, left out) with the
file named, within 10 x the input's size + a fixed base of memory and 2 s.

Usage: bench/limits.py [--runs 3]
Needs a release build (made if missing). Peak memory is the child's ru_maxrss (wait4).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "pharos")
NOW = "2026-11-20T12:00:00Z"
BASE_MB = 64  # the fixed base allowed besides 10 x the input
MB = 1024 * 1024

COMPONENTS = ("page:\n  title: Bench\n  base_url: https://status.bench.test\n"
              "components:\n  - id: web\n    name: Web\n")
PROBES = ("regions:\n  - name: r1\nprobes:\n  - id: web\n    kind: http\n"
          "    url: https://web.bench.test/\n    components: [web]\n")
HEAD = "---\ntitle: Big\nimpact: minor\ncomponents: [web]\n---\n"


def project(dir):
    with open(os.path.join(dir, "components.yaml"), "w") as f:
        f.write(COMPONENTS)
    with open(os.path.join(dir, "probes.yaml"), "w") as f:
        f.write(PROBES)
    os.makedirs(os.path.join(dir, "incidents"), exist_ok=True)
    os.makedirs(os.path.join(dir, "state"), exist_ok=True)


def big_config(dir):
    with open(os.path.join(dir, "components.yaml"), "w") as f:
        f.write(COMPONENTS)
        i = 0
        while f.tell() < 50 * MB:
            f.write(f"  - id: c{i}\n    name: Component {i} with a long enough name\n")
            i += 1
    return "components.yaml", 50 * MB


def big_post(dir):
    path = os.path.join(dir, "incidents", "2026-11-20-big.md")
    with open(path, "w") as f:
        f.write(HEAD + "## 2026-11-20T10:00:00Z investigating\n")
        line = "We are looking into it; " * 4 + "\n"
        while f.tell() < 20 * MB:
            f.write(line)
    return "incidents/2026-11-20-big.md", 20 * MB


def big_state(dir):
    path = os.path.join(dir, "state", "r1.json")
    with open(path, "w") as f:
        f.write('{"schema":2,"region":"r1","written_at":"2026-11-20T12:00:00Z","probes":{"web":'
                '{"kind":"http","target":"x","interval_s":30,"last":{"at":"2026-11-20T12:00:00Z",'
                '"health":"up","detail":"')
        chunk = "x" * MB
        while f.tell() < 200 * MB:
            f.write(chunk)
        f.write('"}}}}')
    return "state/r1.json", 200 * MB


def deep_quotes(dir):
    path = os.path.join(dir, "incidents", "2026-11-20-deep.md")
    with open(path, "w") as f:
        f.write(HEAD + "## 2026-11-20T10:00:00Z investigating\n" + "> " * 100_000 + "deep\n")
    return "incidents/2026-11-20-deep.md", os.path.getsize(path)


def many_updates(dir):
    path = os.path.join(dir, "incidents", "2026-11-20-many.md")
    with open(path, "w") as f:
        f.write(HEAD)
        for i in range(10_000):
            f.write(f"## 2026-11-19T{i // 60 % 24:02}:{i % 60:02}:00Z investigating\nStill.\n\n")
    return "incidents/2026-11-20-many.md", os.path.getsize(path)


def run(dir, args):
    """(seconds, peak MB, exit code, output) of one command."""
    start = time.monotonic()
    proc = subprocess.Popen([BIN, *args, "--root", dir], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    failed = False
    cases = [("50 MB config", big_config), ("20 MB post", big_post), ("200 MB state", big_state),
             ("100,000 nested quotes", deep_quotes), ("10,000 updates", many_updates)]
    print(f"{'input':<24} {'command':<6} {'median s':>9} {'peak MB':>8} {'bound MB':>9}  verdict")
    for name, make in cases:
        dir = tempfile.mkdtemp(prefix="pharos-limits-")
        try:
            project(dir)
            shown, size = make(dir)
            for cmd in (["check", "--now", NOW], ["build", "--now", NOW]):
                results = [run(dir, cmd) for _ in range(args.runs)]
                wall = statistics.median(r[0] for r in results)
                peak = max(r[1] for r in results)
                code, out = results[-1][2], results[-1][3]
                bound = 10 * size / MB + BASE_MB
                named = shown in out
                # A state file is workers' data, not the project's: `check` warns of it and
                # the build leaves its region out (it shows no data), both naming it and
                # going on. Everything else is refused.
                refused = code != 0 or (shown.startswith("state/") and "more than" in out)
                ok = named and refused and wall <= 2.0 and peak <= bound
                failed |= not ok
                print(f"{name:<24} {cmd[0]:<6} {wall:>9.3f} {peak:>8.1f} {bound:>9.0f}  "
                      f"{'ok' if ok else 'FAIL'} (exit {code}; {out.strip().splitlines()[-1][:90] if out.strip() else ''})")
        finally:
            shutil.rmtree(dir, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
