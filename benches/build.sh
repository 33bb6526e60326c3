#!/usr/bin/env bash
# Image build speed, memory and size: `staves build` against
# `mmdebstrap --variant=extract --include=nginx` on the same sources (the host's apt
# sources), in one run. Prints wall times, peak RSS, ratios and image sizes.
#
#   bash benches/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }
command -v mmdebstrap >/dev/null || { echo "needs mmdebstrap (apt-get install mmdebstrap)"; exit 1; }

cargo build --release -q -p staves
STAVES=$PWD/target/release/staves
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SOURCES=(/etc/apt/sources.list.d/*.sources)
SUITE=$(awk '/^Suites:/ {print $2; exit}' "${SOURCES[0]}")

mkdir -p "$WORK/nginx"
printf 'name = "nginx"\npackages = ["nginx"]\ncommand = ["nginx", "-g", "daemon off;"]\n' > "$WORK/nginx/staves.toml"
"$STAVES" lock -f "$WORK/nginx/staves.toml" --cache "$WORK/cache" 2>/dev/null
"$STAVES" build -f "$WORK/nginx/staves.toml" --cache "$WORK/cache" -o "$WORK/warmup.tar" 2>/dev/null

WARM="$STAVES build -f $WORK/nginx/staves.toml --cache $WORK/cache -o $WORK/nginx.tar"
COLD="$STAVES build -f $WORK/nginx/staves.toml --cache $WORK/cold -o $WORK/nginx-cold.tar"
MMDEB="mmdebstrap --quiet --variant=extract --include=nginx $SUITE $WORK/mmdebstrap.tar ${SOURCES[*]}"

# Fresh assembly: every .deb and decoded copy cached, the image cache emptied before each run,
# so the image is assembled, hashed and compressed again (compressed blocks of earlier
# layers are reused from the deflate cache when they inflate back to the same bytes).
# (hyperfine takes one --prepare per command, in order.)
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/times.json" \
  --prepare true -n "mmdebstrap --variant=extract --include=nginx" "$MMDEB" \
  --prepare true -n "staves build (warm cache)" "$WARM" \
  --prepare "rm -rf $WORK/cache/images" -n "staves build (image cache emptied)" "$WARM" \
  --prepare "rm -rf $WORK/cache/images $WORK/cache/deflate" -n "staves build (image and deflate caches emptied)" "$WARM" \
  --prepare "rm -rf $WORK/cold" -n "staves build (empty cache)" "$COLD" >/dev/null

peak() { local max=0 kb; for _ in 1 2 3; do /usr/bin/time -f %M -o "$WORK/rss" "$@" >/dev/null 2>&1; kb=$(tail -n1 "$WORK/rss"); (( kb > max )) && max=$kb; done; echo "$max"; }
STAVES_RSS=$(peak $WARM)
MMDEB_RSS=$(peak $MMDEB)

size() { # uncompressed layer size of a staves build, in bytes
  local spec=$1
  "$STAVES" build -f "$spec" --cache "$WORK/cache" -o "$WORK/size" 2>/dev/null
  python3 -c 'import json,sys; d=sys.argv[1]; m=json.load(open(d+"/index.json"))["manifests"][0]["digest"][7:]; man=json.load(open(d+"/blobs/sha256/"+m)); import gzip; print(sum(len(c) for c in iter(lambda f=gzip.open(d+"/blobs/sha256/"+man["layers"][0]["digest"][7:]): f.read(1<<20), b"")))' "$WORK/size"
  rm -rf "$WORK/size"
}
mkdir -p "$WORK/s"
printf 'name = "b"\npackages = ["bash"]\n' > "$WORK/s/bash.toml"
printf 'name = "b"\npackages = ["bash"]\nuse = ["-gconv"]\n' > "$WORK/s/bash-small.toml"
printf 'name = "n"\npackages = ["nginx"]\n' > "$WORK/s/nginx.toml"
printf 'name = "n"\npackages = ["nginx"]\nuse = ["-gconv"]\nexclude = ["iproute2"]\n' > "$WORK/s/nginx-small.toml"
MMDEB_SIZE=$(tar -tvf "$WORK/mmdebstrap.tar" | awk '{s+=$3} END {print s}')

python3 - "$WORK/times.json" "$STAVES_RSS" "$MMDEB_RSS" \
  "$(size "$WORK/s/bash.toml")" "$(size "$WORK/s/bash-small.toml")" \
  "$(size "$WORK/s/nginx.toml")" "$(size "$WORK/s/nginx-small.toml")" "$MMDEB_SIZE" <<'PY'
import json, sys
t = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
staves_rss, mm_rss = int(sys.argv[2]), int(sys.argv[3])
bash, bash_small, nginx, nginx_small, mm_size = (int(x) for x in sys.argv[4:9])
print(f"{'command':46} {'mean':>10} {'min':>10} {'max':>10}")
for r in t.values():
    print(f"{r['command']:46} {r['mean']*1000:9.0f}ms {r['min']*1000:9.0f}ms {r['max']*1000:9.0f}ms")
mm = t["mmdebstrap --variant=extract --include=nginx"]["mean"]
warm = t["staves build (warm cache)"]["mean"]
fresh = t["staves build (image cache emptied)"]["mean"]
raw = t["staves build (image and deflate caches emptied)"]["mean"]
cold = t["staves build (empty cache)"]["mean"]
print(f"warm: staves / mmdebstrap = 1/{mm/warm:.0f} (target 1/10; goal under 0.7 s: {warm:.2f} s)")
print(f"fresh assembly: staves / mmdebstrap = 1/{mm/fresh:.0f} ({fresh:.2f} s; goal 1/20, 0.2 s); "
      f"compressing every block again: 1/{mm/raw:.0f} ({raw:.2f} s)")
print(f"cold: staves / mmdebstrap = {cold/mm:.2f} (target <= 1)")
print(f"peak RSS: staves {staves_rss/1024:.0f} MiB (target <= 150), mmdebstrap {mm_rss/1024:.0f} MiB")
print("uncompressed layer sizes:")
print(f"  bash   default {bash/1e6:6.2f} MB   use=[-gconv] {bash_small/1e6:6.2f} MB   (target <= 9.29)")
print(f"  nginx  default {nginx/1e6:6.2f} MB   use=[-gconv], exclude=[iproute2] {nginx_small/1e6:6.2f} MB   (target <= 17)")
print(f"  mmdebstrap --variant=extract nginx: {mm_size/1e6:.2f} MB of files")
PY
