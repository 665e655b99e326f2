//! Results on disk: CSV writers (shortest round-trip numbers, empty fields for undefined
//! values), the column catalogue behind `manifest.json`, and atomic result folders.

mod atomic;
pub mod columns;
mod manifest;
mod summary;

pub use atomic::ResultDir;
pub use manifest::Manifest;
pub use summary::SummaryRow;

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// A CSV file written row by row with a reusable field buffer (no allocation per field).
pub struct CsvFile {
    path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
    field: String,
}

/// One field of a row.
pub enum Field<'a> {
    /// A number, written in shortest round-trip form; empty when not finite.
    Num(f64),
    /// An optional number (None is an empty field).
    Opt(Option<f64>),
    /// An integer.
    Int(u64),
    /// Text (quoted when it needs to be).
    Text(&'a str),
    /// An empty field.
    Empty,
}

impl CsvFile {
    /// Creates the file and writes the header row.
    pub fn create(path: &Path, header: &[String]) -> Result<Self, Error> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let writer = csv::WriterBuilder::new()
            .flexible(false)
            .from_writer(BufWriter::with_capacity(1 << 16, file));
        let mut out = CsvFile {
            path: path.to_path_buf(),
            writer,
            field: String::with_capacity(32),
        };
        out.writer
            .write_record(header)
            .map_err(|e| out.csv_error(e))?;
        Ok(out)
    }

    fn csv_error(&self, e: csv::Error) -> Error {
        let io = match e.into_kind() {
            csv::ErrorKind::Io(io) => io,
            other => std::io::Error::other(format!("{other:?}")),
        };
        Error::io(&self.path, io)
    }

    /// Appends one field of the current row.
    pub fn field(&mut self, f: Field<'_>) -> Result<(), Error> {
        self.field.clear();
        match f {
            Field::Num(x) | Field::Opt(Some(x)) => push_num(&mut self.field, x),
            Field::Int(i) => {
                let _ = write!(self.field, "{i}");
            }
            Field::Text(s) => self.field.push_str(s),
            Field::Opt(None) | Field::Empty => {}
        }
        let r = self.writer.write_field(self.field.as_bytes());
        r.map_err(|e| self.csv_error(e))
    }

    /// Appends several numbers.
    pub fn nums(&mut self, xs: &[f64]) -> Result<(), Error> {
        for &x in xs {
            self.field(Field::Num(x))?;
        }
        Ok(())
    }

    /// Ends the current row.
    pub fn end_row(&mut self) -> Result<(), Error> {
        let r = self.writer.write_record(None::<&[u8]>);
        r.map_err(|e| self.csv_error(e))
    }

    /// Flushes everything to disk.
    pub fn finish(mut self) -> Result<(), Error> {
        let r = self.writer.flush();
        r.map_err(|e| Error::io(&self.path, e))
    }
}

/// Rust's shortest round-trip form of a finite number; nothing for NaN or ±inf (SPEC: an
/// undefined value is an empty field).
pub fn push_num(out: &mut String, x: f64) {
    if x == 0.0 {
        // −0.0 (e.g. a zero decay rate written as −ln 1) reads as a sign where there is none.
        out.push_str("0.0");
    } else if x.is_finite() {
        let _ = write!(out, "{x:?}");
    }
}

/// Per-coordinate column names `prefix1..prefixn`.
pub fn coordinate_names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}
