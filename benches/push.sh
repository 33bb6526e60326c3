#!/usr/bin/env bash
# Push speed: `staves push` against `skopeo copy oci:DIR docker://…` of the same OCI layout
# (the nginx image), to Debian's docker-registry on 127.0.0.1 with TLS and htpasswd, in one
# run. Cold pushes go to a fresh registry each time (nothing to skip or mount); re-pushes of
# the unchanged image go to the registry that already holds it. Prints times and ratios.
#
#   bash benches/push.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
for tool in hyperfine skopeo docker-registry htpasswd openssl; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install hyperfine skopeo docker-registry apache2-utils openssl)"; exit 1; }
done

cargo build --release -q -p staves
STAVES=$PWD/target/release/staves
WORK=$(mktemp -d)
REGISTRY_PID=""
stop_registry() { [ -z "$REGISTRY_PID" ] || { kill "$REGISTRY_PID" 2>/dev/null || true; wait "$REGISTRY_PID" 2>/dev/null || true; }; REGISTRY_PID=""; }
trap 'stop_registry; rm -rf "$WORK"' EXIT

# A CA, a server certificate for 127.0.0.1, one htpasswd user.
cd "$WORK"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bench CA" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.crt 2>/dev/null
htpasswd -Bbn bench bench-pass > htpasswd 2>/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOST=127.0.0.1:$PORT
mkdir -p "certs.d/$HOST" docker
cp ca.crt "certs.d/$HOST/ca.crt"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$HOST" "$(printf bench:bench-pass | base64)" > docker/config.json
export DOCKER_CONFIG=$WORK/docker
cd - >/dev/null

start_registry() { # a registry with empty storage
  stop_registry
  rm -rf "$WORK/data"
  cat > "$WORK/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/data}}
http: {addr: "$HOST", tls: {certificate: $WORK/server.crt, key: $WORK/server.key}}
auth: {htpasswd: {realm: bench, path: $WORK/htpasswd}}
EOF
  docker-registry serve "$WORK/config.yml" >/dev/null 2>&1 &
  REGISTRY_PID=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && return; sleep 0.05; done
  echo "registry did not start"; exit 1
}

mkdir -p "$WORK/nginx"
printf 'name = "nginx"\npackages = ["nginx"]\ncommand = ["nginx", "-g", "daemon off;"]\n' > "$WORK/nginx/staves.toml"
"$STAVES" build -f "$WORK/nginx/staves.toml" --cache "$WORK/cache" -o "$WORK/layout" 2>/dev/null

STAVES_PUSH=("$STAVES" push "$WORK/layout" "$HOST/bench/nginx:1" --cache "$WORK/cache" --certs-dir "$WORK/certs.d")
SKOPEO_COPY=(skopeo copy --quiet --dest-creds bench:bench-pass --dest-cert-dir "$WORK/certs.d/$HOST" "oci:$WORK/layout" "docker://$HOST/bench/nginx:1")

# Both sides must publish the same image: skopeo keeps the layout's manifest bytes.
start_registry
DIGEST=$("${STAVES_PUSH[@]}" 2>/dev/null)
start_registry
"${SKOPEO_COPY[@]}"
REMOTE=$(skopeo inspect --raw --creds bench:bench-pass --cert-dir "$WORK/certs.d/$HOST" "docker://$HOST/bench/nginx:1" | sha256sum | cut -d' ' -f1)
[ "sha256:$REMOTE" = "$DIGEST" ] || { echo "digests differ: staves $DIGEST, skopeo sha256:$REMOTE"; exit 1; }

now() { date +%s%N; }
MEDIAN=""
cold() { # median of RUNS cold pushes, in ms, into MEDIAN
  local times=() t0
  for _ in $(seq "$RUNS"); do
    start_registry
    rm -f "$WORK/cache/registry-blobs.json"
    t0=$(now); "$@" >/dev/null 2>&1; times+=($(( ($(now) - t0) / 1000 )))
  done
  MEDIAN=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}')
}
cold "${STAVES_PUSH[@]}"; STAVES_COLD=$MEDIAN
cold "${SKOPEO_COPY[@]}"; SKOPEO_COLD=$MEDIAN

# Re-push of the unchanged image: the registry holds everything already.
start_registry
"${STAVES_PUSH[@]}" >/dev/null 2>&1
hyperfine -N --warmup 2 --runs $((RUNS * 2)) --export-json "$WORK/repush.json" \
  -n "staves push (unchanged)" "${STAVES_PUSH[*]}" \
  -n "skopeo copy (unchanged)" "${SKOPEO_COPY[*]}" >/dev/null

python3 - "$WORK/repush.json" "$STAVES_COLD" "$SKOPEO_COLD" "$(du -sb "$WORK/layout/blobs" | cut -f1)" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
staves_cold, skopeo_cold, size = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
s, k = r["staves push (unchanged)"], r["skopeo copy (unchanged)"]
print(f"nginx layout: {size/1e6:.1f} MB of blobs")
print(f"{'':34} {'staves':>10} {'skopeo':>10} {'ratio':>8}")
print(f"{'cold push (median, ms)':34} {staves_cold:10.1f} {skopeo_cold:10.1f} {staves_cold/skopeo_cold:7.2f}x")
print(f"{'unchanged re-push (mean, ms)':34} {s['mean']*1000:10.1f} {k['mean']*1000:10.1f} {s['mean']/k['mean']:7.2f}x")
print(f"{'unchanged re-push (max, ms)':34} {s['max']*1000:10.1f} {k['max']*1000:10.1f}")
PY
