"""Tables as DataFrames: pandas if installed, else polars, else a dict of NumPy arrays."""

from __future__ import annotations

import importlib.util
from typing import Any, Iterable, Optional, Sequence, Tuple

import numpy as np

BACKENDS = ("pandas", "polars", "numpy")


def choose(backend: Optional[str]) -> str:
    """The backend to use: the one asked for, else the first of BACKENDS installed."""
    if backend is None:
        for name in ("pandas", "polars"):
            if importlib.util.find_spec(name) is not None:
                return name
        return "numpy"
    if backend not in BACKENDS:
        raise ValueError(f"backend: must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend != "numpy" and importlib.util.find_spec(backend) is None:
        raise ImportError(f"backend={backend!r}, but {backend} is not installed")
    return backend


def frame(columns: Sequence[Tuple[str, Any]], backend: str) -> Any:
    """A table from `[(name, values), ...]`: float64/int64 arrays, or lists of str/None."""
    if backend == "pandas":
        import pandas as pd

        return pd.DataFrame({name: _pandas(values) for name, values in columns})
    if backend == "polars":
        import polars as pl

        return pl.DataFrame([_polars(pl, name, values) for name, values in columns])
    return {name: _numpy(values) for name, values in columns}


def _pandas(values: Any) -> Any:
    if isinstance(values, list):
        return np.array(values, dtype=object)
    return values


def _polars(pl: Any, name: str, values: Any) -> Any:
    if isinstance(values, list):
        return pl.Series(name, values, dtype=pl.String)
    return pl.Series(name, values)


def _numpy(values: Any) -> np.ndarray:
    if isinstance(values, list):
        return np.array(values, dtype=object)
    return values


def nested(rows: Iterable[Tuple[str, str, Optional[str], str, float]]) -> dict:
    """The theory report's tidy rows as a dict: ``{section: {entry: {quantity: value}}}``
    for whole-spectrum quantities, and per Hessian eigenvalue (1-based, ascending) under
    ``{section: {entry: {"components": {i: {quantity: value}}}}}``."""
    out: dict = {}
    for section, entry, component, quantity, value in rows:
        where = out.setdefault(section, {}).setdefault(entry, {})
        if component is not None:
            where = where.setdefault("components", {}).setdefault(int(component), {})
        where[quantity] = value
    return out
