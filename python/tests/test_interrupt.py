"""Ctrl-C stops a long sweep promptly: SIGINT to a Python process in the middle of a
sweep ends it with KeyboardInterrupt within a second or two, not at the grid's end; so it
does a single run however few rows it writes, and a large potential's set-up."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

# 2000 x 2000 points of continuous runs: minutes of work on two cores.
SCRIPT = """
import sys, heavyball as hb
scenario = {
    "potential": {"kind": "quadratic", "eigenvalues": [6.0, 60.0]},
    "particle": {"mass": 1.0, "friction": 1.0, "position": [1.0, 1.0]},
    "continuous": {"t_end": 200.0},
    "discrete": [{"dt": 0.1}],
    "sweep": {"mass": {"logspace": [-2, 1, 2000]}, "friction": {"logspace": [-1, 1.5, 2000]}},
}
if sys.argv[1] == "single":
    # One run of 1000 trajectory rows that takes tens of seconds: Ctrl-C is looked for
    # between rows by time, not every 16384 rows (it used to wait for the run's end).
    scenario = {
        "potential": {"kind": "quadratic", "eigenvalues": [1.0 + 50.0 * i for i in range(200)]},
        "particle": {"mass": 1.0, "friction": 0.01, "position": 1.0},
        "continuous": {"method": "dopri5", "t_end": 3000.0, "max_steps": 10**8},
    }
    print("running", flush=True)
    hb.run(scenario)
elif sys.argv[1] == "few-rows":
    # The same run with two trajectory rows (t = 0 and t_end): the run is on a thread of its
    # own and the caller looks at Ctrl-C every 20 ms, rows or not.
    scenario = {
        "potential": {"kind": "quadratic", "eigenvalues": [1.0 + 50.0 * i for i in range(200)]},
        "particle": {"mass": 1.0, "friction": 0.01, "position": 1.0},
        "continuous": {"method": "dopri5", "t_end": 3000.0, "max_steps": 10**8, "sample_interval": 3000.0},
    }
    print("running", flush=True)
    hb.run(scenario)
elif sys.argv[1] == "set-up":
    # A 1500 x 1500 colorization with eight colored pixels: its spectrum's set-up alone
    # takes seconds, with the interpreter released.
    colored = [[100 + 150 * i, 200 + 130 * i] for i in range(8)]
    scenario = {
        "potential": {"kind": "colorization", "grid": [1500, 1500], "colored": colored, "value": 1.0},
        "particle": {"mass": 1.0, "friction": 1.0, "position": 0.0},
        "discrete": [{"learning_rate": 0.1, "momentum": 0.5, "steps": 10}],
    }
    print("running", flush=True)
    hb.load(scenario).theory_text()
elif sys.argv[1] == "sweep":
    for i, batch in enumerate(hb.sweep(scenario, threads=2, chunk=256, backend="numpy")):
        if i == 0:
            print("running", flush=True)
else:
    print("running", flush=True)
    hb.run(scenario, threads=2)
print("finished", flush=True)
"""


@pytest.mark.parametrize("how", ["sweep", "run", "single", "few-rows", "set-up"])
def test_sigint_stops_a_long_sweep_promptly(how):
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "running"
        time.sleep(1.0)
        assert child.poll() is None, "the sweep ended on its own: make it longer"
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        child.wait(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        child.kill()
    out, err = child.communicate()
    assert "finished" not in out
    assert "KeyboardInterrupt" in err, err
    assert child.returncode != 0
    assert elapsed < 3.0, f"took {elapsed:.2f} s to stop"
