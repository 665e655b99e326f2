#!/usr/bin/env bash
# Peak memory of a 1000 × 1000 discrete sweep (Qian's triangle, 100 steps a point,
# 10^6 summary rows), measured with /usr/bin/time -v. Usage: benches/sweep-memory.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/million.toml" <<'TOML'
[potential]
kind = "quadratic"
eigenvalues = [1.0]
[particle]
position = 1.0
[[discrete]]
label = "hb"
steps = 100
[sweep]
learning_rate = { linspace = [0.004, 4.0, 1000] }
momentum = { linspace = [-0.999, 0.999, 1000] }
TOML
/usr/bin/time -v target/release/heavyball run "$dir/million.toml" --out "$dir/out" \
    --threads "${1:-2}" --quiet 2> "$dir/time.txt"
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$dir/time.txt"
echo "rows: $(($(wc -l < "$dir/out/million/summary.csv") - 1)), $(du -h "$dir/out/million/summary.csv" | cut -f1)"
