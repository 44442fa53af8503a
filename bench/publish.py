#!/usr/bin/env python3
"""Publish benchmark on the 100-component, 2,000-incident project of bench/site.py.

For each target (a folder, a git branch in a bare repository, Ceph RGW through the same
start script the tests use):
  first        `pharos publish` to an empty target: wall seconds, files and bytes sent.
  incremental  one post edited, the site rebuilt, `pharos publish` again: the same.
Medians of --runs (each run a new target, and a different post edited).

Bytes are the site files' bytes sent (what `publish` reports), not the protocol's
overhead; for Ceph the requests are S3 PUTs over loopback HTTP, one per file.

Usage: bench/publish.py [--runs 3] [--targets folder,git,ceph] [--work DIR]
Needs a release build (made if missing); radosgw + ceph-mon + ceph-osd for ceph.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

def load(name):
    """A module of bench/ by its file (bench/site.py would be shadowed by Python's own)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sitebench = load("site")  # the project generator
state_io = load("state_io")  # Ceph start-up

BIN = sitebench.BIN
NOW = sitebench.iso(sitebench.NOW)
SENT = re.compile(r"published (\d+) file\(s\) \(([\d.]+) (B|KB|MB)\)")
UNIT = {"B": 1, "KB": 1e3, "MB": 1e6}


def publish(project, to, env):
    t = time.perf_counter()
    out = subprocess.run([BIN, "--root", project, "publish", "--to", to, "--now", NOW],
                         env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"publish to {to} failed: {out.stderr.strip()[-800:]}")
    m = SENT.search(out.stdout)
    if not m:
        raise SystemExit(f"publish to {to} said: {out.stdout.strip()}")
    return wall, int(m.group(1)), float(m.group(2)) * UNIT[m.group(3)]


def build(project):
    subprocess.run([BIN, "--root", project, "build", "--now", NOW], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def edit_post(project, n):
    posts = sorted(os.listdir(os.path.join(project, "incidents")))
    path = os.path.join(project, "incidents", posts[(n * 97) % len(posts)])
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + f"\n\nEdited in run {n}.\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--targets", default="folder,git,ceph")
    ap.add_argument("--work", help="folder for the generated project (default: a temporary one)")
    args = ap.parse_args()
    sitebench.ensure_binary()
    work = tempfile.mkdtemp(prefix="pharos-publish-", dir=args.work)
    ceph_pids = []
    try:
        project = os.path.join(work, "p")
        os.makedirs(project)
        sitebench.generate(project)
        build(project)
        env = dict(os.environ)
        targets = args.targets.split(",")
        if "ceph" in targets:
            port, ceph_pids = state_io.start_ceph(work)
            env.update(AWS_ACCESS_KEY_ID=state_io.AK, AWS_SECRET_ACCESS_KEY=state_io.SK,
                       AWS_REGION="us-east-1", AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
                       AWS_ALLOW_HTTP="true")
        for target in targets:
            first, again = [], []
            for n in range(args.runs):
                if target == "folder":
                    to = os.path.join(work, f"www-{n}")
                elif target == "git":
                    bare = os.path.join(work, f"site-{n}.git")
                    subprocess.run(["git", "init", "-q", "--bare", bare], check=True)
                    to = f"git+file://{bare}#pages"
                else:
                    to = f"s3://{state_io.BUCKET}/www-{n}"
                first.append(publish(project, to, env))
                edit_post(project, n)
                build(project)
                again.append(publish(project, to, env))
            for name, runs in (("first", first), ("incremental", again)):
                wall = statistics.median(r[0] for r in runs)
                files = statistics.median(r[1] for r in runs)
                sent = statistics.median(r[2] for r in runs)
                print(f"PUBLISH {target} {name}: median {wall:.2f} s, {files:.0f} files, "
                      f"{sent / 1e6:.2f} MB sent over {args.runs} runs "
                      f"(each: {', '.join(f'{r[0]:.2f} s' for r in runs)})")
    finally:
        state_io.stop_ceph(ceph_pids)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
