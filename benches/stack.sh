#!/usr/bin/env bash
# Image stacks and the image cache, both sides in one run:
#  1. an unchanged rebuild (image cache) against the same build assembled from warm .debs
#     (`--sbom` bypasses the image cache), for nginx and postgresql;
#  2. examples/stack built as a stack (cold image cache, then warm) against the same four
#     images built flat, one by one, each from scratch;
#  3. bytes stored for the stack (unique blobs) against the sum of the flat images, and
#     peak RSS of the whole stack build.
# Needs hyperfine and /usr/bin/time (Debian packages `hyperfine`, `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
staves=$PWD/target/release/staves
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export STAVES_CACHE=$work/cache

mkdir -p "$work/pg"
printf 'name = "pg"\npackages = ["postgresql"]\n' >"$work/pg/staves.toml"
for spec in examples/nginx/staves.toml "$work/pg/staves.toml"; do
  "$staves" build -f "$spec" -o "$work/out" >/dev/null 2>&1
  hyperfine -N -w 2 -r 10 \
    -n "assemble $(basename "$(dirname "$spec")")" "$staves build -f $spec -o $work/out --sbom $work/sbom.json" \
    -n "unchanged $(basename "$(dirname "$spec")")" "$staves build -f $spec -o $work/out"
done

# The same four images, flat: each spec without its base, holding the base's packages too.
flat=$work/flat
mkdir -p "$flat"/{base,python,nginx,app}
cp examples/stack/base/staves.toml "$flat/base/"
base_pkgs='"libc6", "ca-certificates", "tzdata", "netbase"'
printf 'name = "flat-python"\npackages = [%s, "python3"]\nexclude = ["dash"]\n' "$base_pkgs" >"$flat/python/staves.toml"
printf 'name = "flat-nginx"\npackages = [%s, "nginx-light"]\nexclude = ["dash", "iproute2"]\n' "$base_pkgs" >"$flat/nginx/staves.toml"
printf 'name = "flat-app"\npackages = [%s, "python3"]\nexclude = ["dash"]\n[[accounts]]\nname = "app"\nuid = 1000\n[[paths]]\npath = "/srv/app/hello.py"\nsource = "%s"\n' \
  "$base_pkgs" "$PWD/examples/stack/app/hello.py" >"$flat/app/staves.toml"
cp examples/stack/app/hello.py "$flat/app/"
sed -i "s|source = \".*\"|source = \"hello.py\"|" "$flat/app/staves.toml"
"$staves" stack examples/stack -o "$work/stacked" >/dev/null 2>&1
hyperfine -N -w 1 -r 5 \
  --prepare "rm -rf $STAVES_CACHE/images" --prepare true --prepare "rm -rf $STAVES_CACHE/images" \
  -n "stack cold (image cache empty)" "$staves stack examples/stack -o $work/stacked" \
  -n "stack warm" "$staves stack examples/stack -o $work/stacked" \
  -n "flat, one by one" "bash -c 'for d in base python nginx app; do $staves build -f $flat/\$d/staves.toml -o $work/flat-\$d; done'"

stored() { find "$@" -path '*/blobs/sha256/*' -type f -printf '%f %s\n' | sort -u | awk '{s+=$2} END {print s}'; }
stack_bytes=$(stored "$work/stacked")
flat_bytes=0
for d in base python nginx app; do flat_bytes=$((flat_bytes + $(stored "$work/flat-$d"))); done
echo "bytes stored: stack $stack_bytes, flat $flat_bytes (ratio $(awk "BEGIN {printf \"%.2f\", $stack_bytes / $flat_bytes}"))"
rm -rf "$STAVES_CACHE/images"
/usr/bin/time -f "peak RSS of a cold stack build: %M KiB" "$staves" stack examples/stack -o "$work/stacked" 2>&1 >/dev/null | tail -1
