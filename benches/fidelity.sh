#!/usr/bin/env bash
# Fidelity: each package installed by Debian's own tools (`mmdebstrap --mode=unshare
# --variant=essential --include=PKG`, which runs every maintainer script) against a Staves
# build of the same package set with every content class kept, compared path by path by
# benches/fidelity.py against the allow-list benches/fidelity-allow.txt.
#
#   bash benches/fidelity.sh                 # the 30 packages below
#   bash benches/fidelity.sh nginx sudo      # some packages
#   ALL=1 bash benches/fidelity.sh postgresql   # every difference, not the first 40
#   SUITE=trixie bash benches/fidelity.sh    # another release from the host's mirror
#
# Debian's installs are kept in $FIDELITY_DIR (default target/fidelity/SUITE) and reused.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v mmdebstrap >/dev/null || { echo "needs mmdebstrap (apt-get install mmdebstrap)"; exit 1; }
PACKAGES=("$@")
if [ ${#PACKAGES[@]} -eq 0 ]; then
  PACKAGES=(postgresql openssh-server nginx apache2 cron sudo postfix python3
    default-jre-headless redis-server memcached haproxy curl ca-certificates git
    nodejs php-fpm ruby rsyslog logrotate mariadb-server bind9 dnsmasq-base squid
    lighttpd tzdata locales openssl unbound varnish
    slapd tomcat10 exim4 dovecot-imapd chrony rabbitmq-server mosquitto knot
    kea-dhcp4-server openvpn vsftpd nsd coturn radicale freeradius keepalived tor
    privoxy opendkim rspamd monit supervisor icecast2 ntpsec prometheus gunicorn
    golang-go perl nfs-kernel-server spamassassin)
fi
HOST_SOURCES=(/etc/apt/sources.list.d/*.sources)
HOST_SUITE=$(awk '/^Suites:/ {print $2; exit}' "${HOST_SOURCES[0]}")
SUITE=${SUITE:-$HOST_SUITE}
DIR=${FIDELITY_DIR:-$PWD/target/fidelity/$SUITE}
mkdir -p "$DIR"
# The host's sources with its release renamed (bookworm-security -> trixie-security …): one
# file for mmdebstrap, the same repositories as the spec's tables for Staves.
SOURCES=("$DIR/apt.sources")
REPOSITORIES=""
for f in "${HOST_SOURCES[@]}"; do cat "$f"; echo; done |
  sed "/^Suites:/ s/\b$HOST_SUITE\b/$SUITE/g" >"$DIR/apt.sources"
if [ "$SUITE" != "$HOST_SUITE" ]; then
  REPOSITORIES=$(awk -v keyring=/usr/share/keyrings/debian-archive-keyring.gpg '
    /^URIs:/ {uri = $2}
    /^Suites:/ {for (i = 2; i <= NF; i++) printf "[[repositories]]\nname = \"%s\"\nuri = \"%s\"\nsuite = \"%s\"\nkeyring = \"%s\"\n\n", $i, uri, $i, keyring}
  ' "$DIR/apt.sources")
fi
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
  printf 'name = "fidelity"\npackages = [%s "%s"]\nuse = ["doc", "man", "info", "nls", "gconv", "lintian", "bash-completion"]\n\n%s\n' \
    "$ESSENTIAL" "$pkg" "$REPOSITORIES" >"$DIR/$pkg/staves.toml"
  if ! "$STAVES" build -f "$DIR/$pkg/staves.toml" -o "$DIR/$pkg/image.tar" >"$DIR/$pkg/build.log" 2>&1; then
    echo "$pkg: staves build failed (see $DIR/$pkg/build.log)"; FAILED=1; continue
  fi
  python3 benches/fidelity.py "$DIR/$pkg.tar" "$DIR/$pkg/image.tar" benches/fidelity-allow.txt \
    --name "$pkg" ${ALL:+--all} ${REASONS:+--reasons} || FAILED=1
done
exit $FAILED
