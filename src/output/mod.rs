//! Results on disk: CSV writers (shortest round-trip numbers, empty fields for undefined
//! values), the column catalogue behind `manifest.json`, and atomic result folders.

mod atomic;
pub mod columns;
mod manifest;
pub mod plot;
mod summary;
mod trajectories;

pub use atomic::ResultDir;
pub(crate) use atomic::{alive, refuse_foreign};
pub use manifest::{ColumnEntry, ENGINE, Manifest, RunFacts, VERSION, scenario_hash, sha256_file};
pub use summary::{write_point, write_summary, write_summary_row};
pub use trajectories::{CsvTrajectories, Table, Trajectories, comparison_fields, trajectory_table};

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::number;

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

/// Rows formatted into memory: the one CSV formatter of the engine (RFC 4180, `\n` line
/// ends, a field quoted only when it holds a comma, a quote or a line break), so that a row
/// reads the same whichever file or thread formats it.
#[derive(Debug, Default)]
pub struct Rows {
    buf: Vec<u8>,
    row_start: bool,
}

impl Rows {
    /// An empty buffer.
    pub fn new() -> Self {
        Rows {
            buf: Vec::with_capacity(256),
            row_start: true,
        }
    }

    /// Rows formatted into `buffer` (emptied first; its memory reused).
    pub fn over(mut buffer: Vec<u8>) -> Self {
        buffer.clear();
        Rows {
            buf: buffer,
            row_start: true,
        }
    }

    /// The rows formatted, as bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Appends one field of the current row.
    pub fn field(&mut self, f: Field<'_>) {
        if !self.row_start {
            self.buf.push(b',');
        }
        self.row_start = false;
        match f {
            Field::Num(x) | Field::Opt(Some(x)) => push_num_bytes(&mut self.buf, x),
            Field::Int(i) => {
                let mut itoa = itoa::Buffer::new();
                self.buf.extend_from_slice(itoa.format(i).as_bytes());
            }
            Field::Text(s) => self.text(s),
            Field::Opt(None) | Field::Empty => {}
        }
    }

    /// Appends one text field made of `parts` joined by `separator` (the same bytes as
    /// `Field::Text` of the joined string, without building it).
    pub fn joined<'s>(&mut self, parts: impl Iterator<Item = &'s str> + Clone, separator: &str) {
        if !self.row_start {
            self.buf.push(b',');
        }
        self.row_start = false;
        let quoted = needs_quotes(separator) || parts.clone().any(needs_quotes);
        if quoted {
            self.buf.push(b'"');
        }
        for (i, part) in parts.enumerate() {
            for piece in [separator, part].into_iter().skip(usize::from(i == 0)) {
                if quoted {
                    self.buf
                        .extend_from_slice(piece.replace('"', "\"\"").as_bytes());
                } else {
                    self.buf.extend_from_slice(piece.as_bytes());
                }
            }
        }
        if quoted {
            self.buf.push(b'"');
        }
    }

    /// A text field, quoted where it must be.
    fn text(&mut self, s: &str) {
        if needs_quotes(s) {
            self.buf.push(b'"');
            self.buf
                .extend_from_slice(s.replace('"', "\"\"").as_bytes());
            self.buf.push(b'"');
        } else {
            self.buf.extend_from_slice(s.as_bytes());
        }
    }

    /// Appends several numbers.
    pub fn nums(&mut self, xs: &[f64]) {
        for &x in xs {
            self.field(Field::Num(x));
        }
    }

    /// Ends the current row.
    pub fn end_row(&mut self) {
        self.buf.push(b'\n');
        self.row_start = true;
    }

    /// A header row of names.
    pub fn header(&mut self, names: &[String]) {
        for n in names {
            self.field(Field::Text(n));
        }
        self.end_row();
    }

    /// The formatted bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets the rows formatted so far (keeping the memory).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.row_start = true;
    }
}

/// A CSV file written row by row through [`Rows`], flushed in large blocks, and hashed
/// (SHA-256, for the manifest) as it is written rather than read back.
pub struct CsvFile {
    path: PathBuf,
    out: BufWriter<File>,
    rows: Rows,
    hasher: Sha256,
}

impl CsvFile {
    /// Continues the file a killed sweep left: cut back to its last whole grid point whose
    /// rows are all as `expected` says and well formed, and opened for appending, hashed from
    /// its first byte. Returns the file and the points it already holds; None when what is
    /// there is not this header's file (then the caller starts afresh).
    pub fn resume(
        path: &Path,
        header: &[String],
        expected: &ExpectedRows<'_>,
    ) -> Result<Option<(Self, u64)>, Error> {
        let Ok(bytes) = std::fs::read(path) else {
            return Ok(None);
        };
        let mut head = Rows::new();
        head.header(header);
        if !bytes.starts_with(head.bytes()) || expected.labels.is_empty() {
            return Ok(None);
        }
        let (points, body) = expected.whole_points(&bytes[head.bytes().len()..], header.len());
        let keep = head.bytes().len() + body;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        file.set_len(keep as u64).map_err(|e| Error::io(path, e))?;
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))
            .map_err(|e| Error::io(path, e))?;
        let mut hasher = Sha256::new();
        hasher.update(&bytes[..keep]);
        let out = CsvFile {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 16, file),
            rows: Rows::new(),
            hasher,
        };
        Ok(Some((out, points)))
    }

    /// Creates the file and writes the header row.
    pub fn create(path: &Path, header: &[String]) -> Result<Self, Error> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut out = CsvFile {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 16, file),
            rows: Rows::new(),
            hasher: Sha256::new(),
        };
        out.rows.header(header);
        out.drain()?;
        Ok(out)
    }

    fn drain(&mut self) -> Result<(), Error> {
        self.hasher.update(self.rows.bytes());
        let r = self.out.write_all(self.rows.bytes());
        self.rows.clear();
        r.map_err(|e| Error::io(&self.path, e))
    }

    /// Appends one field of the current row.
    pub fn field(&mut self, f: Field<'_>) -> Result<(), Error> {
        self.rows.field(f);
        Ok(())
    }

    /// Appends several numbers.
    pub fn nums(&mut self, xs: &[f64]) -> Result<(), Error> {
        self.rows.nums(xs);
        Ok(())
    }

    /// Ends the current row.
    pub fn end_row(&mut self) -> Result<(), Error> {
        self.rows.end_row();
        self.drain()
    }

    /// Appends rows formatted elsewhere (whole rows, ending in a line break).
    pub fn write_rows(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.hasher.update(bytes);
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes everything to disk; returns the SHA-256 (hex) of every byte written.
    pub fn finish(mut self) -> Result<String, Error> {
        let r = self.out.flush();
        r.map_err(|e| Error::io(&self.path, e))?;
        Ok(manifest::hex(&self.hasher.finalize()))
    }
}

/// What the rows of a resumed `summary.csv` must be: those of grid points `first`,
/// `first + 1`, … (at most `points` of them), each point's rows labelled `labels` in order.
pub struct ExpectedRows<'a> {
    /// The first grid point (a shard's own).
    pub first: u64,
    /// How many points the file may hold.
    pub points: u64,
    /// The `method` of each of a point's rows.
    pub labels: &'a [&'a str],
}

impl ExpectedRows<'_> {
    /// Of `body` (the rows after the header), the whole points at its start whose every row
    /// is UTF-8, has `columns` fields and starts with its expected point and method: how
    /// many, and the bytes they take. A malformed or out-of-order row (a damaged or
    /// hand-edited file) ends them; an edited number that keeps its row's shape is not seen.
    fn whole_points(&self, body: &[u8], columns: usize) -> (u64, usize) {
        let per = self.labels.len();
        let (mut start, mut keep, mut points) = (0, 0, 0);
        let mut prefix = Rows::new();
        for (r, end) in row_ends(body).into_iter().enumerate() {
            let point = self.first + (r / per) as u64;
            if point >= self.first + self.points {
                break;
            }
            let row = &body[start..end];
            prefix.clear();
            prefix.field(Field::Int(point));
            prefix.field(Field::Text(self.labels[r % per]));
            let sound = std::str::from_utf8(row).is_ok()
                && row.starts_with(prefix.bytes())
                && row.get(prefix.bytes().len()) == Some(&b',')
                && field_count(row) == columns;
            if !sound {
                break;
            }
            start = end + 1;
            if (r + 1) % per == 0 {
                (keep, points) = (start, points + 1);
            }
        }
        (points, keep)
    }
}

/// The fields of one CSV row (without its line end): its commas outside quotes, plus one.
fn field_count(row: &[u8]) -> usize {
    let mut quoted = false;
    let mut commas = 0;
    for &b in row {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            _ => {}
        }
    }
    commas + 1
}

/// The offsets of the line breaks that end CSV rows in `bytes` (not those inside a quoted
/// field): a row cut short by a kill has none.
fn row_ends(bytes: &[u8]) -> Vec<usize> {
    let mut quoted = false;
    let mut ends = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => ends.push(i),
            _ => {}
        }
    }
    ends
}

/// Rust's shortest round-trip form of a finite number; nothing for NaN or ±inf (SPEC: an
/// undefined value is an empty field).
pub fn push_num(out: &mut String, x: f64) {
    let mut bytes = Vec::with_capacity(24);
    push_num_bytes(&mut bytes, x);
    out.push_str(std::str::from_utf8(&bytes).expect("numbers are ASCII"));
}

/// Whether a CSV field holding `s` must be quoted: it holds a comma, a quote or a line break.
fn needs_quotes(s: &str) -> bool {
    s.contains([',', '"', '\n', '\r'])
}

/// [`push_num`] into bytes (the CSV writers' fast path).
fn push_num_bytes(out: &mut Vec<u8>, x: f64) {
    if x == 0.0 {
        // −0.0 (e.g. a zero decay rate written as −ln 1) reads as a sign where there is none.
        out.extend_from_slice(b"0.0");
    } else if x.is_finite() {
        number::push_shortest(out, x);
    }
}

/// Per-coordinate column names `prefix1..prefixn`.
pub fn coordinate_names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::{Field, Rows};

    /// A joined field is the bytes of the joined string as one text field: quoted (quotes
    /// doubled) exactly when some part holds a comma, a quote or a line break.
    #[test]
    fn joined_parts_are_the_joined_text() {
        let cases: [&[&str]; 5] = [
            &["diverged"],
            &["a", "b c", "d"],
            &["step 9", "|w| = 1e13, at step 9"],
            &["say \"hi\"", "x"],
            &["line\nbreak", "cr\r"],
        ];
        for parts in cases {
            let (mut joined, mut whole) = (Rows::new(), Rows::new());
            joined.field(Field::Int(1));
            joined.joined(parts.iter().copied(), "; ");
            whole.field(Field::Int(1));
            whole.field(Field::Text(&parts.join("; ")));
            assert_eq!(joined.bytes(), whole.bytes(), "{parts:?}");
        }
        let mut rows = Rows::new();
        rows.joined(["a,b", "c\"d"].into_iter(), "; ");
        assert_eq!(rows.bytes(), b"\"a,b; c\"\"d\"");
    }
}
