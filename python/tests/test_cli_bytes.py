"""Python and the command line write the same bytes, and the DataFrames hold what the files
hold, on shipped scenarios (single runs and sweeps)."""

from __future__ import annotations

import json
import math

import numpy as np
import re

import pytest

import heavyball as hb
from conftest import SCENARIOS, as_number, read_csv

SINGLE = ["kth-poster.toml", "massless-limit.toml", "double-well.toml", "goh-three-eigenvalues.toml"]
SWEEPS = ["kth-mass-friction.toml", "qian-stability-triangle.toml", "stochastic-quadratic.toml"]
FILES = ["summary.csv", "continuous.csv", "discrete.csv", "comparison.csv", "scenario.toml"]


def written(name, tmp_path):
    result = hb.run(SCENARIOS / name, threads=2)
    return result, hb.write(result, tmp_path)


@pytest.mark.parametrize("name", SINGLE + SWEEPS)
def test_write_is_the_command_lines_folder_byte_for_byte(name, cli, tmp_path):
    theirs = cli(name)
    result, ours = written(name, tmp_path)
    assert ours == tmp_path / theirs.name
    listed = sorted(p.name for p in theirs.iterdir())
    assert sorted(p.name for p in ours.iterdir()) == listed
    compared = [f for f in FILES if (theirs / f).exists()]
    assert "summary.csv" in compared and "scenario.toml" in compared
    for f in compared:
        assert (ours / f).read_bytes() == (theirs / f).read_bytes(), f
    # The manifest: the same columns, hashes and scenario; only the run's clock differs.
    a = json.loads((ours / "manifest.json").read_text())
    b = json.loads((theirs / "manifest.json").read_text())
    for key in ("started", "wall_seconds"):
        a.pop(key), b.pop(key)
    assert a == b


@pytest.mark.parametrize("name", SINGLE + SWEEPS[:1])
@pytest.mark.parametrize("backend", ["pandas", "polars", "numpy"])
def test_tables_hold_the_files_values(name, backend, cli):
    theirs = cli(name)
    result = hb.run(SCENARIOS / name, backend=backend)
    tables = {"summary.csv": result.summary}
    if not result.scenario.is_sweep:
        tables.update({f"{t}.csv": getattr(result, t) for t in ("continuous", "discrete", "comparison")})
    for file, table in tables.items():
        if not (theirs / file).exists():
            assert table is None, file
            continue
        expected = read_csv(theirs / file)
        got = columns_of(table, backend)
        assert list(got) == list(expected), file  # the same columns, in order
        for column, fields in expected.items():
            assert_column(got[column], fields, f"{file}:{column}")


def columns_of(table, backend):
    if backend == "pandas":
        return {c: table[c].to_numpy() for c in table.columns}
    if backend == "polars":
        return {c: table[c].to_numpy() for c in table.columns}
    return table


def assert_column(values, fields, where):
    assert len(values) == len(fields), where
    if values.dtype.kind == "f":
        want = np.array([as_number(f) for f in fields])
        # Exactly the file's numbers (shortest round-trip text reads back to the same bits).
        assert np.array_equal(values, want, equal_nan=True), where
    elif values.dtype.kind == "i":
        assert values.tolist() == [int(f) for f in fields], where
    else:
        # A missing text value: None (polars, NumPy) or pandas' own NaN.
        missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
        assert ["" if missing(v) else v for v in values.tolist()] == fields, where


def test_sweep_streams_the_command_lines_summary(cli):
    name = "qian-stability-triangle.toml"  # 39 600 points
    theirs = (cli(name) / "summary.csv").read_bytes()
    batches = list(hb.sweep(SCENARIOS / name, threads=2, chunk=5000, backend="csv"))
    assert len(batches) == math.ceil(39600 / 5000)
    assert b"".join(batches) == theirs
    # As tables: each batch is whole grid points, in grid order.
    points = [t["point"] for t in hb.sweep(SCENARIOS / name, threads=2, chunk=5000, backend="numpy")]
    assert [(p[0], p[-1]) for p in points][:2] == [(0, 4999), (5000, 9999)]
    assert np.array_equal(np.concatenate(points), np.array([int(p) for p in read_csv(theirs)["point"]]))


def test_a_sweep_without_runs_is_refused_as_on_the_command_line():
    """A grid with neither [continuous] nor [[discrete]] has nothing to run: the command
    line's run refuses it (rather than write a summary.csv of its header alone), and so do
    run and sweep here, before any batch; its theory is still there."""
    grid = {
        "potential": {"kind": "quadratic", "eigenvalues": [1.0]},
        "particle": {"position": 1.0},
        "sweep": {"mass": {"values": [1.0, 2.0]}, "friction": {"values": [1.0]}},
    }
    message = "continuous: nothing to run: the file has no [continuous] table and no [[discrete]] entry"
    with pytest.raises(hb.ScenarioError, match=re.escape(message)):
        hb.run(grid)
    with pytest.raises(hb.ScenarioError, match=re.escape(message)):
        hb.sweep(grid, backend="csv")
    assert "Hessian" in hb.load(grid).theory_text()


def test_run_of_a_dict_equals_the_file(cli):
    """The same scenario as a dict, as TOML text and as a file: the same bytes."""
    import tomllib

    path = SCENARIOS / "kth-poster.toml"
    text = path.read_text()
    theirs = (cli("kth-poster.toml") / "discrete.csv").read_bytes()
    for source in (tomllib.loads(text), text, str(path)):
        assert hb.run(source).csv("discrete.csv") == theirs
