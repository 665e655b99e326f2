#!/usr/bin/env bash
# Peak memory of a 1000 × 1000 discrete sweep (benches/million-discrete.toml: Qian's
# triangle, 100 steps a point, 10^6 summary rows), measured with /usr/bin/time -v.
# Usage: benches/sweep-memory.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
/usr/bin/time -v target/release/heavyball run benches/million-discrete.toml --out "$dir/out" \
    --threads "${1:-2}" --quiet 2> "$dir/time.txt"
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$dir/time.txt"
echo "rows: $(($(wc -l < "$dir/out/million/summary.csv") - 1)), $(du -h "$dir/out/million/summary.csv" | cut -f1)"
