//! Bad input is rejected cleanly, precisely and without side effects.
//!
//! What this test proves, for the `heavyball` binary:
//!
//! * every malformed scenario in `tests/bad_input/` (one defect per file) makes both
//!   `heavyball run FILE --out DIR --quiet` and `heavyball check FILE` exit with code 2
//!   and print exactly one line on stderr, `error: FILE:LINE:COL: KEY: message`, where
//!   FILE is the path as given on the command line, KEY is the dotted key the file's
//!   first line names, LINE:COL is the position it names (when it names one), and the
//!   message is not empty; `check` prints the same line as `run`;
//! * nothing is written for a rejected scenario: DIR stays empty (no result folder, no
//!   hidden `.NAME.partial-*` folder);
//! * paths that cannot be read as scenarios (a missing path, a directory without
//!   `*.toml`, a file that is not UTF-8) give the position-less form
//!   `error: PATH: KEY: message` with KEY `path`, `path` and `file` (the last may carry
//!   a position), and exit 2;
//! * in a batch, a bad file does not stop a good one: the good result folder with its
//!   `summary.csv` appears, the bad one leaves no trace, and the exit code is 2;
//! * no mutilation of a good scenario (truncation, a dropped line, random byte edits)
//!   makes the binary panic, hang, or exit with anything but 0 or 2.
//!
//! Corpus format: the first line of every `tests/bad_input/*.toml` file is
//! `# expect: KEY ~ WORDS` or `# expect: KEY @ LINE:COL ~ WORDS`, WORDS being words the
//! message must contain (so that a changed or misleading message fails too). Two small extensions: `COL` may be
//! `*` (only the line is fixed, used for TOML syntax errors, whose column depends on
//! the parser), and several alternatives may be given, separated by ` | `, where the
//! contract genuinely leaves open which of two keys is blamed (e.g. `hessian` together
//! with `eigenvalues`); the line must then match one of them. A position is given
//! wherever the contract fixes it (first character of the offending value; first
//! character of an unknown key; the table header for a missing required key; 1:1 when
//! there is no header) and left out where it does not (a defect inside one element of
//! an array, where either the array or the element may be pointed at).
//!
//! All failures are collected and reported in one assertion, so one run shows every
//! problem.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_heavyball");
const CORPUS: &str = "tests/bad_input";
/// Any single invocation taking longer than this counts as a hang.
const TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------
// running the binary

struct Outcome {
    /// `None` when killed by a signal or by the timeout.
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn describe(&self) -> String {
        let code = match (self.timed_out, self.code) {
            (true, _) => format!("timed out after {TIMEOUT:?}"),
            (false, Some(c)) => format!("exit code {c}"),
            (false, None) => "killed by a signal".to_string(),
        };
        format!(
            "{code}\n      stderr: {:?}\n      stdout: {:?}",
            clip(&self.stderr),
            clip(&self.stdout)
        )
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 600;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary in `cwd` with `args`, capturing both streams, with a timeout.
fn heavyball<S: AsRef<OsStr>>(cwd: &Path, args: &[S]) -> Outcome {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1");
    // A job-array environment would otherwise shard the runs.
    for var in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait for killed child");
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for {BIN}: {e}"),
        }
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    Outcome {
        code: if timed_out { None } else { status.code() },
        timed_out,
        stdout,
        stderr,
    }
}

/// `heavyball run INPUT --out OUT --quiet` from `cwd`.
fn run_quiet(cwd: &Path, input: &Path, out: &Path) -> Outcome {
    heavyball(
        cwd,
        &[
            OsStr::new("run"),
            input.as_os_str(),
            OsStr::new("--out"),
            out.as_os_str(),
            OsStr::new("--quiet"),
        ],
    )
}

/// The single line on stderr, or why there is not exactly one non-empty line.
fn single_line(stderr: &str) -> Result<&str, String> {
    let body = stderr.strip_suffix('\n').unwrap_or(stderr);
    if body.trim().is_empty() {
        return Err("stderr is empty".to_string());
    }
    if body.contains('\n') {
        return Err(format!(
            "stderr has {} lines, expected exactly one",
            body.lines().count()
        ));
    }
    Ok(body)
}

/// Entries of a directory, sorted, as strings (hidden ones included).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------
// the error line

/// `error: FILE:LINE:COL: KEY: message` or `error: FILE: KEY: message`, split up.
#[derive(Debug, PartialEq)]
struct ErrorLine {
    position: Option<(usize, usize)>,
    key: String,
    message: String,
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']')
}

/// Parses `line` as an error line about `file` (exactly as passed on the command line).
fn parse_error_line(line: &str, file: &str) -> Result<ErrorLine, String> {
    let prefix = format!("error: {file}:");
    let rest = line
        .strip_prefix(&prefix)
        .ok_or_else(|| format!("does not start with {prefix:?}"))?;
    let (position, rest) = if rest.starts_with(|c: char| c.is_ascii_digit()) {
        let (line_no, rest) = split_number(rest).ok_or("malformed LINE")?;
        let rest = rest.strip_prefix(':').ok_or("expected ':' after LINE")?;
        let (col_no, rest) = split_number(rest).ok_or("malformed COL")?;
        let rest = rest.strip_prefix(':').ok_or("expected ':' after COL")?;
        if line_no == 0 || col_no == 0 {
            return Err(format!("position {line_no}:{col_no} is not 1-based"));
        }
        (Some((line_no, col_no)), rest)
    } else {
        (None, rest)
    };
    let rest = rest
        .strip_prefix(' ')
        .ok_or("expected a space before KEY")?;
    let (key, message) = rest.split_once(": ").ok_or("expected 'KEY: message'")?;
    if key.is_empty() || !key.chars().all(is_key_char) {
        return Err(format!("malformed KEY {key:?}"));
    }
    if message.trim().is_empty() {
        return Err("empty message".to_string());
    }
    Ok(ErrorLine {
        position,
        key: key.to_string(),
        message: message.to_string(),
    })
}

fn split_number(s: &str) -> Option<(usize, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

// ---------------------------------------------------------------------------------
// the corpus expectations

#[derive(Debug, Clone)]
struct Alternative {
    key: String,
    /// (line, column); column `None` means `*`.
    position: Option<(usize, Option<usize>)>,
}

impl std::fmt::Display for Alternative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            None => write!(f, "{} (any position)", self.key),
            Some((l, None)) => write!(f, "{} @ {l}:*", self.key),
            Some((l, Some(c))) => write!(f, "{} @ {l}:{c}", self.key),
        }
    }
}

impl Alternative {
    fn matches(&self, got: &ErrorLine) -> bool {
        if got.key != self.key {
            return false;
        }
        match (self.position, got.position) {
            (None, Some(_)) => true,
            (Some((l, c)), Some((gl, gc))) => l == gl && c.is_none_or(|c| c == gc),
            (_, None) => false, // a corpus file always has a position
        }
    }
}

fn parse_expect(text: &str) -> Result<Vec<Alternative>, String> {
    let first = text.lines().next().unwrap_or("");
    let spec = first
        .strip_prefix("# expect:")
        .ok_or_else(|| format!("first line {first:?} is not '# expect: ...'"))?;
    let spec = spec.split_once(" ~ ").map_or(spec, |(spec, _)| spec);
    let mut alternatives = Vec::new();
    for alt in spec.split('|') {
        let alt = alt.trim();
        let (key, position) = match alt.split_once('@') {
            None => (alt, None),
            Some((key, pos)) => {
                let (l, c) = pos
                    .trim()
                    .split_once(':')
                    .ok_or_else(|| format!("position in {alt:?} is not LINE:COL"))?;
                let l: usize = l.parse().map_err(|_| format!("bad LINE in {alt:?}"))?;
                let c = match c {
                    "*" => None,
                    c => Some(
                        c.parse::<usize>()
                            .map_err(|_| format!("bad COL in {alt:?}"))?,
                    ),
                };
                (key.trim(), Some((l, c)))
            }
        };
        if key.is_empty() || !key.chars().all(is_key_char) {
            return Err(format!("bad KEY in {alt:?}"));
        }
        alternatives.push(Alternative {
            key: key.to_string(),
            position,
        });
    }
    Ok(alternatives)
}

/// The words the message must contain: what follows ` ~ ` on line 1, if anything.
fn expected_words(text: &str) -> Option<&str> {
    let first = text.lines().next()?;
    first.split_once(" ~ ").map(|(_, words)| words.trim())
}

/// Corpus files as (path relative to the manifest dir, with `/` separators; text).
fn corpus() -> Vec<(String, String)> {
    let dir = manifest_dir().join(CORPUS);
    let mut files: Vec<(String, String)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (format!("{CORPUS}/{name}"), text)
        })
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------------
// tests

/// The corpus itself is well-formed: enough files, `NN-name.toml` names, a parsable
/// expectation on line 1, and every expected position inside the file.
#[test]
fn corpus_is_well_formed() {
    let files = corpus();
    let mut problems = Vec::new();
    if files.len() < 45 {
        problems.push(format!(
            "only {} corpus files, expected at least 45",
            files.len()
        ));
    }
    for (path, text) in &files {
        let name = path.rsplit('/').next().unwrap();
        let digits = name.bytes().take_while(u8::is_ascii_digit).count();
        let numbered = (2..=3).contains(&digits) && name.as_bytes().get(digits) == Some(&b'-');
        if !numbered {
            problems.push(format!("{path}: name is not NN-short-name.toml (or NNN-)"));
        }
        match parse_expect(text) {
            Err(e) => problems.push(format!("{path}: {e}")),
            Ok(alts) => {
                let lines: Vec<&str> = text.lines().collect();
                for alt in alts {
                    if let Some((l, c)) = alt.position {
                        let Some(line) = lines.get(l.wrapping_sub(1)) else {
                            problems.push(format!("{path}: {alt}: no line {l}"));
                            continue;
                        };
                        if let Some(c) = c
                            && (c == 0 || c > line.chars().count().max(1))
                        {
                            problems.push(format!("{path}: {alt}: no column {c}"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} corpus problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Every corpus file: `run` and `check` exit 2 with the expected single error line,
/// and `run` writes nothing.
#[test]
fn every_bad_scenario_is_rejected_with_one_precise_line() {
    let root = manifest_dir();
    let files = corpus();
    assert!(!files.is_empty(), "no corpus files in {CORPUS}");
    let mut failures = Vec::new();
    for (path, text) in &files {
        let alternatives = match parse_expect(text) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{path}: bad expectation: {e}"));
                continue;
            }
        };
        let expected = alternatives
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ");
        let out = tempfile::tempdir().expect("tempdir");

        let run = heavyball(
            &root,
            &[
                OsStr::new("run"),
                OsStr::new(path),
                OsStr::new("--out"),
                out.path().as_os_str(),
                OsStr::new("--quiet"),
            ],
        );
        let mut problems = Vec::new();
        let run_line = check_outcome("run", &run, path, &alternatives, &mut problems);
        let left = entries(out.path());
        if !left.is_empty() {
            problems.push(format!("run: --out DIR is not empty afterwards: {left:?}"));
        }

        let check = heavyball(&root, &["check", path.as_str()]);
        let check_line = check_outcome("check", &check, path, &alternatives, &mut problems);
        match (expected_words(text), &run_line) {
            (None, _) => problems.push("line 1 gives no ` ~ words` of the message".into()),
            (Some(words), Some(line)) if !line.contains(words) => {
                problems.push(format!("the message lacks {words:?}: {line:?}"));
            }
            _ => {}
        }
        if let (Some(r), Some(c)) = (&run_line, &check_line)
            && r != c
        {
            problems.push(format!(
                "check printed a different line than run:\n      run:   {r:?}\n      check: {c:?}"
            ));
        }

        if !problems.is_empty() {
            failures.push(format!(
                "{path} (expected {expected}):\n    {}",
                problems.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad-input files misbehaved:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

/// Checks exit code 2 and the single error line; returns the line when there is one.
fn check_outcome(
    what: &str,
    outcome: &Outcome,
    path: &str,
    alternatives: &[Alternative],
    problems: &mut Vec<String>,
) -> Option<String> {
    if outcome.code != Some(2) {
        problems.push(format!(
            "{what}: expected exit code 2, got {}",
            outcome.describe()
        ));
    }
    if outcome.stderr.contains("panicked") {
        problems.push(format!("{what}: panicked: {:?}", clip(&outcome.stderr)));
    }
    let line = match single_line(&outcome.stderr) {
        Ok(line) => line,
        Err(e) => {
            problems.push(format!("{what}: {e}: {:?}", clip(&outcome.stderr)));
            return None;
        }
    };
    match parse_error_line(line, path) {
        Err(e) => problems.push(format!("{what}: malformed error line ({e}): {line:?}")),
        Ok(got) => match got.position {
            None => problems.push(format!("{what}: no LINE:COL in {line:?}")),
            Some((l, c)) if !alternatives.iter().any(|a| a.matches(&got)) => {
                problems.push(format!("{what}: got {} @ {l}:{c}: {line:?}", got.key));
            }
            Some(_) => {}
        },
    }
    Some(line.to_string())
}

/// Expects exit 2 and exactly `error: PATH: KEY: message` (position allowed only when
/// `position_allowed`). Returns the problems found.
fn expect_positionless(
    outcome: &Outcome,
    path: &str,
    key: &str,
    position_allowed: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    if outcome.code != Some(2) {
        problems.push(format!("expected exit code 2, got {}", outcome.describe()));
    }
    if outcome.stderr.contains("panicked") {
        problems.push(format!("panicked: {:?}", clip(&outcome.stderr)));
    }
    match single_line(&outcome.stderr) {
        Err(e) => problems.push(format!("{e}: {:?}", clip(&outcome.stderr))),
        Ok(line) => match parse_error_line(line, path) {
            Err(e) => problems.push(format!("malformed error line ({e}): {line:?}")),
            Ok(got) => {
                if got.key != key {
                    problems.push(format!("expected KEY {key:?}, got {:?}: {line:?}", got.key));
                }
                if got.position.is_some() && !position_allowed {
                    problems.push(format!("expected no LINE:COL: {line:?}"));
                }
            }
        },
    }
    problems
}

#[test]
fn nonexistent_path_is_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("no-such-scenario.toml");
    let missing_str = missing.to_str().expect("utf-8 temp path").to_string();
    let mut problems = Vec::new();
    let run = heavyball(
        tmp.path(),
        &[
            OsStr::new("run"),
            missing.as_os_str(),
            OsStr::new("--out"),
            out.path().as_os_str(),
            OsStr::new("--quiet"),
        ],
    );
    for p in expect_positionless(&run, &missing_str, "path", false) {
        problems.push(format!("run: {p}"));
    }
    let left = entries(out.path());
    if !left.is_empty() {
        problems.push(format!("run: --out DIR is not empty afterwards: {left:?}"));
    }
    let check = heavyball(tmp.path(), &[OsStr::new("check"), missing.as_os_str()]);
    for p in expect_positionless(&check, &missing_str, "path", false) {
        problems.push(format!("check: {p}"));
    }
    assert!(
        problems.is_empty(),
        "non-existent path:\n  {}",
        problems.join("\n  ")
    );
}

/// A named pipe is refused by its kind, not read until a writer that never comes closes it.
#[cfg(unix)]
#[test]
fn a_pipe_is_refused_not_read() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pipe = tmp.path().join("pipe.toml");
    let made = std::process::Command::new("mkfifo").arg(&pipe).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let check = heavyball(tmp.path(), &[OsStr::new("check"), pipe.as_os_str()]);
    let path = pipe.to_str().expect("utf-8 temp path");
    let problems = expect_positionless(&check, path, "path", false);
    assert!(problems.is_empty(), "a pipe:\n  {}", problems.join("\n  "));
    assert!(
        check.stderr.contains("not a regular file"),
        "{}",
        check.stderr
    );
}

/// A `*.toml` in a folder that is a broken symbolic link is named with its reason, not
/// skipped without a word; the folder's good scenario still runs.
#[cfg(unix)]
#[test]
fn a_broken_link_in_a_folder_is_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("batch");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("a-good.toml"), GOOD).unwrap();
    let link = dir.join("b-link.toml");
    std::os::unix::fs::symlink(tmp.path().join("gone.toml"), &link).unwrap();
    let out = tempfile::tempdir().expect("tempdir");
    let run = run_quiet(tmp.path(), &dir, out.path());
    let expected = format!(
        "error: {}: path: a symbolic link to {}, which does not exist",
        link.display(),
        tmp.path().join("gone.toml").display()
    );
    assert_eq!(run.code, Some(2), "{}", run.describe());
    assert_eq!(run.stderr.trim_end(), expected, "{}", run.describe());
    assert!(
        out.path().join("good/summary.csv").is_file(),
        "{}",
        run.describe()
    );
}

/// Two files of a batch with one `name` would write one folder: the second is refused at
/// its `name` value's line and column, naming the first.
#[test]
fn a_second_file_of_the_same_name_is_refused_at_its_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (first, second) = (tmp.path().join("a.toml"), tmp.path().join("b.toml"));
    fs::write(&first, GOOD).unwrap();
    fs::write(&second, format!("# the same again\n{GOOD}")).unwrap();
    let check = heavyball(
        tmp.path(),
        &[OsStr::new("check"), first.as_os_str(), second.as_os_str()],
    );
    let expected = format!(
        "error: {}:2:8: name: \"good\" is also the name of {}; each scenario of a batch needs its own result folder",
        second.display(),
        first.display()
    );
    assert_eq!(check.code, Some(2), "{}", check.describe());
    assert_eq!(check.stderr.trim_end(), expected, "{}", check.describe());
}

/// One file named three times — itself, through its folder and through a link — runs
/// once: no clash with itself, one `wrote` line, and the summary a lone run writes.
#[cfg(unix)]
#[test]
fn a_file_named_twice_runs_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("batch");
    fs::create_dir(&dir).unwrap();
    let file = dir.join("a.toml");
    fs::write(&file, GOOD).unwrap();
    let link = tmp.path().join("link.toml");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let (alone, out) = (tmp.path().join("alone"), tmp.path().join("out"));
    assert_eq!(run_quiet(tmp.path(), &file, &alone).code, Some(0));
    let args = [&dir, &file, &link].map(|p| p.as_os_str());
    let run = heavyball(
        tmp.path(),
        &[
            &[OsStr::new("run")],
            &args[..],
            &[OsStr::new("--out"), out.as_os_str()],
        ]
        .concat(),
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(run.stderr, "", "{}", run.describe());
    assert_eq!(run.stdout.matches("wrote").count(), 1, "{}", run.describe());
    let summary = |root: &Path| fs::read_to_string(root.join("good/summary.csv")).unwrap();
    assert_eq!(summary(&out), summary(&alone));
}

/// `merge` of a file says so, rather than looking for `shards/` inside it.
#[test]
fn merge_of_a_file_says_it_is_not_a_folder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("summary.csv");
    fs::write(&file, "point\n").unwrap();
    let merge = heavyball(tmp.path(), &[OsStr::new("merge"), file.as_os_str()]);
    let expected = format!(
        "error: {}: merge: not a folder: give the sweep's OUT/<name>",
        file.display()
    );
    assert_eq!(merge.code, Some(2), "{}", merge.describe());
    assert_eq!(merge.stderr.trim_end(), expected, "{}", merge.describe());
    assert_eq!(fs::read_to_string(&file).unwrap(), "point\n");
}

#[test]
fn directory_without_toml_is_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("empty-scenarios");
    fs::create_dir(&dir).unwrap();
    // Not a scenario: the directory still has no *.toml.
    fs::write(dir.join("README.md"), "no scenarios here\n").unwrap();
    let dir_str = dir.to_str().expect("utf-8 temp path").to_string();
    let mut problems = Vec::new();
    let run = run_quiet(tmp.path(), &dir, out.path());
    for p in expect_positionless(&run, &dir_str, "path", false) {
        problems.push(format!("run: {p}"));
    }
    let left = entries(out.path());
    if !left.is_empty() {
        problems.push(format!("run: --out DIR is not empty afterwards: {left:?}"));
    }
    let check = heavyball(tmp.path(), &[OsStr::new("check"), dir.as_os_str()]);
    for p in expect_positionless(&check, &dir_str, "path", false) {
        problems.push(format!("check: {p}"));
    }
    assert!(
        problems.is_empty(),
        "directory without *.toml:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn binary_file_is_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("garbage.toml");
    let mut bytes = vec![0x00, 0xff, 0xfe, 0x00, b'\n'];
    bytes.extend_from_slice(b"[particle]\nmass = ");
    bytes.extend_from_slice(&[0xc3, 0x28, 0x80, 0x81, 0xf0, 0x90, b'\n', 0x00]);
    bytes.extend((0u8..=255).rev());
    fs::write(&file, &bytes).unwrap();
    let file_str = file.to_str().expect("utf-8 temp path").to_string();
    let mut problems = Vec::new();
    let run = heavyball(
        tmp.path(),
        &[
            OsStr::new("run"),
            file.as_os_str(),
            OsStr::new("--out"),
            out.path().as_os_str(),
            OsStr::new("--quiet"),
        ],
    );
    for p in expect_positionless(&run, &file_str, "file", true) {
        problems.push(format!("run: {p}"));
    }
    let left = entries(out.path());
    if !left.is_empty() {
        problems.push(format!("run: --out DIR is not empty afterwards: {left:?}"));
    }
    let check = heavyball(tmp.path(), &[OsStr::new("check"), file.as_os_str()]);
    for p in expect_positionless(&check, &file_str, "file", true) {
        problems.push(format!("check: {p}"));
    }
    assert!(
        problems.is_empty(),
        "non-UTF-8 file:\n  {}",
        problems.join("\n  ")
    );
}

/// A small valid scenario (also the seed of the mutation test). The non-ASCII
/// description makes some truncations invalid UTF-8.
const GOOD: &str = r#"name = "good"
description = "ε, p — Qian's heavy ball"

[potential]
kind = "quadratic"
eigenvalues = [1, 10]

[particle]
mass = 1
friction = 2
position = [1, 1]

[continuous]
t_end = 5

[[discrete]]
scheme = "heavy-ball"
dt = 0.1
"#;

const BAD: &str = r#"[potential]
kind = "quadratic"
eigenvalues = [1, 10]

[particle]
mass = -1
friction = 2
position = [1, 1]

[continuous]
t_end = 5

[[discrete]]
scheme = "heavy-ball"
dt = 0.1
"#;

/// Checks a batch outcome: exit 2, exactly one `error:` line and it names the bad
/// file, and the out dir holds exactly the good result folder with its summary.csv.
fn check_batch(outcome: &Outcome, out: &Path, bad_mention: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if outcome.code != Some(2) {
        problems.push(format!("expected exit code 2, got {}", outcome.describe()));
    }
    if outcome.stderr.contains("panicked") {
        problems.push(format!("panicked: {:?}", clip(&outcome.stderr)));
    }
    let errors: Vec<&str> = outcome
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    if errors.len() != 1 || !errors[0].starts_with(bad_mention) {
        problems.push(format!(
            "expected exactly one error line starting with {bad_mention:?}, got {errors:?}"
        ));
    }
    let left = entries(out);
    if left != ["good"] {
        problems.push(format!(
            "expected exactly [\"good\"] in --out DIR, found {left:?}"
        ));
    }
    if !out.join("good").join("summary.csv").is_file() {
        problems.push("good/summary.csv is missing".to_string());
    }
    problems
}

#[test]
fn batch_runs_the_good_scenario_and_rejects_the_bad_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let good = tmp.path().join("good.toml");
    let bad = tmp.path().join("bad.toml");
    fs::write(&good, GOOD).unwrap();
    fs::write(&bad, BAD).unwrap();
    let bad_str = bad.to_str().expect("utf-8 temp path");
    let mut problems = Vec::new();

    for (order, first, second) in [("good bad", &good, &bad), ("bad good", &bad, &good)] {
        let out = tempfile::tempdir().expect("tempdir");
        let outcome = heavyball(
            tmp.path(),
            &[
                OsStr::new("run"),
                first.as_os_str(),
                second.as_os_str(),
                OsStr::new("--out"),
                out.path().as_os_str(),
                OsStr::new("--quiet"),
            ],
        );
        for p in check_batch(&outcome, out.path(), &format!("error: {bad_str}:")) {
            problems.push(format!("run {order}: {p}"));
        }
    }

    // The same through a directory: every *.toml in it, one of them bad.
    let dir = tmp.path().join("batch");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("a-bad.toml"), BAD).unwrap();
    fs::write(dir.join("b-good.toml"), GOOD).unwrap();
    let out = tempfile::tempdir().expect("tempdir");
    let outcome = run_quiet(tmp.path(), &dir, out.path());
    for p in check_batch(&outcome, out.path(), "error: ") {
        problems.push(format!("run DIR: {p}"));
    }
    if !outcome
        .stderr
        .lines()
        .any(|l| l.starts_with("error: ") && l.contains("a-bad.toml"))
    {
        problems.push(format!(
            "run DIR: no error line names a-bad.toml: {:?}",
            clip(&outcome.stderr)
        ));
    }

    assert!(problems.is_empty(), "batch:\n  {}", problems.join("\n  "));
}

/// Deterministic xorshift64*, so a failure can be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutants() -> Vec<(String, Vec<u8>)> {
    let good = GOOD.as_bytes();
    let mut out = Vec::new();
    for cut in (0..good.len()).step_by(7) {
        out.push((format!("truncated at byte {cut}"), good[..cut].to_vec()));
    }
    let lines: Vec<&str> = GOOD.lines().collect();
    for drop in 0..lines.len() {
        let mut text = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i != drop {
                text.push_str(line);
                text.push('\n');
            }
        }
        out.push((format!("line {} dropped", drop + 1), text.into_bytes()));
    }
    const TOKENS: &[&[u8]] = &[
        b"[",
        b"]",
        b"[[",
        b"{",
        b"}",
        b"=",
        b"\"",
        b"'",
        b",",
        b".",
        b"-",
        b"+",
        b"0",
        b"9",
        b"1e400",
        b"-1",
        b"nan",
        b"inf",
        b"-inf",
        b"\n",
        b" ",
        b"#",
        b"x",
        b"_",
        b"\xff",
        b"\x00",
        b"\xce\xb5",
        b"true",
        b"1979-05-27",
        b"[[discrete]]\n",
        b"[particle]\n",
        b"steps = 0\n",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..80 {
        let mut bytes = good.to_vec();
        let edits = 1 + rng.below(3);
        let mut what = Vec::new();
        for _ in 0..edits {
            let at = rng.below(bytes.len() + 1);
            match rng.below(3) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                    what.push(format!("delete @{at}"));
                }
                1 if at < bytes.len() => {
                    let t = TOKENS[rng.below(TOKENS.len())];
                    bytes.splice(at..at + 1, t.iter().copied());
                    what.push(format!("replace @{at} by {:?}", String::from_utf8_lossy(t)));
                }
                _ => {
                    let t = TOKENS[rng.below(TOKENS.len())];
                    bytes.splice(at..at, t.iter().copied());
                    what.push(format!("insert @{at} {:?}", String::from_utf8_lossy(t)));
                }
            }
        }
        out.push((format!("random #{i}: {}", what.join(", ")), bytes));
    }
    out
}

/// Mutilated scenarios never make the binary panic, hang, or exit with a code other
/// than 0 (it was still valid) or 2 (rejected, with an `error:` line naming it).
#[test]
fn mutated_scenarios_never_panic() {
    let cases = mutants();
    let workers = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    let chunk = cases.len().div_ceil(workers);
    let failures: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(chunk)
            .map(|chunk| {
                s.spawn(move || {
                    let tmp = tempfile::tempdir().expect("tempdir");
                    let file = tmp.path().join("mutant.toml");
                    let file_str = file.to_str().expect("utf-8 temp path").to_string();
                    let mut failures = Vec::new();
                    for (what, bytes) in chunk {
                        fs::write(&file, bytes).unwrap();
                        let out = tempfile::tempdir().expect("tempdir");
                        let outcome = heavyball(
                            tmp.path(),
                            &[
                                OsStr::new("run"),
                                file.as_os_str(),
                                OsStr::new("--out"),
                                out.path().as_os_str(),
                                OsStr::new("--quiet"),
                            ],
                        );
                        let mut problems = Vec::new();
                        if !matches!(outcome.code, Some(0) | Some(2)) {
                            problems
                                .push(format!("expected exit 0 or 2, got {}", outcome.describe()));
                        }
                        if outcome.stderr.contains("panicked") {
                            problems.push(format!("panicked: {:?}", clip(&outcome.stderr)));
                        }
                        if outcome.code == Some(2)
                            && !outcome
                                .stderr
                                .lines()
                                .any(|l| l.starts_with(&format!("error: {file_str}")))
                        {
                            problems.push(format!(
                                "exit 2 without an 'error: {file_str}...' line: {:?}",
                                clip(&outcome.stderr)
                            ));
                        }
                        if !problems.is_empty() {
                            failures.push(format!(
                                "{what}:\n    {}\n    input: {:?}",
                                problems.join("\n    "),
                                clip(&String::from_utf8_lossy(bytes))
                            ));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} mutated scenarios misbehaved:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn error_line_parser_self_check() {
    let f = "tests/bad_input/x.toml";
    assert_eq!(
        parse_error_line(
            "error: tests/bad_input/x.toml:7:11: particle.mass: must be >= 0, got -1",
            f
        ),
        Ok(ErrorLine {
            position: Some((7, 11)),
            key: "particle.mass".into(),
            message: "must be >= 0, got -1".into()
        })
    );
    assert_eq!(
        parse_error_line("error: tests/bad_input/x.toml: path: no such file", f)
            .map(|e| (e.position, e.key)),
        Ok((None, "path".to_string()))
    );
    assert_eq!(
        parse_error_line(
            "error: tests/bad_input/x.toml:3:1: discrete[2].dt: must be > 0",
            f
        )
        .map(|e| e.key),
        Ok("discrete[2].dt".to_string())
    );
    assert!(parse_error_line("error: tests/bad_input/x.toml:7:11: particle.mass: ", f).is_err());
    assert!(parse_error_line("error: other.toml:7:11: particle.mass: bad", f).is_err());
    assert!(parse_error_line("error: tests/bad_input/x.toml:0:11: particle.mass: bad", f).is_err());
    let alts = parse_expect("# expect: toml @ 7:* | potential.hessian @ 5:11\n").unwrap();
    assert_eq!(alts.len(), 2);
    let got = ErrorLine {
        position: Some((7, 3)),
        key: "toml".into(),
        message: "x".into(),
    };
    assert!(alts[0].matches(&got));
    assert!(!alts[1].matches(&got));
}
