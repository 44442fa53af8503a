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
  echo "== $t for ${SECONDS_EACH}s"
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" \
    -artifact_prefix="artifacts/$t/" -timeout=10 -rss_limit_mb=2048 2>&1 | tail -n 4
done
