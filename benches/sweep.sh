#!/usr/bin/env bash
# Robustness sweep: every package of the host's release that ships a systemd service unit
# (read from the archive's Contents index), at most $MAX of them, each built as an image
# alone. Each must either build or fail with a resolution error that says why; anything
# else (a crash, an error from assembly) is a finding. Prints one line per package and the
# counts; the logs stay in $SWEEP_DIR (default target/sweep/SUITE).
#
#   bash benches/sweep.sh              # MAX=400
#   MAX=50 bash benches/sweep.sh       # a shorter run
#   SUITE=trixie bash benches/sweep.sh # another release from the host's mirror
#
# Every package's dependencies land in the Staves cache: about 10 GB for 400 packages.
# CACHE=DIR puts them elsewhere (and `rm -rf DIR` after).
#
# Order: by Priority (required, important, standard, optional, extra), then by
# Installed-Size, smallest first — the archive carries no popularity figures, and the
# packages every system has come first this way.
set -uo pipefail
cd "$(dirname "$0")/.."
MAX=${MAX:-400}
HOST_SOURCES=(/etc/apt/sources.list.d/*.sources)
HOST_SUITE=$(awk '/^Suites:/ {print $2; exit}' "${HOST_SOURCES[0]}")
SUITE=${SUITE:-$HOST_SUITE}
URI=$(awk '/^URIs:/ {print $2; exit}' "${HOST_SOURCES[0]}")
ARCH=$(dpkg --print-architecture)
DIR=${SWEEP_DIR:-$PWD/target/sweep/$SUITE}
mkdir -p "$DIR"
cargo build --release -q -p staves || exit 1
STAVES=$PWD/target/release/staves
REPOSITORIES=""
if [ "$SUITE" != "$HOST_SUITE" ]; then
  REPOSITORIES=$(printf '[[repositories]]\nname = "%s"\nuri = "%s"\nsuite = "%s"\nkeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"\n' \
    "$SUITE" "$URI" "$SUITE")
fi

# The archive's indices, fetched once: the packages with a unit under lib/systemd/system
# or usr/lib/systemd/system, streamed out of the Contents index (which is not kept).
if [ ! -s "$DIR/with-units" ]; then
  curl -sSf "$URI/dists/$SUITE/main/Contents-$ARCH.gz" | gzip -dc |
    awk '$1 ~ /^(usr\/)?lib\/systemd\/system\/[^\/]+\.service$/ {
           n = split($NF, owners, ","); for (i = 1; i <= n; i++) { sub(/.*\//, "", owners[i]); print owners[i] } }' |
    sort -u >"$DIR/with-units.part" && mv "$DIR/with-units.part" "$DIR/with-units" || exit 1
fi
[ -s "$DIR/Packages" ] || { curl -sSf "$URI/dists/$SUITE/main/binary-$ARCH/Packages.xz" | xz -dc >"$DIR/Packages.part" &&
  mv "$DIR/Packages.part" "$DIR/Packages"; } || exit 1
python3 - "$DIR/Packages" "$DIR/with-units" "$MAX" >"$DIR/chosen" <<'EOF'
import sys
packages, wanted, limit = sys.argv[1], set(open(sys.argv[2]).read().split()), int(sys.argv[3])
rank = {"required": 0, "important": 1, "standard": 2, "optional": 3, "extra": 4}
seen = {}
for para in open(packages, encoding="utf-8").read().split("\n\n"):
    fields = dict(l.split(": ", 1) for l in para.splitlines() if ": " in l and not l.startswith(" "))
    name = fields.get("Package")
    if name in wanted and name not in seen:
        seen[name] = (rank.get(fields.get("Priority", "optional"), 3), int(fields.get("Installed-Size", "0")), name)
for _, _, name in sorted(seen.values())[:limit]:
    print(name)
EOF
echo "$(wc -l <"$DIR/with-units") packages ship a service unit; building $(wc -l <"$DIR/chosen")"

built=0 unresolvable=0 other=0
while read -r pkg; do
  mkdir -p "$DIR/$pkg"
  printf 'name = "sweep"\npackages = ["%s"]\n\n%s\n' "$pkg" "$REPOSITORIES" >"$DIR/$pkg/staves.toml"
  if "$STAVES" build -f "$DIR/$pkg/staves.toml" ${CACHE:+--cache "$CACHE"} -o "$DIR/$pkg/image.tar" >"$DIR/$pkg/build.log" 2>&1; then
    built=$((built + 1)); echo "built         $pkg"
  elif grep -qE "the request cannot be satisfied|no package named|no version of|is a virtual package" "$DIR/$pkg/build.log"; then
    unresolvable=$((unresolvable + 1)); echo "unresolvable  $pkg: $(grep -m1 -E 'error' "$DIR/$pkg/build.log" | cut -c1-160)"
  else
    other=$((other + 1)); echo "FAILED        $pkg: $(grep -m1 -E 'error' "$DIR/$pkg/build.log" | cut -c1-160)"
  fi
  rm -f "$DIR/$pkg/image.tar"
done <"$DIR/chosen"
echo "built $built, unresolvable with a reason $unresolvable, other failures $other"
[ "$other" -eq 0 ]
