#!/usr/bin/env bash
# What signing costs, in one run, against Debian's docker-registry on 127.0.0.1 (plain HTTP,
# so that TLS does not blur the figures): the nginx example pushed unsigned and pushed with
# `--sign` (a signature plus SLSA provenance, SPDX and CycloneDX attestations) to fresh
# registries (in cosign's tags, and as Sigstore bundles), with the time and bytes each adds;
# `staves verify` warm; `staves verify --rebuild` of the same image with a warm cache, and in
# an empty cache of its own. Needs hyperfine and docker-registry.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine docker-registry; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install hyperfine docker-registry)"; exit 1; }
done
cargo build --release --locked -q -p staves
staves=$PWD/target/release/staves
work=$(mktemp -d)
pid=""
stop() { [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; pid=""; }
trap 'stop; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
fresh() {
  stop
  rm -rf "$work/data"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$work/data" "$host" >"$work/config.yml"
  docker-registry serve "$work/config.yml" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -sf "http://$host/v2/" >/dev/null && return; sleep 0.1; done
}
mkdir -p "$work/app"
cp examples/nginx/staves.toml "$work/app/"
cp -r examples/nginx/. "$work/app/" 2>/dev/null || true
spec=$work/app/staves.toml
"$staves" lock -f "$spec" >/dev/null 2>&1
"$staves" keygen "$work/key" >/dev/null 2>&1
# Warm the image cache and the .debs.
fresh
"$staves" build -f "$spec" --push "$host/app:1" --insecure-registry "$host" >/dev/null 2>&1
"$staves" build -f "$spec" --push "$host/app:1" --insecure-registry "$host" --sign "$work/key.key" >/dev/null 2>&1

stop
# hyperfine's --prepare starts a fresh registry before every run.
cat >"$work/fresh.sh" <<SH
pkill -f "serve $work/config.yml" || true
sleep 0.2
rm -rf "$work/data"
setsid docker-registry serve "$work/config.yml" >/dev/null 2>&1 < /dev/null &
for _ in \$(seq 50); do curl -sf "http://$host/v2/" >/dev/null && exit 0; sleep 0.1; done
exit 1
SH
hyperfine -w 1 -r 5 --prepare "bash $work/fresh.sh" \
  -n "push to an empty registry, unsigned" "$staves build -f $spec --push $host/app:1 --insecure-registry $host" \
  -n "push to an empty registry, with --sign" "$staves build -f $spec --push $host/app:1 --insecure-registry $host --sign $work/key.key" \
  -n "push to an empty registry, with --sign --signature-format bundle" "$staves build -f $spec --push $host/app:1 --insecure-registry $host --sign $work/key.key --signature-format bundle"
pkill -f "serve $work/config.yml" || true

# Bytes and uploads signing adds, on a fresh registry.
fresh
"$staves" build -f "$spec" --push "$host/app:1" --insecure-registry "$host" >/dev/null 2>&1
before=$(du -sb "$work/data" | cut -f1)
"$staves" build -f "$spec" --push "$host/app:1" --insecure-registry "$host" --sign "$work/key.key" 2>"$work/log" >/dev/null
after=$(du -sb "$work/data" | cut -f1)
echo "signing added $((after - before)) bytes to the registry's storage"
hyperfine -N -w 2 -r 10 \
  -n "verify" "$staves verify $host/app:1 --insecure-registry $host --key $work/key.pub" \
  -n "verify --rebuild" "$staves verify $host/app:1 --insecure-registry $host --key $work/key.pub --rebuild -f $spec"
hyperfine -N -w 1 -r 3 \
  -n "verify --rebuild --fresh-cache" "$staves verify $host/app:1 --insecure-registry $host --key $work/key.pub --rebuild --fresh-cache -f $spec"
