//! Driving scenarios: a batch of files, each validated then run into its own atomic result
//! folder. A single run writes the summary, the continuous and discrete trajectories, and
//! their comparison.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use crate::error::{Error, InputError};
use crate::output::columns;
use crate::output::{
    CsvFile, CsvTrajectories, ExpectedRows, ResultDir, Rows, RunFacts, scenario_hash, write_point,
};
use crate::point::PointRunner;
use crate::scenario::{self, Scenario};
use crate::sweep::{self, Shard};

/// Options of `heavyball run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output root (`OUT/<name>/` per scenario).
    pub out: PathBuf,
    /// Worker threads of a sweep.
    pub threads: usize,
    /// Run only this slice of each grid, into `OUT/<name>/shards/I-of-N/`.
    pub shard: Option<Shard>,
    /// Show a progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// Continue a sweep a killed run of the same scenario left behind ([`ResultDir::resume`]).
    pub resume: bool,
}

/// What happened to one input of a batch.
#[derive(Debug)]
pub struct Outcome {
    /// The scenario file (or path) as given.
    pub input: PathBuf,
    /// What it wrote, or why it wrote nothing.
    pub result: Result<Written, Error>,
}

/// What [`run_scenario`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The result folder (a shard's, with [`RunOptions::shard`]).
    pub folder: PathBuf,
    /// With [`RunOptions::resume`], when a killed run's folder was taken over: the grid
    /// points of its `summary.csv` that were whole and kept (this run computed the rest).
    pub resumed: Option<u64>,
    /// With [`RunOptions::resume`], when none was taken over: partial folders of the
    /// scenario that processes still running are writing, left to them.
    pub running: Vec<PathBuf>,
}

/// Loads every scenario under `paths` (directories: their `*.toml`, in name order),
/// reporting each file's outcome to `report` as soon as it is known. Bad files do not stop
/// the others; two files writing the same result folder are an error for the second.
pub fn load_all(paths: &[PathBuf], report: impl FnMut(Outcome)) -> Vec<(PathBuf, Scenario)> {
    load(paths, report, false)
}

/// [`load_all`] for `run` and `check`: a scenario with nothing to run ([`nothing_to_run`]),
/// which `theory` reads, is an error here rather than a result folder with a header and no
/// rows.
pub fn load_runnable(paths: &[PathBuf], report: impl FnMut(Outcome)) -> Vec<(PathBuf, Scenario)> {
    load(paths, report, true)
}

/// [`load_all`], with `runs` each scenario also checked for something to run, every error
/// reported in the files' order.
fn load(
    paths: &[PathBuf],
    mut report: impl FnMut(Outcome),
    runs: bool,
) -> Vec<(PathBuf, Scenario)> {
    let mut loaded: Vec<(PathBuf, Scenario)> = Vec::new();
    for item in scenario::collect_paths(paths) {
        match item {
            Err(e) => report(Outcome {
                input: e.file.clone(),
                result: Err(e.into()),
            }),
            Ok(path) => match scenario::load(&path) {
                Err(e) => report(Outcome {
                    input: path,
                    result: Err(e.into()),
                }),
                Ok(s) => {
                    if let Some(e) = nothing_to_run(&path, &s).filter(|_| runs) {
                        report(Outcome {
                            input: path,
                            result: Err(e.into()),
                        });
                    } else if let Some((first, _)) = loaded.iter().find(|(_, o)| o.name == s.name) {
                        let e = InputError {
                            file: path.clone(),
                            position: scenario::name_position(&path),
                            key: "name".into(),
                            message: format!(
                                "\"{}\" is also the name of {}; each scenario of a batch needs its own result folder",
                                s.name,
                                first.display()
                            ),
                        };
                        report(Outcome {
                            input: path,
                            result: Err(e.into()),
                        });
                    } else {
                        loaded.push((path, s));
                    }
                }
            },
        }
    }
    loaded
}

/// The error for a scenario (read from `file`) with nothing to run: no `[continuous]` table
/// and no `[[discrete]]` entry. Such a file is valid for `theory`, not for a run.
pub fn nothing_to_run(file: &Path, s: &Scenario) -> Option<InputError> {
    (s.continuous.is_none() && s.discrete.is_empty()).then(|| InputError {
        file: file.to_path_buf(),
        // A missing table is pointed at the file's start.
        position: Some((1, 1)),
        key: "continuous".into(),
        message: "nothing to run: the file has no [continuous] table and no [[discrete]] entry; give one (heavyball theory reads the file as it is)".into(),
    })
}

/// Validates and runs every scenario under `paths`, reporting each outcome as it happens.
pub fn run_paths(paths: &[PathBuf], options: &RunOptions, mut report: impl FnMut(Outcome)) {
    for (path, scenario) in load_runnable(paths, &mut report) {
        let result = run_scenario(&scenario, options);
        report(Outcome {
            input: path,
            result,
        });
    }
}

/// Runs one scenario into `OUT/<name>/` (or its shard folder), atomically. A scenario
/// with nothing to run is [`Error::NothingToRun`], before any folder is touched.
pub fn run_scenario(s: &Scenario, options: &RunOptions) -> Result<Written, Error> {
    if s.continuous.is_none() && s.discrete.is_empty() {
        return Err(Error::NothingToRun {
            scenario: s.name.clone(),
        });
    }
    let started = SystemTime::now();
    let clock = Instant::now();
    crate::limits::mark_running(&s.name);
    let problem = set_up(s, options.progress)?;
    let runner = PointRunner::new(&problem);
    let points = s.points();
    let resolved = s.to_toml();
    let (dir, resuming, range, running) = open_folder(s, options, points, &resolved)?;
    // The files go into a hidden partial folder; an I/O error there is said of the result
    // folder, as the partial one goes with the failed run.
    let fill = || -> Result<u64, Error> {
        let mut files = vec![("summary.csv".to_string(), columns::summary())];
        let labels: Vec<&str> = runner.methods().collect();
        let (mut summary, done) = summary_file(&dir, &labels, resuming, &range)?;
        let todo = (range.start + done).min(range.end)..range.end;
        let (threads, mut sha256) = if s.is_sweep() {
            let threads = options
                .threads
                .clamp(1, (todo.end - todo.start).max(1) as usize);
            let bar = sweep::progress_bar(&s.name, todo.end - todo.start, options.progress);
            let work = |points, rows: &mut Rows| {
                for result in runner.run_chunk(points) {
                    write_point(&result.rows, rows);
                }
            };
            sweep::stream(todo, threads, &bar, work, &mut summary)?;
            (threads, BTreeMap::new())
        } else if range.contains(&0) {
            // A single run: the grid of one point, with its trajectories.
            let mut sink = CsvTrajectories::new(dir.path());
            let result = runner.run_traced(0, &mut sink)?;
            files.extend(sink.files);
            let mut rows = Rows::new();
            write_point(&result.rows, &mut rows);
            summary.write_rows(rows.bytes())?;
            (1, sink.sha256)
        } else {
            (1, BTreeMap::new())
        };
        sha256.insert("summary.csv".to_string(), summary.finish()?);
        RunFacts {
            started,
            wall_seconds: clock.elapsed().as_secs_f64(),
            threads,
            shard: options.shard.map(|s| s.to_string()),
            scenario_hash: scenario_hash(&resolved),
            points: range.clone(),
            grid_points: points,
            files,
            sha256,
        }
        .write(dir.path())?;
        if s.output.plot && options.shard.is_none() {
            // Drawn inside the partial folder: the result appears with its figures or not at all.
            crate::figures::plot_folder(dir.path(), &crate::figures::PlotOptions::default())?;
        }
        Ok(done)
    };
    let done = fill().map_err(|e| dir.said_of_target(e))?;
    Ok(Written {
        folder: dir.commit()?,
        resumed: resuming.then_some(done),
        running,
    })
}

/// The scenario's result folder — a new partial one, or with `--resume` the one a sweep
/// left — holding its resolved `scenario.toml`; whether it resumes; the points it covers
/// (the shard's, or all `points`); and with `--resume` and nothing taken over, the partial
/// folders that running processes are writing.
fn open_folder(
    s: &Scenario,
    options: &RunOptions,
    points: u64,
    resolved: &str,
) -> Result<(ResultDir, bool, Range<u64>, Vec<PathBuf>), Error> {
    let (root, folder, range) = match options.shard {
        Some(shard) if shard.count > points => {
            return Err(Error::TooManyShards {
                scenario: s.name.clone(),
                index: shard.index,
                count: shard.count,
                points,
            });
        }
        Some(shard) => {
            // The shards go inside the sweep's result folder: never into a folder of the
            // user's, which a later unsharded run (or merge) would replace.
            crate::output::refuse_foreign(&options.out.join(&s.name))?;
            (
                options.out.join(&s.name).join("shards"),
                shard.folder(),
                shard.range(points),
            )
        }
        None => (options.out.clone(), s.name.clone(), 0..points),
    };
    let resumed = match options.resume && s.is_sweep() {
        true => ResultDir::resume(&root, &folder, resolved)?,
        false => None,
    };
    let resuming = resumed.is_some();
    let running = match options.resume && !resuming {
        true => ResultDir::running_partials(&root, &folder),
        false => Vec::new(),
    };
    let dir = match resumed {
        Some(dir) => dir,
        None => ResultDir::begin(&root, &folder)?,
    };
    if !resuming {
        // A resumed folder's is `resolved` already: rewriting it could only damage it.
        let path = dir.path().join("scenario.toml");
        std::fs::write(&path, resolved).map_err(|e| dir.said_of_target(Error::io(&path, e)))?;
    }
    Ok((dir, resuming, range, running))
}

/// Builds `s`'s potential, with a spinner on a terminal when that takes seconds.
fn set_up(s: &Scenario, progress: bool) -> Result<crate::problem::Problem, Error> {
    let slow = s.potential.setup_cost().filter(|c| c.operations >= 1e9);
    let spinner =
        slow.map(|c| sweep::setup_spinner(&s.name, c.method, c.operations * 1e-9, progress));
    let problem = s.try_problem().map_err(|source| Error::Setup {
        scenario: s.name.clone(),
        source,
    });
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    problem
}

/// `summary.csv` of the result being built: continued where a resumed sweep's sound rows
/// end (with the grid points of `range` it already holds), else created with its header.
fn summary_file(
    dir: &ResultDir,
    labels: &[&str],
    resuming: bool,
    range: &std::ops::Range<u64>,
) -> Result<(CsvFile, u64), Error> {
    let path = dir.path().join("summary.csv");
    let header = columns::names(&columns::summary());
    let expected = ExpectedRows {
        first: range.start,
        points: range.end - range.start,
        labels,
    };
    if resuming && let Some(found) = CsvFile::resume(&path, &header, &expected)? {
        return Ok(found);
    }
    if path.is_dir() {
        // Inside this run's own partial folder: whatever made it a folder, start afresh.
        std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
    }
    Ok((CsvFile::create(&path, &header)?, 0))
}

/// What a scenario will write, estimated before it runs (`heavyball check`): the grid's
/// size, the summary rows, and for a single run the most trajectory rows its budgets
/// allow (a run that converges early writes fewer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Grid points.
    pub points: u64,
    /// Rows of `summary.csv`.
    pub summary_rows: u64,
    /// Rows of `continuous.csv`, `discrete.csv` and `comparison.csv`, at most.
    pub trajectory_rows: u64,
    /// Bytes of all of them, roughly (at most, for the trajectories).
    pub bytes: f64,
    /// Building the potential, where that is not negligible.
    pub setup: Option<crate::potential::SetupCost>,
}

/// Shortest round-trip numbers average about 19 bytes with their comma; a summary row
/// about 210 (measured on the shipped scenarios' outputs).
const BYTES_PER_NUMBER: f64 = 19.0;
const BYTES_PER_SUMMARY_ROW: f64 = 210.0;

/// The estimate of `s`'s output, without building its potential.
pub fn estimate(s: &Scenario) -> Estimate {
    let points = s.points();
    let runs = u64::from(s.continuous.is_some()) + s.discrete.len() as u64;
    let summary_rows = points * runs;
    let mut bytes = summary_rows as f64 * BYTES_PER_SUMMARY_ROW;
    let mut trajectory_rows = 0;
    if !s.is_sweep() {
        let layout =
            crate::problem::StateLayout::new(s.potential.dim(), s.output.coordinates.as_deref());
        let state = (columns::continuous(&layout).len()) as f64 * BYTES_PER_NUMBER;
        let steps: u64 = s.point(0).discrete.iter().map(|(_, k)| k + 1).sum();
        trajectory_rows += steps;
        bytes += steps as f64 * (columns::discrete(&layout).len() as f64 * BYTES_PER_NUMBER);
        if let Some(c) = &s.continuous {
            let rows = (c.t_end / c.sample_interval).ceil() as u64 + 2;
            trajectory_rows += rows + if s.discrete.is_empty() { 0 } else { steps };
            bytes += rows as f64 * state;
            if !s.discrete.is_empty() {
                bytes += steps as f64 * columns::comparison().len() as f64 * BYTES_PER_NUMBER;
            }
        }
    }
    Estimate {
        points,
        summary_rows,
        trajectory_rows,
        bytes,
        setup: s.potential.setup_cost(),
    }
}

/// `1.2 GB`, `3.4 MB`, `5.6 kB`.
fn in_bytes(bytes: f64) -> String {
    match bytes {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b => format!("{:.1} kB", b / 1e3),
    }
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let points = if self.points == 1 { "point" } else { "points" };
        write!(
            f,
            "{} {points}, {} summary rows",
            self.points, self.summary_rows
        )?;
        if self.trajectory_rows > 0 {
            write!(f, ", up to {} trajectory rows", self.trajectory_rows)?;
        }
        write!(f, ", about {}", in_bytes(self.bytes))?;
        if let Some(setup) = &self.setup {
            // ~1 ns per operation on the machine of docs/speed.md.
            write!(
                f,
                "; set-up: {}, about {:.1e} operations ({}), {} of memory",
                setup.method,
                setup.operations,
                match setup.operations * 1e-9 {
                    s if s < 1.0 => "under a second".to_string(),
                    s => format!("~{s:.0} s"),
                },
                in_bytes(setup.bytes)
            )?;
        }
        Ok(())
    }
}
