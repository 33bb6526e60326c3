#!/usr/bin/env bash
# Upload-to-visible latency of one package into an archive of 1,000 and 10,000 packages:
#   Staves   an HTTP upload to `staves serve` (answered once the signed release is switched)
#   reprepro `reprepro includedeb` (indices exported and signed when it returns)
#   aptly    `aptly repo add` + `aptly publish update`
# each producing Packages, .gz and .xz (aptly: .gz and .bz2, as it can) with a signed
# InRelease; then uploads per second from 16 parallel clients and the server's peak RSS.
# Usage: bash benches/archive.sh            (SIZES="1000 10000" ROUNDS=3 CLIENTS=16)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES="${SIZES:-1000 10000}"
ROUNDS="${ROUNDS:-3}"
CLIENTS="${CLIENTS:-16}"
PER_CLIENT="${PER_CLIENT:-20}"

for tool in reprepro aptly gpg curl python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install reprepro aptly gnupg curl python3)"; exit 1; }
done
cargo build --release --quiet -p staves
STAVES="$PWD/target/release/staves"
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'Bench <bench@localhost>' ed25519 sign never 2>/dev/null
FPR=$(gpg --list-keys --with-colons | awk -F: '/^fpr/ {print $10; exit}')
TOKEN=0123456789abcdef0123456789abcdef
echo "$TOKEN" > "$work/tokens"
python3 benches/gen-debs.py "$work/extra" $((ROUNDS * 3 * $(echo $SIZES | wc -w))) extra amd64

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
extra() { echo "$work/extra/extra$(printf %05d "$1")_1.0_amd64.deb"; }

printf '%-8s %10s %10s %10s %14s\n' packages staves reprepro aptly 'staves/faster'
next=0
for n in $SIZES; do
  debs="$work/debs$n"
  python3 benches/gen-debs.py "$debs" "$n" bench amd64

  # Staves: the archive filled in one publication, then served.
  "$STAVES" include --dir "$work/staves$n" --arch amd64 "$debs" 2>/dev/null
  "$STAVES" serve --dir "$work/staves$n" --arch amd64 --listen 127.0.0.1:0 \
    --token-file "$work/tokens" >"$work/url" 2>/dev/null &
  server=$!
  for _ in $(seq 50); do [ -s "$work/url" ] && break; sleep 0.1; done
  url=$(head -1 "$work/url")
  times=""
  for _ in $(seq "$ROUNDS"); do
    file=$(extra $next); next=$((next + 1))
    t=$(date +%s%N)
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
      --data-binary "@$file" "$url/upload/stable/main/x.deb")
    [ "$code" = 200 ] || { echo "upload answered $code"; exit 1; }
    times="$times $(ms "$t")"
  done
  staves_ms=$(echo $times | median)

  if [ "$n" = "$(echo $SIZES | cut -d' ' -f1)" ]; then
    # Uploads per second from parallel clients, each sending its own packages.
    python3 benches/gen-debs.py "$work/parallel" $((CLIENTS * PER_CLIENT)) par amd64
    t=$(date +%s%N)
    for c in $(seq 0 $((CLIENTS - 1))); do
      (
        for i in $(seq 0 $((PER_CLIENT - 1))); do
          f="$work/parallel/par$(printf %05d $((c * PER_CLIENT + i)))_1.0_amd64.deb"
          curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $TOKEN" \
            --data-binary "@$f" "$url/upload/stable/main/x.deb"
        done
      ) &
    done
    wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
    parallel_ms=$(ms "$t")
    listed=$(curl -s "$url/dists/stable/main/binary-amd64/Packages" | grep -c '^Package: par' || true)
    rate=$(awk -v n=$((CLIENTS * PER_CLIENT)) -v ms="$parallel_ms" 'BEGIN {printf "%.1f", n * 1000 / ms}')
    parallel_line="$((CLIENTS * PER_CLIENT)) uploads from $CLIENTS clients into $n packages: ${parallel_ms} ms, $rate uploads/s, $listed listed"
  fi
  rss=$(awk '/VmHWM/ {print $2}' /proc/$server/status)
  rss_lines="${rss_lines:-}  staves serve peak RSS at $n packages: $((rss / 1024)) MiB\n"
  kill "$server"; wait "$server" 2>/dev/null || true; server=""

  # reprepro, signing with gpg.
  mkdir -p "$work/reprepro$n/conf"
  printf 'Codename: stable\nComponents: main\nArchitectures: amd64\nSignWith: %s\nDebIndices: Packages Release . .gz .xz\n' "$FPR" \
    > "$work/reprepro$n/conf/distributions"
  find "$debs" -name '*.deb' -print0 | xargs -0 reprepro -s -s -b "$work/reprepro$n" includedeb stable >/dev/null 2>&1
  times=""
  for _ in $(seq "$ROUNDS"); do
    file=$(extra $next); next=$((next + 1))
    t=$(date +%s%N)
    reprepro -s -s -b "$work/reprepro$n" includedeb stable "$file" >/dev/null 2>&1
    times="$times $(ms "$t")"
  done
  reprepro_ms=$(echo $times | median)

  # aptly, publishing a local repository with the same key.
  printf '{"rootDir": "%s", "gpgProvider": "gpg", "architectures": ["amd64"]}\n' "$work/aptly$n" > "$work/aptly$n.conf"
  aptly() { command aptly -config="$work/aptly$n.conf" "$@" >/dev/null 2>&1; }
  aptly repo create -distribution=stable -component=main bench
  aptly repo add bench "$debs"
  aptly publish repo -gpg-key="$FPR" -architectures=amd64 bench
  times=""
  for _ in $(seq "$ROUNDS"); do
    file=$(extra $next); next=$((next + 1))
    t=$(date +%s%N)
    aptly repo add bench "$file"
    aptly publish update -gpg-key="$FPR" stable
    times="$times $(ms "$t")"
  done
  aptly_ms=$(echo $times | median)
  unset -f aptly

  faster=$(( reprepro_ms < aptly_ms ? reprepro_ms : aptly_ms ))
  printf '%-8s %8s ms %8s ms %8s ms %13s\n' "$n" "$staves_ms" "$reprepro_ms" "$aptly_ms" \
    "$(awk -v a="$staves_ms" -v b="$faster" 'BEGIN {printf "%.3f", a / b}')"
done
echo
echo "$parallel_line"
printf "$rss_lines"
