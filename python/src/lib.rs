//! `heavyball._heavyball`: the native half of the Python package `heavyball` (the pure
//! Python wrapper in `python/heavyball/` is the documented interface).
//!
//! Everything goes through the engine's library API: scenarios through its parser (the
//! same validation and messages as files), runs through `PointRunner` and
//! `Problem::sweep_rows`, results through its CSV writers into memory and its atomic
//! result folders, so that Python and the command line write the same bytes.

mod background;
mod dict;
mod errors;
mod potential;
mod results;
mod scenario;
mod stream;
mod table;

use pyo3::prelude::*;

// std's f64 methods, in the solvers' crates too, on the `libm` crate (bound inside the module
// by build.rs's -Bsymbolic): the same bits as the command line, on every machine.
heavyball::portable_math!();

/// The native module.
#[pymodule]
fn _heavyball(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ScenarioError", m.py().get_type::<errors::ScenarioError>())?;
    m.add("ENGINE_VERSION", heavyball::output::VERSION)?;
    m.add_class::<potential::PotentialHandle>()?;
    m.add_class::<scenario::ScenarioHandle>()?;
    m.add_class::<results::RunResult>()?;
    m.add_class::<stream::SummaryStream>()?;
    m.add_function(wrap_pyfunction!(scenario::scenario_from_path, m)?)?;
    m.add_function(wrap_pyfunction!(scenario::scenario_from_text, m)?)?;
    m.add_function(wrap_pyfunction!(scenario::scenario_from_dict, m)?)?;
    m.add_function(wrap_pyfunction!(results::run, m)?)?;
    m.add_function(wrap_pyfunction!(results::write, m)?)?;
    m.add_function(wrap_pyfunction!(scenario::restore_scenario, m)?)?;
    m.add_function(wrap_pyfunction!(results::restore_result, m)?)?;
    m.add_function(wrap_pyfunction!(stream::stream, m)?)?;
    m.add_function(wrap_pyfunction!(table::read_csv, m)?)?;
    Ok(())
}
