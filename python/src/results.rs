//! Running a scenario in memory into the bytes of the files the command line writes (the
//! same writers), and writing them as the command line's result folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use heavyball::error::Error;
use heavyball::output::columns::{self, Column, StateLayout};
use heavyball::output::{
    Field, ResultDir, Rows, RunFacts, comparison_fields, scenario_hash, trajectory_table,
    write_point,
};
use heavyball::point::{ComparisonRow, PointRunner, Trajectory, TrajectorySink};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::engine_error;
use crate::potential::PyPotential;
use crate::scenario::ScenarioHandle;
use crate::stream::SummaryStream;

/// One CSV file of a result: its name, columns (for the manifest) and bytes.
pub type CsvBytes = (String, Vec<Column>, Vec<u8>);

/// A finished run: every CSV the command line would write for it, in memory.
#[pyclass(name = "NativeResult", module = "heavyball._heavyball", frozen)]
pub struct RunResult {
    scenario: Py<ScenarioHandle>,
    files: Vec<CsvBytes>,
    started: SystemTime,
    wall_seconds: f64,
    threads: usize,
}

#[pymethods]
impl RunResult {
    /// The scenario that was run.
    #[getter]
    fn scenario(&self, py: Python<'_>) -> Py<ScenarioHandle> {
        self.scenario.clone_ref(py)
    }

    /// The CSV files, in the order the command line lists them in the manifest.
    #[getter]
    fn files(&self) -> Vec<String> {
        self.files.iter().map(|(name, _, _)| name.clone()).collect()
    }

    /// The bytes of CSV file `name` (e.g. `summary.csv`), or None when the run has none.
    fn csv<'py>(&self, py: Python<'py>, name: &str) -> Option<Bound<'py, PyBytes>> {
        self.files
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, bytes)| PyBytes::new(py, bytes))
    }

    /// `(name, unit, meaning)` of each column of CSV file `name`, as the manifest says.
    fn columns(&self, name: &str) -> Option<Vec<(String, String, String)>> {
        let (_, cols, _) = self.files.iter().find(|(n, _, _)| n == name)?;
        Some(
            cols.iter()
                .map(|c| (c.name.clone(), c.unit.clone(), c.meaning.clone()))
                .collect(),
        )
    }

    /// Wall-clock seconds the run took.
    #[getter]
    fn wall_seconds(&self) -> f64 {
        self.wall_seconds
    }

    /// Worker threads used (1 for a single run).
    #[getter]
    fn threads(&self) -> usize {
        self.threads
    }

    /// Pickling: the scenario, every file's name, columns and bytes, and the run's facts,
    /// put back together by [`restore_result`].
    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(
        Bound<'py, PyAny>,
        (
            Py<ScenarioHandle>,
            Vec<PickledCsv<'py>>,
            (u64, u32),
            f64,
            usize,
        ),
    )> {
        let restore = py
            .import("heavyball._heavyball")?
            .getattr("_restore_result")?;
        let files = self
            .files
            .iter()
            .map(|(name, cols, bytes)| {
                let cols = cols
                    .iter()
                    .map(|c| -> PickledColumn {
                        (c.name.clone(), c.meaning.clone(), c.unit.clone())
                    })
                    .collect();
                (name.clone(), cols, PyBytes::new(py, bytes))
            })
            .collect();
        // Whole seconds and nanoseconds: an f64 of seconds could move the manifest's
        // millisecond.
        let started = self
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or((0, 0), |d| (d.as_secs(), d.subsec_nanos()));
        let args = (
            self.scenario.clone_ref(py),
            files,
            started,
            self.wall_seconds,
            self.threads,
        );
        Ok((restore, args))
    }
}

/// A column as pickled: (name, meaning, unit).
type PickledColumn = (String, String, String);

/// A CSV file as pickled: its name, its columns and its bytes.
type PickledCsv<'py> = (String, Vec<PickledColumn>, Bound<'py, PyBytes>);

/// A pickled result back (see `NativeResult.__reduce__`).
#[pyfunction]
#[pyo3(name = "_restore_result")]
pub fn restore_result(
    scenario: Py<ScenarioHandle>,
    files: Vec<(String, Vec<PickledColumn>, Vec<u8>)>,
    started: (u64, u32),
    wall_seconds: f64,
    threads: usize,
) -> RunResult {
    let files = files
        .into_iter()
        .map(|(name, cols, bytes)| {
            let cols = cols
                .into_iter()
                .map(|(name, meaning, unit)| Column {
                    name,
                    meaning,
                    unit,
                })
                .collect();
            (name, cols, bytes)
        })
        .collect();
    let started = Duration::new(started.0, started.1);
    RunResult {
        scenario,
        files,
        started: SystemTime::UNIX_EPOCH + started,
        wall_seconds,
        threads,
    }
}

/// Runs a scenario in memory, the interpreter released while the engine works: a single
/// run with its trajectories, or a whole sweep (its summary) on `threads` workers. Ctrl-C
/// stops it (KeyboardInterrupt).
#[pyfunction]
#[pyo3(signature = (scenario, threads=None))]
pub fn run(
    py: Python<'_>,
    scenario: Py<ScenarioHandle>,
    threads: Option<usize>,
) -> PyResult<RunResult> {
    let handle = scenario.get();
    handle.check_runnable(py)?;
    let started = SystemTime::now();
    let clock = Instant::now();
    let potential = handle.potential.clone();
    let lease = potential.as_ref().map(|p| p.lease()).transpose()?;
    let (files, threads) = if handle.scenario.is_sweep() {
        let chunk = crate::stream::DEFAULT_CHUNK;
        let mut stream = SummaryStream::start(py, handle, threads, chunk, lease)?;
        let threads = stream.threads();
        let mut summary = header(&columns::summary());
        while let Some(batch) = stream.next_batch(py)? {
            summary.extend_from_slice(&batch);
        }
        (
            vec![("summary.csv".into(), columns::summary(), summary)],
            threads,
        )
    } else {
        (run_single(py, handle, potential.as_ref())?, 1)
    };
    Ok(RunResult {
        scenario,
        files,
        started,
        wall_seconds: clock.elapsed().as_secs_f64(),
        threads,
    })
}

/// The header row of a table.
pub fn header(cols: &[Column]) -> Vec<u8> {
    let mut rows = Rows::new();
    rows.header(&columns::names(cols));
    rows.bytes().to_vec()
}

/// The one point of a single run, traced: `summary.csv` then the trajectory tables in the
/// order the command line writes them.
fn run_single(
    py: Python<'_>,
    handle: &ScenarioHandle,
    potential: Option<&Arc<PyPotential>>,
) -> PyResult<Vec<CsvBytes>> {
    let build = handle.problem_job();
    let mut sink = MemorySink::new(potential.cloned());
    let job = move || {
        let problem = build()?;
        let result = PointRunner::new(&problem).run_traced(0, &mut sink);
        result.map(|r| (r, sink))
    };
    let result = crate::background::off_interpreter(py, potential, job)?;
    if let Some(e) = potential.and_then(|p| p.take_error()) {
        return Err(e);
    }
    let (result, sink) = result.map_err(|e| engine_error(py, e))?;
    let mut summary = Rows::new();
    summary.header(&columns::names(&columns::summary()));
    write_point(&result.rows, &mut summary);
    let mut files = vec![(
        "summary.csv".to_string(),
        columns::summary(),
        summary.bytes().to_vec(),
    )];
    files.extend(sink.files);
    Ok(files)
}

/// Trajectory tables formatted into memory by the engine's CSV formatter, as
/// `CsvTrajectories` writes them to files.
struct MemorySink {
    open: Option<CsvBytes>,
    rows: Rows,
    files: Vec<CsvBytes>,
    potential: Option<Arc<PyPotential>>,
}

impl MemorySink {
    fn new(potential: Option<Arc<PyPotential>>) -> Self {
        MemorySink {
            open: None,
            rows: Rows::new(),
            files: Vec::new(),
            potential,
        }
    }

    /// Ends the row; stops the run when the Python potential failed or was abandoned
    /// (Ctrl-C: see `background::off_interpreter`).
    fn row_done(&mut self) -> Result<(), Error> {
        self.rows.end_row();
        let (_, _, bytes) = self.open.as_mut().expect("a table has begun");
        bytes.extend_from_slice(self.rows.bytes());
        self.rows.clear();
        if self.potential.as_ref().is_some_and(|p| p.stopped()) {
            return Err(stopped("the Python potential raised an exception"));
        }
        Ok(())
    }
}

fn stopped(why: &str) -> Error {
    Error::Observer(why.into())
}

impl TrajectorySink for MemorySink {
    fn begin(&mut self, table: Trajectory, layout: &StateLayout) -> Result<(), Error> {
        let (name, cols) = trajectory_table(table, layout);
        let bytes = header(&cols);
        self.open = Some((name.to_string(), cols, bytes));
        Ok(())
    }

    fn continuous(&mut self, row: &[f64]) -> Result<(), Error> {
        self.rows.nums(row);
        self.row_done()
    }

    fn discrete(&mut self, label: &str, k: u64, row: &[f64]) -> Result<(), Error> {
        self.rows.field(Field::Text(label));
        self.rows.field(Field::Int(k));
        self.rows.nums(row);
        self.row_done()
    }

    fn comparison(&mut self, label: &str, row: &ComparisonRow) -> Result<(), Error> {
        for f in comparison_fields(label, row) {
            self.rows.field(f);
        }
        self.row_done()
    }

    fn end(&mut self, _: Trajectory) -> Result<(), Error> {
        let file = self.open.take().expect("a table has begun");
        self.files.push(file);
        Ok(())
    }
}

/// Writes a result as the command line's folder `out/<name>/` (atomically: it appears
/// whole or not at all): `scenario.toml`, the CSV files byte for byte as the command line
/// writes them, `manifest.json` (this run's time and threads), and the figures when the
/// scenario asks for them (`[output] plot = true`). Returns the folder.
#[pyfunction]
pub fn write(py: Python<'_>, result: &RunResult, out: PathBuf) -> PyResult<PathBuf> {
    let handle = result.scenario.get();
    let resolved = handle.resolved_toml(py)?;
    let s = &handle.scenario;
    let folder = py.detach(|| -> Result<PathBuf, Error> {
        let dir = ResultDir::begin(&out, &s.name)?;
        // As the command line says them: of the result folder, not of the partial one.
        let fill = || -> Result<(), Error> {
            let path = dir.path().join("scenario.toml");
            std::fs::write(&path, &resolved).map_err(|e| Error::io(&path, e))?;
            for (name, _, bytes) in &result.files {
                let path = dir.path().join(name);
                std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
            }
            RunFacts {
                started: result.started,
                wall_seconds: result.wall_seconds,
                threads: result.threads,
                shard: None,
                scenario_hash: scenario_hash(&resolved),
                points: 0..s.points(),
                grid_points: s.points(),
                files: result
                    .files
                    .iter()
                    .map(|(n, c, _)| (n.clone(), c.clone()))
                    .collect(),
                sha256: Default::default(),
            }
            .write(dir.path())?;
            if s.output.plot {
                heavyball::figures::plot_folder(
                    dir.path(),
                    &heavyball::figures::PlotOptions::default(),
                )?;
            }
            Ok(())
        };
        fill().map_err(|e| dir.said_of_target(e))?;
        dir.commit()
    });
    folder.map_err(|e| engine_error(py, e))
}
