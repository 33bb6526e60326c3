#!/usr/bin/env bash
# Fidelity: each package installed by Debian's own tools (`mmdebstrap --mode=unshare
# --variant=essential --include=PKG`, which runs every maintainer script) against a Staves
# build of the same package set with every content class kept, compared path by path by
# benches/fidelity.py against the allow-list benches/fidelity-allow.txt.
#
#   bash benches/fidelity.sh                 # the 30 packages below
#   bash benches/fidelity.sh nginx sudo      # some packages
#   ALL=1 bash benches/fidelity.sh postgresql   # every difference, not the first 40
#
# Debian's installs are kept in $FIDELITY_DIR (default target/fidelity) and reused.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v mmdebstrap >/dev/null || { echo "needs mmdebstrap (apt-get install mmdebstrap)"; exit 1; }
PACKAGES=("$@")
if [ ${#PACKAGES[@]} -eq 0 ]; then
  PACKAGES=(postgresql openssh-server nginx apache2 cron sudo postfix python3
    openjdk-17-jre-headless redis-server memcached haproxy curl ca-certificates git
    nodejs php-fpm ruby rsyslog logrotate mariadb-server bind9 dnsmasq-base squid
    lighttpd tzdata locales openssl unbound varnish)
fi
DIR=${FIDELITY_DIR:-$PWD/target/fidelity}
mkdir -p "$DIR"
SOURCES=(/etc/apt/sources.list.d/*.sources)
SUITE=$(awk '/^Suites:/ {print $2; exit}' "${SOURCES[0]}")
cargo build --release -q -p staves || exit 1
STAVES=$PWD/target/release/staves

debian() { # PKG TAR: Debian's own install
  [ -s "$2" ] && return 0
  local include=()
  [ "$1" != essential ] && include=(--include="$1")
  mmdebstrap --quiet --mode=unshare --variant=essential "${include[@]}" \
    "$SUITE" "${2%.tar}.part.tar" "${SOURCES[@]}" >"$2.log" 2>&1 && mv "${2%.tar}.part.tar" "$2"
}

debian essential "$DIR/essential.tar" || { cat "$DIR/essential.tar.log"; exit 1; }
ESSENTIAL=$(tar -xOf "$DIR/essential.tar" ./var/lib/dpkg/status |
  awk '/^Package:/ {print "\"" $2 "\","}' | tr -d '\n')

FAILED=0
for pkg in "${PACKAGES[@]}"; do
  if ! debian "$pkg" "$DIR/$pkg.tar"; then
    echo "$pkg: mmdebstrap failed (see $DIR/$pkg.tar.log)"; FAILED=1; continue
  fi
  mkdir -p "$DIR/$pkg"
  printf 'name = "fidelity"\npackages = [%s "%s"]\nuse = ["doc", "man", "info", "nls", "gconv", "lintian", "bash-completion"]\n' \
    "$ESSENTIAL" "$pkg" >"$DIR/$pkg/staves.toml"
  if ! "$STAVES" build -f "$DIR/$pkg/staves.toml" -o "$DIR/$pkg/image.tar" >"$DIR/$pkg/build.log" 2>&1; then
    echo "$pkg: staves build failed (see $DIR/$pkg/build.log)"; FAILED=1; continue
  fi
  python3 benches/fidelity.py "$DIR/$pkg.tar" "$DIR/$pkg/image.tar" benches/fidelity-allow.txt \
    --name "$pkg" ${ALL:+--all} ${REASONS:+--reasons} || FAILED=1
done
exit $FAILED
