//! A scenario given as Python objects (a dict of the TOML's tables and keys) turned into
//! TOML text, so that it goes through the same parser and validation as a file.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};

/// Why a Python object has no TOML form; `key` is the dotted path to it.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {why}")]
pub struct NotToml {
    /// Where in the dict, e.g. `particle.position[2]`.
    pub key: String,
    /// What is wrong with it.
    pub why: String,
}

/// The TOML table of a dict of tables and keys (a key whose value is None is left out).
pub fn to_table(dict: &Bound<'_, PyDict>) -> Result<toml::Table, NotToml> {
    table(dict, "", 0)
}

/// How deep dicts and lists may nest (a scenario needs 3: `sweep.mass.logspace`): deeper is
/// refused, which also stops a list or dict that holds itself (it would recurse forever).
const MAX_DEPTH: usize = 32;

/// A table as TOML text.
pub fn to_text(table: toml::Table) -> Result<String, NotToml> {
    toml::to_string(&toml::Value::Table(table)).map_err(|e| NotToml {
        key: "scenario".into(),
        why: e.to_string(),
    })
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn table(dict: &Bound<'_, PyDict>, path: &str, depth: usize) -> Result<toml::Table, NotToml> {
    let mut out = toml::Table::new();
    for (k, v) in dict.iter() {
        let Ok(key) = k.extract::<String>() else {
            let why = match k.is_instance_of::<PyString>() {
                true => "a key must be valid Unicode (this one holds a lone surrogate)".into(),
                false => format!("keys must be strings, got {}", type_name(&k)),
            };
            return Err(NotToml {
                key: child(path, &k.to_string()),
                why,
            });
        };
        let here = child(path, &key);
        if v.is_none() {
            // No TOML null: a key left out takes its default.
            continue;
        }
        out.insert(key, value(&v, &here, depth)?);
    }
    Ok(out)
}

/// One value: bool, int, float (NumPy scalars too), str, a list or tuple (or anything with
/// `tolist`, such as a NumPy array), or a dict.
fn value(v: &Bound<'_, PyAny>, key: &str, depth: usize) -> Result<toml::Value, NotToml> {
    let fail = |why: String| NotToml {
        key: key.to_string(),
        why,
    };
    let nested = v.is_instance_of::<PyList>()
        || v.is_instance_of::<PyTuple>()
        || v.cast::<PyMapping>().is_ok();
    if nested && depth >= MAX_DEPTH {
        return Err(fail(format!(
            "lists and dicts nested more than {MAX_DEPTH} deep (does one hold itself?)"
        )));
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(
            v.extract::<bool>().map_err(|e| fail(e.to_string()))?,
        ));
    }
    if v.is_instance_of::<PyInt>() {
        let i: i64 = v
            .extract()
            .map_err(|_| fail(format!("the integer {v} does not fit in 64 bits")))?;
        return Ok(toml::Value::Integer(i));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(
            v.extract::<f64>().map_err(|e| fail(e.to_string()))?,
        ));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(
            v.extract::<String>().map_err(|e| fail(e.to_string()))?,
        ));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        return table(d, key, depth + 1).map(toml::Value::Table);
    }
    if v.cast::<PyMapping>().is_ok() {
        // Any other mapping (a MappingProxyType, a custom Mapping), as the top level takes it.
        let d = v
            .py()
            .get_type::<PyDict>()
            .call1((v,))
            .and_then(|d| Ok(d.cast_into::<PyDict>()?))
            .map_err(|e| fail(e.to_string()))?;
        return table(&d, key, depth + 1).map(toml::Value::Table);
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items = v.try_iter().map_err(|e| fail(e.to_string()))?;
        let mut out = Vec::new();
        for (i, item) in items.enumerate() {
            let item = item.map_err(|e| fail(e.to_string()))?;
            out.push(value(&item, &format!("{key}[{}]", i + 1), depth + 1)?);
        }
        return Ok(toml::Value::Array(out));
    }
    numpy_like(v, key, depth).unwrap_or_else(|| {
        Err(fail(format!(
            "{} has no TOML form (numbers, strings, booleans, lists and dicts do)",
            type_name(v)
        )))
    })
}

/// NumPy arrays and scalars (and anything alike): an integer through `__index__`, an array
/// through `tolist()`, a real number through `__float__`.
fn numpy_like(
    v: &Bound<'_, PyAny>,
    key: &str,
    depth: usize,
) -> Option<Result<toml::Value, NotToml>> {
    if v.hasattr("__index__").unwrap_or(false)
        && let Ok(i) = v.call_method0("__index__").and_then(|i| i.extract::<i64>())
    {
        return Some(Ok(toml::Value::Integer(i)));
    }
    if v.hasattr("tolist").unwrap_or(false)
        && let Ok(list) = v.call_method0("tolist")
        && !list.is(v)
    {
        return Some(value(&list, key, depth + 1));
    }
    if v.hasattr("__float__").unwrap_or(false)
        && let Ok(x) = v.call_method0("__float__").and_then(|x| x.extract::<f64>())
    {
        return Some(Ok(toml::Value::Float(x)));
    }
    None
}

/// The name of `v`'s type.
pub fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "this object".into())
}
