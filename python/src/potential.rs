//! A loss surface written in Python: callables on NumPy arrays behind the engine's
//! [`Potential`] trait, evaluated with the interpreter attached for each call.
//!
//! The engine's potentials cannot fail, Python callables can: the first exception a
//! callable raises is kept, every later evaluation returns NaN at once without calling
//! Python (so the run stops as not finite within a step), and the caller raises the kept
//! exception when the run is over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use heavyball::potential::Potential;
use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

use crate::dict::type_name;

/// The Python callables and the known facts of a potential.
pub struct PyPotential {
    value: Py<PyAny>,
    gradient: Py<PyAny>,
    hessian_vector: Option<Py<PyAny>>,
    dim: usize,
    minimum: Option<Vec<f64>>,
    minimum_value: Option<f64>,
    spectrum: Option<Vec<f64>>,
    /// Set once an evaluation failed or the run was abandoned: evaluations return NaN.
    stopped: AtomicBool,
    /// Held by a run ([`Lease`]): the failure state above is one run's.
    busy: AtomicBool,
    /// The first exception a callable raised in the current run (cleared by
    /// [`PyPotential::lease`]).
    error: Mutex<Option<PyErr>>,
}

/// A run's hold on a Python potential, released when dropped. One run at a time: the
/// failure state (the stop flag, the kept exception) is the potential's, so a second run
/// would clear the first's, and closing one would stop the other.
pub struct Lease(Arc<PyPotential>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::SeqCst);
    }
}

impl PyPotential {
    /// Takes the potential for a run, a previous run's failure forgotten; ValueError while
    /// another run holds it.
    pub fn lease(self: &Arc<Self>) -> PyResult<Lease> {
        let free = self
            .busy
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst);
        if free.is_err() {
            return Err(PyValueError::new_err(
                "potential: in use by a run or sweep that has not ended; finish or close it first, or give this one a heavyball.Potential of its own",
            ));
        }
        self.stopped.store(false, Ordering::SeqCst);
        self.lock_error().take();
        Ok(Lease(self.clone()))
    }

    /// Makes every further evaluation return NaN without calling Python (a run was
    /// abandoned, e.g. on Ctrl-C, and its threads should end soon).
    pub fn abandon(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Whether an evaluation failed (or the run was abandoned).
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// The exception a callable raised, if any (taken: a second call returns None).
    pub fn take_error(&self) -> Option<PyErr> {
        self.lock_error().take()
    }

    fn lock_error(&self) -> std::sync::MutexGuard<'_, Option<PyErr>> {
        self.error.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fail(&self, py: Python<'_>, e: PyErr) {
        let e = reraisable(py, e);
        let mut slot = self.lock_error();
        if slot.is_none() {
            *slot = Some(e);
        }
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Runs `f` with the interpreter attached; None when it raised (the exception kept),
    /// after an earlier failure, or when the interpreter is shutting down (then it is not
    /// attached to at all: the run ends as not finite).
    fn call<T>(&self, f: impl FnOnce(Python<'_>) -> PyResult<T>) -> Option<T> {
        if self.stopped() {
            return None;
        }
        Python::try_attach(|py| f(py).map_err(|e| self.fail(py, e)).ok()).flatten()
    }

    /// Refuses a `minimum` where the potential is not finite, a `minimum_value` that is not
    /// `value(minimum)`, and, with a spectrum, a `minimum` where ∇E is plainly not 0: w* is
    /// then at least |∇E|/k_max away from where it vanishes, beyond the expression
    /// potential's 1e-6 of |w*| (or of 1): else the loss criterion reads E − E* from a wrong E*
    /// and calls a run converged where it is not. The callables are called once each here.
    /// Returns E* = `value(minimum)`, which the runs then take from here (None without a
    /// minimum).
    fn check_minimum(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        let Some(w) = &self.minimum else {
            return Ok(None);
        };
        let e = self.value_at(py, w)?;
        let mut g = vec![0.0; self.dim];
        self.gradient_at(py, w, &mut g)?;
        if !e.is_finite() || g.iter().any(|x| !x.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "minimum: E = {e:?}, ∇E = {g:?} there, which must be finite"
            )));
        }
        if let Some(v) = self.minimum_value
            && (e - v).abs() > 1e-9 * v.abs().max(1.0)
        {
            return Err(PyValueError::new_err(format!(
                "minimum_value: {v:?}, but value(minimum) = {e:?}; E* is the value at the minimum (leave minimum_value out to take value(minimum))"
            )));
        }
        let scale = w.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        let k_max = self.spectrum.as_ref().and_then(|ks| ks.last().copied());
        let step = g.iter().fold(0.0f64, |m, x| m.max(x.abs())) / k_max.unwrap_or(0.0);
        if k_max.is_some_and(|k| k > 0.0) && step > 1e-6 * scale {
            return Err(PyValueError::new_err(format!(
                "minimum: ∇E = {g:?} there, so at least {step:.3e} (|∇E|/k with the spectrum's largest k) from where it vanishes: not the minimum"
            )));
        }
        Ok(Some(e))
    }

    /// `value(w)`, its failure raised (a NaN at a finite w refused).
    fn value_at(&self, py: Python<'_>, w: &[f64]) -> PyResult<f64> {
        let result = self.value.call1(py, (PyArray1::from_slice(py, w),))?;
        if is_boolean(result.bind(py)) {
            let e = PyTypeError::new_err("a boolean (a comparison's result?), not a number");
            return Err(named(py, "value", e));
        }
        if dtype_kind(result.bind(py)).as_deref() == Some("c") {
            let e = PyTypeError::new_err(
                "a complex number, whose imaginary part would be dropped, not a real one",
            );
            return Err(named(py, "value", e));
        }
        let v = result
            .extract::<f64>(py)
            .map_err(|e| named(py, "value", e))?;
        if v.is_nan() {
            refuse_nan("value", None, w)?;
        }
        Ok(v)
    }

    /// `gradient(w)` into `g`, its failure raised (a NaN at a finite w refused).
    fn gradient_at(&self, py: Python<'_>, w: &[f64], g: &mut [f64]) -> PyResult<()> {
        let result = self
            .gradient
            .bind(py)
            .call1((PyArray1::from_slice(py, w),))?;
        self.vector_into(py, result, "gradient", Some(w), g)
    }

    /// `f(*args)` as a vector of `dim` numbers, written into `out`; a NaN in it refused
    /// when it was computed at `at` ([`refuse_nan`]).
    fn vector_into(
        &self,
        py: Python<'_>,
        result: Bound<'_, PyAny>,
        what: &str,
        at: Option<&[f64]>,
        out: &mut [f64],
    ) -> PyResult<()> {
        // A contiguous, aligned float64 vector as it is, anything else (a list, float32, a
        // strided or misaligned view) through numpy's conversion, which names the callable.
        let fast = result
            .cast::<PyArray1<f64>>()
            .ok()
            .filter(|a| a.is_contiguous() && a.readonly().as_slice().is_ok());
        let array = match fast {
            Some(a) => a.clone(),
            None => numpy_float_vector(py, &result).map_err(|e| named(py, what, e))?,
        };
        let values = array.readonly();
        let values = values.as_slice().map_err(|e| named(py, what, e.into()))?;
        if values.len() != out.len() {
            return Err(PyValueError::new_err(format!(
                "{what} returned {} numbers, the potential has dimension {}",
                values.len(),
                out.len()
            )));
        }
        out.copy_from_slice(values);
        match (out.iter().position(|x| x.is_nan()), at) {
            (Some(i), Some(w)) => refuse_nan(what, Some(i), w),
            _ => Ok(()),
        }
    }
}

/// `v` (a sequence or 1-D array of real numbers) as numbers, or a `TypeError` naming the
/// argument.
fn real_vector(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    let list = match v.hasattr("tolist") {
        Ok(true) => v.call_method0("tolist")?,
        _ => v.clone(),
    };
    if list.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{name}: a sequence of real numbers, got a str"
        )));
    }
    list.extract::<Vec<f64>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}: a sequence (or 1-D array) of real numbers, got {}",
            type_name(v)
        ))
    })
}

/// Whether `x` is Python's `bool` or NumPy's `bool_` (which read as 1.0 and 0.0).
fn is_boolean(x: &Bound<'_, PyAny>) -> bool {
    x.is_instance_of::<pyo3::types::PyBool>() || dtype_kind(x).as_deref() == Some("b")
}

/// The kind of a NumPy scalar's or array's dtype (`b` boolean, `c` complex, `f` float…).
fn dtype_kind(x: &Bound<'_, PyAny>) -> Option<String> {
    x.getattr("dtype")
        .and_then(|d| d.getattr("kind"))
        .and_then(|k| k.extract::<String>())
        .ok()
}

/// Refuses a NaN that a callable returned at a finite `w` (at `entry` of its result, if a
/// vector's): a bug, which the engine would read as a state that stopped being finite, or
/// an undefined loss, and report far from its cause. Infinity is kept: it is what an
/// overflowing loss returns.
fn refuse_nan(what: &str, entry: Option<usize>, w: &[f64]) -> PyResult<()> {
    if !w.iter().all(|x| x.is_finite()) {
        return Ok(());
    }
    let entry = entry.map_or(String::new(), |i| format!(" (entry {i})"));
    Err(PyValueError::new_err(format!(
        "{what} returned NaN{entry} at w = {w:?}: a finite w needs a number (inf where it overflows)"
    )))
}

/// `e`, its message prefixed by the callable whose result could not be read (`gradient
/// returned …`), its type kept.
fn named(py: Python<'_>, what: &str, e: PyErr) -> PyErr {
    PyErr::from_type(
        e.get_type(py),
        format!(
            "{what} returned a value that is not usable: {}",
            e.value(py)
        ),
    )
}

/// `x` as a fresh float64 vector: a 1-D array-like of real numbers, copied (so aligned and
/// contiguous); complex numbers, other shapes and non-numbers refused with the reason.
fn numpy_float_vector<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    if x.is_none() {
        return Err(PyTypeError::new_err("None"));
    }
    let np = py.import("numpy")?;
    let array = np.call_method1("asarray", (x,))?;
    let kind: String = array.getattr("dtype")?.getattr("kind")?.extract()?;
    if kind == "c" {
        return Err(PyTypeError::new_err(
            "complex numbers, whose imaginary part would be dropped",
        ));
    }
    if kind == "b" {
        return Err(PyTypeError::new_err(
            "booleans (a comparison's result?), not real numbers",
        ));
    }
    // Objects (a list of Decimals) go on to float64's own conversion.
    if !matches!(kind.as_str(), "f" | "i" | "u" | "O") {
        let type_name = x.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "{type_name} (dtype kind '{kind}'), not real numbers"
        )));
    }
    let ndim: usize = array.getattr("ndim")?.extract()?;
    if ndim != 1 {
        let shape = array.getattr("shape")?.repr()?;
        return Err(PyValueError::new_err(format!(
            "an array of shape {shape}, where a 1-D array is needed"
        )));
    }
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("dtype", "float64")?;
    let copy = np.call_method("array", (array,), Some(&kwargs))?;
    Ok(copy.cast_into::<PyArray1<f64>>()?)
}

/// The exception to raise for `e`: as it is, except a `StopIteration` (an exhausted
/// iterator inside a callable), which Python would read as the end of a sweep's batches
/// and so end the sweep early without an error: a `RuntimeError` from it, as PEP 479 does
/// for generators.
fn reraisable(py: Python<'_>, e: PyErr) -> PyErr {
    if !e.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) {
        return e;
    }
    let wrapped = pyo3::exceptions::PyRuntimeError::new_err(
        "a callable of the potential raised StopIteration (an iterator it reads ran out?)",
    );
    wrapped.set_cause(py, Some(e));
    wrapped
}

impl Potential for PyPotential {
    fn dim(&self) -> usize {
        self.dim
    }

    /// A sweep worker's chunk with the thread's interpreter state made once and kept while
    /// the chunk runs detached: each evaluation then attaches to it again rather than
    /// making one afresh (a worker thread of the engine's has none of its own). Stopped, or
    /// with the interpreter shutting down, the chunk runs without it (its evaluations are
    /// NaN then without calling Python).
    fn on_this_thread(&self, work: &mut (dyn FnMut() + Send)) {
        let mut work = Some(work);
        if !self.stopped() {
            Python::try_attach(|py| py.detach(|| work.take().map(|w| w())));
        }
        if let Some(w) = work {
            w();
        }
    }

    fn value(&self, w: &[f64]) -> f64 {
        self.call(|py| self.value_at(py, w)).unwrap_or(f64::NAN)
    }

    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        let done = self.call(|py| self.gradient_at(py, w, g));
        if done.is_none() {
            g.fill(f64::NAN);
        }
    }

    fn hessian_vector_into(&self, w: &[f64], x: &[f64], out: &mut [f64]) {
        let Some(hv) = &self.hessian_vector else {
            heavyball::potential::finite_difference_hv(self, w, x, out);
            return;
        };
        let done = self.call(|py| {
            let (wa, xa) = (PyArray1::from_slice(py, w), PyArray1::from_slice(py, x));
            let result = hv.bind(py).call1((wa, xa))?;
            // H·x of a non-finite x may well be NaN: only a finite one's is checked.
            let at = x.iter().all(|v| v.is_finite()).then_some(w);
            self.vector_into(py, result, "hessian_vector", at, out)
        });
        if done.is_none() {
            out.fill(f64::NAN);
        }
    }

    fn has_hessian(&self) -> bool {
        self.hessian_vector.is_some()
    }

    fn minimum(&self) -> Option<&[f64]> {
        self.minimum.as_deref()
    }

    fn minimum_value(&self) -> Option<f64> {
        self.minimum_value
    }

    fn hessian_spectrum(&self) -> Option<&[f64]> {
        self.spectrum.as_deref()
    }
}

/// A loss surface written in Python.
///
/// `value(w) -> float` and `gradient(w) -> array` take `w` as a float64 NumPy array of
/// length `dim`. Optional: `minimum` (w*, for the distance, loss and energy criteria and
/// the distance columns), `minimum_value` (E(w*), only with `minimum`; default
/// `value(minimum)`, taken once here), `spectrum`
/// (the Hessian's eigenvalues at w*, for the theory columns and the theory report), and
/// `hessian_vector(w, x) -> array` (an exact H(w)·x, which `method = "bdf"` needs; default
/// a central difference of the gradient).
#[pyclass(name = "Potential", module = "heavyball", frozen)]
pub struct PotentialHandle {
    /// The potential the engine evaluates.
    pub inner: Arc<PyPotential>,
}

#[pymethods]
impl PotentialHandle {
    #[new]
    #[pyo3(signature = (value, gradient, dim, minimum=None, minimum_value=None, spectrum=None, hessian_vector=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        value: Py<PyAny>,
        gradient: Py<PyAny>,
        dim: &Bound<'_, PyAny>,
        minimum: Option<&Bound<'_, PyAny>>,
        minimum_value: Option<&Bound<'_, PyAny>>,
        spectrum: Option<&Bound<'_, PyAny>>,
        hessian_vector: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        check_callables(&value, &gradient, hessian_vector.as_ref())?;
        let dim = whole_dim(dim)?;
        let minimum = minimum.map(|v| real_vector("minimum", v)).transpose()?;
        let spectrum = spectrum.map(|v| real_vector("spectrum", v)).transpose()?;
        let minimum_value = minimum_value
            .map(|v| {
                v.extract::<f64>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "minimum_value: a real number, got {}",
                        type_name(v)
                    ))
                })
            })
            .transpose()?;
        check_vector("minimum", minimum.as_deref(), Some(dim))?;
        check_vector("spectrum", spectrum.as_deref(), None)?;
        check_spectrum(spectrum.as_deref(), dim)?;
        if let Some(v) = minimum_value.filter(|v| !v.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "minimum_value: must be finite, got {v}"
            )));
        }
        if minimum_value.is_some() && minimum.is_none() {
            // Unchecked, it would set E* for the loss criterion and the noise floor alone.
            return Err(PyValueError::new_err(
                "minimum_value: needs minimum (E* is the value at w*: give minimum too)",
            ));
        }
        let spectrum = spectrum.map(|mut ks| {
            ks.sort_by(f64::total_cmp);
            ks
        });
        let mut inner = PyPotential {
            value,
            gradient,
            hessian_vector,
            dim,
            minimum,
            minimum_value,
            spectrum,
            stopped: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            error: Mutex::new(None),
        };
        // E* once, here: a run asks for it at every loss measurement.
        let e = inner.check_minimum(py)?;
        inner.minimum_value = inner.minimum_value.or(e);
        Ok(PotentialHandle {
            inner: Arc::new(inner),
        })
    }

    /// The callables, for Python's cycle collector: a class whose `Potential` holds its own
    /// bound methods is freed once unreachable. Only as the potential's one holder: a
    /// scenario, a run or a stream holding it too keeps it alive whatever the collector
    /// finds, and a second holder's visit would count the callables' one reference twice.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if Arc::strong_count(&self.inner) == 1 {
            visit.call(&self.inner.value)?;
            visit.call(&self.inner.gradient)?;
            if let Some(h) = &self.inner.hessian_vector {
                visit.call(h)?;
            }
        }
        Ok(())
    }

    /// The dimension n.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim
    }

    /// w*, or None.
    #[getter]
    fn minimum(&self) -> Option<Vec<f64>> {
        self.inner.minimum.clone()
    }

    /// The Hessian's eigenvalues at w*, ascending, or None.
    #[getter]
    fn spectrum(&self) -> Option<Vec<f64>> {
        self.inner.spectrum.clone()
    }

    fn __repr__(&self) -> String {
        format!("heavyball.Potential(dim={})", self.inner.dim)
    }
}

/// The largest `dim`: a run keeps a few dozen vectors of `dim` numbers, and the scenario a
/// stand-in of `dim` eigenvalues (at 10⁷, gigabytes).
const MAX_DIM: i128 = 10_000_000;

/// `dim` as a whole number from 1 to [`MAX_DIM`] (a bool or a float is no dimension).
fn whole_dim(dim: &Bound<'_, PyAny>) -> PyResult<usize> {
    let shown = dim.repr().map(|r| r.to_string()).unwrap_or_default();
    let index = dim
        .call_method0("__index__")
        .ok()
        .filter(|_| !dim.is_instance_of::<pyo3::types::PyBool>());
    let Some(index) = index else {
        return Err(PyTypeError::new_err(format!(
            "dim: must be a whole number, got {shown}"
        )));
    };
    match index
        .extract::<i128>()
        .ok()
        .filter(|n| (1..=MAX_DIM).contains(n))
    {
        Some(n) => Ok(n as usize),
        None => Err(PyValueError::new_err(format!(
            "dim: must be from 1 to {MAX_DIM}, got {shown}"
        ))),
    }
}

fn check_callables(
    value: &Py<PyAny>,
    gradient: &Py<PyAny>,
    hv: Option<&Py<PyAny>>,
) -> PyResult<()> {
    Python::attach(|py| {
        for (name, f) in [
            ("value", Some(value)),
            ("gradient", Some(gradient)),
            ("hessian_vector", hv),
        ] {
            if let Some(f) = f
                && !f.bind(py).is_callable()
            {
                return Err(PyTypeError::new_err(format!("{name}: must be callable")));
            }
        }
        Ok(())
    })
}

fn check_vector(name: &str, v: Option<&[f64]>, dim: Option<usize>) -> PyResult<()> {
    let Some(v) = v else { return Ok(()) };
    if let Some(n) = dim
        && v.len() != n
    {
        return Err(PyValueError::new_err(format!(
            "{name}: has {} entries, the potential has dimension {n}",
            v.len()
        )));
    }
    match v.iter().find(|x| !x.is_finite()) {
        Some(x) => Err(PyValueError::new_err(format!(
            "{name}: must be finite, got {x}"
        ))),
        None => Ok(()),
    }
}

/// The Hessian's eigenvalues at a minimum: at least one, at most `dim` (the extremes
/// suffice for every rate: docs/theory.md), none negative.
fn check_spectrum(ks: Option<&[f64]>, dim: usize) -> PyResult<()> {
    let Some(ks) = ks else { return Ok(()) };
    if ks.is_empty() || ks.len() > dim {
        return Err(PyValueError::new_err(format!(
            "spectrum: has {} entries, the potential has dimension {dim} (give its eigenvalues at the minimum, or at least the smallest and the largest)",
            ks.len()
        )));
    }
    match ks.iter().find(|k| **k < 0.0) {
        Some(k) => Err(PyValueError::new_err(format!(
            "spectrum: must be >= 0 (the Hessian at a minimum is positive semi-definite), got {k:?}"
        ))),
        None => Ok(()),
    }
}
