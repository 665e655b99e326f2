//! Output faults: a write error through the file-size limit and a full disk (a private
//! tmpfs, `unshare -m`) each exit 1 with the file named, leave no hidden folder, and leave
//! the previous result byte for byte.

mod common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_heavyball");

/// KTH's mass × friction grid (1681 points: a 0.7 MB summary), or 5 × 5 of it (17 kB),
/// under one name.
fn kth(dir: &Path, points: u32) -> String {
    let text = fs::read_to_string(common::scenarios_dir().join("kth-mass-friction.toml"))
        .unwrap()
        .replace(", 41]", &format!(", {points}]"));
    let path = dir.join(format!("kth-{points}.toml"));
    fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs `file` into `out`, under `limit` = (resource, bytes) when given.
fn run_limited(file: &str, out: &Path, limit: Option<(libc::__rlimit_resource_t, u64)>) -> Output {
    run_limited_with(file, out, limit, &[])
}

/// [`run_limited`] with `extra` arguments.
fn run_limited_with(
    file: &str,
    out: &Path,
    limit: Option<(libc::__rlimit_resource_t, u64)>,
    extra: &[&str],
) -> Output {
    let mut c = Command::new(BIN);
    c.args(["run", file, "--out", out.to_str().unwrap(), "--quiet"]);
    c.args(extra);
    c.env_remove("SLURM_RESTART_COUNT");
    limited(c, limit)
}

/// `c`'s output, run under `limit` = (resource, bytes) when given.
fn limited(mut c: Command, limit: Option<(libc::__rlimit_resource_t, u64)>) -> Output {
    c.env("RUST_BACKTRACE", "0");
    if let Some((resource, bytes)) = limit {
        // SAFETY: only setrlimit between fork and exec.
        unsafe {
            c.pre_exec(move || {
                let l = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(resource, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    c.output().unwrap()
}

#[test]
fn a_write_beyond_the_file_size_limit_is_an_io_error_and_the_old_result_stays() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = |file: &str, limit: Option<u64>| -> Output {
        run_limited(file, &out, limit.map(|b| (libc::RLIMIT_FSIZE, b)))
    };
    assert!(run(&kth(dir.path(), 5), None).status.success());
    let old = fs::read(out.join("kth-mass-friction/summary.csv")).unwrap();
    let o = run(&kth(dir.path(), 41), Some(64 << 10));
    assert_eq!(
        o.status.code(),
        Some(1),
        "killed by SIGXFSZ? {:?}",
        o.status
    );
    let err = String::from_utf8_lossy(&o.stderr);
    // Said of the result's file, not of the hidden partial folder the failure removed.
    let file = out.join("kth-mass-friction/summary.csv");
    assert!(
        err.starts_with(&format!("error: {}: ", file.display())) && !err.contains(".partial-"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        fs::read(out.join("kth-mass-friction/summary.csv")).unwrap(),
        old
    );
    assert_eq!(names(&out), ["kth-mass-friction"]);
}

/// A resumed sweep that fails keeps what it took over: the killed run's 500 grid points
/// (their first row marked, so a recomputed row would show) stay in the hidden folder, which
/// the error names, and the next `--resume` finishes to those rows plus the rest of the
/// uninterrupted run's bytes.
#[test]
fn a_resumed_sweep_that_fails_keeps_the_killed_runs_points() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let file = kth(dir.path(), 41);
    assert!(run_limited(&file, &out, None).status.success());
    let target = out.join("kth-mass-friction");
    let text = fs::read_to_string(target.join("summary.csv")).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 1 + 2 * 1681);
    let marked = lines[1].replacen("converged", "converged-kept", 1);
    let kept = lines[0].to_string() + &marked + &lines[2..1001].concat();
    let planted = out.join(".kth-mass-friction.partial-4000000");
    fs::create_dir(&planted).unwrap();
    fs::copy(target.join("scenario.toml"), planted.join("scenario.toml")).unwrap();
    fs::write(planted.join("summary.csv"), &kept).unwrap();
    let limit = kept.len() as u64 + (20 << 10);
    let o = run_limited_with(
        &file,
        &out,
        Some((libc::RLIMIT_FSIZE, limit)),
        &["--resume"],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    let left: Vec<String> = names(&out)
        .into_iter()
        .filter(|n| n.starts_with(".kth-mass-friction.partial-"))
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    let partial = out.join(&left[0]);
    assert!(
        err.contains(&format!(
            "({} is as it was; the resumed grid points stay in {}: run with --resume again)",
            target.display(),
            partial.display()
        )),
        "{err}"
    );
    let after = fs::read_to_string(partial.join("summary.csv")).unwrap();
    assert!(after.starts_with(&kept) && after.len() as u64 <= limit);
    assert_eq!(
        fs::read_to_string(target.join("summary.csv")).unwrap(),
        text
    );
    assert!(
        run_limited_with(&file, &out, None, &["--resume"])
            .status
            .success()
    );
    let expected = kept + &lines[1001..].concat();
    assert_eq!(
        fs::read_to_string(target.join("summary.csv")).unwrap(),
        expected
    );
    assert_eq!(names(&out), ["kth-mass-friction"]);
}

/// `heavyball plot` stopped by the file-size limit names the figure as it would stand in
/// `plots/`, not the hidden folder it was drawn in (removed with the failure), and leaves
/// the figures already there byte for byte.
#[test]
fn a_plot_beyond_the_file_size_limit_names_the_figure_and_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert!(
        run_limited(&kth(dir.path(), 5), &out, None)
            .status
            .success()
    );
    let folder = out.join("kth-mass-friction");
    let plot = |limit: Option<u64>| {
        let mut c = Command::new(BIN);
        c.args(["plot", folder.to_str().unwrap()]);
        limited(c, limit.map(|b| (libc::RLIMIT_FSIZE, b)))
    };
    assert!(plot(None).status.success());
    let before: Vec<(String, Vec<u8>)> = names(&folder.join("plots"))
        .into_iter()
        .map(|n| (n.clone(), fs::read(folder.join("plots").join(&n)).unwrap()))
        .collect();
    let index = fs::read(folder.join("index.html")).unwrap();
    let o = plot(Some(1 << 10));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!("error: {}/", folder.join("plots").display()))
            && err.contains(".svg: File too large")
            && err.ends_with("(no figure was kept; plots/ and index.html are as they were)\n")
            && !err.contains(".partial-"),
        "{err}"
    );
    for (n, bytes) in &before {
        assert_eq!(
            &fs::read(folder.join("plots").join(n)).unwrap(),
            bytes,
            "{n}"
        );
    }
    assert_eq!(names(&folder.join("plots")).len(), before.len());
    assert_eq!(fs::read(folder.join("index.html")).unwrap(), index);
    assert!(!names(&folder).iter().any(|n| n.starts_with('.')));
}

#[test]
fn a_full_disk_is_an_io_error_and_the_old_result_stays() {
    if !Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            std::env::var("HEAVYBALL_REQUIRE_FAULTS").as_deref() != Ok("1"),
            "HEAVYBALL_REQUIRE_FAULTS=1 but `unshare -m` is not allowed here"
        );
        eprintln!("skipped: a private tmpfs needs `unshare -m` (root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (small, big) = (kth(dir.path(), 5), kth(dir.path(), 41));
    let disk = dir.path().join("disk");
    fs::create_dir(&disk).unwrap();
    // In a private mount namespace: a 256 kB tmpfs, the small result, then the big one
    // (0.7 MB) into the same folder; the shell reports the second run's exit code and
    // copies what the disk holds out of the namespace.
    let script = format!(
        "set -u; mount -t tmpfs -o size=256k tmpfs {d}/disk || exit 99; \
         {bin} run {small} --out {d}/disk --quiet || exit 98; \
         cp {d}/disk/kth-mass-friction/summary.csv {d}/old.csv; \
         {bin} run {big} --out {d}/disk --quiet 2> {d}/err; echo $? > {d}/code; \
         ls -A {d}/disk > {d}/left; cp {d}/disk/kth-mass-friction/summary.csv {d}/after.csv",
        d = dir.path().display(),
        bin = BIN,
    );
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |f: &str| fs::read_to_string(dir.path().join(f)).unwrap();
    assert_eq!(read("code").trim(), "1");
    let err = read("err");
    assert!(
        err.starts_with("error: ") && err.contains("No space left on device"),
        "{err}"
    );
    // Said of the result folder, not of the hidden partial one the failure removed.
    let target = dir.path().join("disk/kth-mass-friction");
    assert!(
        err.contains(&format!("{}/", target.display()))
            && err.contains(&format!(
                "(nothing of this run was kept; {} is as it was)",
                target.display()
            ))
            && !err.contains(".partial-"),
        "{err}"
    );
    assert_eq!(
        read("left").trim(),
        "kth-mass-friction",
        "nothing hidden left"
    );
    assert_eq!(read("after.csv"), read("old.csv"));
}

/// A colorization grid of `side × side` with one colored pixel, named `name`, three
/// heavy-ball steps and (when `continuous`) a short continuous run.
fn grid(dir: &Path, name: &str, side: usize, continuous: bool) -> String {
    let mut text = format!(
        "name = \"{name}\"\n[potential]\nkind = \"colorization\"\ngrid = [{side}, {side}]\ncolored = [[0, 0]]\n\
         [particle]\nmass = 1.0\nfriction = 1.0\nposition = 0.0\n\
         [[discrete]]\nscheme = \"heavy-ball\"\nlearning_rate = 0.1\nmomentum = 0.9\nsteps = 3\n"
    );
    if continuous {
        text.push_str("[continuous]\nt_end = 1.0\n");
    }
    let path = dir.join(format!("{name}-{side}.toml"));
    fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Under a memory cap (`ulimit -v`, as a cluster enforces): a grid whose Hessian does not
/// fit is refused while its potential is built (fallible allocations, nothing written);
/// one that fits but whose run does not exits 1 with the scenario named instead of
/// SIGABRT. Both leave the previous result byte for byte and no other folder.
#[test]
fn a_memory_cap_is_an_error_naming_the_scenario_and_the_old_result_stays() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (name, side, continuous, cap_mib) in
        [("c3000", 3000, false, 512u64), ("c2000", 2000, true, 700)]
    {
        let small = run_limited(&grid(dir.path(), name, 20, continuous), &out, None);
        assert!(small.status.success(), "{small:?}");
        let old = fs::read(out.join(name).join("summary.csv")).unwrap();
        let o = run_limited(
            &grid(dir.path(), name, side, continuous),
            &out,
            Some((libc::RLIMIT_AS, cap_mib << 20)),
        );
        assert_eq!(o.status.code(), Some(1), "killed by SIGABRT? {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        let last = err.lines().last().unwrap();
        assert!(
            last.starts_with(&format!("error: scenario {name}: ")) && last.contains("memory"),
            "{err}"
        );
        if name == "c3000" {
            // 3000² pixels: the Hessian's 4.5e7 column indices (0.36 GB) do not fit in 512 MiB
            // beside its offsets; refused fallibly, the only line on stderr.
            assert!(
                last.contains(
                    "setting up the potential: the Hessian's column indices needs 0.36 GB"
                ),
                "{err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        assert_eq!(fs::read(out.join(name).join("summary.csv")).unwrap(), old);
        if name == "c3000" {
            // `heavyball theory` builds the same potential: refused under its key, exit 2.
            let mut c = Command::new(BIN);
            c.args(["theory", &grid(dir.path(), name, side, continuous)]);
            let l = libc::rlimit {
                rlim_cur: cap_mib << 20,
                rlim_max: cap_mib << 20,
            };
            // SAFETY: only setrlimit between fork and exec.
            unsafe {
                c.pre_exec(move || match libc::setrlimit(libc::RLIMIT_AS, &l) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                });
            }
            let o = c.output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{err}");
            assert!(
                err.contains(": potential: the Hessian's column indices needs 0.36 GB"),
                "{err}"
            );
        }
        let committed: Vec<String> = names(&out)
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert!(
            committed.iter().all(|n| n == "c3000" || n == "c2000"),
            "{committed:?}"
        );
    }
}

/// A merge that cannot write keeps the earlier result whole — here a single run of the same
/// name, whose `discrete.csv` the merged sweep would not have: every file byte for byte, no
/// hidden file left; the error names the merged file and says so. A killed merge's partial
/// file (its process gone) goes at the next merge, which replaces the single run.
#[test]
fn a_merge_beyond_the_file_size_limit_keeps_the_earlier_result_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let scenario = |name: &str, sweep: bool| {
        let mut text = String::from(
            "name = \"tiny\"\n[potential]\nkind = \"quadratic\"\neigenvalues = [3.0, 30.0]\n\
             [particle]\nposition = [1.0, 1.0]\nfriction = 2.0\n",
        );
        text += if sweep {
            "[[discrete]]\nlabel = \"hb\"\ndt = 0.1\nsteps = 2000\n\
             [sweep]\nmass = { values = [0.25, 0.5, 1.0] }\n"
        } else {
            "mass = 1.0\n[[discrete]]\nlabel = \"hb\"\ndt = 0.1\nsteps = 2000\n"
        };
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (single, sweep) = (scenario("single.toml", false), scenario("sweep.toml", true));
    assert!(run_limited(&single, &out, None).status.success());
    let folder = out.join("tiny");
    let before: Vec<(String, Vec<u8>)> = names(&folder)
        .into_iter()
        .map(|n| (n.clone(), fs::read(folder.join(&n)).unwrap()))
        .collect();
    assert!(before.iter().any(|(n, _)| n == "discrete.csv"));
    for shard in ["1/2", "2/2"] {
        let o = run_limited_with(&sweep, &out, None, &["--shard", shard]);
        assert!(o.status.success(), "{o:?}");
    }
    let merge = |limit: Option<u64>| {
        let mut c = Command::new(BIN);
        c.args(["merge", folder.to_str().unwrap()]);
        limited(c, limit.map(|b| (libc::RLIMIT_FSIZE, b)))
    };
    let o = merge(Some(0));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err,
        format!(
            "error: {}: File too large (os error 27) (nothing was merged; {} is as it was)\n",
            folder.join("summary.csv").display(),
            folder.display()
        )
    );
    for (n, bytes) in &before {
        assert_eq!(&fs::read(folder.join(n)).unwrap(), bytes, "{n}");
    }
    let mut expected: Vec<String> = before.iter().map(|(n, _)| n.clone()).collect();
    expected.push("shards".into());
    expected.sort();
    assert_eq!(names(&folder), expected);

    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let killed = folder.join(format!(".summary.csv.partial-{dead}"));
    fs::write(&killed, "point,method\n0,hb").unwrap();
    assert!(merge(None).status.success());
    assert_eq!(
        names(&folder),
        ["manifest.json", "scenario.toml", "shards", "summary.csv"]
    );
    let rows = fs::read_to_string(folder.join("summary.csv")).unwrap();
    assert_eq!(rows.lines().count(), 4, "{rows}");
}
