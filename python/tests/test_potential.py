"""A loss surface written in Python runs through the same integrators as the built-in one."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import heavyball as hb

H = np.array([3.0, 30.0])

SCENARIO = {
    "name": "python-quadratic",
    "particle": {"mass": 2.0, "friction": 4.0, "position": [1.0, 1.0]},
    "continuous": {"method": "dopri5", "rtol": 1e-10, "atol": 1e-12, "t_end": 40.0, "sample_interval": 0.05},
    "discrete": [
        {"label": "heavy-ball", "dt": 0.5},
        {"label": "nesterov", "scheme": "nesterov", "learning_rate": 0.03, "momentum": 0.6},
        {"label": "gradient-descent", "scheme": "gradient-descent", "dt": 0.1},
    ],
}


def quadratic(**extra):
    return hb.Potential(
        value=lambda w: 0.5 * float(w @ (H * w)),
        gradient=lambda w: H * w,
        dim=2,
        minimum=[0.0, 0.0],
        spectrum=[30.0, 3.0],
        **extra,
    )


def builtin():
    return {**SCENARIO, "potential": {"kind": "quadratic", "eigenvalues": H.tolist()}}


def test_a_python_quadratic_runs_as_the_built_in_one():
    ours = hb.run(SCENARIO, potential=quadratic(), backend="numpy")
    theirs = hb.run(builtin(), backend="numpy")
    for table in ("summary", "continuous", "discrete", "comparison"):
        a, b = getattr(ours, table), getattr(theirs, table)
        assert list(a) == list(b), table
        for column in a:
            x, y = a[column], b[column]
            if x.dtype.kind == "f":
                assert np.allclose(x, y, rtol=1e-12, atol=1e-300, equal_nan=True), (table, column)
            elif column != "note":
                assert x.tolist() == y.tolist(), (table, column)
    # The theory columns come from the potential's spectrum; the report reads it too.
    assert ours.theory_dict["discrete"]["heavy-ball"]["radius"] == theirs.theory_dict["discrete"]["heavy-ball"]["radius"]


def test_a_single_run_calls_the_gradient_for_its_own_lane_only():
    # A single continuous run goes through the 16-lane kernel with one busy lane: the idle
    # lanes must not call a Python gradient (they did, 16 calls an evaluation). What
    # remains beyond the `evaluations` column is the run's start and rejected steps.
    calls = [0]

    def gradient(w):
        calls[0] += 1
        return H * w

    pot = hb.Potential(value=lambda w: 0.5 * float(w @ (H * w)), gradient=gradient, dim=2, minimum=[0.0, 0.0])
    calls[0] = 0
    one = {"name": "one", "particle": {"mass": 1.0, "friction": 10.0, "position": [1.0, 1.0]},
           "continuous": {"method": "dopri5", "t_end": 100.0}}
    summary = hb.run(one, potential=pot, backend="numpy").summary
    assert summary["status"][0] == "converged"
    evaluations = summary["evaluations"][0]
    assert evaluations <= calls[0] < 1.15 * evaluations


def test_a_python_potential_in_a_sweep():
    grid = {**SCENARIO, "sweep": {"friction": {"logspace": [0.0, 1.0, 7]}}}
    ours = hb.run(grid, potential=quadratic(), threads=2, backend="numpy").summary
    theirs = hb.run({**grid, "potential": builtin()["potential"]}, threads=2, backend="numpy").summary
    assert len(ours["point"]) == 7 * 4
    assert ours["status"].tolist() == theirs["status"].tolist()
    assert np.allclose(ours["t_converged"], theirs["t_converged"], rtol=1e-9, equal_nan=True)
    assert ours["steps"].tolist() == theirs["steps"].tolist()


def test_a_sweep_worker_keeps_its_python_thread_state_through_a_chunk():
    """A sweep's worker thread attaches to the interpreter once for its chunk of points, not
    at every evaluation: a ``threading.local`` the gradient counts in keeps its count from
    call to call, up to the point's every evaluation (a fresh thread state per call, as
    before, began every call at 1). One point of gradient descent that runs its whole
    budget of 500 steps."""
    local = threading.local()
    counts = []

    def gradient(w):
        local.calls = getattr(local, "calls", 0) + 1
        counts.append(local.calls)
        return H * w

    pot = hb.Potential(value=lambda w: 0.5 * float(w @ (H * w)), gradient=gradient, dim=2, minimum=[0.0, 0.0])
    # eps = dt/mu = 1e-7: |w| barely moves, every step of the budget is run.
    point = {"name": "kept", "particle": {"mass": 0.0, "friction": 1.0, "position": [1.0, 1.0]},
             "discrete": [{"scheme": "gradient-descent", "dt": 1e-7, "steps": 500}],
             "sweep": {"friction": {"values": [1.0]}}}
    counts.clear()
    summary = hb.run(point, potential=pot, threads=1, backend="numpy").summary
    assert summary["status"][0] == "not-converged"
    assert summary["evaluations"][0] == 500
    assert max(counts) == len(counts) == 500


def test_an_exception_in_the_gradient_is_raised_by_run():
    calls = []

    def gradient(w):
        calls.append(1)
        if len(calls) == 5:
            raise ZeroDivisionError("my loss broke")
        return H * w

    pot = hb.Potential(value=lambda w: 0.5 * float(w @ (H * w)), gradient=gradient, dim=2, minimum=[0, 0])
    with pytest.raises(ZeroDivisionError, match="my loss broke"):
        hb.run(SCENARIO, potential=pot)
    # The run stopped there: no more Python calls after the failing one.
    assert len(calls) == 5
    # And in a sweep, across the engine's threads.
    calls.clear()
    with pytest.raises(ZeroDivisionError):
        hb.run({**SCENARIO, "sweep": {"friction": {"values": [1.0, 2.0, 4.0]}}}, potential=pot, threads=2)


GRADIENT_STOP = {**SCENARIO, "stop": {"criterion": "gradient", "tolerance": 1e-8}}


def test_a_gradient_of_the_wrong_length_is_a_clear_error():
    """At the minimum, where the Potential checks itself, and in a run (no minimum)."""
    message = "gradient returned 3 numbers, the potential has dimension 2"
    with pytest.raises(ValueError, match=message):
        hb.Potential(value=lambda w: 0.0, gradient=lambda w: np.zeros(3), dim=2, minimum=[0, 0])
    pot = hb.Potential(value=lambda w: 0.0, gradient=lambda w: np.zeros(3), dim=2)
    with pytest.raises(ValueError, match=message):
        hb.run(GRADIENT_STOP, potential=pot)


def test_a_list_gradient_and_no_minimum_or_spectrum():
    """A gradient returned as a list is taken as float64; the gradient criterion needs no
    minimum; without a spectrum the theory columns stay empty."""
    pot = hb.Potential(value=lambda w: 0.5 * float(w @ (H * w)), gradient=lambda w: list(H * w), dim=2)
    scenario = {**SCENARIO, "stop": {"criterion": "gradient", "tolerance": 1e-8}}
    s = hb.run(scenario, potential=pot, backend="numpy").summary
    # Heavy ball at rho = 1/sqrt(2): |grad E| below 1e-8 after a few dozen steps.
    row = s["method"].tolist().index("heavy-ball")
    assert s["status"][row] == "converged"
    assert np.isnan(s["theory_radius"][row]) and np.isnan(s["theory_rate"][row])
    with pytest.raises(hb.ScenarioError, match="spectrum"):
        hb.load(scenario, potential=pot).theory()


def test_write_refuses_a_python_potential(tmp_path):
    result = hb.run(SCENARIO, potential=quadratic())
    with pytest.raises(hb.ScenarioError, match="a Python potential has no scenario-file form"):
        hb.write(result, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_spectrum_must_fit_the_potential():
    """Eigenvalues at a minimum: none negative, at least one, at most n (the extremes
    suffice for the rates); else a ValueError, not theory columns that disagree."""
    make = lambda ks: hb.Potential(value=lambda w: 0.0, gradient=lambda w: H * w, dim=2, minimum=[0, 0], spectrum=ks)
    with pytest.raises(ValueError, match=r"spectrum: must be >= 0 \(the Hessian at a minimum is positive semi-definite\), got -3.0"):
        make([-3.0, 30.0])
    for ks in ([3.0, 30.0, 300.0], []):
        with pytest.raises(ValueError, match=f"spectrum: has {len(ks)} entries, the potential has dimension 2"):
            make(ks)
    assert make([3.0]).spectrum == [3.0]


def test_a_gradient_as_a_strided_view_reads_as_any_array():
    """A float64 vector that is a view with a stride (every other entry of a longer array)
    gives the same run as the contiguous one, bit for bit."""
    strided = hb.Potential(
        value=lambda w: 0.5 * float(w @ (H * w)),
        gradient=lambda w: np.repeat(H * w, 2)[::2],
        dim=2,
        minimum=[0.0, 0.0],
        spectrum=[3.0, 30.0],
    )
    ours = hb.run(SCENARIO, potential=strided)
    theirs = hb.run(SCENARIO, potential=quadratic())
    assert ours.csv("summary.csv") == theirs.csv("summary.csv")


def test_a_result_that_is_not_a_number_names_its_callable():
    with pytest.raises(TypeError, match="value returned a value that is not usable"):
        hb.Potential(value=lambda w: None, gradient=lambda w: H * w, dim=2, minimum=[0, 0])
    # A boolean reads as 1.0 or 0.0: refused, a Python bool and NumPy's alike.
    for boolean in (True, np.True_, np.bool_(False)):
        with pytest.raises(TypeError, match="value returned a value that is not usable: a boolean"):
            hb.Potential(value=lambda w, b=boolean: b, gradient=lambda w: H * w, dim=2, minimum=[0, 0])
    # A NumPy complex reads as its real part (with only a warning): refused, as Python's is.
    for number in (np.complex128(1.5 + 5j), np.complex64(2.0)):
        with pytest.raises(TypeError, match="value returned a value that is not usable: a complex number"):
            hb.Potential(value=lambda w, z=number: z, gradient=lambda w: H * w, dim=2, minimum=[0, 0])
    text_gradient = hb.Potential(value=lambda w: 0.0, gradient=lambda w: "ab", dim=2)
    with pytest.raises(TypeError, match="gradient returned a value that is not usable: str"):
        hb.run(GRADIENT_STOP, potential=text_gradient)
    # A gradient that is not a 1-D array of real numbers: refused with the reason, not read
    # as something else (complex numbers lose their imaginary part, a 2-D array its shape).
    cases = [
        (lambda w: None, TypeError, "None"),
        (lambda w: (H * w).astype(complex), TypeError, "complex numbers"),
        (lambda w: H * w > 0, TypeError, "booleans"),
        (lambda w: [True, False], TypeError, "booleans"),
        (lambda w: (H * w).reshape(2, 1), ValueError, r"shape \(2, 1\), where a 1-D array is needed"),
    ]
    for gradient, kind, message in cases:
        pot = hb.Potential(value=lambda w: 0.0, gradient=gradient, dim=2)
        with pytest.raises(kind, match="gradient returned a value that is not usable: .*" + message):
            hb.run(GRADIENT_STOP, potential=pot)
    # A float64 array that is not aligned is copied, not refused.
    def misaligned(w):
        raw = np.zeros(17, dtype=np.uint8)[1:].view(np.float64)
        raw[:] = H * w
        return raw

    ours = hb.run(SCENARIO, potential=quadratic()).csv("summary.csv")
    pot = hb.Potential(value=lambda w: 0.5 * float(w @ (H * w)), gradient=misaligned, dim=2, minimum=[0, 0], spectrum=[30.0, 3.0])
    assert hb.run(SCENARIO, potential=pot).csv("summary.csv") == ours


def test_a_wrong_minimum_or_minimum_value_is_refused():
    """E* must be E(w*), and with a spectrum ∇E(w*) must vanish: else the loss criterion
    reads E − E* from a wrong E* and calls runs converged at once."""
    value, gradient = (lambda w: 0.5 * float(w @ (H * w))), (lambda w: H * w)
    with pytest.raises(ValueError, match=r"^minimum_value: 10\.0, but value\(minimum\) = 0\.0"):
        hb.Potential(value=value, gradient=gradient, dim=2, minimum=[0, 0], minimum_value=10.0)
    # ∇E(0.5, 0.5) = (1.5, 15): at least 15/30 = 0.5 from w* by the largest eigenvalue.
    with pytest.raises(ValueError, match=r"^minimum: ∇E = \[1\.5, 15\.0\] there, so at least 5\.000e-1"):
        hb.Potential(value=value, gradient=gradient, dim=2, minimum=[0.5, 0.5], spectrum=[3.0, 30.0])
    # E* to rounding, and a minimum to its digits, pass.
    hb.Potential(value=value, gradient=gradient, dim=2, minimum=[1e-17, 0.0], minimum_value=1e-30, spectrum=[3.0, 30.0])
    # Without a minimum nothing could check it: it would set E* alone (a noise floor of −123).
    with pytest.raises(ValueError, match=r"^minimum_value: needs minimum"):
        hb.Potential(value=value, gradient=gradient, dim=2, minimum_value=123.0)
    # Arguments of the wrong type are named.
    for kw, message in (
        ({"minimum": 0.0}, "minimum: a sequence (or 1-D array) of real numbers, got float"),
        ({"minimum": np.zeros((1, 2))}, "minimum: a sequence (or 1-D array) of real numbers, got ndarray"),
        ({"minimum": "ab"}, "minimum: a sequence of real numbers, got a str"),
        ({"spectrum": 5.0}, "spectrum: a sequence (or 1-D array) of real numbers, got float"),
        ({"minimum": [0, 0], "minimum_value": "x"}, "minimum_value: a real number, got str"),
    ):
        with pytest.raises(TypeError) as caught:
            hb.Potential(value=value, gradient=gradient, dim=2, **kw)
        assert str(caught.value) == message
    # A NumPy minimum and spectrum read as lists do.
    hb.Potential(value=value, gradient=gradient, dim=2, minimum=np.zeros(2), spectrum=np.array([3.0, 30.0]))


def test_e_star_is_the_value_at_the_minimum_once():
    """E* = value(minimum) is computed when the Potential is made, not at every loss
    measurement: a run under the loss criterion calls `value` at w* never again."""
    at_minimum = [0]

    def value(w):
        at_minimum[0] += int(not w.any())
        return 0.5 * float(w @ (H * w))

    pot = hb.Potential(value=value, gradient=lambda w: H * w, dim=2, minimum=[0.0, 0.0])
    assert at_minimum[0] == 1
    loss = {**SCENARIO, "stop": {"criterion": "loss", "tolerance": 1e-8}}
    ours = hb.run(loss, potential=pot, backend="numpy").summary
    theirs = hb.run({**builtin(), "stop": {"criterion": "loss", "tolerance": 1e-8}}, backend="numpy").summary
    assert at_minimum[0] == 1
    # The discrete runs measure the loss at every iterate: the built-in's crossings; the
    # continuous one finds its crossing through the quadratic model at w*, to round-off.
    discrete = ours["method"] != "continuous"
    assert discrete.sum() == 3
    assert list(ours["t_converged"][discrete]) == list(theirs["t_converged"][discrete])
    assert np.allclose(ours["t_converged"], theirs["t_converged"], rtol=1e-9, atol=0)


def test_dim_is_a_whole_number_within_reach():
    for dim, kind, message in [
        (-1, ValueError, "dim: must be from 1 to 10000000, got -1"),
        (0, ValueError, "got 0"),
        (10**12, ValueError, "got 1000000000000"),
        (2.0, TypeError, "dim: must be a whole number, got 2.0"),
        (True, TypeError, "got True"),
        ("2", TypeError, "got '2'"),
    ]:
        with pytest.raises(kind, match=message):
            hb.Potential(value=lambda w: 0.0, gradient=lambda w: w, dim=dim)
    assert hb.Potential(value=lambda w: 0.0, gradient=lambda w: w, dim=np.int64(3)).dim == 3


def test_stop_iteration_in_a_callable_is_an_error_not_the_end_of_a_sweep():
    """An iterator that runs out inside the gradient: a RuntimeError from its StopIteration
    (as PEP 479 does for generators), not a sweep that ends early and quietly."""
    grid = {
        "particle": SCENARIO["particle"],
        "discrete": [{"label": "heavy-ball", "dt": 0.5}],
        "stop": {"criterion": "gradient", "tolerance": 1e-8},
        "sweep": {"mass": {"linspace": [0.5, 3.0, 400]}},
    }
    for run in (lambda pot: list(hb.sweep(grid, potential=pot, chunk=50, threads=1)), lambda pot: hb.run(grid, potential=pot)):
        data = iter(range(2000))

        def gradient(w):
            next(data)
            return H * w

        pot = hb.Potential(value=lambda w: 0.5 * float(w @ (H * w)), gradient=gradient, dim=2)
        with pytest.raises(RuntimeError, match="raised StopIteration") as caught:
            run(pot)
        assert isinstance(caught.value.__cause__, StopIteration)


def test_a_nan_at_a_finite_w_is_refused_where_it_is_returned():
    """A callable that returns NaN at a finite w raises, naming it and w, instead of rows
    that read converged with an empty loss, or a start whose step size underflows. A NaN
    that appears mid-run stops the run there; an overflow to inf is a number and runs on."""
    nan_value = hb.Potential(value=lambda w: float("nan") if w[0] > 0.5 else 0.0, gradient=lambda w: H * w, dim=2, minimum=[0, 0])
    with pytest.raises(ValueError, match=r"^value returned NaN at w = \[1\.0, 1\.0\]: a finite w needs a number"):
        hb.run(SCENARIO, potential=nan_value)
    # At the minimum, where the Potential checks itself.
    with pytest.raises(ValueError, match=r"^value returned NaN at w = \[0\.0, 0\.0\]"):
        hb.Potential(value=lambda w: float("nan"), gradient=lambda w: H * w, dim=2, minimum=[0, 0])
    nan_gradient = hb.Potential(
        value=lambda w: 0.0, gradient=lambda w: np.where(w > 0.5, np.nan, H * w), dim=2, minimum=[0, 0]
    )
    with pytest.raises(ValueError, match=r"^gradient returned NaN \(entry 0\) at w = \[1\.0, 1\.0\]"):
        hb.run(SCENARIO, potential=nan_gradient)
    calls = []

    def late_nan(w):
        calls.append(1)
        return H * w if len(calls) < 40 else np.array([1.0, np.nan])

    pot = hb.Potential(value=lambda w: 0.0, gradient=late_nan, dim=2, minimum=[0, 0])
    with pytest.raises(ValueError, match=r"^gradient returned NaN \(entry 1\) at w = \["):
        hb.run(SCENARIO, potential=pot)
    assert len(calls) == 40
    overflow = hb.Potential(
        value=lambda w: float("inf") if w[0] > 0.5 else 0.0, gradient=lambda w: H * w, dim=2, minimum=[0, 0]
    )
    rows = hb.run(SCENARIO, potential=overflow, backend="numpy").summary
    assert rows["status"].tolist() == ["converged"] * 4


def test_one_potential_serves_one_run_at_a_time():
    """A second sweep on a potential another sweep still holds is refused (closing the
    first would otherwise stop the second, whose rows would all read diverged); once the
    first is closed, the second runs whole and equals the built-in quadratic's rows."""
    grid = {
        "particle": SCENARIO["particle"],
        "discrete": [{"label": "heavy-ball", "dt": 0.5}],
        "sweep": {"mass": {"linspace": [0.5, 3.0, 60]}},
    }
    pot = quadratic()
    first = hb.sweep(grid, potential=pot, chunk=10, backend="csv")
    next(first)
    with pytest.raises(ValueError, match="potential: in use by a run or sweep that has not ended"):
        next(hb.sweep(grid, potential=pot, chunk=10, backend="csv"))
    with pytest.raises(ValueError, match="in use"):
        hb.run(grid, potential=pot)
    first.close()
    ours = b"".join(hb.sweep(grid, potential=pot, chunk=10, backend="csv"))
    theirs = b"".join(hb.sweep({**grid, "potential": builtin()["potential"]}, chunk=10, backend="csv"))
    statuses = lambda csv: [line.split(b",")[7] for line in csv.splitlines()[1:]]
    assert statuses(ours) == statuses(theirs)
    assert statuses(ours).count(b"converged") > 0


def test_the_theory_report_of_a_python_potential_is_its_runs_theory():
    # Under noise the floors' closed forms hold for quadratics, which a Python potential
    # is not known to be: the summary leaves theory_noise_floor empty, and so does the
    # report (it read the stand-in quadratic before). The rest is the spectrum's: the
    # heavy ball at dt = 0.5 from m = 2, mu = 4 has p = 0.5 and rho = sqrt(p).
    noisy = {**SCENARIO, "continuous": {"t_end": 5.0, "step": 0.01}, "gradient": {"noise": 0.1, "seed": 1}}
    s = hb.load(noisy, potential=quadratic())
    report = s.theory_dict()
    assert np.isnan(report["noise"]["continuous"]["noise_floor"])
    assert np.isnan(report["noise"]["heavy-ball"]["noise_floor"])
    assert report["discrete"]["heavy-ball"]["radius"] == 0.5**0.5
    summary = hb.run(s, backend="pandas").summary.set_index("method")
    assert summary.theory_noise_floor.isna().all()
    assert summary.loc["heavy-ball", "theory_radius"] == report["discrete"]["heavy-ball"]["radius"]
    # The built-in quadratic has its floors, in both.
    built = hb.load({**noisy, "potential": {"kind": "quadratic", "eigenvalues": H.tolist()}})
    assert built.theory_dict()["noise"]["heavy-ball"]["noise_floor"] > 0


def test_a_class_whose_potential_holds_its_own_methods_is_collected():
    # The Potential holds the bound methods, which hold the instance, which holds the
    # Potential: a cycle only Python's collector can free, once it sees the callables.
    import gc
    import weakref

    class Loss:
        def __init__(self):
            self.potential = hb.Potential(
                value=self.value, gradient=self.gradient, dim=2, minimum=[0, 0], spectrum=[30.0, 3.0]
            )

        def value(self, w):
            return 0.5 * float(w @ (H * w))

        def gradient(self, w):
            return H * w

    loss = Loss()
    ran = hb.run(SCENARIO, potential=loss.potential).csv("summary.csv")
    assert ran == hb.run(SCENARIO, potential=quadratic()).csv("summary.csv")
    gone = weakref.ref(loss)
    del loss
    gc.collect()
    assert gone() is None
