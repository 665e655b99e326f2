//! Peak memory of a million-point sweep and of its plot (both streamed, not collected).
//! Alone in their test binary, one at a time ([`ALONE`]), and reading the 10⁶-row summary
//! as a stream: `ru_maxrss` also counts the image the child was spawned from (the test
//! process, shared until exec), so a large file held or freed here inflates it (80 MB
//! measured for the sweep, against 9 MB alone; 72 MB and 242 MB for the plot after the
//! summary had been read whole, against 30 MB).

mod common;

use common::{s, spawn};

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Child;

use heavyball::theory;

/// Held for the whole of each test, so that neither spawns while the other works here.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|p| p.into_inner())
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
    let _alone = alone();
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
    // Streamed: this process stays small for the other test's child (see the top).
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(fs::File::open(&summary).unwrap()));
    lines.next();
    let mut count = 0u64;
    for (i, line) in lines.enumerate() {
        let line = line.unwrap();
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

/// `heavyball plot` of the 10⁶-point sweep streams `summary.csv`: its peak memory stays
/// within the engine's bound.
#[test]
fn a_million_point_sweep_draws_in_bounded_memory() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/million-discrete.toml");
    let o = spawn(&["run", s(&input), "--out", s(dir.path()), "--quiet"]).wait_with_output();
    assert!(o.unwrap().status.success());
    let result = dir.path().join("million");
    let (status, rss) = wait_with_peak_rss(spawn(&["plot", s(&result)]));
    assert!(status.success(), "{status}");
    eprintln!(
        "peak RSS of plotting 10^6 points: {:.1} MB",
        rss as f64 / 1e6
    );
    assert!(rss < 64 << 20, "peak RSS {rss} bytes, the limit is 64 MiB");
    assert!(result.join("plots/hb-status.svg").is_file());
}
