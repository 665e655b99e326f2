#!/bin/bash
# Runs a sweep as a Slurm job array and merges it when every shard has succeeded.
#   scenarios/slurm/submit.sh SCENARIO.toml [SHARDS (default 4)] [OUT (default output)]
# Environment: HEAVYBALL (the binary; default `heavyball` on PATH, else this checkout's
# target/release/heavyball), WAIT=1 to block until the merge job has finished.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { sed -n '2,5p' "$0" >&2; exit 2; }
SCENARIO=$(realpath "$1")
SHARDS=${2:-4}
OUT=$(realpath -m "${3:-output}")
HEAVYBALL=${HEAVYBALL:-$(command -v heavyball || echo "$here/../../target/release/heavyball")}
export SCENARIO OUT HEAVYBALL
# Fail now, not in every array task, on a scenario that does not validate, or on more
# shards than it has grid points (`check` prints "...: ok (NAME): P points, ...").
checked=$("$HEAVYBALL" check "$SCENARIO")
points=$(sed -n 's/.*): \([0-9][0-9]*\) points\{0,1\}, .*/\1/p' <<<"$checked")
if [ -n "$points" ] && [ "$SHARDS" -gt "$points" ]; then
  echo "submit.sh: $SHARDS shards for a grid of $points point(s); use at most $points" >&2
  exit 2
fi
array=$(sbatch --parsable --array=1-"$SHARDS" "$here/shard.sbatch")
array=${array%%;*}
wait=()
[ "${WAIT:-0}" = 1 ] && wait=(--wait)
echo "shards: job $array (array 1-$SHARDS) -> $OUT"
merge=$(sbatch --parsable "${wait[@]}" --dependency=afterok:"$array" --kill-on-invalid-dep=yes \
    "$here/merge.sbatch")
echo "merge: job ${merge%%;*} (runs when all shards succeed)"
