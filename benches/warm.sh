#!/usr/bin/env bash
# Warm build time of this tree's `staves build` against another staves binary (an earlier
# commit's), on the same specs and cache, in one run: hyperfine, then the ratio per spec.
# The image cache is cleared before every run, so each run assembles the image (debs,
# indices and unpacked copies stay cached: a warm build).
#
#   git worktree add /tmp/before <commit> && cargo build --release --manifest-path /tmp/before/Cargo.toml
#   bash benches/warm.sh /tmp/before/target/release/staves
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?usage: benches/warm.sh OLD_STAVES_BINARY}
RUNS=${RUNS:-10}
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }
cargo build --release -q -p staves
NEW=$PWD/target/release/staves
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CACHE=$WORK/cache
for name in nginx postgresql; do
  mkdir -p "$WORK/$name"
  printf 'name = "%s"\npackages = ["%s"]\n' "$name" "$name" > "$WORK/$name/staves.toml"
  "$NEW" lock -f "$WORK/$name/staves.toml" --cache "$CACHE" 2>/dev/null
  "$NEW" build -f "$WORK/$name/staves.toml" --cache "$CACHE" -o "$WORK/warmup.tar" 2>/dev/null
  "$OLD" build -f "$WORK/$name/staves.toml" --cache "$CACHE" -o "$WORK/warmup.tar" 2>/dev/null
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/$name.json" \
    --prepare "rm -rf $CACHE/images" \
    -n "before: $name" "$OLD build -f $WORK/$name/staves.toml --cache $CACHE -o $WORK/old.tar" \
    -n "after: $name" "$NEW build -f $WORK/$name/staves.toml --cache $CACHE -o $WORK/new.tar" >/dev/null
  python3 - "$WORK/$name.json" "$name" <<'PY'
import json, sys
r = {x["command"].split(":")[0]: x for x in json.load(open(sys.argv[1]))["results"]}
b, a = r["before"]["mean"], r["after"]["mean"]
print(f"{sys.argv[2]}: before {b*1000:.0f} ms (±{r['before']['stddev']*1000:.0f}), "
      f"after {a*1000:.0f} ms (±{r['after']['stddev']*1000:.0f}), after/before = {a/b:.2f}")
PY
done
