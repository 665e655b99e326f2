//! The engine's errors as Python exceptions: bad input (a scenario file, text or dict,
//! and the checks a Python potential adds) is `heavyball.ScenarioError`, a `ValueError`
//! carrying the key and, where the input has them, the file, line and column.

use heavyball::error::{Error as EngineError, InputError};
use heavyball::potential::PotentialError;
use pyo3::exceptions::{PyMemoryError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    heavyball,
    ScenarioError,
    PyValueError,
    "A scenario the engine refuses: the same rule and message as the command line's.\n\n\
     Attributes: `key` (the dotted key, e.g. `particle.friction`), `message` (what is wrong),\n\
     `line` and `column` (1-based, in characters; None for a dict), `file` (the path, or\n\
     None for a dict or TOML text)."
);

/// Where an input came from, which decides how its errors read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file: errors read `FILE:LINE:COL: KEY: message`, as on the command line.
    File,
    /// TOML text: `<string>:LINE:COL: KEY: message`, `file` None.
    Text,
    /// A dict: `KEY: message`, no file and no position (the TOML text is the package's own).
    Dict,
}

/// A `ScenarioError` from the engine's `InputError`, read as `origin` says.
pub fn scenario_error(py: Python<'_>, e: &InputError, origin: &Origin) -> PyErr {
    let position = match origin {
        Origin::Dict => None,
        Origin::File | Origin::Text => e.position,
    };
    let text = match origin {
        Origin::File => e.to_string(),
        Origin::Text => InputError {
            file: "<string>".into(),
            ..e.clone()
        }
        .to_string(),
        // Escaped as the file's and text's messages are (the key and message as attributes
        // stay as they are).
        Origin::Dict => format!(
            "{}: {}",
            heavyball::error::printable(&e.key),
            heavyball::error::printable(&e.message)
        ),
    };
    let file = (*origin == Origin::File).then(|| e.file.display().to_string());
    raise(py, text, &e.key, &e.message, position, file)
}

/// A `ScenarioError` about `key` with no position (checks of the package's own).
pub fn key_error(py: Python<'_>, key: &str, message: &str) -> PyErr {
    raise(py, format!("{key}: {message}"), key, message, None, None)
}

fn raise(
    py: Python<'_>,
    text: String,
    key: &str,
    message: &str,
    position: Option<(usize, usize)>,
    file: Option<String>,
) -> PyErr {
    let err = ScenarioError::new_err(text);
    let value = err.value(py);
    let set = || -> PyResult<()> {
        value.setattr("key", key)?;
        value.setattr("message", message)?;
        value.setattr("line", position.map(|p| p.0))?;
        value.setattr("column", position.map(|p| p.1))?;
        value.setattr("file", file)?;
        Ok(())
    };
    match set() {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// Any other engine error: `OSError` for I/O (naming the path), `ScenarioError` for bad
/// input and a potential whose set-up fails (under the key `potential`), `MemoryError`
/// for a memory limit met while building it, `RuntimeError` for the rest.
pub fn engine_error(py: Python<'_>, e: EngineError) -> PyErr {
    match e {
        EngineError::Input(input) => scenario_error(py, &input, &Origin::File),
        EngineError::Io { .. } => PyOSError::new_err(e.to_string()),
        EngineError::Setup {
            source: PotentialError::Memory { .. },
            ..
        } => PyMemoryError::new_err(e.to_string()),
        EngineError::Setup { source, .. } => key_error(py, "potential", &source.to_string()),
        EngineError::NothingToRun { .. } => key_error(py, "continuous", &e.to_string()),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}
