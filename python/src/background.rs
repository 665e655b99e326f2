//! Engine work off the interpreter: a job (building a potential, a single run, a theory
//! report) runs on a thread of its own while the caller waits with the interpreter
//! released, looking at Ctrl-C every few milliseconds, so that other Python threads go on
//! and Ctrl-C is prompt however long the job is (a run of few trajectory rows, a large
//! colorization's set-up).

use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::potential::PyPotential;
use crate::stream::SIGNAL_POLL;

/// `job()`, run on a thread of its own. On Ctrl-C (or another signal's exception) it is
/// raised at once; a job using the Python `potential` is told to stop (its evaluations
/// return NaN without calling Python) and waited for, so that the potential is free when
/// this returns; a job on a built-in potential finishes in the background, its result
/// dropped, as a sweep's points in hand do.
pub fn off_interpreter<T: Send + 'static>(
    py: Python<'_>,
    potential: Option<&Arc<PyPotential>>,
    job: impl FnOnce() -> T + Send + 'static,
) -> PyResult<T> {
    let (tx, mut rx) = sync_channel(1);
    let worker = std::thread::Builder::new()
        .name("heavyball-run".into())
        .spawn(move || {
            // The thread's own interpreter state, made once and kept while the job runs
            // detached: a Python potential's every call then attaches to it again (~1.5 µs)
            // rather than making one afresh (~40 µs).
            let result = Python::attach(|py| py.detach(job));
            let _ = tx.send(result);
        })
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the engine's thread: {e}")))?;
    loop {
        let got;
        (rx, got) = py.detach(move || {
            let got = rx.recv_timeout(SIGNAL_POLL);
            (rx, got)
        });
        match got {
            Ok(value) => {
                let _ = py.detach(move || worker.join());
                return Ok(value);
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = py.check_signals() {
                    if let Some(p) = potential {
                        p.abandon();
                        let _ = py.detach(move || worker.join());
                    }
                    return Err(e);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let why = match py.detach(move || worker.join()) {
                    Err(panic) => panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown".into()),
                    Ok(()) => "it ended without a result".into(),
                };
                return Err(PyRuntimeError::new_err(format!(
                    "the engine's thread panicked: {why}"
                )));
            }
        }
    }
}
