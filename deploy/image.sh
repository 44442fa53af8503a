#!/usr/bin/env bash
# Build the Pharos container image (deploy/Containerfile) from the static musl binary.
#
#   deploy/image.sh [BINARY]
#
# BINARY defaults to target/x86_64-unknown-linux-musl/release/pharos (build it with
# `cargo build --release --target x86_64-unknown-linux-musl`). Environment:
#   TAG        image name (default localhost/pharos:<version from `pharos --version`>)
#   CA_BUNDLE  CA bundle to copy in (default /etc/ssl/certs/ca-certificates.crt)
#   BUILDER    buildah or podman (default: buildah if installed, else podman)
# Prints the tag and the image's size in bytes on its last two lines. The build is
# reproducible (one layer, the same image id from buildah and podman): timestamps come
# from the last commit (SOURCE_DATE_EPOCH overrides).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

bin=${1:-$repo/target/x86_64-unknown-linux-musl/release/pharos}
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -x "$bin" ] || { echo "image.sh: no executable binary at $bin (cargo build --release --target x86_64-unknown-linux-musl)" >&2; exit 1; }
[ -s "$ca" ] || { echo "image.sh: no CA bundle at $ca (apt-get install ca-certificates, or set CA_BUNDLE)" >&2; exit 1; }
# FROM scratch has no libc: a dynamically linked binary would not start in the image.
if command -v readelf >/dev/null && readelf -l "$bin" | grep -q 'INTERP'; then
  echo "image.sh: $bin is dynamically linked; build the x86_64-unknown-linux-musl target" >&2
  exit 1
fi

version=$("$bin" --version | awk '{print $2}')
tag=${TAG:-localhost/pharos:$version}
if [ -n "${BUILDER:-}" ]; then builder=$BUILDER
elif command -v buildah >/dev/null; then builder=buildah
elif command -v podman >/dev/null; then builder=podman
else echo "image.sh: needs buildah or podman (apt-get install buildah)" >&2; exit 1
fi
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

# Stage the build context: only what the Containerfile copies.
ctx=$(mktemp -d "${TMPDIR:-/tmp}/pharos-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
install -m 0755 "$bin" "$ctx/pharos"
install -m 0644 "$ca" "$ctx/ca-certificates.crt"
cat >"$ctx/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
pharos:x:65532:65532:pharos:/var/lib/pharos:/sbin/nologin
EOF
cat >"$ctx/group" <<'EOF'
root:x:0:
pharos:x:65532:
EOF
chmod 0644 "$ctx/passwd" "$ctx/group"
install -d -m 0755 "$ctx/home" "$ctx/dirs" "$ctx/dirs/var" "$ctx/dirs/var/lib"
install -d -m 1777 "$ctx/dirs/tmp"
cp "$here/Containerfile" "$ctx/Containerfile"
# Same mtimes every time, so the layers (and the image id) depend on content only.
find "$ctx" -exec touch -h -d "@$epoch" {} +

echo "image.sh: building $tag with $builder from $bin (pharos $version)" >&2
"$builder" build --format oci --layers=false --timestamp "$epoch" --identity-label=false \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg CREATED="$created" \
  -f "$ctx/Containerfile" -t "$tag" "$ctx" >&2

# buildah and podman share containers-storage; read the size with whichever is here.
if command -v podman >/dev/null; then
  size=$(podman image inspect --format '{{.Size}}' "$tag")
else
  size=$(buildah inspect --type image "$tag" | python3 -c 'import json,sys
d = json.load(sys.stdin); print(sum(l["size"] for l in json.loads(d["Manifest"])["layers"]) + len(d["Config"]))')
fi
echo "$tag"
echo "size: $size bytes"
