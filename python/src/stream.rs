//! A sweep's summary rows streamed to Python in grid order: a thread of the stream's own
//! formats the rows of the engine's `Problem::sweep_rows` (which computes ahead on its own
//! workers) into batches, a bounded channel holds at most two batches ahead of the reader,
//! and the reader waits with the interpreter released, looking at Ctrl-C every few
//! milliseconds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use heavyball::output::{Rows, columns, write_summary_row};
use heavyball::problem::Problem;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::engine_error;
use crate::potential::{Lease, PyPotential};
use crate::scenario::ScenarioHandle;

/// Grid points per batch unless the caller says otherwise.
pub const DEFAULT_CHUNK: u64 = 4096;
/// How long the reader waits for a batch before looking at Ctrl-C again.
pub const SIGNAL_POLL: Duration = Duration::from_millis(20);

/// The summary rows of a sweep, batch by batch: each batch is the `summary.csv` bytes of
/// up to `chunk` consecutive grid points (the first batch begins with the header), so that
/// the batches joined are `summary.csv` byte for byte.
#[pyclass(name = "SummaryStream", module = "heavyball._heavyball")]
pub struct SummaryStream {
    /// The producer's batches (in an Option to be moved into the released section).
    batches: Mutex<Option<Receiver<Vec<u8>>>>,
    cancel: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
    potential: Option<Arc<PyPotential>>,
    threads: usize,
    header: Option<Vec<u8>>,
}

impl SummaryStream {
    /// Starts the engine on `scenario`'s grid.
    /// `lease`, the run's hold on its Python potential, goes to the producer: released when
    /// the engine is done with the potential.
    pub fn start(
        py: Python<'_>,
        scenario: &ScenarioHandle,
        threads: Option<usize>,
        chunk: u64,
        lease: Option<Lease>,
    ) -> PyResult<Self> {
        let build = scenario.problem_job();
        let problem = crate::background::off_interpreter(py, None, build)?
            .map_err(|e| engine_error(py, e))?;
        let points = problem.points();
        let threads = threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, points.max(1) as usize);
        let runs = problem.continuous.iter().count() + problem.discrete.len();
        let rows_per_batch = (chunk.max(1) as usize).saturating_mul(runs.max(1));
        let (tx, rx) = sync_channel(1);
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let worker = std::thread::spawn(move || {
            produce(&problem, threads, rows_per_batch, &tx, &flag);
            drop(lease);
        });
        let mut header = Rows::new();
        header.header(&columns::names(&columns::summary()));
        Ok(SummaryStream {
            batches: Mutex::new(Some(rx)),
            cancel,
            worker: Some(worker),
            potential: scenario.potential.clone(),
            threads,
            header: Some(header.bytes().to_vec()),
        })
    }

    /// Worker threads of the engine.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The next batch's rows (no header), or None at the end. Raises the Python
    /// potential's exception, or KeyboardInterrupt on Ctrl-C (and stops the engine).
    pub fn next_batch(&mut self, py: Python<'_>) -> PyResult<Option<Vec<u8>>> {
        loop {
            let slot = self.batches.get_mut().unwrap_or_else(|p| p.into_inner());
            let Some(rx) = slot.take() else {
                return Ok(None);
            };
            let (rx, got) = py.detach(move || {
                let got = rx.recv_timeout(SIGNAL_POLL);
                (rx, got)
            });
            *slot = Some(rx);
            if let Some(e) = self.potential.as_ref().and_then(|p| p.take_error()) {
                let _ = self.halt(py);
                return Err(e);
            }
            match got {
                Ok(batch) => return Ok(Some(batch)),
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = py.check_signals() {
                        let _ = self.halt(py);
                        return Err(e);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return self.finish(py).map(|()| None),
            }
        }
    }

    /// The producer is done: surface a panic of its own (the engine contains those of
    /// the points).
    fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        match py.detach(move || worker.join()) {
            Ok(()) => Ok(()),
            Err(_) => Err(PyRuntimeError::new_err("the sweep's thread panicked")),
        }
    }

    /// Stops the engine. With a Python potential it also waits for it (the interpreter
    /// released), so that the potential is free for another run when this returns; its
    /// evaluations return NaN at once by then, so the wait is short. A built-in potential's
    /// points in hand finish in the background, as before. Returns the producer's own
    /// panic, if any.
    fn halt(&mut self, py: Python<'_>) -> PyResult<()> {
        self.stop();
        if self.potential.is_none() {
            return Ok(());
        }
        // The producer may be waiting to hand over a batch: with no reader it ends.
        if let Ok(slot) = self.batches.get_mut() {
            slot.take();
        }
        self.finish(py)
    }

    /// Stops the engine soon: the producer ends after the rows in hand, a Python
    /// potential returns NaN without calling Python from now on.
    fn stop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
        if let Some(p) = &self.potential {
            p.abandon();
        }
    }
}

/// The producer: formats the engine's rows in grid order into batches and hands them
/// over, until the grid ends, the reader is gone or `cancel` is set.
fn produce(
    problem: &Problem,
    threads: usize,
    rows_per_batch: usize,
    tx: &SyncSender<Vec<u8>>,
    cancel: &AtomicBool,
) {
    let mut rows = Rows::new();
    let mut count = 0;
    for row in problem.sweep_rows(threads) {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        write_summary_row(&row, &mut rows);
        count += 1;
        if count == rows_per_batch {
            if tx.send(rows.bytes().to_vec()).is_err() {
                return;
            }
            rows.clear();
            count = 0;
        }
    }
    if count > 0 {
        let _ = tx.send(rows.bytes().to_vec());
    }
}

impl Drop for SummaryStream {
    fn drop(&mut self) {
        // Dropping the receiver ends the producer at its next send; the flag sooner.
        self.stop();
        if let Ok(slot) = self.batches.get_mut() {
            slot.take();
        }
    }
}

#[pymethods]
impl SummaryStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next batch as CSV bytes (the first with the header; a sweep without rows, whose
    /// `summary.csv` is the header alone, yields it alone).
    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let Some(batch) = self.next_batch(py)? else {
            return Ok(self.header.take().map(|h| PyBytes::new(py, &h)));
        };
        let bytes = match self.header.take() {
            Some(mut h) => {
                h.extend_from_slice(&batch);
                h
            }
            None => batch,
        };
        Ok(Some(PyBytes::new(py, &bytes)))
    }

    /// Worker threads of the engine.
    #[getter(threads)]
    fn threads_py(&self) -> usize {
        self.threads
    }

    /// Stops the sweep; with a Python potential, waits until the engine no longer uses it
    /// (see `halt`).
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        self.halt(py)
    }
}

/// Streams a sweep's summary in batches of `chunk` grid points (see `SummaryStream`).
#[pyfunction]
#[pyo3(signature = (scenario, threads=None, chunk=DEFAULT_CHUNK))]
pub fn stream(
    py: Python<'_>,
    scenario: &ScenarioHandle,
    threads: Option<usize>,
    chunk: u64,
) -> PyResult<SummaryStream> {
    scenario.check_runnable(py)?;
    let lease = scenario.potential.as_ref().map(|p| p.lease()).transpose()?;
    SummaryStream::start(py, scenario, threads, chunk, lease)
}
