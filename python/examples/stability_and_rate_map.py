"""Qian's stability triangle and the mass x friction rate map, notebook style.

    python python/examples/stability_and_rate_map.py [OUT_DIR]

writes OUT_DIR/stability_triangle.png and OUT_DIR/rate_map.png (default: a new temporary
folder) and asserts what the theory fixes for each (docs/theory.md, Results 2 and 3).
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")  # no display needed (CI)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import heavyball as hb  # noqa: E402

SCENARIOS = pathlib.Path(__file__).resolve().parents[2] / "scenarios"


def stability_triangle(out: pathlib.Path) -> pathlib.Path:
    """Result 3: the heavy ball on E = k w^2 / 2 converges iff |p| < 1 and 0 < eps k < 2 + 2p."""
    k = 1.0
    scenario = {  # Qian's Figure 1, as a dict (scenarios/qian-stability-triangle.toml)
        "name": "stability-triangle",
        "potential": {"kind": "quadratic", "eigenvalues": [k]},
        "particle": {"position": 1.0},
        "discrete": [{"label": "heavy-ball", "scheme": "heavy-ball", "steps": 2000}],
        "stop": {"criterion": "distance", "tolerance": 1e-6},
        "sweep": {
            "learning_rate": {"linspace": [0.02, 4.0, 200]},
            "momentum": {"linspace": [-0.985, 0.985, 198]},
        },
    }
    s = hb.run(scenario, backend="pandas").summary
    eps, p = s.learning_rate, s.momentum
    inside = (p.abs() < 1) & (eps * k > 0) & (eps * k < 2 + 2 * p)
    # The closed form is the engine's theory_stable, and the measured status agrees with it:
    # nothing diverges inside, nothing converges outside but the column eps k = 1, whose
    # first step lands exactly on the minimum (w1 = (1 - eps k) w0 = 0, the momentum term is
    # zero at rest); points with rho close to 1 spend the 2000 steps on either side of the
    # edge: not-converged.
    assert (s.theory_stable == "true").equals(inside)
    assert not (s.status == "diverged")[inside].any()
    lucky = (s.status == "converged") & ~inside
    assert (eps[lucky] * k == 1.0).all() and (s.steps[lucky] == 1).all()
    assert (s.status == "converged").sum() > 0.8 * inside.sum()

    code = s.status.map({"converged": 0, "not-converged": 1, "diverged": 2})
    grid = pd.DataFrame({"eps": eps, "p": p, "code": code}).pivot(index="p", columns="eps", values="code")
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.pcolormesh(grid.columns, grid.index, grid, cmap="RdYlGn_r", shading="nearest")
    edge = np.linspace(0, 4, 2)
    ax.plot(edge, edge * k / 2 - 1, "k--", label="εk = 2 + 2p")
    ax.axhline(1, color="k", lw=0.8)
    ax.set(xlabel="learning rate ε", ylabel="momentum p", ylim=(-1, 1),
           title="Heavy ball on k = 1: converged (green), diverged (red)")
    ax.legend(loc="lower right")
    path = out / "stability_triangle.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"{path}: {inside.sum()} of {len(s)} points inside the triangle, "
          f"{(s.status == 'converged').sum()} converged")
    return path


def rate_map(out: pathlib.Path) -> pathlib.Path:
    """Result 2: the particle's decay rate over mass x friction on H = diag(3, 30)."""
    s = hb.run(SCENARIOS / "kth-mass-friction.toml", backend="pandas").summary
    c = s[s.method == "continuous"]
    converged = c[c.status == "converged"]
    # The measured rate is the closed form's (min over the eigenvalues of r_i)...
    error = (converged.measured_rate / converged.theory_rate - 1).abs()
    assert error.median() < 1e-3, error.describe()
    # ...and momentum speeds the slow direction (k = 3) up exactly where 3 < mu^2 / (2m).
    clear = (c.friction**2 / (2 * c.mass) - 3).abs() > 0.05
    assert ((c.speedup > 1) == (c.friction**2 / (2 * c.mass) > 3))[clear].all()

    grid = c.pivot(index="friction", columns="mass", values="measured_rate")
    fig, ax = plt.subplots(figsize=(6, 4.5))
    mesh = ax.pcolormesh(grid.columns, grid.index, grid, shading="nearest", norm=matplotlib.colors.LogNorm())
    fig.colorbar(mesh, label="measured decay rate (1/time)")
    m = np.array(grid.columns)
    for k, style in ((3.0, "w--"), (30.0, "w:")):
        ax.plot(m, 2 * np.sqrt(m * k), style, label=f"critical μ = 2√(m·{k:g})")
    ax.set(xscale="log", yscale="log", xlabel="mass m", ylabel="friction μ",
           ylim=(grid.index.min(), grid.index.max()), title="KTH poster: the particle's rate")
    ax.legend(loc="lower right")
    path = out / "rate_map.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    best = c.loc[c.measured_rate.idxmax()]
    print(f"{path}: fastest at m = {best.mass:.3g}, μ = {best.friction:.3g} "
          f"(rate {best.measured_rate:.4g}, theory {best.theory_rate:.4g}); median |measured/theory - 1| = {error.median():.1e}")
    return path


def main() -> None:
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(tempfile.mkdtemp(prefix="heavyball-"))
    out.mkdir(parents=True, exist_ok=True)
    stability_triangle(out)
    rate_map(out)


if __name__ == "__main__":
    main()
