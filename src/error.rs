//! The two ways a scenario can fail: bad input (exit code 2) and I/O (exit code 1).

use std::fmt;
use std::path::PathBuf;

/// A defect in a scenario file, located as precisely as the file allows.
///
/// Displays as `FILE:LINE:COL: KEY: message` (or `FILE: KEY: message` when no position
/// exists, e.g. for a missing file), which `main` prefixes with `error: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file (or path) as the user gave it.
    pub file: PathBuf,
    /// 1-based line and column (in characters) of the offending value, when known.
    pub position: Option<(usize, usize)>,
    /// Dotted key path with 1-based entry indices, e.g. `discrete[2].dt`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", printable(&self.file.display().to_string()))?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(
            f,
            ": {}: {}",
            printable(&self.key),
            printable(&self.message)
        )
    }
}

/// User text as an error prints it: control characters (a line break, a terminal's escape
/// sequences), the Unicode line and paragraph separators and the bidirectional controls
/// written as escapes (`\n`, `\u{1b}`, `\u{2028}`), so that a message stays one line and
/// cannot restyle or reorder the terminal.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let odd = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.contains(odd) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if odd(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

impl std::error::Error for InputError {}

/// Any failure of a scenario run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The scenario is malformed; nothing was written for it.
    #[error("{0}")]
    Input(#[from] InputError),
    /// A grid point index beyond the grid.
    #[error("point {index}: the grid has {points} point(s), 0 to {}", points - 1)]
    NoSuchPoint {
        /// The index asked for.
        index: u64,
        /// The grid's size.
        points: u64,
    },
    /// An observer of a run failed (a user's own observer); the run stopped there.
    #[error("observer: {0}")]
    Observer(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Building a scenario's potential failed after validation (before anything was
    /// written): a memory limit, or a spectrum its budget could not find.
    #[error("scenario {scenario}: setting up the potential: {source}")]
    Setup {
        /// The scenario's name.
        scenario: String,
        /// What failed.
        #[source]
        source: crate::potential::PotentialError,
    },
    /// `--shard I/N` with more slices than the scenario has grid points: some shards would
    /// hold none, and `merge` would wait for folders no run can fill usefully.
    #[error(
        "scenario {scenario}: shard {index}/{count} (from --shard or the Slurm array): N = {count} is more than the grid's {points} point(s); use N <= {points}, or --shard none for the whole grid"
    )]
    TooManyShards {
        /// The scenario's name.
        scenario: String,
        /// I.
        index: u64,
        /// N.
        count: u64,
        /// The grid's size.
        points: u64,
    },
    /// A scenario with no `[continuous]` table and no `[[discrete]]` entry given to
    /// `run_scenario`: it would write a header and no rows (`heavyball theory` reads such a
    /// file; the command line refuses it at load, with `nothing_to_run`'s error).
    #[error(
        "scenario {scenario}: nothing to run: it has no [continuous] table and no [[discrete]] entry"
    )]
    NothingToRun {
        /// The scenario's name.
        scenario: String,
    },
    /// Writing results failed.
    #[error("{}: {source}", printable(&path.display().to_string()))]
    Io {
        /// The file or folder being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The process exit code this error asks for (SPEC: 2 bad input, 1 I/O).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::Io { .. } | Error::Observer(_) => 1,
            Error::NoSuchPoint { .. } | Error::TooManyShards { .. } => 2,
            Error::NothingToRun { .. } => 2,
            // Out of memory is the machine's limit (like a full disk); an unreachable
            // spectrum is the input's.
            Error::Setup { source, .. } => match source {
                crate::potential::PotentialError::Memory { .. } => 1,
                _ => 2,
            },
        }
    }
}
