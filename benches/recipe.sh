#!/usr/bin/env bash
# Packaging your own software: examples/recipe (a C program with libcurl, split -doc
# package) built into an image, in one run:
#   cold            an empty cache: build dependencies downloaded, the build root
#                   assembled, the program compiled and packaged, the image written;
#   source changed  the build root cached, one line of the program changed;
#   unchanged       the same inputs: the cached packages (no build);
# with the build root's assembly and the sandboxed build-and-package step read from the
# `Building`/`Built` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
staves=$PWD/target/release/staves
work=$(mktemp -d /var/tmp/staves-bench-recipe.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r examples/recipe "$work/recipe"
cache="$work/cache"
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
build() { "$staves" build -f "$work/recipe/staves.toml" --cache "$cache" -o "$work/image.tar" 2>"$work/$1.log"; }

t0=$(now); build cold; t1=$(now)
sed -i 's/printf("%ld\\n", status)/printf("status %ld\\n", status)/' "$work/recipe/src/status.c"
t2=$(now); build changed; t3=$(now)
t4=$(now); build again; t5=$(now)
root=$(sed -n 's/.*root assembled in \([0-9.]*\) s.*/\1/p' "$work/cold.log" | head -1)
built=$(sed -n 's/.*Built url-status 1.0-1: .* in \([0-9.]*\) s.*/\1/p' "$work/changed.log" | head -1)

printf '\n%-16s %8s\n' step seconds
printf '%-16s %8s\n' "cold" "$(secs $t0 $t1)" "  root assembly" "${root:-?}" "source changed" "$(secs $t2 $t3)" "  build+package" "${built:-?}" "unchanged" "$(secs $t4 $t5)"
grep -q "Reused url-status" "$work/again.log" && echo "(unchanged: the cached packages were reused)"
