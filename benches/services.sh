#!/usr/bin/env bash
# Supervision, three ways, on the same nginx + worker image (examples/services), in one run:
#   s6       the example as it is: [services] under s6 as PID 1;
#   superv   supervisord (Debian's `supervisor`) running nginx and the worker;
#   tini     tini as PID 1 running a shell script that starts both and forwards SIGTERM;
#   none     the same packages with nginx alone, no supervision: the size baseline.
# For each: image size and what it adds over `none`, time from `docker run` to the first
# HTTP answer, and `docker stop` wall time (median of RUNS runs).
# Needs Docker, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
cargo build --release --locked -q
staves=$PWD/target/release/staves
work=$(mktemp -d)
trap 'rm -rf "$work"; docker rm -f staves-bench-svc >/dev/null 2>&1 || true' EXIT

head='packages = ["nginx", "dash", "coreutils"%s]
ports = ["80"]
use = ["-gconv"]
exclude = ["iproute2"]
'
tables='
[[paths]]
path = "/var/www/html"
owner = "www-data"

[[paths]]
path = "/usr/local/bin/worker"
mode = "0755"
content = """#!/bin/sh
while :; do
  date -u > /var/www/html/.status.html
  mv /var/www/html/.status.html /var/www/html/status.html
  sleep 1
done
"""
'
mkdir -p "$work"/{superv,tini,none}
{
  echo 'name = "bench-superv"'
  printf "$head" ', "supervisor"'
  echo 'command = ["/usr/bin/supervisord", "-n", "-c", "/etc/supervisor/staves.conf"]'
  echo "$tables"
  cat <<'EOF'

[[paths]]
path = "/etc/supervisor/staves.conf"
content = """
[supervisord]
nodaemon=true
logfile=/dev/null
logfile_maxbytes=0
pidfile=/tmp/supervisord.pid

[program:nginx]
command=nginx -g "daemon off;"
stopsignal=QUIT
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
redirect_stderr=true

[program:worker]
command=/usr/local/bin/worker
user=www-data
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
redirect_stderr=true
"""
EOF
} >"$work/superv/staves.toml"
{
  echo 'name = "bench-tini"'
  printf "$head" ''
  printf 'init = true\ncommand = ["/usr/local/bin/start"]\n'
  echo "$tables"
  cat <<'EOF'

[[paths]]
path = "/usr/local/bin/start"
mode = "0755"
content = """#!/bin/sh
# Both processes, SIGTERM passed on to each; tini reaps what they orphan.
nginx -g 'daemon off;' & nginx=$!
setpriv --reuid=www-data --regid=www-data --init-groups /usr/local/bin/worker & worker=$!
trap 'kill -QUIT $nginx; kill -TERM $worker' TERM INT
wait $nginx
"""
EOF
} >"$work/tini/staves.toml"
{
  echo 'name = "bench-none"'
  printf "$head" ''
  echo 'command = ["nginx", "-g", "daemon off;"]'
  echo "$tables"
} >"$work/none/staves.toml"

build() {
  "$staves" build -f "$1" --load >/dev/null 2>&1 || { "$staves" build -f "$1" --load; exit 1; }
}
build examples/services/staves.toml
for v in superv tini none; do build "$work/$v/staves.toml"; done

size() { docker image inspect -f '{{.Size}}' "$1:latest"; }
base=$(size bench-none)

measure() {
  python3 - "$1" "$RUNS" <<'EOF'
import statistics, subprocess, sys, time, urllib.request
image, runs = sys.argv[1], int(sys.argv[2])
first, stops, codes = [], [], []
for _ in range(runs):
    subprocess.run(["docker", "rm", "-f", "staves-bench-svc"], capture_output=True)
    t0 = time.monotonic()
    subprocess.run(["docker", "run", "-d", "--name", "staves-bench-svc", "-p", "127.0.0.1:18099:80", image],
                   check=True, capture_output=True)
    while True:
        try:
            urllib.request.urlopen("http://127.0.0.1:18099/", timeout=1).read()
            break
        except Exception:
            if time.monotonic() - t0 > 30:
                sys.exit(f"{image}: no answer in 30 s")
            time.sleep(0.01)
    first.append(time.monotonic() - t0)
    time.sleep(1.5)  # the worker is running
    t0 = time.monotonic()
    subprocess.run(["docker", "stop", "staves-bench-svc"], check=True, capture_output=True)
    stops.append(time.monotonic() - t0)
    codes.append(subprocess.run(["docker", "inspect", "-f", "{{.State.ExitCode}}", "staves-bench-svc"],
                                capture_output=True, text=True).stdout.strip())
subprocess.run(["docker", "rm", "-f", "staves-bench-svc"], capture_output=True)
print(f"{statistics.median(first)*1000:.0f} {statistics.median(stops)*1000:.0f} {','.join(sorted(set(codes)))}")
EOF
}

printf '%-14s %12s %12s %16s %14s %10s\n' variant "size MB" "adds MB" "first answer ms" "docker stop ms" "exit"
for pair in "s6:web-worker" "supervisord:bench-superv" "tini+sh:bench-tini"; do
  name=${pair%%:*} image=${pair#*:}
  s=$(size "$image")
  read -r first stop codes < <(measure "$image")
  printf '%-14s %12.1f %12.1f %16s %14s %10s\n' "$name" "$(echo "$s/1000000" | bc -l)" \
    "$(echo "($s-$base)/1000000" | bc -l)" "$first" "$stop" "$codes"
done
printf '%-14s %12.1f\n' "none (nginx)" "$(echo "$base/1000000" | bc -l)"
