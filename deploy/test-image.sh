#!/usr/bin/env bash
# Build the container image with deploy/image.sh and prove it works; exits non-zero on any
# failure. Needs root, buildah or podman, and for the fallback skopeo, umoci and python3.
#
#   deploy/test-image.sh [BINARY]
#
# Checks: the image's file system (binary, CA bundle, passwd/group, /tmp 1777, /var/lib/pharos
# owned by 65532), its config (numeric non-root user, entrypoint, SSL_CERT_FILE), then runs
# `pharos --version` and a 5 s `pharos demo` as the image's user, once in the writable
# working folder and once on a read-only root with a tmpfs /tmp (as Kubernetes runs it).
# It runs the image the first way that works here, and says which:
#   podman       plain `podman run`
#   podman-runc  `podman --runtime runc run` with ulimits no higher than this shell's: for
#                sandboxes where crun refuses hybrid cgroups and raising rlimits is denied
#   chroot       no container at all: skopeo copies the image to an OCI layout, umoci unpacks
#                it, and chroot --userspec runs the binary in the rootfs with the image's env
# PHAROS_IMAGE_RUN=podman|podman-runc|chroot forces one. The test image (TAG, default
# localhost/pharos-test:<pid>) and every temporary folder are removed at exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export TAG=${TAG:-localhost/pharos-test:$$}
work=$(mktemp -d "${TMPDIR:-/tmp}/pharos-image-test.XXXXXX")
podman_cmd=$(command -v podman || true)
cleanup() {
  rm -rf "$work"
  if [ -n "$podman_cmd" ]; then podman rmi -f "$TAG" >/dev/null 2>&1 || true
  else buildah rmi -f "$TAG" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
fail() { echo "test-image: FAIL: $*" >&2; exit 1; }
t0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }

# 1. Build.
t=$(date +%s.%N)
"$here/image.sh" "$@" >"$work/build.out" 2>"$work/build.err" || { cat "$work/build.err" >&2; fail "image build"; }
size=$(sed -n 's/^size: \([0-9]*\) bytes$/\1/p' "$work/build.out")
echo "test-image: built $TAG, $size bytes, in $(since "$t")"

# 2. Unpack the image (skopeo + umoci) when podman cannot mount it or the chroot path runs.
rootfs=""
unpack() {
  if ! command -v skopeo >/dev/null || ! command -v umoci >/dev/null; then fail "unpacking needs skopeo and umoci"; fi
  skopeo copy --quiet "containers-storage:$TAG" "oci:$work/oci:test" 2>"$work/skopeo.err" \
    || { cat "$work/skopeo.err" >&2; fail "skopeo copy"; }
  umoci unpack --image "$work/oci:test" "$work/bundle" >/dev/null || fail "umoci unpack"
  rootfs=$work/bundle/rootfs
}
mounted=""
if [ -n "$podman_cmd" ] && rootfs=$(podman image mount "$TAG" 2>/dev/null); then mounted=yes; else unpack; fi

# 3. The file system and the config.
t=$(date +%s.%N)
stat_is() { # path, expected "mode uid:gid"
  got=$(stat -c '%a %u:%g' "$rootfs$1") || fail "missing $1"
  [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}
stat_is /usr/local/bin/pharos "755 0:0"
stat_is /etc/ssl/certs/ca-certificates.crt "644 0:0"
stat_is /etc/passwd "644 0:0"
stat_is /etc/group "644 0:0"
stat_is /tmp "1777 0:0"
stat_is /var/lib "755 0:0"
stat_is /var/lib/pharos "755 65532:65532"
grep -q '^pharos:x:65532:65532:' "$rootfs/etc/passwd" || fail "no pharos user in /etc/passwd"
grep -q 'BEGIN CERTIFICATE' "$rootfs/etc/ssl/certs/ca-certificates.crt" || fail "CA bundle is empty"
[ -z "$(find "$rootfs" -perm -4000 -o -perm -2000 | head -1)" ] || fail "set-id files in the image"
if command -v readelf >/dev/null && readelf -l "$rootfs/usr/local/bin/pharos" | grep -q INTERP; then
  fail "the binary is dynamically linked"
fi
[ -n "$mounted" ] && podman image unmount "$TAG" >/dev/null
# The image config, from podman (Docker-style keys) or buildah (OCI keys: the same names).
if [ -n "$podman_cmd" ]; then
  cfg=$(podman image inspect "$TAG" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[0]["Config"]))')
else
  cfg=$(buildah inspect --type image "$TAG" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["OCIv1"]["config"]))')
fi
bad=$(python3 -c '
import json, sys
c = json.loads(sys.argv[1])
want = {"User": "65532:65532", "Entrypoint": ["/usr/local/bin/pharos"], "WorkingDir": "/var/lib/pharos"}
for key, value in want.items():
    if c.get(key) != value:
        print(f"image {key} is {c.get(key)!r}, expected {value!r}")
if "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" not in c.get("Env", []):
    print("SSL_CERT_FILE is not set in the image")
' "$cfg")
[ -z "$bad" ] || fail "$bad"
echo "test-image: file system and config ok in $(since "$t")"

# 4. Run it.
want=$("${1:-$here/../target/x86_64-unknown-linux-musl/release/pharos}" --version)
lim=$(ulimit -Hn); [ "$lim" = unlimited ] && lim=1048576
runc_flags=(--runtime runc)
run_flags=(--network=none --ulimit "nofile=$lim:$lim" --ulimit nproc=4096:4096)
try_podman() { podman run --rm --network=none "$TAG" --version 2>"$work/err"; }
try_runc() { command -v runc >/dev/null && podman "${runc_flags[@]}" run --rm "${run_flags[@]}" "$TAG" --version 2>"$work/err"; }
mode=${PHAROS_IMAGE_RUN:-}
if [ -z "$mode" ]; then
  if [ -z "$podman_cmd" ]; then mode=chroot; echo "test-image: no podman"
  elif try_podman >/dev/null; then mode=podman
  else
    echo "test-image: podman run failed: $(tail -1 "$work/err")"
    if try_runc >/dev/null; then mode=podman-runc
    else echo "test-image: podman --runtime runc run failed: $(tail -1 "$work/err")"; mode=chroot; fi
  fi
fi
echo "test-image: running the image with: $mode"

case $mode in
  podman) run() { podman run --rm --network=none "$@"; } ;;
  podman-runc) run() { podman "${runc_flags[@]}" run --rm "${run_flags[@]}" "$@"; } ;;
  chroot)
    [ -d "$work/bundle" ] || unpack
    # The image's own user, working folder and environment, from umoci's runtime config.
    mapfile -t image_env < <(python3 -c 'import json,sys; [print(e) for e in json.load(open(sys.argv[1]))["process"]["env"]]' "$work/bundle/config.json")
    # `run [--read-only] [--tmpfs DIR] IMAGE ARGS…`, as far as a chroot can: read-only is a
    # read-only bind mount of the rootfs, with a tmpfs on DIR.
    run() {
      local ro="" tmpfs=""
      while [ "${1#--}" != "$1" ]; do
        case $1 in --read-only) ro=yes ;; --tmpfs) tmpfs=$2; shift ;; esac; shift
      done
      shift # the image
      local root=$rootfs
      if [ -n "$ro" ]; then
        root=$work/ro; mkdir -p "$root"
        mount --bind "$rootfs" "$root" && mount -o remount,bind,ro "$root"
        [ -n "$tmpfs" ] && mount -t tmpfs -o mode=1777 tmpfs "$root$tmpfs"
      fi
      local rc=0
      (env -i "${image_env[@]}" chroot --userspec=65532:65532 "$root" \
        /usr/local/bin/pharos "$@") 2>&1 || rc=$?
      if [ -n "$ro" ]; then umount -R "$root"; fi
      return $rc
    }
    ;;
  *) fail "PHAROS_IMAGE_RUN=$mode: expected podman, podman-runc or chroot" ;;
esac

t=$(date +%s.%N)
got=$(run "$TAG" --version) || fail "pharos --version in the image"
[ "$got" = "$want" ] || fail "the image says '$got', the binary '$want'"
echo "test-image: '$got' in $(since "$t")"

t=$(date +%s.%N)
run "$TAG" demo --duration 5s --dir /var/lib/pharos/demo >"$work/demo.out" 2>&1 || { cat "$work/demo.out" >&2; fail "demo in the working folder"; }
grep -q '^Site built: /var/lib/pharos/demo/site/index.html' "$work/demo.out" || { cat "$work/demo.out" >&2; fail "demo built no site"; }
echo "test-image: demo in /var/lib/pharos as 65532 ok in $(since "$t")"

t=$(date +%s.%N)
run --read-only --tmpfs /tmp "$TAG" demo --duration 5s >"$work/demo-ro.out" 2>&1 || { cat "$work/demo-ro.out" >&2; fail "demo on a read-only root"; }
grep -q '^Site built: /tmp/' "$work/demo-ro.out" || { cat "$work/demo-ro.out" >&2; fail "demo on a read-only root built no site"; }
echo "test-image: demo on a read-only root with tmpfs /tmp ok in $(since "$t")"

echo "test-image: PASS ($mode, $size bytes, $(since "$t0"))"
