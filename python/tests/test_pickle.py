"""Scenarios and results pickle (a process pool's arguments and return values): the same
scenario, the same bytes."""

from __future__ import annotations

import json
import os
import pickle
from concurrent.futures import ProcessPoolExecutor

import multiprocessing
import pytest

import heavyball as hb
from conftest import SCENARIOS


def test_a_pickled_scenario_is_the_same_scenario():
    for path in sorted(SCENARIOS.glob("*.toml")):
        s = hb.load(path)
        back = pickle.loads(pickle.dumps(s))
        assert back.to_toml() == s.to_toml(), path.name
        assert (back.name, back.points, back.is_sweep) == (s.name, s.points, s.is_sweep)
    text = hb.load("[potential]\nkind = 'quadratic'\neigenvalues = [1.0]\n[particle]\nmass = 1.0\nfriction = 2.0\nposition = [1.0]\n")
    assert pickle.loads(pickle.dumps(text)).name == "scenario"


def test_a_pickled_result_writes_the_same_folder(tmp_path):
    result = hb.run(SCENARIOS / "kth-poster.toml")
    back = pickle.loads(pickle.dumps(result))
    assert back.files == result.files
    for name in result.files:
        assert back.csv(name) == result.csv(name)
        assert back.columns(name) == result.columns(name)
    # Qian's map at dt = 0.5, m = 2, mu = 4: rho = sqrt(p) = 1/sqrt(2), converged at step 38.
    row = back.summary[back.summary.method == "heavy-ball"].iloc[0]
    assert row.steps == 38 and row.theory_radius == 0.5**0.5
    # `out` as a str, a path or bytes (os.fsencode's form), as `open` takes it.
    a, b = hb.write(result, tmp_path / "a"), hb.write(back, os.fsencode(tmp_path / "b"))
    assert b.parent == tmp_path / "b"
    for name in result.files + ["scenario.toml"]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    assert ma == mb


def _summary(path: str) -> bytes:
    return hb.run(path).csv("summary.csv")


def test_results_come_back_from_a_process_pool():
    paths = [str(SCENARIOS / "kth-poster.toml"), str(SCENARIOS / "massless-limit.toml")]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(hb.run, paths))
    for path, result in zip(paths, results):
        assert result.csv("summary.csv") == _summary(path)


def test_a_python_potential_is_refused_with_the_reason():
    pot = hb.Potential(value=lambda w: float(w @ w), gradient=lambda w: 2 * w, dim=2, minimum=[0.0, 0.0])
    s = hb.load({"particle": {"mass": 1.0, "friction": 2.0, "position": [1.0, 1.0]}, "continuous": {"t_end": 1.0}}, potential=pot)
    with pytest.raises(TypeError, match="a Scenario with a Python potential cannot be pickled"):
        pickle.dumps(s)


def test_a_result_of_a_python_potential_deep_copies():
    import copy

    pot = hb.Potential(value=lambda w: float(w @ w), gradient=lambda w: 2 * w, dim=2, minimum=[0.0, 0.0])
    tables = {"particle": {"position": [1.0, 1.0]}, "discrete": [{"learning_rate": 0.25, "momentum": 0.0, "steps": 50}]}
    result = hb.run(tables, potential=pot, backend="pandas")
    twin = copy.deepcopy(result)
    assert twin.csv("summary.csv") == result.csv("summary.csv")
    # Gradient descent with lr = 0.25 on E = |w|^2 (k = 2): w_{k+1} = (1 - 0.5) w_k, so
    # |w_k| = sqrt(2) / 2^k first falls below 1e-6 at k = 21 (2^21 > sqrt(2) * 1e6).
    assert twin.summary.steps.iloc[0] == 21
    assert twin.summary is not result.summary
    assert copy.deepcopy(result.scenario).name == result.scenario.name
