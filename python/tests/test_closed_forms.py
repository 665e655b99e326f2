"""What the physics fixes, read from Python: the KTH poster's rho = 1/sqrt(2) and step 38,
and the massless particle's e^(-k t / mu)."""

from __future__ import annotations

import math

import numpy as np

import heavyball as hb
from conftest import SCENARIOS


def test_kth_poster_rho_is_one_over_root_two_and_converges_at_step_38():
    result = hb.run(SCENARIOS / "kth-poster.toml", backend="pandas")
    s = result.summary.set_index("method")
    # Qian's map at dt = 0.5, m = 2, mu = 4: eps = 0.0625, p = 0.5, complex roots, rho = sqrt(p).
    assert s.loc["heavy-ball", "learning_rate"] == 0.0625
    assert s.loc["heavy-ball", "momentum"] == 0.5
    assert math.isclose(s.loc["heavy-ball", "theory_radius"], 1 / math.sqrt(2), rel_tol=1e-15)
    assert s.loc["heavy-ball", "status"] == "converged"
    assert s.loc["heavy-ball", "steps"] == 38
    # The massless scheme: |1 - eps k| = |1 - 0.125 * 30| = 2.75 > 1.
    assert math.isclose(s.loc["gradient-descent", "theory_radius"], 2.75, rel_tol=1e-15)
    assert s.loc["gradient-descent", "status"] == "diverged"
    # The iterates themselves: |w_k| first below 1e-6 at k = 38, and they shrink by rho per
    # step (the last 20 steps' log-slope).
    d = result.discrete[result.discrete.method == "heavy-ball"]
    below = d[d.distance < 1e-6].step
    assert below.iloc[0] == 38 and (d[d.step < 38].distance >= 1e-6).all()
    tail = d[d.step >= 18]
    slope = np.polyfit(tail.step, np.log(tail.distance), 1)[0]
    assert abs(slope - math.log(1 / math.sqrt(2))) < 0.02
    # The theory report says the same.
    report = result.theory_dict["discrete"]["heavy-ball"]
    assert math.isclose(report["radius"], 1 / math.sqrt(2), rel_tol=1e-15)
    assert report["max_stable_learning_rate"] == 0.1
    speedup = result.theory_dict["continuous"]["continuous"]["components"]
    assert math.isclose(speedup[1]["speedup"], 4 / 3, rel_tol=1e-12)
    assert math.isclose(speedup[2]["speedup"], 2 / 15, rel_tol=1e-12)


def test_massless_particle_decays_as_exp_of_minus_k_t_over_mu():
    result = hb.run(SCENARIOS / "massless-limit.toml", backend="numpy")
    c = result.continuous
    t, w1, w2 = c["t"], c["w1"], c["w2"]
    assert len(t) > 1000
    # H = diag(1, 10), mu = 1, w(0) = (1, 1): w_i(t) = exp(-k_i t / mu), to the solver's
    # tolerances (rtol 1e-10, atol 1e-12): measured 1.8e-12 and 7.7e-12 at most.
    assert np.max(np.abs(w1 - np.exp(-t))) < 1e-11
    assert np.max(np.abs(w2 - np.exp(-10 * t))) < 1e-10
    big = np.exp(-t) > 1e-4
    assert np.max(np.abs(w1[big] / np.exp(-t[big]) - 1)) < 1e-8
    # The velocity of a massless particle is -grad E / mu.
    assert np.allclose(c["v1"], -w1, rtol=1e-12)
    s = result.summary
    row = list(s["method"]).index("continuous")
    assert s["theory_rate"][row] == 1.0  # k_min / mu
    assert s["damping"][row] == "massless"
    assert abs(s["measured_rate"][row] - 1.0) < 1e-4


def test_an_optimizers_own_settings_need_no_particle_mass():
    # lr = 0.1, momentum = 0.5 on diag(1, 10): 1 + p - lr k = 1.4 and 0.5 are both below
    # 2 sqrt(p), so every root has |lambda| = sqrt(p); no [continuous], so no mass needed.
    tables = {
        "potential": {"kind": "quadratic", "eigenvalues": [1.0, 10.0]},
        "particle": {"position": [1.0, 1.0]},
        "discrete": [{"learning_rate": 0.1, "momentum": 0.5, "steps": 500}],
        "stop": {"tolerance": 1e-6},
    }
    s = hb.run(tables, backend="pandas").summary.set_index("method")
    assert s.loc["heavy-ball-1", "theory_radius"] == math.sqrt(0.5)
    # The row's mass is the entry's particle p dt^2 / lr = 5.
    assert s.loc["heavy-ball-1", "mass"] == 5.0
    # |w_k| ~ C rho^k: first below 1e-6 at step 40 (the same as the file with a particle).
    assert s.loc["heavy-ball-1", "steps"] == 40
