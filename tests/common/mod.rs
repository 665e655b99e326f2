//! Helpers shared by the integration tests (`mod common;` in each test file).
#![allow(dead_code)]

pub mod exact;
pub mod iterates;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

// The library's results in these test binaries are compared with the command line's files
// byte for byte: the same math library as the binary's (std's functions in the solvers'
// crates on the `libm` crate), as a program using the library gets with it.
heavyball::portable_math!();

/// Runs the binary outside any job array.
pub fn heavyball(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_heavyball"))
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("SLURM_ARRAY_TASK_MIN")
        .env_remove("SLURM_ARRAY_TASK_STEP")
        .output()
        .unwrap()
}

/// Starts the binary outside any job array, stdout discarded, stderr piped.
pub fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_heavyball"))
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// SHA-256 of `bytes` in hex, as manifests record it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    <sha2::Sha256 as sha2::Digest>::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A path as the `&str` an argument list takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn run_ok(input: &Path, out: &Path) {
    let o = heavyball(&[
        "run",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A CSV as header → column of strings.
/// Asserts that two result folders hold the same bytes in every file a run writes (a
/// trajectory file absent from both is equal; every run writes its summary and scenario).
pub fn assert_same_results(a: &Path, b: &Path) {
    for always in ["summary.csv", "scenario.toml"] {
        assert!(a.join(always).is_file(), "{}: no {always}", a.display());
    }
    for file in [
        "summary.csv",
        "continuous.csv",
        "discrete.csv",
        "comparison.csv",
        "scenario.toml",
    ] {
        let (x, y) = (
            std::fs::read(a.join(file)).ok(),
            std::fs::read(b.join(file)).ok(),
        );
        assert!(
            x == y,
            "{} and {}: {file} differs",
            a.display(),
            b.display()
        );
    }
}

pub fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

pub fn num(row: &HashMap<String, String>, key: &str) -> f64 {
    row[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key} = {:?}", row[key]))
}

/// The shipped scenarios' folder.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Runs every shipped scenario once (per test binary) into a shared temporary folder.
pub fn shipped() -> &'static Path {
    static OUT: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    OUT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        run_ok(&scenarios_dir(), dir.path());
        dir
    })
    .path()
}
