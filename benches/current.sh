#!/usr/bin/env bash
# Keeping images current, in release mode, warm cache:
#  1. `staves outdated` over a 12-image workspace (examples/stack/base and 11 images on
#     it) locked against the host's release alone, then given its security suite: every
#     image's candidates and their CVEs (the candidates' .debs fetched once beforehand);
#  2. `staves diff` of two postgresql images: built from the release alone, and after
#     `staves update --security-only`;
#  3. peak RSS of each.
# Needs hyperfine and /usr/bin/time (Debian packages `hyperfine`, `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
staves=$PWD/target/release/staves
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export STAVES_CACHE=${STAVES_CACHE:-$work/cache}

# The host's archive for each suite, from its apt sources, never named here.
uri_of() {
  python3 - "$1" /etc/apt/sources.list.d/*.sources <<'PY'
import sys
suite = sys.argv[1]
for path in sys.argv[2:]:
    for stanza in open(path).read().split("\n\n"):
        fields = dict(l.split(":", 1) for l in stanza.splitlines() if ":" in l and not l.startswith("#"))
        if suite in fields.get("Suites", "").split():
            print(fields["URIs"].split()[0]); sys.exit()
PY
}
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
repos() {
  for suite in "$@"; do
    printf '\n[[repositories]]\nname = "%s"\nuri = "%s"\nsuite = "%s"\nkeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"\n' \
      "${suite//-/_}" "$(uri_of "$suite")" "$suite"
  done
}

apps=(python3 nginx-light curl sqlite3 jq lua5.4 gawk socat rsync redis-tools postgresql-client-15)
write_ws() {
  mkdir -p "$work/ws/base"
  { cat examples/stack/base/staves.toml; repos "$@"; } >"$work/ws/base/staves.toml"
  for app in "${apps[@]}"; do
    name=${app//./}
    mkdir -p "$work/ws/$name"
    { printf 'name = "ws-%s"\nbase = "../base"\npackages = ["%s"]\nexclude = ["dash", "iproute2"]\n' "$name" "$app"
      repos "$@"; } >"$work/ws/$name/staves.toml"
  done
}
write_ws "$codename"
for spec in "$work"/ws/base/staves.toml "$work"/ws/*/staves.toml; do
  "$staves" lock -f "$spec" >/dev/null 2>&1
done
write_ws "$codename" "$codename-security"
# Fetches the candidates' .debs once; what is measured is the warm run.
"$staves" outdated -f "$work/ws" >/dev/null 2>&1 || true
updates=$("$staves" outdated --json -f "$work/ws" | python3 -c 'import json,sys; print(sum(len(i["updates"]) for i in json.load(sys.stdin)))' || true)
echo "outdated: 12 images, $updates updates waiting"

mkdir -p "$work/pg"
{ printf 'name = "pg"\npackages = ["postgresql"]\n'; repos "$codename"; } >"$work/pg/staves.toml"
"$staves" lock -f "$work/pg/staves.toml" >/dev/null 2>&1
"$staves" build -f "$work/pg/staves.toml" -o "$work/pg-before.tar" >/dev/null 2>&1
{ printf 'name = "pg"\npackages = ["postgresql"]\n'; repos "$codename" "$codename-security"; } >"$work/pg/staves.toml"
"$staves" update --security-only -f "$work/pg/staves.toml" >/dev/null 2>&1
"$staves" build -f "$work/pg/staves.toml" -o "$work/pg-after.tar" >/dev/null 2>&1
moved=$("$staves" diff --json "$work/pg-before.tar" "$work/pg-after.tar" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["packages"]), "packages and", len(d["files"]), "files changed")' || true)
echo "diff: $moved"

hyperfine -N -w 1 -r 5 -i \
  -n "outdated, 12 images" "$staves outdated -f $work/ws" \
  -n "diff, two postgresql images" "$staves diff $work/pg-before.tar $work/pg-after.tar"

rss() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }
echo "peak RSS, outdated: $(( $(rss "$staves" outdated -f "$work/ws") / 1024 )) MiB"
echo "peak RSS, diff: $(( $(rss "$staves" diff "$work/pg-before.tar" "$work/pg-after.tar") / 1024 )) MiB"
