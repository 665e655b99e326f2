//! A permanent fuzz test: mutated scenario files through `check` and `run`.
//!
//! Five small base files (a quadratic sweep, an expression, a colorization, gradient noise,
//! Nesterov) are mutated at the level of their values and structure — hostile numbers,
//! swapped enum values, renamed tables, inserted keys, truncation, stray bytes — and every
//! case must keep the engine's promises:
//!
//! * exit 0 or 2 only (1 is for I/O faults, which a scenario cannot cause here), never a
//!   panic, never a hang (a case may take at most [`TIMEOUT`]);
//! * on exit 2, exactly one line on stderr, `error: FILE:LINE:COL: KEY: message` (or
//!   `error: FILE: KEY: message`), its line within the file, no control character, the same
//!   line from `check` and `run`, and nothing written;
//! * on exit 0, every CSV field finite or empty (text columns aside), no `converged` row
//!   without a final value, the manifest's SHA-256s those of the files, no hidden partial
//!   folder left.
//!
//! `cargo test` runs [`DEFAULT_CASES`] cases; `HEAVYBALL_FUZZ_CASES=100000` (see
//! `benches/fuzz.sh`) runs more, `HEAVYBALL_FUZZ_SEED` another sequence. A failing case
//! is printed whole, to be kept as a regression file.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_heavyball");
const DEFAULT_CASES: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(60);

const BASES: [&str; 5] = [
    r#"name = "sweep"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 10.0]
[particle]
position = [1.0, 1.0]
[continuous]
method = "dopri5"
t_end = 20.0
[[discrete]]
scheme = "heavy-ball"
map = "qian"
dt = 0.5
[stop]
criterion = "distance"
tolerance = 1e-6
[sweep]
mass = { logspace = [-1.0, 1.0, 3] }
friction = { linspace = [0.5, 4.0, 3] }
"#,
    r#"name = "well"
[potential]
kind = "expression"
variables = ["x"]
expression = "(x^2 - 1)^2 + 0.3*x"
minimum = [-1.035578714088854]
[particle]
mass = 1.0
friction = 0.5
position = [2.0]
[continuous]
method = "auto"
t_end = 20.0
sample_interval = 0.5
[[discrete]]
scheme = "heavy-ball"
learning_rate = 0.01
momentum = 0.9
steps = 300
[stop]
criterion = "energy"
tolerance = 1e-6
"#,
    r#"name = "color"
[potential]
kind = "colorization"
grid = [8, 8]
colored = [[1, 1], [6, 6]]
value = 1.0
[particle]
mass = 1.0
friction = 0.5
position = 0.0
[continuous]
method = "dopri5"
t_end = 30.0
[[discrete]]
scheme = "gradient-descent"
learning_rate = 0.2
steps = 300
"#,
    r#"name = "noisy"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 10.0]
[particle]
mass = 1.0
friction = 1.0
position = [1.0, 1.0]
[continuous]
method = "baoab"
t_end = 50.0
step = 0.5
[[discrete]]
scheme = "heavy-ball"
learning_rate = 0.05
momentum = 0.5
steps = 300
[gradient]
noise = 0.1
seed = 3
"#,
    r#"name = "nesterov"
[potential]
kind = "quadratic"
eigenvalues = [0.1, 1.0]
[particle]
mass = 1.0
position = [1.0, 1.0]
[continuous]
model = "nesterov"
method = "dopri5"
t_end = 30.0
[[discrete]]
scheme = "nesterov"
learning_rate = 0.5
momentum = 0.8
steps = 300
[stop]
tolerance = 1e-8
"#,
];

/// Values that stress a parser and an integrator (as TOML text).
const HOSTILE: [&str; 30] = [
    "0",
    "-1",
    "0.0",
    "-0.0",
    "1e308",
    "-1e308",
    "1e-320",
    "5e-324",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "3",
    "2.5",
    "-2.5",
    "1e-12",
    "1e12",
    "\"\"",
    "\"x\"",
    "\"a\\nb\"",
    "[]",
    "[1.0]",
    "[1.0, 2.0, 3.0]",
    "[[1.0]]",
    "true",
    "{}",
    "\"heavy-ball\"",
    "\"rk4\"",
    "\"bdf\"",
    "18446744073709551616",
];

/// Words that are some key's valid values (swapped between keys).
const WORDS: [&str; 14] = [
    "quadratic",
    "expression",
    "colorization",
    "rosenbrock",
    "heavy-ball",
    "nesterov",
    "gradient-descent",
    "qian",
    "symplectic-euler",
    "dopri5",
    "auto",
    "baoab",
    "loss",
    "gradient",
];

/// Xorshift: the same cases on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One mutation of `text`, of a kind chosen at random.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let values: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(" = "))
        .collect();
    let headers: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with('['))
        .collect();
    if text.is_empty() {
        return "=".into();
    }
    let mut kind = rng.below(9);
    if ((kind <= 2 || kind >= 7) && values.is_empty()) || (kind == 3 && headers.is_empty()) {
        kind = 6;
    }
    match kind {
        0 | 1 => {
            let i = values[rng.below(values.len())];
            let key = lines[i].split(" = ").next().unwrap().to_string();
            lines[i] = format!("{key} = {}", HOSTILE[rng.below(HOSTILE.len())]);
        }
        2 => {
            let i = values[rng.below(values.len())];
            let key = lines[i].split(" = ").next().unwrap().to_string();
            lines[i] = format!("{key} = \"{}\"", WORDS[rng.below(WORDS.len())]);
        }
        3 => {
            let i = headers[rng.below(headers.len())];
            let renamed = [
                "[partikel]",
                "[[discrete]]",
                "[sweep]",
                "[stop]",
                "[output]",
                "[x]",
            ];
            lines[i] = renamed[rng.below(renamed.len())].to_string();
        }
        4 => {
            let i = rng.below(lines.len() + 1);
            let keys = [
                "mass", "friction", "steps", "dt", "seed", "momentum", "t_end", "foo",
            ];
            let line = format!(
                "{} = {}",
                keys[rng.below(keys.len())],
                HOSTILE[rng.below(30)]
            );
            lines.insert(i, line);
        }
        7 | 8 => {
            // A plausible number, scaled: a valid scenario more often than not.
            let i = values[rng.below(values.len())];
            let factors = ["0.5", "2", "10", "0.1", "-1", "1e-3", "1e3"];
            let (key, value) = lines[i].split_once(" = ").unwrap();
            let scaled = value.parse::<f64>().ok().map(|v| {
                let f: f64 = factors[rng.below(factors.len())].parse().unwrap();
                format!("{:?}", v * f)
            });
            lines[i] = format!("{key} = {}", scaled.unwrap_or_else(|| value.to_string()));
        }
        5 => {
            let joined = lines.join("\n");
            let mut cut = rng.below(joined.len());
            while !joined.is_char_boundary(cut) {
                cut -= 1;
            }
            return joined[..cut].to_string();
        }
        _ => {
            let joined = lines.join("\n");
            let mut at = rng.below(joined.len());
            while !joined.is_char_boundary(at) {
                at -= 1;
            }
            let stray = ["\"", "[", "]", "=", "\u{0}", "\u{1b}", "\n", "é", ",", "#"];
            return format!("{}{}{}", &joined[..at], stray[rng.below(10)], &joined[at..]);
        }
    }
    lines.join("\n") + "\n"
}

/// Runs the binary with a deadline: (exit code, stderr).
fn run_bounded(args: &[&str], case: &str) -> (i32, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            let code = status
                .code()
                .unwrap_or_else(|| panic!("killed by a signal:\n{case}"));
            return (code, err);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("no answer within {TIMEOUT:?}: {args:?}\n{case}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The one error line's promises; returns it without the file's path.
fn check_error_line(err: &str, file: &str, text: &str, case: &str) -> String {
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {err:?}\n{case}");
    let line = lines[0];
    assert!(
        !line.chars().any(char::is_control),
        "control character: {line:?}\n{case}"
    );
    let rest = line
        .strip_prefix(&format!("error: {file}:"))
        .unwrap_or_else(|| panic!("not `error: FILE:`: {line}\n{case}"));
    let mut parts = rest.trim_start().splitn(3, ':');
    let first = parts.next().unwrap_or("");
    if let Ok(row) = first.parse::<usize>() {
        let col: usize = parts.next().unwrap_or("").parse().unwrap_or(0);
        assert!(col >= 1, "no column: {line}\n{case}");
        assert!(
            row >= 1 && row <= text.lines().count() + 1,
            "line {row} beyond the file: {line}\n{case}"
        );
    }
    assert!(rest.contains(": "), "no KEY: message: {line}\n{case}");
    rest.to_string()
}

/// The promises of a run that succeeded, on every result folder under `out`.
fn check_results(out: &Path, case: &str) {
    for entry in fs::read_dir(out).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "left behind: {name}\n{case}");
        let dir = entry.path();
        let manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
        for (file, sum) in manifest["sha256"].as_object().unwrap() {
            let bytes = fs::read(dir.join(file)).unwrap();
            let digest = common::sha256_hex(&bytes);
            assert_eq!(&digest, sum.as_str().unwrap(), "{file}\n{case}");
            check_csv(&bytes, file, case);
        }
    }
}

fn check_csv(bytes: &[u8], file: &str, case: &str) {
    const TEXT: [&str; 6] = [
        "method",
        "status",
        "damping",
        "solver",
        "note",
        "theory_stable",
    ];
    let mut r = csv::Reader::from_reader(bytes);
    let header = r.headers().unwrap().clone();
    for rec in r.records() {
        let rec = rec.unwrap();
        for (name, field) in header.iter().zip(rec.iter()) {
            if TEXT.contains(&name) || field.is_empty() {
                continue;
            }
            let x: f64 = field
                .parse()
                .unwrap_or_else(|_| panic!("{file}: {name} = {field:?}\n{case}"));
            assert!(x.is_finite(), "{file}: {name} = {field}\n{case}");
        }
        if let (Some(s), Some(v)) = (
            header.iter().position(|h| h == "status"),
            header.iter().position(|h| h == "final_value"),
        ) {
            assert!(
                rec[s] != *"converged" || !rec[v].is_empty(),
                "converged without a value\n{case}"
            );
        }
    }
}

#[test]
fn mutated_scenarios_keep_every_promise() {
    let cases: usize = std::env::var("HEAVYBALL_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let seed = std::env::var("HEAVYBALL_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x5eed_f00d_u64);
    let mut rng = Rng(seed | 1);
    let (mut refused, mut ran) = (0, 0);
    for n in 0..cases {
        let base = BASES[n % BASES.len()];
        let mut text = mutate(base, &mut rng);
        if rng.below(3) == 0 {
            text = mutate(&text, &mut rng);
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("case.toml");
        fs::write(&file, &text).unwrap();
        let file = file.to_str().unwrap();
        let out = dir.path().join("out");
        let case = format!("--- case {n} (seed {seed}) ---\n{text}");
        let (checked, check_err) = run_bounded(&["check", file], &case);
        let (code, err) = run_bounded(
            &["run", file, "--out", out.to_str().unwrap(), "--quiet"],
            &case,
        );
        assert!(code == 0 || code == 2, "exit {code}: {err}\n{case}");
        assert_eq!(
            checked, code,
            "check and run disagree: {check_err} / {err}\n{case}"
        );
        if code == 2 {
            refused += 1;
            let a = check_error_line(&err, file, &text, &case);
            let b = check_error_line(&check_err, file, &text, &case);
            assert_eq!(a, b, "check and run say different things\n{case}");
            assert!(
                fs::read_dir(&out).map_or(true, |d| d.count() == 0),
                "written\n{case}"
            );
        } else {
            ran += 1;
            check_results(&out, &case);
        }
    }
    eprintln!("{cases} cases: {refused} refused, {ran} ran");
    // Both sides are exercised: the mutations are neither all fatal nor all harmless.
    assert!(
        refused * 10 >= cases && ran * 10 >= cases,
        "{refused} refused, {ran} ran"
    );
}
