"""heavyball from Python: gradient descent with momentum as a damped particle,
``m w'' + mu w' = -grad E(w)``, integrated beside the discrete heavy ball, Nesterov and
gradient descent by the Rust engine, with the closed-form theory next to every number.

    import heavyball as hb
    result = hb.run("scenarios/kth-poster.toml")   # a path, TOML text or a dict
    result.summary                                  # DataFrame: the columns of summary.csv
    result.discrete                                 # every iterate (discrete.csv)
    hb.write(result, "output")                      # output/kth-poster/, as the CLI writes it

A scenario is what a scenario file holds (docs/scenarios.md): a dict of its tables and
keys, TOML text, or a path. It goes through the engine's own parser: the same defaults,
rules and messages (a refused one raises :class:`ScenarioError`).

Tables come as pandas DataFrames if pandas is installed, else polars, else a dict of
NumPy arrays (``backend="pandas" | "polars" | "numpy"`` forces one): columns exactly the
CSV's, numbers float64 (an empty field is NaN) and integer columns int64, text columns str
(an empty field None in polars and NumPy; pandas shows it as its own missing value, NaN
under pandas 3).
"""

from __future__ import annotations

import operator
import os
import pathlib
from functools import cached_property
from typing import Any, Iterator, Mapping, Optional, Union

from . import _frames
from ._heavyball import ENGINE_VERSION, Potential, ScenarioError
from . import _heavyball as _native

__all__ = [
    "ENGINE_VERSION",
    "Potential",
    "Result",
    "Scenario",
    "ScenarioError",
    "load",
    "run",
    "sweep",
    "write",
]

Source = Union["Scenario", Mapping[str, Any], str, os.PathLike]


class Scenario:
    """A scenario, parsed and validated by the engine, every default filled.

    ``source`` is a dict of the TOML's tables and keys (``{"particle": {"mass": 1.0, ...},
    "discrete": [{...}, ...]}``; any Mapping, at any depth; a key set to None is left
    out), TOML text (a str holding
    a line break, or an ``=`` while not ending in ``.toml`` nor naming a file), or the path
    of a ``.toml`` file (any other str, such as ``runs/lr=0.1/a.toml``, or a
    ``pathlib.Path``). ``potential`` (a :class:`Potential`) replaces the ``[potential]``
    table, which the source then leaves out. A scenario without ``name`` is named after
    its file, or ``"scenario"`` without one.
    """

    def __init__(self, source: Source, *, potential: Optional[Potential] = None):
        if isinstance(source, Scenario):
            if potential is not None:
                raise TypeError("potential= goes with the scenario's source, not a Scenario already made")
            self._native = source._native
        elif isinstance(source, Mapping):
            self._native = _native.scenario_from_dict(dict(source), potential)
        elif isinstance(source, str) and ("\n" in source or ("=" in source and not _file_like(source))):
            self._native = _native.scenario_from_text(source, potential)
        elif isinstance(source, (str, os.PathLike)):
            self._native = _native.scenario_from_path(os.fspath(source), potential)
        else:
            raise TypeError(f"a scenario is a dict, TOML text or a path, got {type(source).__name__}")

    @property
    def name(self) -> str:
        """The result folder's name."""
        return self._native.name

    @property
    def description(self) -> str:
        """What the scenario shows."""
        return self._native.description

    @property
    def points(self) -> int:
        """Grid points (1 for a single run)."""
        return self._native.points

    @property
    def is_sweep(self) -> bool:
        """Whether the scenario has a ``[sweep]`` table."""
        return self._native.is_sweep

    @property
    def dim(self) -> int:
        """The potential's dimension n."""
        return self._native.dim

    def to_toml(self) -> str:
        """The resolved scenario as TOML: what a result folder's ``scenario.toml`` holds."""
        return self._native.to_toml()

    def theory(self, point: int = 0, *, backend: Optional[str] = None) -> Any:
        """``heavyball theory --format csv`` of grid point ``point``: the tidy table
        ``section, entry, component, quantity, value`` (see docs/theory-command.md)."""
        data = self._native.theory(_index("point", point), True)
        return _frames.frame(_native.read_csv(data, "theory"), _frames.choose(backend))

    def theory_dict(self, point: int = 0) -> dict:
        """The same report as nested dicts: ``d["discrete"]["heavy-ball"]["radius"]``, and
        per eigenvalue ``d["continuous"]["continuous"]["components"][1]["speedup"]``."""
        columns = dict(_native.read_csv(self._native.theory(_index("point", point), True), "theory"))
        keys = ("section", "entry", "component", "quantity")
        rows = zip(*(columns[k] for k in keys), columns["value"].tolist())
        return _frames.nested(rows)

    def theory_text(self, point: int = 0) -> str:
        """``heavyball theory``'s readable report of grid point ``point``."""
        return self._native.theory(_index("point", point), False)

    def __repr__(self) -> str:
        return repr(self._native)

    def __deepcopy__(self, memo: dict) -> "Scenario":
        # Immutable underneath: a copy shares it (a Python potential cannot be pickled).
        return Scenario(self)


def _file_like(text: str) -> bool:
    """Whether a one-line str holding ``=`` is a path after all: it ends in ``.toml`` or
    names a file (folders named like ``lr=0.1``)."""
    return text.endswith(".toml") or os.path.isfile(text)


def load(source: Source, *, potential: Optional[Potential] = None) -> Scenario:
    """The :class:`Scenario` of a dict, TOML text or path (see there)."""
    return Scenario(source, potential=potential)


class Result:
    """A finished run: its tables as DataFrames and the bytes of every CSV the command
    line writes for it (``csv(name)``); :func:`write` writes them as a result folder."""

    def __init__(self, native: Any, scenario: Scenario, backend: str):
        self._native = native
        self.scenario = scenario
        self.backend = backend

    def csv(self, name: str) -> Optional[bytes]:
        """The bytes of ``name`` (``"summary.csv"``, ``"discrete.csv"``, ...) as the command
        line writes them, or None when this run has no such file."""
        return self._native.csv(name)

    @property
    def files(self) -> list:
        """The CSV files of this run."""
        return self._native.files

    def columns(self, name: str) -> Optional[list]:
        """``(column, unit, meaning)`` for each column of CSV file ``name`` (the manifest's)."""
        return self._native.columns(name)

    def _table(self, name: str) -> Any:
        data = self.csv(name)
        if data is None:
            return None
        table = name.removesuffix(".csv")
        return _frames.frame(_native.read_csv(data, table), self.backend)

    @cached_property
    def summary(self) -> Any:
        """``summary.csv``: one row per grid point and method."""
        return self._table("summary.csv")

    @cached_property
    def continuous(self) -> Any:
        """``continuous.csv`` (a single run with ``[continuous]``), else None."""
        return self._table("continuous.csv")

    @cached_property
    def discrete(self) -> Any:
        """``discrete.csv`` (a single run with ``[[discrete]]`` entries), else None."""
        return self._table("discrete.csv")

    @cached_property
    def comparison(self) -> Any:
        """``comparison.csv`` (a single run with both), else None."""
        return self._table("comparison.csv")

    @property
    def trajectories(self) -> Optional[dict]:
        """A single run's trajectory tables by name (``continuous``, ``discrete``,
        ``comparison``: those it has); None for a sweep."""
        if self.scenario.is_sweep:
            return None
        tables = {name: getattr(self, name) for name in ("continuous", "discrete", "comparison")}
        return {name: table for name, table in tables.items() if table is not None}

    @cached_property
    def theory(self) -> Any:
        """The closed forms of grid point 0 (``heavyball theory --format csv``) as a table."""
        return self.scenario.theory(0, backend=self.backend)

    @cached_property
    def theory_dict(self) -> dict:
        """The closed forms of grid point 0 as nested dicts (see ``Scenario.theory_dict``)."""
        return self.scenario.theory_dict(0)

    @property
    def wall_seconds(self) -> float:
        """Wall-clock seconds the run took."""
        return self._native.wall_seconds

    def __repr__(self) -> str:
        return f"<heavyball.Result of {self.scenario.name!r}: {', '.join(self.files)}>"

    def __reduce__(self) -> tuple:
        # The files' bytes, not the tables read from them (read again on first use).
        return (Result, (self._native, self.scenario, self.backend))

    def __deepcopy__(self, memo: dict) -> "Result":
        # The files are immutable bytes: a copy shares them, and reads its own tables.
        return Result(self._native, self.scenario, self.backend)


def _whole(name: str, value: Any, least: int, most: int = 2**63 - 1) -> int:
    """``value`` as an int if it is a whole number (a NumPy integer too) from ``least`` to
    ``most``, else ValueError naming ``name``."""
    try:
        whole = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        whole = None
    if whole is None or whole < least:
        raise ValueError(f"{name}: must be a whole number >= {least}, got {value!r}")
    if whole > most:
        raise ValueError(f"{name}: must be at most {most}, got {value!r}")
    return whole


def _positive(name: str, value: Any) -> Optional[int]:
    """None, or ``value`` from 1 to 4096 (as the command line's ``--threads``)."""
    return None if value is None else _whole(name, value, 1, 4096)


def _index(name: str, value: Any) -> int:
    """A grid point's index: ``value`` >= 0."""
    return _whole(name, value, 0)


def _scenario(source: Source, potential: Optional[Potential]) -> Scenario:
    if isinstance(source, Scenario) and potential is None:
        return source
    return Scenario(source, potential=potential)


def run(
    scenario: Source,
    *,
    potential: Optional[Potential] = None,
    threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> Result:
    """Runs a scenario in memory: a single run with its trajectories, or a sweep's whole
    summary (on ``threads`` workers, default all cores). The engine runs with the GIL
    released; Ctrl-C stops it (KeyboardInterrupt). For a large grid, :func:`sweep` streams
    the rows instead of holding them all."""
    s = _scenario(scenario, potential)
    chosen = _frames.choose(backend)
    return Result(_native.run(s._native, _positive("threads", threads)), s, chosen)


def sweep(
    scenario: Source,
    *,
    potential: Optional[Potential] = None,
    threads: Optional[int] = None,
    chunk: int = 4096,
    backend: Optional[str] = None,
) -> Iterator[Any]:
    """Streams a scenario's summary rows in grid order, ``chunk`` grid points per batch,
    each batch a table (``backend`` as for :func:`run`), or with ``backend="csv"`` the
    ``summary.csv`` bytes of the batch (the first with the header: the batches joined are
    the command line's ``summary.csv``). Memory stays bounded whatever the grid's size;
    the engine computes a few batches ahead on ``threads`` workers with the GIL released,
    and Ctrl-C stops it promptly (KeyboardInterrupt). Bad arguments are refused here, at
    the call, not at the first batch."""
    chunk = _whole("chunk", chunk, 1)
    s = _scenario(scenario, potential)
    s._native.check_runnable()
    raw = backend == "csv"
    chosen = None if raw else _frames.choose(backend)
    return _batches(s, _positive("threads", threads), chunk, raw, chosen)


def _batches(s: Scenario, threads: Optional[int], chunk: int, raw: bool, chosen: Any) -> Iterator[Any]:
    """:func:`sweep`'s batches, once its arguments are checked; the engine starts at the
    first."""
    stream = _native.stream(s._native, threads, chunk)
    try:
        header: Optional[bytes] = None
        for batch in stream:
            if raw:
                yield batch
                continue
            if header is None:
                header = batch[: batch.index(b"\n") + 1]
            else:
                batch = header + batch
            yield _frames.frame(_native.read_csv(batch, "summary"), chosen)
    finally:
        stream.close()


def write(result: Result, out: Union[str, os.PathLike] = "output") -> pathlib.Path:
    """Writes ``result`` as the command line's result folder ``out/<name>/`` (``out`` as
    ``heavyball run --out``): ``scenario.toml``, the CSV files byte for byte as the command
    line writes them, ``manifest.json`` (with this run's timing), and the figures when the
    scenario sets ``[output] plot = true``. The folder appears whole or not at all; an
    earlier result there is replaced. Returns the folder."""
    return pathlib.Path(_native.write(result._native, os.fsdecode(out)))
