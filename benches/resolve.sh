#!/usr/bin/env bash
# Resolution speed and memory: `staves resolve` against `apt-get --simulate install` on the
# same sources (the host's apt sources), in one run. Prints wall times, peak RSS and ratios.
#
#   bash benches/resolve.sh            # nginx python3 curl
#   PACKAGES="git postgresql" bash benches/resolve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=${PACKAGES:-"nginx python3 curl"}
RUNS=${RUNS:-10}
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }

cargo build --release -q -p staves
STAVES=$PWD/target/release/staves
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# A throwaway apt root reading the host's sources, with an empty dpkg status and apt's binary
# package cache enabled (so apt is measured warm too).
mkdir -p "$WORK/apt/state/lists/partial" "$WORK/apt/cache/archives/partial"
: > "$WORK/apt/status"
APT=(apt-get -o "Dir::State=$WORK/apt/state" -o "Dir::State::status=$WORK/apt/status"
     -o "Dir::Cache=$WORK/apt/cache" -o "Dir::Cache::pkgcache=$WORK/apt/cache/pkgcache.bin"
     -o "Dir::Cache::srcpkgcache=$WORK/apt/cache/srcpkgcache.bin" -o Debug::NoLocking=1)
"${APT[@]}" -qq update
# Every Staves image gets base-files (Debian's skeleton); apt is asked for it as well.
APT_CMD="${APT[*]} --simulate --no-install-recommends install $PACKAGES base-files"

mkdir -p "$WORK/spec"
{ echo 'name = "bench"'; printf 'packages = ['; for p in $PACKAGES; do printf '"%s", ' "$p"; done; echo ']'; } > "$WORK/spec/staves.toml"
STAVES_CMD="$STAVES resolve --ignore-lock -f $WORK/spec/staves.toml --cache $WORK/cache"

# Same answer first: a benchmark of different work would mean nothing.
$STAVES_CMD | awk '{print $1, $2}' | sort > "$WORK/staves.txt"
$APT_CMD | awk '/^Inst/ {gsub(/[()]/, "", $3); print $2, $3}' | sort > "$WORK/apt.txt"
diff -u "$WORK/apt.txt" "$WORK/staves.txt" >/dev/null || { echo "staves and apt disagree:"; diff -u "$WORK/apt.txt" "$WORK/staves.txt"; exit 1; }
echo "both choose the same $(wc -l < "$WORK/apt.txt") packages for: $PACKAGES"

hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$WORK/warm.json" \
  -n "apt-get -s install" "$APT_CMD" -n "staves resolve (warm)" "$STAVES_CMD" >/dev/null

# Cold: nothing cached (downloads, verifies and indexes every Packages file). An index whose
# record (lookup table) is deleted is no longer trusted and is fetched again, so a separate
# "cold parse" is now the same as this case.
hyperfine -N --runs 3 --export-json "$WORK/cold.json" \
  --prepare "rm -rf $WORK/cold" -n "staves resolve (empty cache)" "$STAVES resolve --ignore-lock -f $WORK/spec/staves.toml --cache $WORK/cold" >/dev/null

peak() { local max=0 kb; for _ in 1 2 3; do kb=$( { /usr/bin/time -f %M "$@" >/dev/null; } 2>&1 | tail -n1); (( kb > max )) && max=$kb; done; echo "$max"; }
APT_RSS=$(peak $APT_CMD)
STAVES_RSS=$(peak $STAVES_CMD)

python3 - "$WORK/warm.json" "$WORK/cold.json" "$APT_RSS" "$STAVES_RSS" "$(du -b "$WORK"/cache/indices/*/* | awk '!/idx$/ {s+=$1} END {print s}')" <<'PY'
import json, sys
warm = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
cold = {r["command"]: r for r in json.load(open(sys.argv[2]))["results"]}
apt_rss, staves_rss, index_bytes = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
a, s = warm["apt-get -s install"], warm["staves resolve (warm)"]
print(f"{'command':32} {'mean':>10} {'min':>10} {'max':>10}")
for r in list(warm.values()) + list(cold.values()):
    print(f"{r['command']:32} {r['mean']*1000:9.1f}ms {r['min']*1000:9.1f}ms {r['max']*1000:9.1f}ms")
print(f"warm wall time: staves / apt = 1/{a['mean']/s['mean']:.0f}  (target 1/10, goal 1/20)")
print(f"indices: {index_bytes/1e6:.1f} MB of Packages text, each 4 KiB block checked when a run first reads it")
print(f"peak RSS: apt {apt_rss/1024:.1f} MiB, staves {staves_rss/1024:.1f} MiB  (staves/apt = {staves_rss/apt_rss:.2f})")
PY
