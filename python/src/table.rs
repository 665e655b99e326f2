//! The engine's CSV bytes read back into typed columns (for DataFrames), so that a
//! DataFrame holds exactly what the file holds: the same writer made both.

use heavyball::output::columns;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// Columns written as integers (`Field::Int`): the grid point, step counts and indices.
const INTEGER_COLUMNS: [&str; 4] = ["point", "steps", "evaluations", "step"];

/// How a column is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// float64, an empty field NaN.
    Float,
    /// int64 (never empty).
    Integer,
    /// Text, an empty field None.
    Text,
}

/// Why CSV bytes could not be read (the engine wrote something this reader does not know).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A field that should be a number is not.
    #[error("{table}: row {row}, column {column}: not a number: {text:?}")]
    NotANumber {
        /// The table.
        table: String,
        /// 1-based data row.
        row: usize,
        /// The column.
        column: String,
        /// The field.
        text: String,
    },
    /// A row with a different number of fields than the header.
    #[error("{table}: row {row} has {got} fields, the header {expected}")]
    Ragged {
        /// The table.
        table: String,
        /// 1-based data row.
        row: usize,
        /// The header's count.
        expected: usize,
        /// The row's.
        got: usize,
    },
}

impl From<ReadError> for PyErr {
    fn from(e: ReadError) -> Self {
        pyo3::exceptions::PyValueError::new_err(e.to_string())
    }
}

/// The kind of column `name` of `table` (`summary`, `continuous`, `discrete`,
/// `comparison` or `theory`): text where the catalogue's unit is empty.
fn kind(table: &str, name: &str) -> Kind {
    if table == "theory" {
        return if name == "value" {
            Kind::Float
        } else {
            Kind::Text
        };
    }
    if INTEGER_COLUMNS.contains(&name) {
        return Kind::Integer;
    }
    let text = columns::summary()
        .into_iter()
        .chain(columns::comparison())
        .any(|c| c.name == name && c.unit.is_empty());
    if text { Kind::Text } else { Kind::Float }
}

/// Splits CSV bytes (RFC 4180, `\n` line ends, as the engine writes them) into rows of
/// fields, quotes removed.
fn records(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8_lossy(bytes);
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// One column's values.
enum Values {
    Float(Vec<f64>),
    Integer(Vec<i64>),
    Text(Vec<Option<String>>),
}

fn column(table: &str, name: &str, rows: &[Vec<String>], j: usize) -> Result<Values, ReadError> {
    let bad = |row: usize, text: &str| ReadError::NotANumber {
        table: table.into(),
        row: row + 1,
        column: name.into(),
        text: text.into(),
    };
    Ok(match kind(table, name) {
        Kind::Text => Values::Text(
            rows.iter()
                .map(|r| Some(r[j].clone()).filter(|s| !s.is_empty()))
                .collect(),
        ),
        Kind::Integer => Values::Integer(
            rows.iter()
                .enumerate()
                .map(|(i, r)| r[j].parse().map_err(|_| bad(i, &r[j])))
                .collect::<Result<_, _>>()?,
        ),
        Kind::Float => Values::Float(
            rows.iter()
                .enumerate()
                .map(|(i, r)| match r[j].as_str() {
                    "" => Ok(f64::NAN),
                    s => s.parse().map_err(|_| bad(i, s)),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// CSV bytes of one of the engine's tables as `[(name, values), ...]` in header order:
/// numbers as NumPy float64 (an empty field NaN) or int64 arrays, text as lists of str
/// (an empty field None).
#[pyfunction]
pub fn read_csv<'py>(py: Python<'py>, data: &[u8], table: &str) -> PyResult<Bound<'py, PyList>> {
    let mut rows = py.detach(|| records(data));
    if rows.is_empty() {
        return Ok(PyList::empty(py));
    }
    let header = rows.remove(0);
    if let Some((i, r)) = rows
        .iter()
        .enumerate()
        .find(|(_, r)| r.len() != header.len())
    {
        return Err(ReadError::Ragged {
            table: table.into(),
            row: i + 1,
            expected: header.len(),
            got: r.len(),
        }
        .into());
    }
    let out = PyList::empty(py);
    for (j, name) in header.iter().enumerate() {
        let values = py.detach(|| column(table, name, &rows, j))?;
        let values: Bound<'py, PyAny> = match values {
            Values::Float(v) => PyArray1::from_vec(py, v).into_any(),
            Values::Integer(v) => PyArray1::from_vec(py, v).into_any(),
            Values::Text(v) => PyList::new(py, v)?.into_any(),
        };
        out.append((name, values))?;
    }
    Ok(out)
}
