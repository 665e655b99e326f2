//! A thin reader over the spanned TOML tree: typed look-ups that turn every defect into an
//! [`InputError`] carrying the file, the line and column of the value, and the dotted key.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::InputError;

/// The text of one scenario file, for positions and for quoting values back.
pub(crate) struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = self.text.floor_char_boundary(offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// An error at a span (or with no position).
    pub fn error(
        &self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> InputError {
        InputError {
            file: self.file.to_path_buf(),
            position: span.map(|s| self.position(s.start)),
            key: key.into(),
            message: message.into(),
        }
    }

    /// The source text of a span, shortened for messages.
    pub fn snippet(&self, span: &Range<usize>) -> String {
        let s = self.text.get(span.clone()).unwrap_or("").trim();
        let first = s.lines().next().unwrap_or("");
        if first.chars().count() > 40 {
            format!("{}…", first.chars().take(40).collect::<String>())
        } else {
            first.to_string()
        }
    }
}

/// A number read from the file with where it stands.
#[derive(Debug, Clone)]
pub(crate) struct Num {
    pub value: f64,
    pub span: Range<usize>,
}

/// One TOML table being read, with its dotted path.
pub(crate) struct TableReader<'a, 'i> {
    pub src: &'a Source<'a>,
    pub table: &'a DeTable<'i>,
    pub path: String,
    pub span: Range<usize>,
}

type Result<T> = std::result::Result<T, InputError>;

/// A matrix as read, rows as given.
type Matrix = Vec<Vec<f64>>;
/// Rows of numbers, each with the span of its array in the source.
type SpannedRows = Vec<(Vec<f64>, Range<usize>)>;

impl<'a, 'i> TableReader<'a, 'i> {
    /// The dotted key of an entry of this table.
    pub fn key(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// An error about `name` located at `span`.
    pub fn error_at(
        &self,
        name: &str,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> InputError {
        self.src.error(Some(span), self.key(name), message)
    }

    /// An error about `name` located at its value if present, else at this table.
    pub fn error(&self, name: &str, message: impl Into<String>) -> InputError {
        let span = self.get(name).map_or(self.span.clone(), |v| v.span());
        self.error_at(name, span, message)
    }

    /// A required key is absent: point at the table header.
    pub fn missing(&self, name: &str, what: &str) -> InputError {
        self.error_at(name, self.span.clone(), format!("missing; {what}"))
    }

    /// Rejects keys not in `allowed` (a typo must not be silently ignored); reports the
    /// first one in the file.
    pub fn check_keys(&self, allowed: &[&str]) -> Result<()> {
        let mut unknown: Vec<&Spanned<_>> = self
            .table
            .keys()
            .filter(|k| !allowed.contains(&k.get_ref().as_ref()))
            .collect();
        unknown.sort_by_key(|k| k.span().start);
        match unknown.first() {
            None => Ok(()),
            Some(k) => {
                let name: &str = k.get_ref().as_ref();
                let message = match closest(name, allowed) {
                    Some(near) => format!(
                        "unknown key; did you mean `{near}`? (expected one of {})",
                        allowed.join(", ")
                    ),
                    None => format!("unknown key; expected one of {}", allowed.join(", ")),
                };
                Err(self.error_at(k.get_ref(), k.span(), message))
            }
        }
    }

    /// The raw value of a key.
    pub fn get(&self, name: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == name)
            .map(|(_, v)| v)
    }

    /// Whether the key is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A finite number (integers accepted).
    pub fn num(&self, name: &str) -> Result<Option<Num>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => number(self.src, v, &self.key(name)).map(Some),
        }
    }

    /// A non-negative integer.
    pub fn uint(&self, name: &str) -> Result<Option<(u64, Range<usize>)>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let key = self.key(name);
        match v.get_ref() {
            DeValue::Integer(i) => {
                let text = i.as_str().replace('_', "");
                match i64::from_str_radix(&text, i.radix()) {
                    Ok(n) if n >= 0 => Ok(Some((n as u64, v.span()))),
                    Ok(_) => Err(self.src.error(
                        Some(v.span()),
                        key,
                        format!(
                            "must be a non-negative integer, got {}",
                            self.src.snippet(&v.span())
                        ),
                    )),
                    Err(_) => Err(self.src.error(Some(v.span()), key, OUT_OF_RANGE)),
                }
            }
            other => Err(type_error(self.src, v, &key, "an integer", other)),
        }
    }

    /// A string.
    pub fn string(&self, name: &str) -> Result<Option<(String, Range<usize>)>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.get_ref() {
            DeValue::String(s) => Ok(Some((s.to_string(), v.span()))),
            other => Err(type_error(self.src, v, &self.key(name), "a string", other)),
        }
    }

    /// An array of finite numbers.
    pub fn num_array(&self, name: &str) -> Result<Option<(Vec<f64>, Range<usize>)>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        number_array(self.src, v, &self.key(name)).map(Some)
    }

    /// An array of finite numbers, each with its span.
    pub fn num_items(&self, name: &str) -> Result<Option<Vec<Num>>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        number_items(self.src, v, &self.key(name)).map(Some)
    }

    /// A number or an array of numbers (a single number fills every coordinate).
    pub fn num_or_array(&self, name: &str) -> Result<Option<(NumOrArray, Range<usize>)>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let key = self.key(name);
        match v.get_ref() {
            DeValue::Array(_) => {
                let (a, span) = number_array(self.src, v, &key)?;
                Ok(Some((NumOrArray::Array(a), span)))
            }
            DeValue::Integer(_) | DeValue::Float(_) => {
                let n = number(self.src, v, &key)?;
                Ok(Some((NumOrArray::Scalar(n.value), n.span)))
            }
            other => Err(type_error(
                self.src,
                v,
                &key,
                "a number or an array of numbers",
                other,
            )),
        }
    }

    /// An array of arrays of finite numbers (a matrix, rows as given).
    pub fn matrix(&self, name: &str) -> Result<Option<(Matrix, Range<usize>)>> {
        Ok(self
            .matrix_rows(name)?
            .map(|(rows, span)| (rows.into_iter().map(|(r, _)| r).collect(), span)))
    }

    /// An array of numeric rows, each with its own span (for errors about one row).
    pub fn matrix_rows(&self, name: &str) -> Result<Option<(SpannedRows, Range<usize>)>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let key = self.key(name);
        let DeValue::Array(rows) = v.get_ref() else {
            return Err(type_error(
                self.src,
                v,
                &key,
                "an array of rows",
                v.get_ref(),
            ));
        };
        let mut out = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let (r, _) = number_array(self.src, row, &format!("{key}[{}]", i + 1))?;
            out.push((r, row.span()));
        }
        Ok(Some((out, v.span())))
    }

    /// A sub-table.
    pub fn table(&self, name: &str) -> Result<Option<TableReader<'a, 'i>>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.get_ref() {
            DeValue::Table(t) => Ok(Some(TableReader {
                src: self.src,
                table: t,
                path: self.key(name),
                span: v.span(),
            })),
            other => Err(type_error(self.src, v, &self.key(name), "a table", other)),
        }
    }

    /// An array of tables (`[[discrete]]`), each with its 1-based index in the path.
    pub fn tables(&self, name: &str) -> Result<Vec<TableReader<'a, 'i>>> {
        let Some(v) = self.get(name) else {
            return Ok(Vec::new());
        };
        let key = self.key(name);
        let DeValue::Array(items) = v.get_ref() else {
            return Err(type_error(
                self.src,
                v,
                &key,
                "an array of tables",
                v.get_ref(),
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item.get_ref() {
                DeValue::Table(t) => Ok(TableReader {
                    src: self.src,
                    table: t,
                    path: format!("{key}[{}]", i + 1),
                    span: item.span(),
                }),
                other => Err(type_error(
                    self.src,
                    item,
                    &format!("{key}[{}]", i + 1),
                    "a table",
                    other,
                )),
            })
            .collect()
    }
}

/// A scalar or a list, as `position = 1.0` or `position = [1.0, 2.0]`.
#[derive(Debug, Clone)]
pub(crate) enum NumOrArray {
    Scalar(f64),
    Array(Vec<f64>),
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn type_error(
    src: &Source<'_>,
    v: &Spanned<DeValue<'_>>,
    key: &str,
    expected: &str,
    got: &DeValue<'_>,
) -> InputError {
    src.error(
        Some(v.span()),
        key,
        format!("expected {expected}, got {}", type_name(got)),
    )
}

/// A TOML integer beyond 64 bits.
const OUT_OF_RANGE: &str = "integer out of range: a TOML integer is at most \
                            9223372036854775807 (2⁶³ − 1)";

fn number(src: &Source<'_>, v: &Spanned<DeValue<'_>>, key: &str) -> Result<Num> {
    let value = match v.get_ref() {
        DeValue::Integer(i) => {
            let text = i.as_str().replace('_', "");
            i64::from_str_radix(&text, i.radix())
                .map(|n| n as f64)
                .map_err(|_| src.error(Some(v.span()), key, OUT_OF_RANGE))?
        }
        DeValue::Float(f) => {
            let text = f.as_str().replace('_', "");
            text.parse::<f64>()
                .map_err(|_| src.error(Some(v.span()), key, format!("not a number: {text}")))?
        }
        other => return Err(type_error(src, v, key, "a number", other)),
    };
    if !value.is_finite() {
        return Err(src.error(
            Some(v.span()),
            key,
            format!("must be finite, got {}", src.snippet(&v.span())),
        ));
    }
    Ok(Num {
        value,
        span: v.span(),
    })
}

fn number_items(src: &Source<'_>, v: &Spanned<DeValue<'_>>, key: &str) -> Result<Vec<Num>> {
    let DeValue::Array(items) = v.get_ref() else {
        return Err(type_error(src, v, key, "an array of numbers", v.get_ref()));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| number(src, item, &format!("{key}[{}]", i + 1)))
        .collect()
}

fn number_array(
    src: &Source<'_>,
    v: &Spanned<DeValue<'_>>,
    key: &str,
) -> Result<(Vec<f64>, Range<usize>)> {
    let items = number_items(src, v, key)?;
    Ok((items.into_iter().map(|n| n.value).collect(), v.span()))
}

/// The allowed key nearest to a misspelt one (Damerau–Levenshtein distance at most 2, or
/// at most a third of the name), if any.
fn closest<'k>(name: &str, allowed: &[&'k str]) -> Option<&'k str> {
    let limit = (name.chars().count() / 3).max(2);
    allowed
        .iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), *k))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Parses a whole document, mapping a syntax error to `toml` with its position and the
/// parser's message in plain words.
pub(crate) fn parse_document<'i>(src: &Source<'_>, text: &'i str) -> Result<Spanned<DeTable<'i>>> {
    // TOML allows no ASCII control character but tab and line ends anywhere, and the
    // parser's words for one (a NUL: "key with no value") would mislead.
    let control = text
        .char_indices()
        .find(|&(_, c)| c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r'));
    if let Some((at, c)) = control {
        let message = format!(
            "a control character (U+{:04X}), which TOML does not allow: is this a text file?",
            u32::from(c)
        );
        return Err(src.error(Some(at..at + 1), "toml", message));
    }
    DeTable::parse(text).map_err(|e| {
        let message = e.message().lines().next().unwrap_or("").trim();
        let mut plain = plain_syntax_error(message);
        // The parser says which key only by its position: name it.
        if message == "duplicate key"
            && let Some(key) = e.span().and_then(|s| text.get(s)).filter(|k| !k.is_empty())
        {
            plain = format!("`{key}` is defined twice (a key or table may appear once)");
        }
        src.error(e.span().or(Some(0..0)), "toml", plain)
    })
}

/// The TOML parser's terse messages ("invalid float, expected nothing") as a user would
/// say them; anything unknown keeps the parser's words, its "expected" in parentheses.
fn plain_syntax_error(message: &str) -> String {
    let (what, expected) = match message.split_once(", expected ") {
        Some((what, expected)) => (what, Some(expected)),
        None => (message, None),
    };
    let plain = match what {
        "invalid float" | "invalid integer" => "not a number: unexpected characters in or after it",
        "invalid exponent" => "not a number: the exponent after `e` has no digits",
        "string values must be quoted" => {
            "a value is missing or unquoted after `=` (numbers as 1.0, text in \"quotes\")"
        }
        "invalid basic string" | "invalid literal string" => {
            "a string is not closed: its closing quote is missing"
        }
        "missing comma between array elements" => {
            "an array is not closed, or a comma is missing between its elements"
        }
        "unclosed table" => "a table header is not closed: `]` is missing",
        "unclosed array" => "an array is not closed: `]` is missing",
        "extra `=`" => "one `=` too many: write key = value",
        "" => return "not valid TOML".into(),
        _ => {
            return match expected {
                Some(e) if e != "nothing" => format!("TOML syntax: {what} (expected {e})"),
                _ => format!("TOML syntax: {what}"),
            };
        }
    };
    plain.into()
}
