//! The sweep as a process: a SIGKILL in the middle of a run (nothing that looks complete;
//! the next run works, or resumes to the same bytes), a file in the way, concurrent runs.

mod common;

use common::{s, spawn};

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::read_csv;

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

/// Runs `input` into `out` quietly with `extra` flags, asserts success, and returns the
/// bytes of `out/<name>/summary.csv`.
fn summary_of_run(input: &Path, out: &Path, name: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["run", s(input), "--out", s(out), "--quiet"];
    args.extend(extra);
    let o = spawn(&args).wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    fs::read(out.join(name).join("summary.csv")).unwrap()
}

/// A folder of the user's where the result folder goes (no manifest of ours in it) is
/// refused before any work, not replaced and deleted; an empty folder, an earlier result
/// and a sharded sweep's folder are replaced as before.
#[test]
fn a_folder_of_yours_in_the_way_is_refused_and_left_alone() {
    let out = tempfile::tempdir().unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kth-poster.toml");
    let in_the_way = out.path().join("kth-poster");
    fs::create_dir(&in_the_way).unwrap();
    fs::write(in_the_way.join("thesis.tex"), "my thesis\n").unwrap();
    let o = spawn(&["run", s(&input), "--out", s(out.path()), "--quiet"])
        .wait_with_output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("kth-poster: is a folder that is not a heavyball result"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(in_the_way.join("thesis.tex")).unwrap(),
        "my thesis\n"
    );
    assert_eq!(
        fs::read_dir(out.path()).unwrap().count(),
        1,
        "nothing else written"
    );
    // Nor may a shard go inside it (its `shards/` would make it look like a sweep's).
    let o = spawn(&[
        "run",
        s(&input),
        "--out",
        s(out.path()),
        "--shard",
        "1/1",
        "--quiet",
    ])
    .wait_with_output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(!in_the_way.join("shards").exists());
    assert_eq!(
        fs::read_dir(&in_the_way).unwrap().count(),
        1,
        "only thesis.tex"
    );
    // Empty, the folder is taken; then the result in it is replaced by the next run.
    fs::remove_file(in_the_way.join("thesis.tex")).unwrap();
    for _ in 0..2 {
        let o = spawn(&["run", s(&input), "--out", s(out.path()), "--quiet"])
            .wait_with_output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(in_the_way.join("summary.csv").is_file());
    }
    // An --out that is a link to nothing: named as such (it was "File exists").
    let link = out.path().join("gone");
    std::os::unix::fs::symlink(out.path().join("no-such-folder"), &link).unwrap();
    let o = spawn(&["run", s(&input), "--out", s(&link), "--quiet"])
        .wait_with_output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("gone: a link to ") && err.contains("no-such-folder, which does not exist"),
        "{err}"
    );
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
        let digest = common::sha256_hex(&bytes);
        assert_eq!(&digest, sum.as_str().unwrap(), "{file}");
    }
    let names: Vec<String> = fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["kth-poster"], "no partial or old folder left");
}

/// `run --resume` keeps only the whole points at the start of a partial `summary.csv` whose
/// rows are sound — UTF-8, 24 fields, the expected point and method in grid order, no more
/// points than the grid — and recomputes from the first that is not: a hand-edited or
/// damaged file never reaches the result, whose bytes are the uninterrupted run's. A
/// `summary.csv` that is a folder or a link to a file elsewhere starts afresh, and the
/// linked file stays as it was.
#[test]
fn a_damaged_partial_is_cut_at_its_first_unsound_row() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kth-mass-friction.toml");
    let name = "kth-mass-friction";
    let out = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| summary_of_run(&input, out.path(), name, extra);
    let whole = run(&[]);
    let resolved = fs::read(out.path().join(name).join("scenario.toml")).unwrap();
    let text = String::from_utf8(whole.clone()).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    // Line 1 + 2p is the first row of point p (two rows a point).
    let row = |p: usize| 1 + 2 * p;
    let marked = lines[1].replacen("converged", "converged-kept", 1);
    let head = || lines[0].to_string() + &marked + lines[2];
    let extra_field = lines[row(300)].replacen(',', ",,", 1);
    let mut not_utf8 = lines[row(300)].as_bytes().to_vec();
    let last = not_utf8.len() - 2;
    not_utf8[last] = 0xff;
    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        // (what, the planted file, the points that survive)
        (
            "a row of 25 fields",
            (head()
                + &lines[3..row(300)].concat()
                + &extra_field
                + &lines[row(300) + 1..row(400)].concat())
                .into_bytes(),
            300,
        ),
        (
            "a byte that is not UTF-8",
            [
                (head() + &lines[3..row(300)].concat()).into_bytes(),
                not_utf8,
                lines[row(300) + 1..row(400)].concat().into_bytes(),
            ]
            .concat(),
            300,
        ),
        (
            "points 5-9 again after 0-9",
            (head() + &lines[3..row(10)].concat() + &lines[row(5)..row(10)].concat()).into_bytes(),
            10,
        ),
        (
            "points 0 and 1 swapped",
            (lines[0].to_string()
                + &lines[row(1)..row(2)].concat()
                + &marked
                + lines[2]
                + &lines[row(2)..row(50)].concat())
                .into_bytes(),
            0,
        ),
        (
            "the whole file and four rows more",
            (head() + &lines[3..].concat() + &lines[1..5].concat()).into_bytes(),
            1681,
        ),
    ];
    for (what, planted, survive) in cases {
        let partial = out.path().join(format!(".{name}.partial-4000000"));
        fs::create_dir_all(&partial).unwrap();
        fs::write(partial.join("scenario.toml"), &resolved).unwrap();
        fs::write(partial.join("summary.csv"), planted).unwrap();
        let mut expected = whole.clone();
        if survive > 0 {
            // The kept points carry the mark: they were not recomputed.
            let at = lines[0].len();
            expected.splice(at..at + lines[1].len(), marked.bytes());
        }
        let got = run(&["--resume"]);
        assert!(
            got == expected,
            "{what}: not the uninterrupted bytes (with the mark iff kept)"
        );
        assert!(!partial.exists(), "{what}");
    }
    // A partial whose summary.csv is a folder: started afresh, not an error.
    let partial = out.path().join(format!(".{name}.partial-4000000"));
    fs::create_dir_all(partial.join("summary.csv")).unwrap();
    fs::write(partial.join("scenario.toml"), &resolved).unwrap();
    assert_eq!(run(&["--resume"]), whole);
    // A partial whose summary.csv (or manifest.json) is a link to a file of the user's, by
    // name or a second hard link, holding 50 whole points: the resumed run neither cuts it
    // back nor appends to it nor writes over it; the result is started afresh.
    let theirs = out.path().join("theirs");
    fs::create_dir_all(&theirs).unwrap();
    let planted = head() + &lines[3..row(50)].concat();
    for link in ["symbolic", "hard"] {
        let partial = out.path().join(format!(".{name}.partial-4000000"));
        fs::create_dir_all(&partial).unwrap();
        fs::write(partial.join("scenario.toml"), &resolved).unwrap();
        for file in ["summary.csv", "manifest.json"] {
            let user = theirs.join(format!("{link}-{file}"));
            fs::write(&user, &planted).unwrap();
            match link {
                "symbolic" => std::os::unix::fs::symlink(&user, partial.join(file)).unwrap(),
                _ => fs::hard_link(&user, partial.join(file)).unwrap(),
            }
        }
        assert_eq!(run(&["--resume"]), whole, "{link}");
        for file in ["summary.csv", "manifest.json"] {
            let user = fs::read(theirs.join(format!("{link}-{file}"))).unwrap();
            assert!(
                user == planted.as_bytes(),
                "{link} {file}: the user's file changed"
            );
        }
    }
}

/// `run --resume` continues a sweep from the partial folder a killed run left: from its
/// last whole grid point (a row cut short is dropped), to the same bytes as an uninterrupted
/// run. Proved on a planted partial folder whose kept rows carry a mark (the mark survives:
/// those rows were not recomputed) and whose tail is cut mid-row; a partial folder of
/// another scenario is never resumed (the mark is gone, the folder removed), one left under
/// the resuming process's own pid is; and on a real kill -9 of W1.
#[test]
fn a_killed_sweep_resumes_to_the_same_bytes() {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let input = scenarios.join("kth-mass-friction.toml");
    let name = "kth-mass-friction";
    let out = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| summary_of_run(&input, out.path(), name, extra);
    let whole = run(&[]);
    let text = String::from_utf8(whole.clone()).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 1 + 2 * 1681);
    // A partial folder of a process that is gone: the header, 500 whole points (1000
    // rows, the first marked), and half of the next row.
    let plant = |scenario_toml: &[u8]| {
        let partial = out.path().join(format!(".{name}.partial-4000000"));
        fs::create_dir_all(&partial).unwrap();
        fs::write(partial.join("scenario.toml"), scenario_toml).unwrap();
        let marked = lines[1].replacen("converged", "converged-kept", 1);
        assert_ne!(marked, lines[1]);
        let mut kept = lines[0].to_string() + &marked + &lines[2..1001].concat();
        let expected = kept.clone() + &lines[1001..].concat();
        kept.push_str(&lines[1001][..40]);
        fs::write(partial.join("summary.csv"), kept).unwrap();
        (partial, expected)
    };
    let resolved = fs::read(out.path().join(name).join("scenario.toml")).unwrap();
    let (partial, expected) = plant(&resolved);
    assert_eq!(String::from_utf8(run(&["--resume"])).unwrap(), expected);
    assert!(!partial.exists());
    // The manifest's SHA-256 covers the kept rows too.
    let manifest = fs::read_to_string(out.path().join(name).join("manifest.json")).unwrap();
    let digest = common::sha256_hex(expected.as_bytes());
    assert!(
        manifest.contains(&format!("\"summary.csv\": \"{digest}\"")),
        "{manifest}"
    );
    // A killed run whose successor has its pid (a container's pid 1, requeued): the
    // folder is the dead run's, not a live one's, and is resumed (`exec` keeps the pid).
    let (partial, expected) = plant(&resolved);
    let script = "mv \"$1\" \"${1%-*}-$$\" && exec \"$0\" run \"$2\" --out \"$3\" --quiet --resume";
    let o = std::process::Command::new("sh")
        .args(["-c", script, env!("CARGO_BIN_EXE_heavyball")])
        .args([s(&partial), s(&input), s(out.path())])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let resumed = fs::read(out.path().join(name).join("summary.csv")).unwrap();
    assert_eq!(String::from_utf8(resumed).unwrap(), expected);
    // Another scenario's partial folder (its scenario.toml differs by one byte): not resumed.
    let mut other = resolved.clone();
    other.push(b'\n');
    let (partial, _) = plant(&other);
    assert_eq!(run(&["--resume"]), whole);
    assert!(
        !partial.exists(),
        "a dead run's foreign leftover is removed"
    );

    // What --resume did is on the `wrote` line: the 500 points it kept; and with a live
    // process's partial folder (a `sleep`'s pid), that it left the folder to it.
    let (_, expected) = plant(&resolved);
    let said = |extra: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_heavyball"))
            .args(["run", s(&input), "--out", s(out.path())])
            .args(extra)
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("SLURM_ARRAY_TASK_COUNT")
            .env_remove("SLURM_RESTART_COUNT")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let target = out.path().join(name);
    assert_eq!(
        said(&["--resume"]),
        format!(
            "{}: wrote {} (resumed: 500 grid points kept from the killed run)\n",
            input.display(),
            target.display()
        )
    );
    assert_eq!(
        fs::read(target.join("summary.csv")).unwrap(),
        expected.as_bytes()
    );
    let mut live = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let partial = out.path().join(format!(".{name}.partial-{}", live.id()));
    fs::create_dir_all(&partial).unwrap();
    fs::write(partial.join("scenario.toml"), &resolved).unwrap();
    let line = said(&["--resume"]);
    live.kill().unwrap();
    live.wait().unwrap();
    assert_eq!(
        line,
        format!(
            "{}: wrote {} (nothing resumed: {} still being written by a running process)\n",
            input.display(),
            target.display(),
            partial.display()
        )
    );
    assert!(partial.is_dir(), "a live run's folder is left to it");
    assert_eq!(fs::read(target.join("summary.csv")).unwrap(), whole);
    fs::remove_dir_all(&partial).unwrap();

    // A real kill -9 midway through W1, then --resume: W1's uninterrupted bytes.
    let w1 = scenarios.join("w1-mass-friction.toml");
    let fresh = tempfile::tempdir().unwrap();
    let o = spawn(&["run", s(&w1), "--out", s(fresh.path()), "--quiet"])
        .wait_with_output()
        .unwrap();
    assert!(o.status.success());
    let uninterrupted = fs::read(fresh.path().join("w1-mass-friction/summary.csv")).unwrap();
    let partial = kill_midway(&w1, out.path(), "w1-mass-friction");
    let kept = fs::read(partial.join("summary.csv")).unwrap();
    assert!(kept.len() < uninterrupted.len());
    let o = spawn(&["run", s(&w1), "--out", s(out.path()), "--quiet", "--resume"])
        .wait_with_output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let resumed = fs::read(out.path().join("w1-mass-friction/summary.csv")).unwrap();
    assert!(
        resumed == uninterrupted,
        "resumed W1 differs from the uninterrupted run"
    );
}
