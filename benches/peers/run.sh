#!/usr/bin/env bash
# The engine and the peers (../shared/peers: numpy, SciPy, optionally diffrax) on workload
# W1 at the same N, on this machine, in one go: wall times, µs per point, ratios, result
# agreement, two threads against one beside the machine's own scaling, and the engine's
# peak memory for 10^4..10^6 discrete points.
#
#   benches/peers/run.sh [N (default 100)] [--diffrax | --discrete]
#
# --discrete compares the discrete part alone (numpy vs the engine; no SciPy, no
# continuous runs): how the N = 300 row of the README's table is made.
#
# Creates a Python virtual environment under target/peers-venv (the peers' pinned numpy and
# SciPy; jax/diffrax only with --diffrax), reads the peers from $PEERS_DIR (default
# ../shared/peers beside this checkout) and writes only under target/.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-100}
DIFFRAX=0
DISCRETE_ONLY=0
[ "${2:-}" = "--diffrax" ] && DIFFRAX=1
[ "${2:-}" = "--discrete" ] && DISCRETE_ONLY=1
PEERS_DIR=${PEERS_DIR:-$(cd .. && pwd)/shared/peers}
[ -f "$PEERS_DIR/sweep_numpy.py" ] || { echo "no peers in $PEERS_DIR (set PEERS_DIR)" >&2; exit 2; }
WORK=target/peers
export PEERS_OUT=$PWD/$WORK/out
rm -rf "$WORK"; mkdir -p "$PEERS_OUT"
VENV=target/peers-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
pkgs=$(grep -E '^(numpy|scipy)==' "$PEERS_DIR/requirements.txt")
[ "$DIFFRAX" = 1 ] && pkgs=$(grep -E '^[a-z]' "$PEERS_DIR/requirements.txt")
# shellcheck disable=SC2086
"$VENV/bin/pip" install -q $pkgs
PY=$PWD/$VENV/bin/python

cargo build --release --quiet
HB=target/release/heavyball
threads=$(nproc)

# W1 at N from the shipped scenario: both parts, and each part alone (like for like).
scenario() { # $1 name, $2 keep: both|continuous|discrete
  sed -e "s/\(logspace = \[[-0-9.]*, [-0-9.]*, \)100\]/\1$N]/" \
      -e "s/^name = .*/name = \"$1\"/" scenarios/w1-mass-friction.toml > "$WORK/$1.toml"
  case $2 in
    continuous) sed -i '/^\[\[discrete\]\]/,/^steps = 200000/d' "$WORK/$1.toml" ;;
    discrete) sed -i '/^\[continuous\]/,/^t_end = 200.0/d' "$WORK/$1.toml" ;;
  esac
}
timed() { # $1 name: prints the median wall seconds of 11 runs (3 swung by ±20% on this
  # 2-core VM from one run of the script to the next: 0.143 and 0.196 s for one sweep).
  # Each run writes a new folder: the previous run's result is removed before the clock
  # starts, as the threads line below does (replacing it would time the deletion of the
  # last run's files, ~7 ms for W1 N = 300's 24 MB, which the peers, writing nothing, do not
  # have).
  for _ in 1 2 3 4 5 6 7 8 9 10 11; do
    rm -rf "${WORK:?}/engine/$1"
    local t0=$EPOCHREALTIME
    "$HB" run "$WORK/$1.toml" --out "$WORK/engine" --threads "$threads" --quiet
    echo "$EPOCHREALTIME - $t0" | bc -l
  done | sort -n | sed -n 6p
}
scenario w1-both both; scenario w1-continuous continuous; scenario w1-discrete discrete
scenario w1-dopri5 continuous; sed -i 's/^method = "auto"/method = "dopri5"/' "$WORK/w1-dopri5.toml"
t_disc=$(timed w1-discrete)
if [ "$DISCRETE_ONLY" = 1 ]; then
  t_both=nan; t_cont=nan; t_dopri5=nan
  cp -r "$WORK/engine/w1-discrete" "$WORK/engine/w1-both"
else
  t_both=$(timed w1-both)
  t_cont=$(timed w1-continuous)
  t_dopri5=$(timed w1-dopri5)
fi

echo "peers (this takes a while: SciPy's continuous part runs every 10th point)..." >&2
(cd "$PEERS_DIR" && "$PY" sweep_numpy.py --N "$N" --repeats 3 >/dev/null)
if [ "$DISCRETE_ONLY" = 0 ]; then
  (cd "$PEERS_DIR" && "$PY" sweep_scipy.py --N "$N" --stride 10 --parts continuous --repeats 1 >/dev/null)
fi
if [ "$DIFFRAX" = 1 ]; then
  (cd "$PEERS_DIR" && "$PY" sweep_diffrax.py --N "$N" --batch map --parts continuous --repeats 1 >/dev/null)
fi

PEERS_DIR=$PEERS_DIR "$PY" - "$N" "$t_both" "$t_cont" "$t_disc" "$threads" "$PEERS_OUT" "$WORK" "$t_dopri5" <<'PY'
import csv, math, sys, platform, os
N, t_both, t_cont, t_disc, threads, out, work, t_dopri5 = sys.argv[1:]
N = int(N); pts = N * N
t_both, t_cont, t_disc = float(t_both), float(t_cont), float(t_disc)
# Agreement: the engine's discrete steps against the numpy peer's k_conv, point for point.
peer = list(csv.DictReader(open(f"{out}/numpy_N{N}.csv")))
ours = [r for r in csv.DictReader(open(f"{work}/engine/w1-both/summary.csv")) if r["method"] == "qian"]
same = sum(1 for p, o in zip(peer, ours)
           if (int(p["k_conv"]) >= 0 and o["status"] == "converged" and int(o["steps"]) == int(p["k_conv"]))
           or (int(p["k_conv"]) < 0 and o["status"] != "converged"))
print(f"discrete agreement with numpy: {same}/{len(peer)} points identical (steps = k_conv)")
# Continuous: t_converged against the peers' closed-form crossing (exact.py), at every point.
sys.path.insert(0, os.environ["PEERS_DIR"])
import exact
cont = [r for r in csv.DictReader(open(f"{work}/engine/w1-both/summary.csv")) if r["method"] == "continuous"]
errors, mismatch = {}, 0  # point -> |t - t_exact| / t_exact
for r in cont if not math.isnan(t_cont) else []:
    t = exact.t_conv_exact(float(r["mass"]), float(r["friction"]))
    ours = float(r["t_converged"]) if r["t_converged"] else None
    if (ours is None) != math.isnan(t):
        mismatch += 1
    elif ours is not None:
        errors[int(r["point"])] = (t, abs(ours - t) / t)

def accuracy(errs):  # worst, count above 3.5e-6, mean and median of relative errors
    e = sorted(errs)
    return f"worst {e[-1]:.2e}, {sum(x > 3.5e-6 for x in e)} above 3.5e-6, mean {sum(e) / len(e):.1e}, median {e[len(e) // 2]:.1e}"

if errors:
    print(f"continuous agreement with the closed form: {len(errors)} crossings, {mismatch} status mismatches; "
          + accuracy([e for _, e in errors.values()]))
# diffrax at the same tolerances, on the points where it caught the first crossing (within
# 1e-3 of the closed form; elsewhere its event test at step ends missed a dip, ../shared/peers).
try:
    dfx = list(csv.DictReader(open(f"{out}/diffrax-map_N{N}.csv")))
except FileNotFoundError:
    dfx = []
first = {}
for i, r in enumerate(dfx):
    if i in errors and r["t_conv"] not in ("", "nan"):
        t_exact = errors[i][0]
        e = abs(float(r["t_conv"]) - t_exact) / t_exact
        if e < 1e-3:
            first[i] = e
if first:
    print(f"  diffrax Dopri5, {len(first)} points where it caught the first crossing: " + accuracy(first.values()))
    print("  the engine on the same points: " + accuracy([errors[i][1] for i in first]))
rows = [("engine", "continuous + discrete", t_both), ("engine", "continuous", t_cont),
        ("engine", "continuous, dopri5 only", float(t_dopri5)), ("engine", "discrete", t_disc)]
timings = {}
for r in csv.DictReader(open(f"{out}/timings.csv")):
    if int(r["N"]) == N:
        # The peers' scripts already scale a strided run back to the whole grid.
        timings[(r["peer"], r["part"])] = float(r["median_s"])
for (peer_name, part), t in timings.items():
    rows.append((peer_name, part, t))
simd = "avx512" if " avx512f" in open("/proc/cpuinfo").read() else "avx2 or below"
print(f"\nW1, N = {N} ({pts} points), {threads} threads; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, lane kernels on {os.environ.get('HEAVYBALL_SIMD', simd)}")
print(f"{'who':<10} {'part':<28} {'wall s':>9} {'µs/point':>10} {'engine ×':>9}")
for who, part, t in rows:
    if math.isnan(t):
        continue
    ref = t_cont if part.startswith("continuous") else (t_disc if part.startswith("discrete") else t_both)
    ratio = "" if who == "engine" else f"{t / ref:9.1f}"
    print(f"{who:<10} {part:<28} {t:9.3f} {1e6 * t / pts:10.1f} {ratio:>9}")
for (peer_name, part), t in timings.items():
    if part.startswith("continuous") and not math.isnan(t_cont):
        print(f"{peer_name} {part} / engine: {t / t_cont:.1f}× (auto), {t / float(t_dopri5):.1f}× (dopri5 only)")
    if part.startswith("discrete"):
        print(f"{peer_name} {part} / engine: {t / t_disc:.1f}×")
PY

# Threads: the discrete part on one thread and on all, and beside it as many one-thread
# runs at once, which no code of ours couples: the machine's own scaling, measured in the
# same minutes (rounds interleaved, medians; each run its own output folder).
if [ "$threads" -gt 1 ]; then
  "$PY" - "$HB" "$WORK/w1-discrete.toml" "$threads" "$WORK/threads" <<'PY'
import statistics, subprocess, sys, time
hb, toml, threads, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def runs(count, t):  # wall seconds of `count` runs on `t` threads each, started together
    t0 = time.perf_counter()
    procs = [subprocess.Popen([hb, "run", toml, "--out", f"{out}/{t}-{i}", "--threads", str(t), "--quiet"])
             for i in range(count)]
    if any(p.wait() for p in procs):
        sys.exit("a timed run failed")
    return time.perf_counter() - t0
one, all_, apart = [], [], []
for _ in range(11):
    one.append(runs(1, 1)); all_.append(runs(1, threads)); apart.append(runs(threads, 1))
one, all_, apart = (statistics.median(x) for x in (one, all_, apart))
print(f"\nthreads, discrete part (wall, medians of 11 interleaved rounds): 1 thread {one:.3f} s, "
      f"{threads} threads {all_:.3f} s ({one / all_:.2f}×); {threads} one-thread runs at once "
      f"{apart:.3f} s ({threads * one / apart:.2f}× the work of one: the machine's own scaling)")
PY
fi

echo; echo "engine peak RSS, discrete sweeps (/usr/bin/time -v):"
for n in 100 316 1000; do
  scenario "mem-$n" discrete
  sed -i "s/\(logspace = \[[-0-9.]*, [-0-9.]*, \)$N\]/\1$n]/" "$WORK/mem-$n.toml"
  /usr/bin/time -f "  $((n * n)) points: %M KB, %e s" "$HB" run "$WORK/mem-$n.toml" --out "$WORK/engine" --threads "$threads" --quiet
done
