#!/usr/bin/env bash
# A 12-image workspace on one base, every side in one run:
#  1. built as a stack (`staves stack`), cold (image and layer caches empty, .debs warm)
#     and warm, against the same 12 images built flat, one by one, each from scratch;
#  2. bytes stored (unique blobs: what a registry keeps, blobs being content-addressed) for
#     the stack, the flat images, and the flat images with `layers = 8`;
#  3. the layer sharing ratio of the `layers = 8` images: bytes of layers shared by
#     another image / bytes of all their layers;
#  4. peak RSS of a cold whole-workspace build.
# Needs hyperfine and /usr/bin/time (Debian packages `hyperfine`, `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
staves=$PWD/target/release/staves
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export STAVES_CACHE=$work/cache

base_pkgs='"libc6", "ca-certificates", "tzdata", "netbase"'
apps=(python3 nginx-light curl sqlite3 jq lua5.4 gawk socat rsync redis-tools postgresql-client-15)
ws=$work/ws
mkdir -p "$ws/base"
cp examples/stack/base/staves.toml "$ws/base/"
for app in "${apps[@]}"; do
  name=${app//./}
  mkdir -p "$ws/$name" "$work/flat/$name" "$work/layered/$name"
  printf 'name = "ws-%s"\nbase = "../base"\npackages = ["%s"]\nexclude = ["dash", "iproute2"]\n' \
    "$name" "$app" >"$ws/$name/staves.toml"
  flat='name = "flat-%s"\npackages = [%s, "%s"]\nexclude = ["dash", "iproute2"]\nuse = ["-gconv"]\nenvironment = { LANG = "C.UTF-8", TZ = "Etc/UTC" }\n[[accounts]]\nname = "app"\nuid = 1000\n'
  # shellcheck disable=SC2059
  printf "$flat" "$name" "$base_pkgs" "$app" >"$work/flat/$name/staves.toml"
  # shellcheck disable=SC2059
  printf "layers = 8\n$flat" "$name" "$base_pkgs" "$app" >"$work/layered/$name/staves.toml"
done
# The base itself, flat and layered, is the twelfth image.
mkdir -p "$work/flat/base" "$work/layered/base"
cp examples/stack/base/staves.toml "$work/flat/base/"
{ echo "layers = 8"; cat examples/stack/base/staves.toml; } >"$work/layered/base/staves.toml"
images=$(find "$ws" -name staves.toml | wc -l)
echo "workspace: $images images"

one_by_one() {
  local kind=$1
  for spec in "$work/$kind"/*/staves.toml; do
    "$staves" build -f "$spec" -o "$work/out-$kind/$(basename "$(dirname "$spec")")" >/dev/null 2>&1
  done
}

# Warm the .deb and repository caches once, so every side measures building, not fetching.
"$staves" stack "$ws" -o "$work/stacked" >/dev/null 2>&1
one_by_one flat
one_by_one layered

hyperfine -N -w 1 -r 3 \
  --prepare "rm -rf $STAVES_CACHE/images $STAVES_CACHE/layers" \
  --prepare true \
  --prepare "rm -rf $STAVES_CACHE/images $STAVES_CACHE/layers" \
  -n "stack of $images, cold" "$staves stack $ws -o $work/stacked" \
  -n "stack of $images, warm" "$staves stack $ws -o $work/stacked" \
  -n "$images flat, one by one" "bash -c 'for s in $work/flat/*/staves.toml; do $staves build -f \$s -o $work/out-flat/\$(basename \$(dirname \$s)) >/dev/null 2>&1; done'"

stored() { find "$@" -path '*/blobs/sha256/*' -type f -printf '%f %s\n' | sort -u | awk '{s+=$2} END {print s}'; }
stack_bytes=$(stored "$work/stacked")
flat_bytes=0
for d in "$work"/out-flat/*; do flat_bytes=$((flat_bytes + $(stored "$d"))); done
layered_unique=$(stored "$work"/out-layered/*)
echo "bytes stored: stack $stack_bytes, flat $flat_bytes (ratio $(awk "BEGIN {printf \"%.2f\", $stack_bytes / $flat_bytes}")), flat with layers = 8: $layered_unique (ratio $(awk "BEGIN {printf \"%.2f\", $layered_unique / $flat_bytes}"))"

# Sharing with layers = 8: every image's layers, and which digests another image has too.
python3 - "$work"/out-layered/* <<'EOF'
import json, os, sys
seen = {}
total = 0
for layout in sys.argv[1:]:
    index = json.load(open(os.path.join(layout, "index.json")))
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.load(open(os.path.join(layout, "blobs/sha256", digest)))
    for layer in manifest["layers"]:
        seen.setdefault(layer["digest"], [layer["size"], 0])[1] += 1
        total += layer["size"]
shared = sum(size * count for size, count in seen.values() if count > 1)
print(f"layers = 8 over {len(sys.argv) - 1} images: {shared} of {total} layer bytes are in layers another image shares (ratio {shared / total:.2f}); {sum(1 for _, c in seen.values() if c > 1)} of {len(seen)} distinct layers shared")
EOF

rm -rf "$STAVES_CACHE/images" "$STAVES_CACHE/layers"
/usr/bin/time -f "peak RSS of a cold workspace build: %M KiB" "$staves" stack "$ws" -o "$work/stacked" 2>&1 >/dev/null | tail -1
