#!/usr/bin/env bash
# The two language examples, each from an empty cache, in one run:
#   examples/rust-service  (Debian's cargo/rustc, crates from its Cargo.lock, `target` kept)
#   examples/python-pillow (Pillow built from its sdist against Debian's libraries)
# Measured for each: 1. cold (empty cache: Debian's packages, the crates or wheels, the
# build root, the build); 2. fetch-cached but build-cold (built results, build caches,
# build roots and images removed: the root assembled again from cached .debs, the
# program compiled from nothing); 3. one source line changed (the build caches warm);
# 4. unchanged (hyperfine, 10 runs). Then the images' sizes. The crates come from the
# registry this machine's cargo uses (named by its index directory, never written here), the
# wheels from the index the host's pip names. Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine"; exit 1; }
cargo build --release --locked -q -p staves
staves=$PWD/target/release/staves
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The crates registry as the host's cargo reaches it, given to Staves as cargo config.
host_index=$(ls "${CARGO_HOME:-$HOME/.cargo}/registry/index" | grep '\.' | head -n 1)
mkdir -p "$work/cargo-home"
printf '[source.crates-io]\nreplace-with = "mirror"\n[source.mirror]\nregistry = "sparse+https://%s/"\n' \
  "${host_index%-*}" >"$work/cargo-home/config.toml"
export CARGO_HOME=$work/cargo-home
export PIP_INDEX_URL=${PIP_INDEX_URL:-$(python3 -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')}

seconds() { # seconds COMMAND…: the wall time of one run, in seconds
  local start end
  start=$(date +%s.%N)
  "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

measure() { # measure EXAMPLE FILE-TO-EDIT OLD NEW
  local example=$1 file=$2 old=$3 new=$4
  local dir=$work/$example cache=$work/cache-$example
  cp -r "examples/$example" "$dir"
  rm -rf "$dir"/src/target
  local build=("$staves" build -f "$dir/staves.toml" -o "$work/$example.tar" --cache "$cache")
  local cold fetched changed
  cold=$(seconds "${build[@]}")
  local size
  size=$(grep -o '[0-9.]* MB uncompressed, [0-9.]* MB compressed' "$work/last.log" | tail -n 1)
  rm -rf "$cache/built" "$cache/build-caches" "$cache/roots" "$cache/images"
  fetched=$(seconds "${build[@]}")
  sed -i "s/$old/$new/" "$dir/$file"
  changed=$(seconds "${build[@]}")
  hyperfine -N --warmup 1 --runs 10 --export-json "$work/$example.json" "${build[*]}" >/dev/null
  local unchanged
  unchanged=$(python3 -c "import json; print(round(json.load(open('$work/$example.json'))['results'][0]['mean'], 3))")
  printf '%-15s cold %6.1f s | fetch-cached, build-cold %6.1f s | one line changed %5.1f s (%.2f of build-cold) | unchanged %s s | image %s\n' \
    "$example" "$cold" "$fetched" "$changed" "$(echo "$changed / $fetched" | bc -l)" "$unchanged" "$size"
}

measure rust-service src/src/main.rs 'hello from rust-service' 'hello again from rust-service'
measure python-pillow src/thumbnailer/__init__.py 'quality=85' 'quality=80'
