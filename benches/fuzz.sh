#!/usr/bin/env bash
# The long fuzz run (tests/fuzz.rs): N mutated scenarios (default 100000) through check and
# run, every promise checked per case; a failing case is printed whole.
#
#   benches/fuzz.sh [N] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
HEAVYBALL_FUZZ_CASES=${1:-100000} HEAVYBALL_FUZZ_SEED=${2:-1592647} \
  cargo test --release --test fuzz -- --nocapture
