"""What a potential written in Python costs per gradient evaluation.

Runs the same long gradient-descent entry (no convergence, 2*10^5 steps, so 2*10^5
gradient evaluations) on E = 1/2 sum k_i w_i^2 in dimension n, once with the built-in
quadratic and once with the same quadratic as Python callables on NumPy arrays, and
reports the wall time per evaluation of both and their difference: the price of one
evaluation through Python, of which the callable's own time (the same call in a plain
Python loop) and the rest, the crossing (the interpreter attached, the array made, the
result read back). Two contexts: a single run (the engine on a thread of its own, which
keeps its Python thread state; its trajectory calls `value` at every step too) and a
one-point sweep (an engine worker thread, which keeps its thread state through its chunk of
points). The median of `--repeat` runs, one thread.

    python python/benches/potential_cost.py [--dims 2 100 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

import heavyball as hb

STEPS = 200_000


def scenario(n: int, sweep: bool) -> dict:
    s = {
        "name": "cost",
        "particle": {"mass": 0.0, "friction": 1.0, "position": [1.0] * n},
        # eps = dt/mu = 1e-7: |w| falls by 2% over the budget, so every step is run.
        "discrete": [{"scheme": "gradient-descent", "dt": 1e-7, "steps": STEPS}],
    }
    if sweep:
        # A one-point sweep: on a worker thread, the summary alone.
        s["sweep"] = {"friction": {"values": [1.0]}}
    return s


def timed(source: dict, potential=None) -> tuple[float, int]:
    start = time.perf_counter()
    summary = hb.run(source, potential=potential, threads=1, backend="numpy").summary
    wall = time.perf_counter() - start
    assert summary["evaluations"][0] == STEPS
    assert summary["status"][0] == "not-converged"
    return wall, int(summary["evaluations"][0])


def measure(n: int, sweep: bool, repeat: int) -> dict:
    k = np.linspace(1.0, 10.0, n)
    value = lambda w: 0.5 * float(w @ (k * w))  # noqa: E731
    gradient = lambda w: k * w  # noqa: E731
    python = hb.Potential(value=value, gradient=gradient, dim=n, minimum=[0.0] * n)
    source = scenario(n, sweep)
    builtin = {**source, "potential": {"kind": "quadratic", "eigenvalues": k.tolist()}}
    walls_builtin, walls_python = [], []
    for _ in range(repeat):
        walls_builtin.append(timed(builtin)[0])
        walls_python.append(timed(source, python)[0])
    w = np.ones(n)
    start = time.perf_counter()
    for _ in range(STEPS):
        gradient(w)
    own = (time.perf_counter() - start) / STEPS
    return {
        "builtin": statistics.median(walls_builtin) / STEPS,
        "python": statistics.median(walls_python) / STEPS,
        "own": own,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 100, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"# {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"numpy {np.__version__}, engine {hb.ENGINE_VERSION}, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print("context, n, us per evaluation: built-in, Python, difference, the callable's own, crossing")
    for sweep in (False, True):
        for n in args.dims:
            r = measure(n, sweep, args.repeat)
            extra = r["python"] - r["builtin"]
            cells = [r["builtin"], r["python"], extra, r["own"], extra - r["own"]]
            context = "sweep" if sweep else "single run"
            print(f"{context}, {n}, " + ", ".join(f"{x * 1e6:.2f}" for x in cells))


if __name__ == "__main__":
    main()
