#!/usr/bin/env bash
# Fuzzes Staves' parsers of outside input for a bounded time each (default 60 s).
# Not part of the test command: `bash fuzz/run.sh [SECONDS] [TARGET…]`.
# cargo-fuzz is installed from crates.io when missing; the toolchain here is stable, so the
# sanitizer flags it passes are allowed with RUSTC_BOOTSTRAP.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
failed=()
for target in "${targets[@]}"; do
  echo "== $target (${seconds}s)"
  log="$(mktemp)"
  # A crash, a leak or a timeout makes cargo fuzz exit non-zero: the run fails with it.
  if RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
    >"$log" 2>&1; then status=0; else status=$?; fi
  grep -E "^(Done [0-9]+ runs|#[0-9]+ +DONE|==[0-9]+== ERROR|SUMMARY|thread .* panicked)" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log"
    failed+=("$target")
  fi
  rm -f "$log"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]} (the reproducers are in fuzz/artifacts/)" >&2
  exit 1
fi
