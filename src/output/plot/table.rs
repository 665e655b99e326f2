//! Reading the engine's CSVs back: a streaming RFC 4180 reader (quoted fields, reused
//! buffers) and a column table of the numbers a figure needs.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// What is wrong with a CSV the figures read back; the figures name the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CsvError {
    /// The file cannot be opened.
    #[error("cannot read: {0}")]
    Open(std::io::Error),
    /// Reading a line failed (or it is not UTF-8).
    #[error("line {line}: {source}")]
    Read {
        /// 1-based.
        line: u64,
        source: std::io::Error,
    },
    /// Not even a header row.
    #[error("is empty (no header row)")]
    Empty,
    /// A record with more or fewer fields than the header.
    #[error("line {line}: {found} fields where the header has {expected}")]
    Fields {
        /// 1-based.
        line: u64,
        found: usize,
        expected: usize,
    },
    /// A quoted field that runs to the end of the file.
    #[error("line {line}: a quoted field is never closed")]
    Unclosed {
        /// 1-based, where the record starts.
        line: u64,
    },
    /// A `point` field that is not a point index.
    #[error("line {line}: point \"{field}\" is not an index")]
    NotAnIndex {
        /// 1-based.
        line: u64,
        field: String,
    },
    /// A field of a number column that is neither empty nor a number.
    #[error("line {line}: column {column} holds \"{field}\", not a number")]
    NotANumber {
        /// 1-based.
        line: u64,
        column: String,
        field: String,
    },
}

/// A CSV read record by record, the header first.
pub(crate) struct CsvReader {
    input: BufReader<File>,
    line: String,
    fields: Vec<String>,
    used: usize,
    header: Vec<String>,
    /// 1-based line number of the record last read.
    pub line_no: u64,
}

impl CsvReader {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, CsvError> {
        let file = File::open(path).map_err(CsvError::Open)?;
        let mut r = CsvReader {
            input: BufReader::with_capacity(1 << 16, file),
            line: String::new(),
            fields: Vec::new(),
            used: 0,
            header: Vec::new(),
            line_no: 0,
        };
        if !r.advance()? {
            return Err(CsvError::Empty);
        }
        r.header = r.fields[..r.used].to_vec();
        Ok(r)
    }

    /// The header's column names.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The index of a column, if present.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The next record (as many fields as the header), None at the end.
    pub fn next_record(&mut self) -> Result<Option<&[String]>, CsvError> {
        if !self.advance()? {
            return Ok(None);
        }
        if self.used != self.header.len() {
            return Err(CsvError::Fields {
                line: self.line_no,
                found: self.used,
                expected: self.header.len(),
            });
        }
        Ok(Some(&self.fields[..self.used]))
    }

    fn read_line(&mut self) -> Result<bool, CsvError> {
        let n = self
            .input
            .read_line(&mut self.line)
            .map_err(|source| CsvError::Read {
                line: self.line_no + 1,
                source,
            })?;
        self.line_no += 1;
        Ok(n > 0)
    }

    /// Parses one record into `fields` (a quoted field may span lines).
    fn advance(&mut self) -> Result<bool, CsvError> {
        self.line.clear();
        if !self.read_line()? {
            return Ok(false);
        }
        while self.line.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
            let start = self.line_no;
            if !self.read_line()? {
                return Err(CsvError::Unclosed { line: start });
            }
        }
        let text = self.line.trim_end_matches(['\n', '\r']);
        self.used = 0;
        let mut chars = text.chars().peekable();
        loop {
            if self.fields.len() == self.used {
                self.fields.push(String::new());
            }
            let f = &mut self.fields[self.used];
            f.clear();
            self.used += 1;
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            f.push('"');
                        } else {
                            break;
                        }
                    } else {
                        f.push(c);
                    }
                }
            }
            loop {
                match chars.next() {
                    None => return Ok(true),
                    Some(',') => break,
                    Some(c) => f.push(c),
                }
            }
        }
    }
}

/// A `point` field: the grid point's index.
pub(crate) fn parse_index(field: &str, line: u64) -> Result<u64, CsvError> {
    field.parse().map_err(|_| CsvError::NotAnIndex {
        line,
        field: field.to_owned(),
    })
}

/// A number field: None when empty, an error when not a number.
pub(crate) fn parse_field(field: &str, line: u64, column: &str) -> Result<Option<f64>, CsvError> {
    if field.is_empty() {
        return Ok(None);
    }
    field
        .parse::<f64>()
        .map(Some)
        .map_err(|_| CsvError::NotANumber {
            line,
            column: column.to_owned(),
            field: field.to_owned(),
        })
}

/// Some columns of a CSV in memory: numbers (None for empty fields) and the `method` text.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub names: Vec<String>,
    pub numbers: Vec<Vec<Option<f64>>>,
    pub method: Vec<String>,
}

impl Table {
    /// Reads the columns `wanted` that the file has (and `method`, if it has one).
    pub fn load(path: &Path, wanted: &[String]) -> Result<Table, CsvError> {
        let mut r = CsvReader::open(path)?;
        let picks: Vec<(String, usize)> = wanted
            .iter()
            .filter_map(|w| r.column(w).map(|i| (w.clone(), i)))
            .collect();
        let method = r.column("method");
        let mut t = Table {
            names: picks.iter().map(|p| p.0.clone()).collect(),
            numbers: vec![Vec::new(); picks.len()],
            method: Vec::new(),
        };
        loop {
            let line = r.line_no + 1;
            let Some(rec) = r.next_record()? else { break };
            for (k, (name, i)) in picks.iter().enumerate() {
                t.numbers[k].push(parse_field(&rec[*i], line, name)?);
            }
            if let Some(m) = method {
                t.method.push(rec[m].clone());
            }
        }
        Ok(t)
    }

    /// A column by name.
    pub fn col(&self, name: &str) -> Option<&[Option<f64>]> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| self.numbers[i].as_slice())
    }

    /// The labels of the `method` column, in order of first appearance.
    pub fn methods(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in &self.method {
            if out.last() != Some(m) && !out.contains(m) {
                out.push(m.clone());
            }
        }
        out
    }

    /// (x, y) of the rows of one method (all rows for None).
    pub fn pairs(&self, x: &str, y: &str, method: Option<&str>) -> Vec<(Option<f64>, Option<f64>)> {
        let (Some(xs), Some(ys)) = (self.col(x), self.col(y)) else {
            return Vec::new();
        };
        (0..xs.len())
            .filter(|&i| method.is_none_or(|m| self.method.get(i).is_some_and(|r| r == m)))
            .map(|i| (xs[i], ys[i]))
            .collect()
    }
}
