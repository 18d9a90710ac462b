#!/usr/bin/env bash
# Runs the cargo fuzz targets (fuzz/; nightly toolchain and cargo-fuzz needed) one after the
# other, each for FUZZ_SECONDS (600), from the committed seeds (fuzz/seeds/TARGET) plus a
# growing corpus in the git-ignored cache. A crash stops that target; its input is copied to
# fuzz/regressions/TARGET/, which the crates' stable tests (tests/integration/fuzz_corpus.rs) replay.
#
#   scripts/fuzz.sh                       # every target, 10 minutes each
#   FUZZ_SECONDS=60 scripts/fuzz.sh emf_parser
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${FUZZ_SECONDS:-600}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(image_decode request_parsing emf_parser)
mkdir -p artifacts
status=0
for target in "${targets[@]}"; do
  corpus="$root/.cache/fuzz-corpus/$target"
  mkdir -p "$corpus"
  log="$root/artifacts/fuzz-$target-$(date -u +%Y%m%dT%H%M%SZ).log"
  started="$(mktemp)"  # crash files newer than this are this run's
  echo "fuzz: $target for ${seconds}s (log: $log)" >&2
  if cargo +nightly fuzz run "$target" "$corpus" "fuzz/seeds/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" \
      | sed "s/^/fuzz: $target: /" >&2
  else
    status=1
    echo "fuzz: $target FAILED; the tail of its log:" >&2
    tail -40 "$log" >&2
    if [ -d "fuzz/artifacts/$target" ]; then
      mkdir -p "fuzz/regressions/$target"
      find "fuzz/artifacts/$target" -type f -newer "$started" -exec cp {} "fuzz/regressions/$target/" \;
    fi
  fi
  rm -f "$started"
done
exit "$status"
