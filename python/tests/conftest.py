"""Shared helpers: the repository, the command line's binary, and CSV reading."""

from __future__ import annotations

import csv
import io
import math
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


def cli_binary() -> pathlib.Path:
    """The release binary (HEAVYBALL_BIN, else target/release/heavyball under
    CARGO_TARGET_DIR or the repository)."""
    if "HEAVYBALL_BIN" in os.environ:
        return pathlib.Path(os.environ["HEAVYBALL_BIN"])
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "release" / "heavyball"


@pytest.fixture(scope="session")
def cli(tmp_path_factory):
    """Runs `heavyball run FILE --out DIR --threads 2 --quiet`; returns the result folder."""
    binary = cli_binary()
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `cargo build --release` first (or set HEAVYBALL_BIN)")
    done = {}

    def run(name: str) -> pathlib.Path:
        if name not in done:
            out = tmp_path_factory.mktemp("cli")
            path = SCENARIOS / name
            subprocess.run(
                [str(binary), "run", str(path), "--out", str(out), "--threads", "2", "--quiet"],
                check=True,
            )
            folders = [p for p in out.iterdir() if not p.name.startswith(".")]
            assert len(folders) == 1, folders
            done[name] = folders[0]
        return done[name]

    return run


def read_csv(path_or_bytes) -> dict:
    """A CSV as {column: [str, ...]} (fields as written)."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else pathlib.Path(path_or_bytes).read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode())))
    header, body = rows[0], rows[1:]
    return {name: [r[j] for r in body] for j, name in enumerate(header)}


def as_number(field: str) -> float:
    """A CSV field as the engine means it: empty is undefined (NaN)."""
    return math.nan if field == "" else float(field)
