//! Scenario files: parse (spanned TOML), validate (one [`InputError`] with file, line,
//! column and key), resolve (every default filled) and write back as TOML.
//!
//! A [`Scenario`] is the resolved form: re-reading the text that [`Scenario::to_toml`]
//! writes gives the same scenario, so a result folder's `scenario.toml` reproduces it.

mod parse;
mod reader;
mod write;

use std::path::{Path, PathBuf};

use crate::error::InputError;

// The engine's types this module converts into (`parse` and `write` see them too).
use crate::dynamics::{
    Budget, ContinuousSpec, DiscreteParams, DiscreteSpec, Form, GradientSpec, Map, Method, Model,
    Scheme, step_dividing,
};
use crate::grid::{Axis, AxisKey, AxisSpec, Sweep};
use crate::observe::{Criterion, StopSpec};
use crate::potential::{ExpressionMinimum, HessianSpec, PotentialSpec};
use crate::problem::{OutputSpec, Particle, Point};

pub(crate) use parse::name_position;
pub use parse::parse_str;

/// A resolved scenario: every default filled, every rule of SPEC.md checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Output folder name.
    pub name: String,
    /// Free text saying what the scenario shows.
    pub description: String,
    /// The loss surface.
    pub potential: PotentialSpec,
    /// Mass, friction and initial state.
    pub particle: Particle,
    /// The continuous run, if any.
    pub continuous: Option<ContinuousSpec>,
    /// The discrete runs, in file order.
    pub discrete: Vec<DiscreteSpec>,
    /// When a run has converged or diverged.
    pub stop: StopSpec,
    /// Which trajectory columns to write.
    pub output: OutputSpec,
    /// Gradient noise, if any.
    pub gradient: Option<GradientSpec>,
    /// The grid, if this is a sweep. Keys it replaces hold its first value above;
    /// [`Scenario::point`] gives every point's.
    pub sweep: Option<Sweep>,
}

impl Scenario {
    /// The resolved scenario as TOML (what `scenario.toml` holds).
    pub fn to_toml(&self) -> String {
        write::to_toml(self)
    }

    /// The problem this scenario describes, in the engine's types (its potential built).
    ///
    /// # Panics
    /// Where [`Scenario::try_problem`] fails: a memory limit, or a spectrum out of budget.
    pub fn problem(&self) -> crate::problem::Problem {
        self.try_problem()
            .unwrap_or_else(|e| panic!("scenario {}: {e}", self.name))
    }

    /// The problem this scenario describes, its potential built: the one step after
    /// validation that can still fail ([`PotentialError::Memory`](crate::potential::PotentialError::Memory)
    /// under a memory limit, [`PotentialError::Spectrum`](crate::potential::PotentialError::Spectrum)).
    pub fn try_problem(&self) -> Result<crate::problem::Problem, crate::potential::PotentialError> {
        Ok(crate::problem::Problem {
            potential: std::sync::Arc::from(crate::potential::build(&self.potential)?),
            particle: self.particle.clone(),
            continuous: self.continuous,
            discrete: self.discrete.clone(),
            stop: self.stop,
            gradient: self.gradient,
            coordinates: self.output.coordinates.clone(),
            grid: self.sweep.clone(),
        })
    }

    /// Number of grid points (1 for a single run).
    pub fn points(&self) -> u64 {
        self.sweep.as_ref().map_or(1, Sweep::len)
    }

    /// Whether the scenario is a sweep.
    pub fn is_sweep(&self) -> bool {
        self.sweep.is_some()
    }

    /// Whether `key` is swept.
    pub fn sweeps(&self, key: AxisKey) -> bool {
        self.sweep.as_ref().is_some_and(|s| s.sweeps(key))
    }

    /// Point `index` of the grid (`index < points()`).
    pub fn point(&self, index: u64) -> Point {
        crate::problem::resolve_point(
            index,
            self.sweep.as_ref(),
            &self.particle,
            &self.discrete,
            self.continuous.as_ref(),
        )
    }
}

/// Reads and resolves one scenario file.
pub fn load(path: &Path) -> Result<Scenario, InputError> {
    let refuse = |message: String| InputError {
        file: path.to_path_buf(),
        position: None,
        key: "path".into(),
        message,
    };
    // A pipe or a device would be read until it ends, perhaps never.
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => {
            return Err(refuse(
                "not a regular file (a pipe, socket or device?)".into(),
            ));
        }
        _ => {}
    }
    let bytes = std::fs::read(path).map_err(|e| refuse(path_message(path, &e)))?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let src = reader::Source {
                file: path,
                text: &text,
            };
            return Err(src.error(
                Some(valid..valid),
                "file",
                "not a UTF-8 text file (binary?)",
            ));
        }
    };
    parse_str(&text, path)
}

/// [`io_message`], naming a symbolic link whose target is missing as such: "no such file"
/// of a path that `ls` lists would mislead.
fn path_message(path: &Path, e: &std::io::Error) -> String {
    // Not found, yet a link that reads: its target is what is missing.
    match std::fs::read_link(path) {
        Ok(target) if e.kind() == std::io::ErrorKind::NotFound => format!(
            "a symbolic link to {}, which does not exist",
            target.display()
        ),
        _ => io_message(e),
    }
}

/// A short human message for an I/O error on an input path.
fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ if e.raw_os_error() == Some(21) => "is a directory".into(),
        _ => e.to_string(),
    }
}

/// Expands command-line paths into scenario files: a directory means every `*.toml` in it,
/// in name order. Each path that cannot be used is an error of its own; a file given more
/// than once (itself, through its directory or a link) is listed once.
pub fn collect_paths(paths: &[PathBuf]) -> Vec<Result<PathBuf, InputError>> {
    let mut out = Vec::new();
    // The files already listed, by their real path: a file named twice (`scenarios/` and
    // `scenarios/a.toml`, or through a link) runs once, where it first appears.
    let mut seen = std::collections::HashSet::new();
    let mut first = |p: &PathBuf| seen.insert(std::fs::canonicalize(p).unwrap_or(p.clone()));
    for path in paths {
        let err = |message: String| InputError {
            file: path.clone(),
            position: None,
            key: "path".into(),
            message,
        };
        match std::fs::metadata(path) {
            Err(e) => out.push(Err(err(path_message(path, &e)))),
            Ok(meta) if meta.is_dir() => match std::fs::read_dir(path) {
                Err(e) => out.push(Err(err(io_message(&e)))),
                Ok(entries) => {
                    // Every `*.toml` that is not a folder: one that cannot be read (a
                    // broken link, a pipe) is refused by `load` with its reason, not
                    // skipped without a word.
                    let mut files: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "toml") && !p.is_dir())
                        .collect();
                    files.sort();
                    if files.is_empty() {
                        out.push(Err(
                            err("no *.toml scenario files in this directory".into()),
                        ));
                    }
                    out.extend(files.into_iter().filter(&mut first).map(Ok));
                }
            },
            Ok(_) if first(path) => out.push(Ok(path.clone())),
            Ok(_) => {}
        }
    }
    out
}
