//! Same numbers on every machine, whichever variant of the system's libm the CPU gets. glibc
//! picks FMA, AVX2 or SSE2 code for `log`, `exp`, `pow`, `sin`… when a program loads, and
//! the variants round a last bit differently on some inputs: before the engine took its
//! elementary functions from the `libm` crate (and its expressions' too), a node without FMA
//! wrote 6 of the shipped scenarios' outputs differently (theory columns, measured rates,
//! the double-well's trajectories); before the command line pinned std's functions too
//! (`heavyball::portable_math!`), third-party code still did — `ode_solvers` (the massless
//! limit, Nesterov's ODE, Dop853, Rk4) and diffsol (its BDF on a sweep's stiff points, its
//! explicit driver on many coordinates) size their steps with std's `powf`: W1's point 694
//! took 2 404 evaluations here and 2 403 on such a node. Here the shipped scenarios run
//! twice, as this CPU has them and with glibc's FMA and AVX2 code masked (`GLIBC_TUNABLES`,
//! what such a node runs), and every output but the manifest and `index.html` (which record
//! times) is the same bytes, every row of every solver. Then once more on another CPU
//! altogether: an x86-64 without AVX, AVX2 or FMA, emulated by `qemu-x86_64 -cpu Nehalem`,
//! where everything that picks its code by the CPU at run time picks differently at once
//! (the engine's lanes, glibc, the crates underneath): the same bytes again.

// The platform's libm (std's f64 methods) is what this test exercises.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// glibc's FMA and AVX2 variants off: a CPU without them, to the library's choice of code.
const MASK: &str = "glibc.cpu.hwcaps=-AVX2,-FMA";

/// Prints a digest of std's `ln`, `exp`, `powf`, `sin` and `cos` over 200 000 inputs, for
/// [`glibc_variants_change_no_output`], which runs it as a child with and without [`MASK`].
#[test]
#[ignore = "a helper: any_libm's main test runs it as a child"]
fn std_bits_helper() {
    let mut digest = 0u64;
    let mut x = 1.0e-3_f64;
    for _ in 0..200_000 {
        for y in [
            x.ln(),
            (x * 0.37).exp(),
            10f64.powf(x * 0.01),
            x.sin(),
            x.cos(),
        ] {
            digest = digest.rotate_left(7) ^ y.to_bits();
        }
        x *= 1.000_057;
    }
    println!("std-bits {digest:016x}");
}

/// [`std_bits_helper`]'s digest, run with `GLIBC_TUNABLES` set to `tunables` (or unset).
fn std_digest(tunables: Option<&str>) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--ignored", "--exact", "std_bits_helper", "--nocapture"]);
    match tunables {
        Some(t) => cmd.env("GLIBC_TUNABLES", t),
        None => cmd.env_remove("GLIBC_TUNABLES"),
    };
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("std-bits "))
        .map(str::to_owned);
    line.unwrap_or_else(|| panic!("no digest from the helper: {text}"))
}

/// Every file under `dir` but manifests and `index.html` (they record times), by path
/// relative to `dir`.
fn outputs(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !["manifest.json", "index.html"]
                .contains(&path.file_name().unwrap().to_str().unwrap())
            {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

/// The shipped scenarios' outputs, run with `GLIBC_TUNABLES` set to `tunables` (or unset).
fn run_scenarios(out: &Path, tunables: Option<&str>) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heavyball"));
    match tunables {
        Some(t) => cmd.env("GLIBC_TUNABLES", t),
        None => cmd.env_remove("GLIBC_TUNABLES"),
    };
    run_scenarios_by(cmd, out)
}

/// The shipped scenarios' outputs, run by `cmd` (the binary, or an emulator running it).
fn run_scenarios_by(mut cmd: Command, out: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    cmd.args([
        "run",
        scenarios.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ])
    .env_remove("SLURM_ARRAY_TASK_ID")
    .env_remove("HEAVYBALL_SIMD");
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    outputs(out)
}

/// Asserts two runs' outputs the same files and bytes; returns the summary rows compared.
fn assert_same(
    here: &BTreeMap<PathBuf, Vec<u8>>,
    there: &BTreeMap<PathBuf, Vec<u8>>,
    how: &str,
) -> usize {
    assert!(here.len() >= 60, "{} output files", here.len());
    assert_eq!(
        here.keys().collect::<Vec<_>>(),
        there.keys().collect::<Vec<_>>()
    );
    let mut rows = 0;
    for (path, bytes) in here {
        assert!(bytes == &there[path], "{} differs {how}", path.display());
        if path.ends_with("summary.csv") {
            rows += bytes.iter().filter(|&&b| b == b'\n').count() - 1;
        }
    }
    rows
}

#[test]
fn glibc_variants_change_no_output() {
    // The mask must change the system libm's results for this test to have teeth: it
    // does on an x86-64 CPU with FMA under glibc (this project's machines); elsewhere it
    // changes nothing and both runs are alike anyway.
    let teeth = std_digest(None) != std_digest(Some(MASK));
    // CI's machine has FMA and glibc: there the check must have teeth (.ci/run).
    let required = std::env::var_os("HEAVYBALL_REQUIRE_LIBM_MASK").is_some();
    assert!(
        teeth || !required,
        "GLIBC_TUNABLES={MASK} changes no std result here"
    );
    if !teeth {
        eprintln!("GLIBC_TUNABLES={MASK} changes no std result here: a weaker check");
    }
    let dir = tempfile::tempdir().unwrap();
    let here = run_scenarios(&dir.path().join("here"), None);
    let masked = run_scenarios(&dir.path().join("masked"), Some(MASK));
    let rows = assert_same(&here, &masked, &format!("under {MASK}"));
    assert!(rows > 10_000, "{rows} summary rows compared");
}

/// An x86-64 CPU without AVX, AVX2 or FMA (SSE4.2 at most), as qemu's user mode emulates it:
/// an older node of a cluster.
const OLD_CPU: &str = "Nehalem";

/// Prints whether this CPU has AVX2 and FMA, for [`another_cpu_changes_no_output`], which
/// runs it natively and under qemu.
#[test]
#[ignore = "a helper: another_cpu_changes_no_output runs it"]
fn cpu_features_helper() {
    #[cfg(target_arch = "x86_64")]
    println!(
        "cpu avx2={} fma={}",
        is_x86_feature_detected!("avx2"),
        is_x86_feature_detected!("fma")
    );
}

/// [`cpu_features_helper`]'s line, run by `cmd` (this test binary, or qemu running it).
fn cpu_features(mut cmd: Command) -> String {
    cmd.args(["--ignored", "--exact", "cpu_features_helper", "--nocapture"]);
    let text = String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(str::to_owned);
    line.unwrap_or_else(|| panic!("no features from the helper: {text}"))
}

/// Same numbers on another CPU: the shipped scenarios run here and under `qemu-x86_64 -cpu
/// Nehalem` (no AVX, AVX2 or FMA) write the same bytes. Everything that picks its code by
/// the CPU when the program runs is exercised at once — the engine's lanes (SSE2 there, AVX2
/// or AVX-512 here), glibc's SSE2 builds of its functions, any run-time choice of the crates
/// underneath — as a Slurm job array spread over mixed nodes meets it.
#[test]
fn another_cpu_changes_no_output() {
    let required = std::env::var_os("HEAVYBALL_REQUIRE_QEMU").is_some();
    let qemu = cfg!(all(target_arch = "x86_64", target_os = "linux"))
        && Command::new("qemu-x86_64")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !qemu {
        assert!(!required, "qemu-x86_64 is missing");
        eprintln!("no qemu-x86_64 for x86-64 here: skipped");
        return;
    }
    let emulated = |program: &str| {
        let mut cmd = Command::new("qemu-x86_64");
        cmd.args(["-cpu", OLD_CPU, program])
            .env_remove("GLIBC_TUNABLES");
        cmd
    };
    let native = |program: &str| {
        let mut cmd = Command::new(program);
        cmd.env_remove("GLIBC_TUNABLES");
        cmd
    };
    let me = std::env::current_exe().unwrap();
    let (native, old) = (
        cpu_features(native(me.to_str().unwrap())),
        cpu_features(emulated(me.to_str().unwrap())),
    );
    assert_eq!(old, "cpu avx2=false fma=false");
    // CI's machine has both: there the check must have teeth (.ci/run).
    assert!(
        native == "cpu avx2=true fma=true" || !required,
        "this CPU: {native}"
    );
    if native != "cpu avx2=true fma=true" {
        eprintln!("this CPU ({native}) is not far from {OLD_CPU}: a weaker check");
    }
    let dir = tempfile::tempdir().unwrap();
    let here = run_scenarios_by(
        Command::new(env!("CARGO_BIN_EXE_heavyball")),
        &dir.path().join("here"),
    );
    let there = run_scenarios_by(
        emulated(env!("CARGO_BIN_EXE_heavyball")),
        &dir.path().join("old"),
    );
    let rows = assert_same(&here, &there, &format!("on {OLD_CPU} (qemu)"));
    assert!(rows > 10_000, "{rows} summary rows compared");
}
