//! The sweep as a process: peak memory of a million-point sweep (streamed, not collected)
//! and a SIGKILL in the middle of a run (nothing that looks complete; the next run works).

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::read_csv;
use heavyball::theory;

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_heavyball"))
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Waits for a child and returns its exit status and peak resident set size in bytes
/// (`wait4`'s `ru_maxrss`, what `/usr/bin/time -v` reports as "Maximum resident set size").
fn wait_with_peak_rss(child: Child) -> (std::process::ExitStatus, u64) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    std::mem::forget(child); // already reaped
    (
        std::process::ExitStatus::from_raw(status),
        usage.ru_maxrss as u64 * 1024,
    )
}

#[test]
fn a_million_point_discrete_sweep_streams_in_bounded_memory() {
    // benches/million-discrete.toml: Qian's triangle at 1000 × 1000 on one spring, 100
    // steps a point: 10^6 summary rows.
    let dir = tempfile::tempdir().unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/million-discrete.toml");
    let child = spawn(&[
        "run",
        s(&input),
        "--out",
        s(dir.path()),
        "--threads",
        "2",
        "--quiet",
    ]);
    let (status, rss) = wait_with_peak_rss(child);
    assert!(status.success(), "{status}");
    eprintln!(
        "peak RSS of the 10^6-point sweep: {:.1} MB",
        rss as f64 / 1e6
    );
    assert!(rss < 64 << 20, "peak RSS {rss} bytes, the limit is 64 MiB");

    // All rows, in grid order; spot-check them against Result 3 away from the edge.
    let summary = dir.path().join("million/summary.csv");
    let text = fs::read_to_string(&summary).unwrap();
    let mut lines = text.lines();
    lines.next();
    let mut count = 0u64;
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0].parse::<u64>().unwrap(), i as u64);
        if i % 997 == 0 {
            let (eps, p): (f64, f64) = (f[5].parse().unwrap(), f[6].parse().unwrap());
            let rho = theory::heavy_ball_radius(eps, p, 1.0);
            assert_eq!(f[14] == "true", rho < 1.0);
            // ρ^100 < 1e-6 needs ρ < 0.87; diverging to 1e12 in 100 steps needs ρ > 1.32.
            if rho < 0.8 {
                assert_eq!(f[7], "converged", "{line}");
            }
        }
        count += 1;
    }
    assert_eq!(count, 1_000_000);
}

/// Starts a run, waits until its partial folder exists, lets it work a moment, and kills
/// it with SIGKILL; returns the partial folder it left.
fn kill_midway(input: &Path, out: &Path, name: &str) -> PathBuf {
    let mut child = spawn(&[
        "run",
        s(input),
        "--out",
        s(out),
        "--threads",
        "1",
        "--quiet",
    ]);
    let partial = out.join(format!(".{name}.partial-{}", child.id()));
    let summary = partial.join("summary.csv");
    // Midway, whatever the machine's speed: once the summary holds a row (more than its
    // header line), the run is stopped, found alive, and only then killed.
    let start = Instant::now();
    while fs::read(&summary).map_or(true, |b| b.iter().filter(|&&c| c == b'\n').count() < 2) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no summary row appeared"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        std::thread::sleep(Duration::from_millis(1));
    }
    let pid = child.id() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before the stop"
    );
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "not killed: {status}");
    partial
}

#[test]
fn a_killed_sweep_leaves_nothing_that_looks_complete_and_the_next_run_succeeds() {
    // W1 at N = 100 (the shipped scenario): seconds of work, so a kill lands midway.
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/w1-mass-friction.toml");
    let name = "w1-mass-friction";
    let out = tempfile::tempdir().unwrap();
    let result = out.path().join(name);

    // Killed before any result exists: no result folder, only the hidden partial one.
    let partial = kill_midway(&input, out.path(), name);
    assert!(!result.exists());
    assert!(partial.is_dir() && !partial.join("manifest.json").exists());

    // The next run removes the leftover and completes.
    let run = |out: &Path| {
        let child = spawn(&["run", s(&input), "--out", s(out), "--quiet"]);
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(out.path());
    assert!(
        !partial.exists(),
        "the killed run's partial folder is removed"
    );
    let first = fs::read(result.join("summary.csv")).unwrap();
    let rows = read_csv(&result.join("summary.csv"));
    assert_eq!(rows.len(), 20_000);
    let converged = rows
        .iter()
        .filter(|r| r["method"] == "qian" && r["status"] == "converged")
        .count();
    assert_eq!(
        converged, 8061,
        "the peers' count of converging discrete points"
    );

    // Killed while replacing it: the previous result stays whole, byte for byte.
    let partial = kill_midway(&input, out.path(), name);
    assert_eq!(fs::read(result.join("summary.csv")).unwrap(), first);
    assert!(result.join("manifest.json").is_file());
    assert!(!partial.join("manifest.json").exists());

    // And the run after that reproduces it and leaves no leftovers.
    run(out.path());
    assert_eq!(fs::read(result.join("summary.csv")).unwrap(), first);
    let hidden: Vec<String> = fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "leftovers: {hidden:?}");
}

/// A regular file where the result folder goes is refused before any work (exit 1: no
/// output can be written there), and nothing of the user's is moved or changed.
#[test]
fn a_regular_file_in_the_way_is_refused_and_left_alone() {
    let out = tempfile::tempdir().unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kth-poster.toml");
    let in_the_way = out.path().join("kth-poster");
    fs::write(&in_the_way, "my notes\n").unwrap();
    let o = spawn(&["run", s(&input), "--out", s(out.path()), "--quiet"])
        .wait_with_output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("kth-poster: is not a folder"), "{err}");
    assert_eq!(fs::read_to_string(&in_the_way).unwrap(), "my notes\n");
    let names: Vec<String> = fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["kth-poster"], "nothing else written or moved");
}

/// Runs of one scenario into one folder that finish together both succeed, and the result
/// stands whole (its manifest's SHA-256s match its files) with no leftovers: 40 pairs of a
/// short single run, started together.
#[test]
fn concurrent_runs_into_one_folder_both_succeed() {
    let out = tempfile::tempdir().unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kth-poster.toml");
    for _ in 0..40 {
        let pair: Vec<Child> = (0..2)
            .map(|_| spawn(&["run", s(&input), "--out", s(out.path()), "--quiet"]))
            .collect();
        for child in pair {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    }
    let result = out.path().join("kth-poster");
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(result.join("manifest.json")).unwrap()).unwrap();
    let sums = manifest["sha256"].as_object().unwrap();
    assert_eq!(sums.len(), 4);
    for (file, sum) in sums {
        let bytes = fs::read(result.join(file)).unwrap();
        let digest: String = <sha2::Sha256 as sha2::Digest>::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(&digest, sum.as_str().unwrap(), "{file}");
    }
    let names: Vec<String> = fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["kth-poster"], "no partial or old folder left");
}
