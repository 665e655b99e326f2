//! Scenarios from a path, TOML text or a dict, through the engine's own parser, and
//! optionally with a Python potential in place of the `[potential]` table.

use std::path::PathBuf;
use std::sync::Arc;

use heavyball::dynamics::Method;
use heavyball::observe::Criterion;
use heavyball::potential::Potential;
use heavyball::problem::Problem;
use heavyball::scenario::{self, Scenario};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::dict;
use crate::errors::{Origin, key_error, scenario_error};
use crate::potential::{PotentialHandle, PyPotential};

/// The name a file-less scenario without `name = "..."` gets (a file's is its stem).
const DEFAULT_NAME: &str = "scenario";

/// A scenario, resolved and validated: every default filled, as a result folder's
/// `scenario.toml` states it.
#[pyclass(name = "NativeScenario", module = "heavyball._heavyball", frozen)]
pub struct ScenarioHandle {
    /// The resolved scenario (with a Python potential: a stand-in quadratic of its
    /// dimension and spectrum in `potential`, replaced in [`Self::problem`]).
    pub scenario: Scenario,
    /// Where it came from.
    pub origin: Origin,
    /// The file, or the name file-less input goes by in reports.
    pub file: PathBuf,
    /// The Python potential, if one replaces the `[potential]` table.
    pub potential: Option<Arc<PyPotential>>,
}

impl ScenarioHandle {
    /// The problem to run: the scenario's, with the Python potential in its place. Building
    /// a built-in potential can still fail (a memory limit, a spectrum out of budget).
    pub fn problem(&self) -> Result<Problem, heavyball::Error> {
        self.problem_job()()
    }

    /// [`Self::problem`] as a job for another thread (with its own copy of the scenario).
    pub fn problem_job(
        &self,
    ) -> impl FnOnce() -> Result<Problem, heavyball::Error> + Send + 'static {
        let (scenario, potential) = (self.scenario.clone(), self.potential.clone());
        move || {
            let mut problem = scenario
                .try_problem()
                .map_err(|source| heavyball::Error::Setup {
                    scenario: scenario.name.clone(),
                    source,
                })?;
            if let Some(p) = potential {
                problem.potential = p as Arc<dyn Potential>;
            }
            Ok(problem)
        }
    }

    /// The scenario text, or why a scenario with a Python potential has none.
    pub fn resolved_toml(&self, py: Python<'_>) -> PyResult<String> {
        match self.potential {
            None => Ok(self.scenario.to_toml()),
            Some(_) => Err(key_error(
                py,
                "potential",
                "a Python potential has no scenario-file form: a result folder's scenario.toml could not reproduce it",
            )),
        }
    }
}

#[pymethods]
impl ScenarioHandle {
    /// Refuses a scenario with nothing to run, as the command line's `run` does (its
    /// theory is still there to read).
    pub fn check_runnable(&self, py: Python<'_>) -> PyResult<()> {
        match heavyball::run::nothing_to_run(&self.file, &self.scenario) {
            Some(e) => Err(crate::errors::scenario_error(py, &e, &self.origin)),
            None => Ok(()),
        }
    }

    /// The result folder's name.
    #[getter]
    fn name(&self) -> &str {
        &self.scenario.name
    }

    /// The scenario's description.
    #[getter]
    fn description(&self) -> &str {
        &self.scenario.description
    }

    /// Grid points (1 for a single run).
    #[getter]
    fn points(&self) -> u64 {
        self.scenario.points()
    }

    /// Whether the scenario has a `[sweep]` table.
    #[getter]
    fn is_sweep(&self) -> bool {
        self.scenario.is_sweep()
    }

    /// The potential's dimension n.
    #[getter]
    fn dim(&self) -> usize {
        self.scenario.potential.dim()
    }

    /// Summary rows per grid point (continuous, then the discrete entries).
    #[getter]
    fn runs_per_point(&self) -> usize {
        usize::from(self.scenario.continuous.is_some()) + self.scenario.discrete.len()
    }

    /// Whether a Python potential replaces the `[potential]` table.
    #[getter]
    fn python_potential(&self) -> bool {
        self.potential.is_some()
    }

    /// The resolved scenario as TOML (what `scenario.toml` holds).
    fn to_toml(&self, py: Python<'_>) -> PyResult<String> {
        self.resolved_toml(py)
    }

    /// Pickling (a process pool's arguments and results): the resolved TOML, re-read by
    /// [`restore_scenario`] into the same scenario. A Python potential has no such form
    /// (its functions may be lambdas): refused with a TypeError that says so.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (String, PathBuf, u8))> {
        if self.potential.is_some() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "a Scenario with a Python potential cannot be pickled (its functions may not be): pickle its tables and the Potential's arguments, and make both again",
            ));
        }
        let restore = py
            .import("heavyball._heavyball")?
            .getattr("_restore_scenario")?;
        let origin = match self.origin {
            Origin::File => 0,
            Origin::Text => 1,
            Origin::Dict => 2,
        };
        Ok((
            restore,
            (self.scenario.to_toml(), self.file.clone(), origin),
        ))
    }

    /// The closed-form report of grid point `point` (`heavyball theory`): CSV bytes
    /// (`csv=True`) or text.
    #[pyo3(signature = (point=0, csv=true))]
    fn theory(&self, py: Python<'_>, point: u64, csv: bool) -> PyResult<Py<PyAny>> {
        if let Some(p) = &self.potential
            && p.hessian_spectrum().is_none_or(|ks| ks.len() != p.dim())
        {
            return Err(key_error(
                py,
                "potential",
                "the closed forms need the Hessian's spectrum: give the Potential spectrum= (all n eigenvalues at the minimum)",
            ));
        }
        // On the Python potential where there is one (as its runs' theory columns are), on
        // a thread of its own (a large potential's set-up takes seconds).
        let (file, scenario, potential) = (
            self.file.clone(),
            self.scenario.clone(),
            self.potential.clone(),
        );
        let job = move || match &potential {
            Some(p) => heavyball::report::analyse_with(&file, &scenario, point, &**p),
            None => heavyball::report::analyse(&file, &scenario, point),
        };
        let report = crate::background::off_interpreter(py, self.potential.as_ref(), job)?
            // The command line's flag is this method's argument.
            .map_err(|e| {
                let key = if e.key == "--point" { "point" } else { &e.key };
                key_error(py, key, &e.message)
            })?;
        Ok(match csv {
            true => pyo3::types::PyBytes::new(py, &report.to_csv())
                .into_any()
                .unbind(),
            false => report
                .to_text(&self.file)
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        })
    }

    fn __repr__(&self) -> String {
        let kind = if self.scenario.is_sweep() {
            "sweep"
        } else {
            "single run"
        };
        format!(
            "heavyball.Scenario({:?}, {kind}, {} point(s))",
            self.scenario.name,
            self.scenario.points()
        )
    }
}

/// A scenario file.
#[pyfunction]
#[pyo3(signature = (path, potential=None))]
pub fn scenario_from_path(
    py: Python<'_>,
    path: PathBuf,
    potential: Option<&PotentialHandle>,
) -> PyResult<ScenarioHandle> {
    if path.as_os_str().is_empty() {
        let why =
            "an empty str names no scenario: give the path of a .toml file, TOML text or a dict";
        return Err(key_error(py, "path", why));
    }
    let Some(p) = potential else {
        let s = scenario::load(&path).map_err(|e| scenario_error(py, &e, &Origin::File))?;
        return finish(py, s, Origin::File, path, None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        let e = heavyball::InputError {
            file: path.clone(),
            position: None,
            key: "path".into(),
            message: e.to_string(),
        };
        scenario_error(py, &e, &Origin::File)
    })?;
    from_text_with(py, &text, path, Origin::File, &p.inner)
}

/// TOML text.
#[pyfunction]
#[pyo3(signature = (text, potential=None))]
pub fn scenario_from_text(
    py: Python<'_>,
    text: &str,
    potential: Option<&PotentialHandle>,
) -> PyResult<ScenarioHandle> {
    let file = PathBuf::from(DEFAULT_NAME);
    match potential {
        None => {
            let s = scenario::parse_str(text, &file)
                .map_err(|e| scenario_error(py, &e, &Origin::Text))?;
            finish(py, s, Origin::Text, file, None)
        }
        Some(p) => from_text_with(py, text, file, Origin::Text, &p.inner),
    }
}

/// A dict of the TOML's tables and keys.
#[pyfunction]
#[pyo3(signature = (tables, potential=None))]
pub fn scenario_from_dict(
    py: Python<'_>,
    tables: &Bound<'_, PyDict>,
    potential: Option<&PotentialHandle>,
) -> PyResult<ScenarioHandle> {
    let not_toml = |e: dict::NotToml| key_error(py, &e.key, &e.why);
    let mut table = dict::to_table(tables).map_err(not_toml)?;
    if let Some(p) = potential {
        if table.contains_key("potential") {
            return Err(given_twice(py));
        }
        table.insert("potential".into(), toml::Value::Table(stand_in(&p.inner)));
    }
    let text = dict::to_text(table).map_err(not_toml)?;
    let file = PathBuf::from(DEFAULT_NAME);
    let s = scenario::parse_str(&text, &file).map_err(|e| scenario_error(py, &e, &Origin::Dict))?;
    finish(
        py,
        s,
        Origin::Dict,
        file,
        potential.map(|p| p.inner.clone()),
    )
}

fn given_twice(py: Python<'_>) -> PyErr {
    key_error(
        py,
        "potential",
        "given twice: a [potential] table and potential=; the Python potential replaces the table, so leave the table out",
    )
}

/// Text with a Python potential: the stand-in `[potential]` table appended (after the
/// user's lines, so that every position in an error is the user's own; a text that is not
/// TOML is refused before, on its own).
fn from_text_with(
    py: Python<'_>,
    text: &str,
    file: PathBuf,
    origin: Origin,
    potential: &Arc<PyPotential>,
) -> PyResult<ScenarioHandle> {
    let own = toml::from_str::<toml::Table>(text);
    if own.as_ref().is_ok_and(|t| t.contains_key("potential")) {
        return Err(given_twice(py));
    }
    if own.is_err()
        && let Err(e) = scenario::parse_str(text, &file)
        && e.key == "toml"
    {
        // A syntax error at the user's own position: with the stand-in appended, an array
        // or a string left open runs on into its lines, and the error points there.
        return Err(scenario_error(py, &e, &origin));
    }
    let mut table = toml::Table::new();
    table.insert("potential".into(), toml::Value::Table(stand_in(potential)));
    let appended = toml::to_string(&table).expect("a table of numbers and a string serializes");
    let text = format!("{text}\n{appended}");
    let s = scenario::parse_str(&text, &file).map_err(|e| scenario_error(py, &e, &origin))?;
    finish(py, s, origin, file, Some(potential.clone()))
}

/// The `[potential]` table parsed in a Python potential's place: a quadratic of its
/// dimension whose eigenvalues are its spectrum where all n are known (so that the theory
/// report reads the right closed forms), else ones. The run never evaluates it.
fn stand_in(p: &PyPotential) -> toml::Table {
    let n = p.dim();
    let eigenvalues = match p.hessian_spectrum() {
        Some(ks) if ks.len() == n && ks.iter().all(|&k| k >= 0.0) => ks.to_vec(),
        _ => vec![1.0; n],
    };
    let mut t = toml::Table::new();
    t.insert("kind".into(), "quadratic".into());
    let values = eigenvalues.into_iter().map(toml::Value::Float).collect();
    t.insert("eigenvalues".into(), toml::Value::Array(values));
    t
}

/// The checks the engine's builder makes on a potential of the user's own, for a scenario
/// whose potential is Python.
fn finish(
    py: Python<'_>,
    scenario: Scenario,
    origin: Origin,
    file: PathBuf,
    potential: Option<Arc<PyPotential>>,
) -> PyResult<ScenarioHandle> {
    if let Some(p) = &potential {
        check_python_potential(py, &scenario, p)?;
    }
    Ok(ScenarioHandle {
        scenario,
        origin,
        file,
        potential,
    })
}

fn check_python_potential(py: Python<'_>, s: &Scenario, p: &PyPotential) -> PyResult<()> {
    let needs_minimum = matches!(
        s.stop.criterion,
        Criterion::Distance | Criterion::Loss | Criterion::Energy
    );
    if needs_minimum && p.minimum().is_none() {
        let why = format!(
            "the {} criterion needs the minimum w*: give the Potential minimum=, or use criterion = \"gradient\"",
            s.stop.criterion.as_str()
        );
        return Err(key_error(py, "stop.criterion", &why));
    }
    if s.continuous.is_some_and(|c| c.method == Method::Bdf) && !p.has_hessian() {
        let why = "bdf needs the exact Hessian-vector product: give the Potential hessian_vector=";
        return Err(key_error(py, "continuous.method", why));
    }
    Ok(())
}

/// A pickled scenario back: its resolved TOML read again (the same scenario), with the
/// file and origin its errors and reports name.
#[pyfunction]
#[pyo3(name = "_restore_scenario")]
pub fn restore_scenario(
    py: Python<'_>,
    text: &str,
    file: PathBuf,
    origin: u8,
) -> PyResult<ScenarioHandle> {
    let origin = match origin {
        0 => Origin::File,
        1 => Origin::Text,
        _ => Origin::Dict,
    };
    let s = scenario::parse_str(text, &file).map_err(|e| scenario_error(py, &e, &origin))?;
    finish(py, s, origin, file, None)
}
