"""Refused scenarios raise heavyball.ScenarioError with the command line's key, position
and message, whether the scenario is a file, TOML text or a dict."""

from __future__ import annotations

import pathlib
import subprocess
import tomllib
import unicodedata

import pytest

import heavyball as hb
from conftest import ROOT, cli_binary

# Defects of a run, not of the scenario: the command line's `run` and `check` refuse them,
# `hb.load` (whose theory is still there) does not, `hb.run` and `hb.sweep` do.
RUN_ONLY = {"184-nothing-to-run"}
BAD = sorted(p for p in (ROOT / "tests" / "bad_input").glob("*.toml") if p.stem not in RUN_ONLY)

KTH = {
    "potential": {"kind": "quadratic", "eigenvalues": [3.0, 30.0]},
    "particle": {"mass": 2.0, "friction": 4.0, "position": [1.0, 1.0]},
    "discrete": [{"dt": 0.5}],
}


def test_a_dict_with_a_bad_friction_names_the_key():
    bad = {**KTH, "particle": {**KTH["particle"], "friction": -0.5}}
    with pytest.raises(hb.ScenarioError) as caught:
        hb.run(bad)
    e = caught.value
    assert isinstance(e, ValueError)
    assert str(e) == "particle.friction: must be > 0, got -0.5"
    assert (e.key, e.message) == ("particle.friction", "must be > 0, got -0.5")
    assert (e.line, e.column, e.file) == (None, None, None)


def test_nested_mappings_read_as_dicts_and_name_their_keys():
    import types

    frozen = {k: types.MappingProxyType(v) if isinstance(v, dict) else v for k, v in KTH.items()}
    assert hb.run(frozen).csv("summary.csv") == hb.run(KTH).csv("summary.csv")
    particle = types.MappingProxyType({**KTH["particle"], "friction": -0.5})
    with pytest.raises(hb.ScenarioError) as caught:
        hb.run({**KTH, "particle": particle})
    assert str(caught.value) == "particle.friction: must be > 0, got -0.5"


def test_a_dicts_error_escapes_control_characters_as_a_files_does():
    """A terminal's escape or a NUL in a dict's value is written as an escape in the
    message, as the same scenario's file or text error writes it."""
    for raw, shown in [("a\x1bb", "a\\u{1b}b"), ("a\x00b", "a\\u{0}b")]:
        with pytest.raises(hb.ScenarioError) as from_dict:
            hb.load({**KTH, "name": raw})
        assert shown in str(from_dict.value) and raw not in str(from_dict.value)
        # An unknown key holding one: the key is escaped too.
        with pytest.raises(hb.ScenarioError) as bad_key:
            hb.load({**KTH, "particle": {**KTH["particle"], raw: 1.0}})
        assert raw not in str(bad_key.value) and shown in str(bad_key.value)


def test_toml_text_with_a_bad_line_gives_line_and_column():
    text = '[potential]\nkind = "quadratic"\neigenvalues = [1.0]\n\n[particle]\nmass = -1.0\nfriction = 1.0\nposition = [1.0]\n'
    with pytest.raises(hb.ScenarioError) as caught:
        hb.load(text)
    e = caught.value
    assert (e.key, e.line, e.column, e.file) == ("particle.mass", 6, 8, None)
    assert e.message == "must be >= 0, got -1.0"
    assert str(e) == "<string>:6:8: particle.mass: must be >= 0, got -1.0"


def test_a_toml_syntax_error_has_its_position():
    with pytest.raises(hb.ScenarioError) as caught:
        hb.load("name = \"x\"\n[particle\nmass = 1\n")
    assert (caught.value.key, caught.value.line) == ("toml", 2)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_every_bad_input_file_reads_as_on_the_command_line(path):
    """tests/bad_input: the CLI's one line `error: FILE:LINE:COL: KEY: message` is the
    exception's text, for the path; the same key, position and message for the text."""
    cli = subprocess.run([str(cli_binary()), "check", str(path)], capture_output=True, text=True)
    assert cli.returncode == 2
    line = cli.stderr.strip()
    with pytest.raises(hb.ScenarioError) as by_path:
        hb.load(path)
    assert f"error: {by_path.value}" == line
    assert by_path.value.file == str(path)
    text = path.read_bytes().decode("utf-8", errors="replace")
    if "\ufffd" in text or by_path.value.key == "name" and "file name" in by_path.value.message:
        return  # a binary file, or a default name taken from the file's own name
    with pytest.raises(hb.ScenarioError) as by_text:
        hb.load(text)
    for attr in ("key", "line", "column", "message"):
        assert getattr(by_text.value, attr) == getattr(by_path.value, attr), attr


@pytest.mark.parametrize("stem", sorted(RUN_ONLY))
def test_a_scenario_with_nothing_to_run_is_refused_by_run_and_sweep(stem):
    path = ROOT / "tests" / "bad_input" / f"{stem}.toml"
    cli = subprocess.run([str(cli_binary()), "check", str(path)], capture_output=True, text=True)
    assert cli.returncode == 2
    s = hb.load(path)
    assert "Hessian" in s.theory_text()
    for call in (lambda: hb.run(s), lambda: next(iter(hb.sweep(s)))):
        with pytest.raises(hb.ScenarioError) as caught:
            call()
        assert f"error: {caught.value}" == cli.stderr.strip()
        assert (caught.value.key, caught.value.line, caught.value.column) == ("continuous", 1, 1)


def dict_cases():
    for path in BAD:
        try:
            yield pytest.param(tomllib.loads(path.read_text()), path, id=path.stem)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue  # not TOML: no dict to give


@pytest.mark.parametrize("tables, path", list(dict_cases()))
def test_every_bad_input_as_a_dict_names_the_same_key(tables, path):
    with pytest.raises(hb.ScenarioError) as by_path:
        hb.load(path)
    with pytest.raises(hb.ScenarioError) as by_dict:
        hb.load(tables)
    e = by_dict.value
    assert (e.line, e.column, e.file) == (None, None, None)
    assert e.key == by_path.value.key
    plain = f"{e.key}: {e.message}"
    if any(unicodedata.category(c) == "Cc" or c in "\u2028\u2029" for c in plain):
        # Escaped in the message as the file's error escapes it; raw in the attributes.
        assert str(by_path.value).endswith(": " + str(e)), str(e)
    else:
        assert str(e) == plain


def test_a_python_object_without_a_toml_form_is_named():
    with pytest.raises(hb.ScenarioError) as caught:
        hb.load({**KTH, "particle": {**KTH["particle"], "position": [1.0, object()]}})
    assert caught.value.key == "particle.position[2]"
    assert "object has no TOML form" in caught.value.message


def test_a_container_that_holds_itself_or_nests_too_deep_is_named():
    # A list holding itself would recurse until the stack overflowed; 32 levels are plenty
    # (a scenario needs 3).
    itself = [1.0]
    itself.append(itself)
    deep = [1.0]
    for _ in range(10_000):
        deep = {"a": deep}
    for bad, key in ((itself, "particle.position" + "[2]" * 31), (deep, "description" + ".a" * 32)):
        where = "particle" if key.startswith("particle") else None
        scenario = {**KTH, "particle": {**KTH["particle"], "position": bad}} if where else {**KTH, "description": bad}
        with pytest.raises(hb.ScenarioError) as caught:
            hb.load(scenario)
        assert caught.value.key == key
        assert caught.value.message == "lists and dicts nested more than 32 deep (does one hold itself?)"


def test_a_key_that_is_not_valid_unicode_says_so():
    with pytest.raises(hb.ScenarioError) as caught:
        hb.load({**KTH, "\ud800": 1.0})
    assert "a key must be valid Unicode (this one holds a lone surrogate)" in caught.value.message


def test_a_missing_file_is_a_scenario_error_naming_the_path(tmp_path):
    missing = tmp_path / "none.toml"
    with pytest.raises(hb.ScenarioError) as caught:
        hb.load(missing)
    assert str(caught.value) == f"{missing}: path: no such file or directory"
    assert isinstance(pathlib.Path(caught.value.file), pathlib.Path)


def test_an_empty_str_is_named_as_such():
    with pytest.raises(hb.ScenarioError) as e:
        hb.load("")
    assert str(e.value) == "path: an empty str names no scenario: give the path of a .toml file, TOML text or a dict"
    assert (e.value.key, e.value.file) == ("path", None)


def test_a_path_with_an_equals_sign_is_a_path(tmp_path):
    """Folders named like ``lr=0.1`` (Hydra's) hold scenario files too: a str naming an
    existing file is read as a path, not as TOML text."""
    folder = tmp_path / "lr=0.1"
    folder.mkdir()
    path = folder / "kth.toml"
    path.write_text((ROOT / "scenarios" / "kth-poster.toml").read_text())
    assert hb.load(str(path)).to_toml() == hb.load(ROOT / "scenarios" / "kth-poster.toml").to_toml()
    missing = folder / "b=1.toml"
    with pytest.raises(hb.ScenarioError, match="no such file"):
        hb.load(str(missing))


def test_a_builder_style_check_of_a_python_potential():
    pot = hb.Potential(value=lambda w: 0.5 * w @ w, gradient=lambda w: w, dim=2)
    no_potential = {k: v for k, v in KTH.items() if k != "potential"}
    with pytest.raises(hb.ScenarioError) as caught:
        hb.load(no_potential, potential=pot)  # the default criterion is the distance
    assert caught.value.key == "stop.criterion"
    assert "needs the minimum" in caught.value.message
    with pytest.raises(hb.ScenarioError) as twice:
        hb.load(KTH, potential=pot)
    assert twice.value.key == "potential"


def test_a_syntax_error_beside_a_python_potential_is_at_the_users_position():
    """The stand-in ``[potential]`` for a Python potential goes after the user's text: an
    array or string left open at its end is still said at the user's own line, never at a
    line the text does not have."""
    pot = hb.Potential(value=lambda w: 0.5 * w @ w, gradient=lambda w: w, dim=2, minimum=[0.0, 0.0])
    head = 'name = "t"\n[particle]\nmass = 1.0\nfriction = 1.0\n'
    cases = [
        (head + "position = [1.0,\n", 5, "an array is not closed"),
        # Open at the text's end: its last line, the empty one after the final line break.
        (head + 'position = [1.0, 1.0]\n[stop]\ntolerance = """abc\n', 8, "multi-line basic string"),
    ]
    for text, line, words in cases:
        with pytest.raises(hb.ScenarioError) as e:
            hb.load(text, potential=pot)
        assert (e.value.key, e.value.line) == ("toml", line), text
        assert words in e.value.message, e.value.message


MEMORY_CAP = """
import resource
import heavyball as hb
cap = 768 << 20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
grid = {"name": "c3000",
        "potential": {"kind": "colorization", "grid": [3000, 3000], "colored": [[0, 0]]},
        "particle": {"mass": 1.0, "friction": 1.0, "position": 0.0},
        "discrete": [{"scheme": "heavy-ball", "learning_rate": 0.1, "momentum": 0.9,
                      "steps": 3}]}
try:
    hb.run(grid, backend="numpy")
except MemoryError as e:
    print("MemoryError:", e)
"""


def test_a_memory_limit_while_building_the_potential_is_a_memory_error():
    """3000 x 3000 pixels under a 768 MiB address-space cap: the Hessian's 0.36 GB arrays
    are allocated fallibly, so the interpreter gets a MemoryError naming the scenario and
    what did not fit, and lives on (run in a child: the cap is for the whole process)."""
    import sys

    out = subprocess.run([sys.executable, "-c", MEMORY_CAP], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith("MemoryError: scenario c3000: setting up the potential: the Hessian's")
    assert "needs 0.36 GB of memory, which could not be allocated" in line


def test_threads_chunk_and_point_are_whole_numbers_named_when_not():
    """As the command line refuses --threads 0: counts are whole numbers (NumPy's too),
    and a point out of the grid is blamed on `point`, this method's argument."""
    for bad in (0, -1, "5", 1.5, True):
        with pytest.raises(ValueError, match=f"threads: must be a whole number >= 1, got {bad!r}"):
            hb.run(KTH, threads=bad)
    import numpy as np

    assert hb.run(KTH, threads=np.int64(2)).summary["steps"][0] == hb.run(KTH).summary["steps"][0]
    # Refused at the call, not at the first batch.
    with pytest.raises(ValueError, match="chunk: must be a whole number >= 1, got 0"):
        hb.sweep({**KTH, "sweep": {"mass": {"values": [1.0, 2.0]}}}, chunk=0)
    with pytest.raises(hb.ScenarioError, match="mass"):
        hb.sweep({**KTH, "particle": {**KTH["particle"], "mass": -1.0}})
    # Beyond what the engine counts in: named, not an OverflowError.
    with pytest.raises(ValueError, match=r"threads: must be at most 4096, got 18446744073709551616"):
        hb.run(KTH, threads=2**64)
    with pytest.raises(ValueError, match="chunk: must be at most 9223372036854775807, got 18446744073709551616"):
        hb.sweep(KTH, chunk=2**64)
    scenario = hb.load(KTH)
    with pytest.raises(ValueError, match="point: must be at most"):
        scenario.theory_text(2**64)
    with pytest.raises(ValueError, match="point: must be a whole number >= 0, got -1"):
        scenario.theory_text(-1)
    with pytest.raises(hb.ScenarioError) as caught:
        scenario.theory_text(5)
    assert str(caught.value).startswith("point: "), str(caught.value)


FILE_SIZE_CAP = """
import resource, signal, sys
import heavyball as hb
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
result = hb.run(sys.argv[1])
cap = 4 << 10
resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))
try:
    hb.write(result, sys.argv[2])
except OSError as e:
    print("OSError:", e)
"""


def test_a_write_error_names_the_file_as_it_would_stand_in_the_result_folder(tmp_path):
    """write builds the folder aside and renames it into place; a file-size limit met on
    the way is said of the result folder (the hidden partial one goes with the failure),
    and nothing is left."""
    import sys

    out = tmp_path / "out"
    path = str(ROOT / "scenarios" / "kth-poster.toml")
    run = subprocess.run([sys.executable, "-c", FILE_SIZE_CAP, path, str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    line = run.stdout.strip()
    folder = out / "kth-poster"
    assert line.startswith(f"OSError: {folder}/"), line
    assert f"(nothing of this run was kept; {folder} is as it was)" in line and ".partial-" not in line
    assert list(out.iterdir()) == []
