#!/usr/bin/env bash
# Rebuilding Debian packages from source, Staves against sbuild in its unshare mode, in one
# run, for each package of PACKAGES (default: hello nano):
#   sbuild          `sbuild --chroot-mode=unshare` with an mmdebstrap buildd tarball made
#                   beforehand (not timed): it installs the build dependencies into a fresh
#                   chroot each time, as sbuild always does;
#   staves cold     `source = true` with an empty cache: sources and build dependencies
#                   downloaded, the build root assembled, the build run;
#   staves new env  the build root cached, the package built again with other flags;
#   staves again    the same inputs: the cached result (no build).
# Also the build-root assembly alone (from the `Building` line). Both sides use the host's
# apt sources and build the architecture-dependent and -independent packages (-b).
# Needs root (a build user is created for sbuild, which refuses root), sbuild, mmdebstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=${PACKAGES:-"hello nano"}
cargo build --release --locked -q
staves=$PWD/target/release/staves
work=$(mktemp -d /var/tmp/staves-bench-source.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
arch=$(dpkg --print-architecture)

# The build user sbuild runs as, with the subordinate ids its unshare mode maps.
id stavesbench >/dev/null 2>&1 || useradd -m stavesbench
grep -q '^stavesbench:' /etc/subuid || usermod --add-subuids 100000-165535 --add-subgids 100000-165535 stavesbench

# Source packages through the host's sources, with deb-src added.
mkdir -p "$work/apt/sources" "$work/apt/lists/partial" "$work/src"
for f in /etc/apt/sources.list.d/*.sources; do
  sed 's/^Types: deb$/Types: deb deb-src/' "$f" >"$work/apt/sources/$(basename "$f")"
done
apt=(-o "Dir::Etc::SourceParts=$work/apt/sources" -o "Dir::Etc::SourceList=/dev/null" -o "Dir::State::Lists=$work/apt/lists")
apt-get "${apt[@]}" update -qq
(cd "$work/src" && apt-get "${apt[@]}" source --download-only -qq $PACKAGES)
chown -R stavesbench "$work"

echo "making the sbuild chroot tarball (not timed)…"
mmdebstrap --quiet --variant=buildd --mode=unshare --include=ca-certificates bookworm \
  "$work/bookworm-$arch.tar" /etc/apt/sources.list.d/*.sources

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }
printf '\n%-8s %10s %12s %14s %13s %14s\n' package sbuild "staves cold" "staves new env" "staves again" "root assembly"
for pkg in $PACKAGES; do
  dsc=$(ls "$work/src/${pkg}"_*.dsc | head -1)
  t0=$(now)
  (cd "$work" && runuser -u stavesbench -- sbuild --chroot-mode=unshare --chroot="$work/bookworm-$arch.tar" \
     --dist=bookworm --no-run-lintian --no-run-autopkgtest --no-apt-upgrade --no-apt-distupgrade \
     --arch-all --nolog "$dsc" >"$work/sbuild-$pkg.log" 2>&1) || { tail -30 "$work/sbuild-$pkg.log"; exit 1; }
  t1=$(now)
  dir="$work/spec-$pkg"; mkdir -p "$dir"
  spec() { printf 'name = "bench-%s"\npackages = ["%s"]\n\n[env]\nCFLAGS = "${CFLAGS} %s"\n\n["%s"]\nsource = true\n' "$pkg" "$pkg" "$1" "$pkg" >"$dir/staves.toml"; }
  spec -O2
  cache="$work/cache-$pkg"
  t2=$(now); "$staves" build -f "$dir/staves.toml" --cache "$cache" -o "$dir/a" 2>"$dir/cold.log"; t3=$(now)
  spec -O3
  t4=$(now); "$staves" build -f "$dir/staves.toml" --cache "$cache" -o "$dir/b" 2>"$dir/env.log"; t5=$(now)
  t6=$(now); "$staves" build -f "$dir/staves.toml" --cache "$cache" -o "$dir/c" 2>"$dir/again.log"; t7=$(now)
  root=$(sed -n 's/.*root assembled in \([0-9.]*\) s.*/\1/p' "$dir/cold.log" | head -1)
  printf '%-8s %9ss %11ss %13ss %12ss %13ss\n' "$pkg" "$(secs $t0 $t1)" "$(secs $t2 $t3)" "$(secs $t4 $t5)" "$(secs $t6 $t7)" "${root:-?}"
  python3 -c "print(f'         staves cold / sbuild = {($t3-$t2)/($t1-$t0):.2f}, new env / sbuild = {($t5-$t4)/($t1-$t0):.2f}')"
done
