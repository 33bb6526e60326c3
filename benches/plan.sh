#!/usr/bin/env bash
# A stack planned for CI runners sharing one cache registry, against the same stack built on
# one machine, in one run. The stack: 20 images (a base, 19 on it or on each other), two of
# them building GNU hello from Debian's source, two the url-status recipe. Measured:
#   1. `staves stack DIR` on one machine, empty cache (the reference);
#   2. each job of `staves plan DIR --format json --cache-registry …`, run level by level,
#      each on a runner with an empty cache of its own, the registry empty at first (cold);
#   3. the same jobs again on new empty runners, the registry warm;
# then a discrete-event projection of the cold plan's makespan on 1, 2, 4, 8 and 16 runners
# (list scheduling of the measured job times in plan order), and the bytes each warm job
# moved through the registry. Needs docker-registry and bubblewrap; takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v docker-registry >/dev/null || { echo "needs docker-registry"; exit 1; }
cargo build --release --locked -q -p staves
staves=$PWD/target/release/staves
work=$(mktemp -d)
pid=""
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
  "$work/data" "$host" >"$work/config.yml"
docker-registry serve "$work/config.yml" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "http://$host/v2/" >/dev/null && break; sleep 0.1; done

# The stack.
root=$work/stack
spec() { mkdir -p "$root/$1"; printf '%s\n' "$2" >"$root/$1/staves.toml"; }
mkdir -p "$root/recipe"
cp -r examples/recipe/url-status.toml examples/recipe/src "$root/recipe/"
spec base 'name = "base"
packages = ["dash"]'
spec py 'name = "py"
base = "../base"
packages = ["python3-minimal"]'
i=0
for pkgs in '"curl"' '"openssl"' '"ca-certificates"' '"tzdata"' '"netbase"' '"less"' \
  '"procps"' '"iproute2"' '"gawk"' '"sqlite3"' '"jq"' '"xz-utils"' '"zstd"'; do
  i=$((i + 1))
  on=base; [ $((i % 3)) = 0 ] && on=py
  spec "img$i" "name = \"img$i\"
base = \"../$on\"
packages = [$pkgs]"
done
for n in a b; do
  spec "tool-$n" "name = \"tool-$n\"
base = \"../base\"
packages = [\"url-status\"]
recipes = [\"../recipe/url-status.toml\"]"
  spec "hello-$n" "name = \"hello-$n\"
base = \"../base\"
packages = [\"hello\"]

[env.lean]
DEB_BUILD_PROFILES = \"nocheck nodoc\"

['hello']
source = true
env = [\"lean\"]"
done
spec leaf 'name = "leaf"
base = "../py"
packages = ["media-types"]'
# Locked first, in a cache of its own, as a repository's stack is.
for d in base py $(cd "$root" && ls -d img* tool-* hello-* leaf); do
  "$staves" lock -f "$root/$d/staves.toml" --context "$root" --cache "$work/lock-cache" >/dev/null 2>"$work/lock.log" ||
    { tail -5 "$work/lock.log"; exit 1; }
done

# 1. One machine, empty cache.
start=$(date +%s.%N)
"$staves" stack "$root" --locked --cache "$work/one" >/dev/null 2>"$work/one.log" || { tail -5 "$work/one.log"; exit 1; }
one=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")

# 2 and 3. The plan's jobs, cold then warm.
"$staves" plan "$root" --format json --cache-registry "$host/cache" --insecure-registry "$host" >"$work/plan.json"
run_plan() { # $1: pass name, $2: "out" to write layouts (a job then always runs);
  # prints one line per job: id seconds bytes
  python3 - "$work/plan.json" "$staves" "$root" "$work/$1" "${2:-}" <<'PY'
import json, os, subprocess, sys, time
plan, staves, root, base, out = sys.argv[1:6]
jobs = json.load(open(plan))["jobs"]
done = {}
while len(done) < len(jobs):
    for job in [j for j in jobs if j["id"] not in done and all(n in done for n in j["needs"])]:
        cache = os.path.join(base, job["id"])
        os.makedirs(cache)
        start = time.time()
        extra = ["-o", os.path.join(base, "out")] if out and "--packages" not in job["argv"] else []
        subprocess.run([staves] + job["argv"][1:] + ["--locked", "--cache", cache] + extra, cwd=root,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        took = time.time() - start
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(cache)
                   for f in fs if "/debs/" in d + "/" or "/blobs/" in d + "/")
        done[job["id"]] = (took, size)
        print(job["id"], f"{took:.2f}", size)
PY
}
run_plan cold >"$work/cold.txt"
registry_bytes=$(du -sb "$work/data" | cut -f1)
run_plan warm >"$work/warm.txt"
run_plan layouts out >"$work/layouts.txt"

python3 - "$work/plan.json" "$work/cold.txt" "$work/warm.txt" "$one" "$registry_bytes" "$work/layouts.txt" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))["jobs"]
cold = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[2])}
warm = {l.split()[0]: (float(l.split()[1]), int(l.split()[2])) for l in open(sys.argv[3])}
layouts = {l.split()[0]: (float(l.split()[1]), int(l.split()[2])) for l in open(sys.argv[6])}
one, registry = float(sys.argv[4]), int(sys.argv[5])
needs = {j["id"]: j["needs"] for j in plan}
level = {}
for j in plan:
    level[j["id"]] = max([level[n] + 1 for n in j["needs"]], default=0)
def finish_times(times):
    end = {}
    for j in plan:
        end[j["id"]] = max([end[n] for n in needs[j["id"]]], default=0) + times[j["id"]]
    return end
critical = max(finish_times(cold).values())
def makespan(runners, times):
    # List scheduling: whenever a runner is free, it takes the first ready job in plan order.
    free = [0.0] * runners
    end, left = {}, [j["id"] for j in plan]
    while left:
        ready = [j for j in left if all(n in end for n in needs[j])]
        job = min(ready, key=lambda j: max([end[n] for n in needs[j]], default=0))
        r = min(range(runners), key=lambda i: free[i])
        start = max(free[r], max([end[n] for n in needs[job]], default=0))
        end[job] = free[r] = start + times[job]
        left.remove(job)
    return max(end.values())
print(f"jobs: {len(plan)}, levels: {max(level.values()) + 1}, critical path (cold): {critical:.1f} s")
print(f"one machine, `staves stack`, empty cache: {one:.1f} s")
print("job times: cold (empty runner, empty registry); warm (empty runner, warm registry: the")
print("job's marker is found); warm with -o (a layout to write: the job runs, pulling what it needs)")
for j in plan:
    i = j["id"]
    print(f"  {i:<18} level {level[i]}  cold {cold[i]:6.2f} s  warm {warm[i][0]:5.2f} s"
          f"  warm -o {layouts[i][0]:5.2f} s, {layouts[i][1] / 1e6:5.1f} MB pulled")
for n in (1, 2, 4, 8, 16):
    m = makespan(n, cold)
    print(f"projected makespan, {n:>2} runner(s), cold: {m:7.1f} s  ({m / one:.2f} of one machine)")
for name, times in (("warm", warm), ("warm -o", layouts)):
    m = makespan(8, {k: v[0] for k, v in times.items()})
    print(f"projected makespan,  8 runners, {name}: {m:6.1f} s  ({m / one:.3f} of one machine)")
print(f"registry after the cold run: {registry / 1e6:.1f} MB; warm -o jobs pulled "
      f"{sum(v[1] for v in layouts.values()) / 1e6:.1f} MB in all, at most "
      f"{max(v[1] for v in layouts.values()) / 1e6:.1f} MB one")
PY
