//! The command line's own promises: `--help`, what `--quiet` silences, no progress bar off
//! a terminal, and the exit code of a batch (2 for bad input wins over 1 for an I/O
//! failure; every error printed).

mod common;

use std::fs;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_heavyball");

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(BIN)
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (o.status.code().unwrap(), text(o.stdout), text(o.stderr))
}

#[test]
fn help_lists_every_command() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for command in ["run", "check", "theory", "merge", "plot"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(command)),
            "{command}: {out}"
        );
    }
    let (code, out, _) = run(&["run", "--help"]);
    assert_eq!(code, 0);
    for flag in ["--out", "--threads", "--shard", "--quiet", "--resume"] {
        assert!(out.contains(flag), "{flag}: {out}");
    }
}

#[test]
fn quiet_silences_the_wrote_line_and_no_bar_is_drawn_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = common::scenarios_dir().join("kth-mass-friction.toml");
    let (sweep, out) = (sweep.to_str().unwrap(), dir.path().to_str().unwrap());
    // Without --quiet, off a terminal: the one line per result, and no progress bar.
    let (code, stdout, stderr) = run(&["run", sweep, "--out", out]);
    assert_eq!(code, 0);
    assert_eq!(stdout, format!("{sweep}: wrote {out}/kth-mass-friction\n"));
    assert_eq!(stderr, "", "a bar (or anything) on stderr off a terminal");
    let (code, stdout, stderr) = run(&["run", sweep, "--out", out, "--quiet"]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
}

#[test]
fn bad_input_wins_over_an_io_failure_and_both_are_told() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("a-bad.toml");
    fs::write(&bad, "[potential]\nkind = \"quartic\"\n").unwrap();
    let good = dir.path().join("b-good.toml");
    fs::copy(common::scenarios_dir().join("kth-poster.toml"), &good).unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    // A file where kth-poster's result goes: that run fails with an I/O error (exit 1).
    fs::write(out.join("kth-poster"), "mine").unwrap();
    let args = [
        "run",
        bad.to_str().unwrap(),
        good.to_str().unwrap(),
        "--out",
    ];
    let (code, _, stderr) = run(&[&args[..], &[out.to_str().unwrap(), "--quiet"]].concat());
    assert_eq!(code, 2, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].contains("a-bad.toml:2:8: potential.kind: unknown kind"),
        "{stderr}"
    );
    assert!(lines[1].contains("kth-poster: is not a folder"), "{stderr}");
    // The I/O failure alone exits 1.
    let (code, _, _) = run(&[
        "run",
        good.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
}

/// A path of the user's is printed as one line, its control characters escaped, in the
/// "wrote" line and in an I/O error alike (a newline in `--out` once split both in two).
#[test]
fn paths_with_control_characters_print_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::scenarios_dir().join("kth-poster.toml");
    let out = dir.path().join("a\nb");
    let (code, stdout, _) = run(&[
        "run",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let shown = format!("{}", dir.path().display());
    assert_eq!(
        stdout,
        format!("{}: wrote {shown}/a\\nb/kth-poster\n", input.display())
    );
    // A file where the output folder goes, with an escape sequence in its name.
    let file = dir.path().join("x\u{1b}[31m");
    fs::write(&file, "mine").unwrap();
    let (code, _, stderr) = run(&[
        "run",
        input.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {shown}/x\\u{{1b}}[31m: ")),
        "{stderr}"
    );
}
