#!/bin/bash
# Run every fuzz target for SECONDS each (default 600), one after another, keeping the
# corpus in fuzz/corpus/<target> and any crash in fuzz/artifacts/<target>. Installs
# cargo-fuzz when it is missing; needs the nightly toolchain (rustup toolchain install
# nightly). Not part of CI.
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}
shift || true
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(config incident assertion state perfdata dns_answers)
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  # Seed corpora from the repository's own examples.
  case $t in
    config) cp ../components.yaml corpus/config/components.yaml 2>/dev/null || true
            cp ../probes.yaml corpus/config/probes.yaml 2>/dev/null || true ;;
    incident) cp ../incidents/*.md corpus/incident/ 2>/dev/null || true ;;
  esac
  # And the hostile shapes of issue 14 (class 1), small enough to fuzz from: deep nesting,
  # too many updates, control characters, deep YAML, too many transitions, long details.
  python3 - "$t" <<'PY'
import sys
t = sys.argv[1]
head = "---\ntitle: x\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-20T10:00:00Z investigating\n"
seeds = {
    "incident": {
        "deep-quotes.md": head + "> " * 2000 + "x\n",
        "deep-divs.md": head + "<div>" * 2000 + "x\n",
        "deep-lists.md": head + "".join("  " * i + "- x\n" for i in range(200)),
        "many-updates.md": head.split("## ")[0] + "## 2026-11-20T10:00:00Z resolved\nx\n" * 1001,
        "control.md": head.replace("title: x", "title: \"a\\u0001b\"") + "x\u0001y\n",
        "year-zero.md": head.replace("2026-11-20T10", "0000-01-01T10") + "x\n",
    },
    "config": {
        "deep.yaml": "page: " + "[" * 3000 + "]" * 3000 + "\n",
        "control.yaml": "page:\n  title: \"a\\u0001b\"\n  base_url: https://s.test\ncomponents:\n  - id: web\n    name: W\n",
        "js-link.yaml": "page:\n  title: T\n  base_url: https://s.test\n  links:\n    - title: x\n      url: \"javascript:alert(1)\"\ncomponents:\n  - id: web\n    name: W\n",
    },
    "state": {
        "transitions.json": '{"schema":2,"region":"r1","written_at":"2026-11-20T12:00:00Z","probes":{"p":{"kind":"http","target":"x","interval_s":30,"last":{"at":"2026-11-20T12:00:00Z","health":"up","detail":"ok"},"transitions":['
            + ",".join('{"at":"2026-11-%02dT%02d:%02d:00Z","to":"%s"}' % (1 + i // 1440, i // 60 % 24, i % 60, "down" if i % 2 else "up") for i in range(600))
            + "]}}}",
        "long-detail.json": '{"schema":2,"region":"r1","written_at":"2026-11-20T12:00:00Z","probes":{"p":{"kind":"http","target":"x","interval_s":30,"last":{"at":"2026-11-20T12:00:00Z","health":"up","detail":"' + "x" * 20000 + '"}}}}',
    },
}
for name, text in seeds.get(t, {}).items():
    with open(f"corpus/{t}/seed-{name}", "w") as f:
        f.write(text)
PY
  echo "== $t for ${SECONDS_EACH}s"
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" \
    -artifact_prefix="artifacts/$t/" -timeout=10 -rss_limit_mb=2048 2>&1 | tail -n 4
done
