//! The shipped Slurm scripts without a cluster: `scenarios/slurm/submit.sh` (its usage, its
//! `check` before anything is submitted, the two `sbatch` calls it makes, seen through a
//! recording stand-in) and `merge.sbatch` (the result folder found from `check`'s line for a
//! name unlike the file's stem, with parentheses, merged to the unsharded bytes). The real
//! job array is `tests/slurm.rs`.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{heavyball, run_ok, s};

const BIN: &str = env!("CARGO_BIN_EXE_heavyball");

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/slurm")
        .join(name)
}

/// A small sweep (3 × 4 points) whose name is not its file's stem and holds parentheses.
const SWEEP: &str = r#"name = "tiny (sharded) sweep"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 10.0]
[particle]
position = [1.0, 1.0]
[[discrete]]
dt = 0.1
steps = 2000
[sweep]
mass = { values = [0.5, 1.0, 2.0] }
friction = { values = [0.5, 1.0, 2.0, 4.0] }
"#;

/// A folder with a stand-in `sbatch` that appends its arguments and the exported
/// SCENARIO/OUT to `calls.log`, answering job ids 101, 102, ...
fn fake_sbatch(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls.log");
    let body = format!(
        "#!/bin/bash\necho \"$* | SCENARIO=$SCENARIO OUT=$OUT\" >> '{}'\necho $((100 + $(wc -l < '{}')))\n",
        log.display(),
        log.display()
    );
    let path = bin.join("sbatch");
    fs::write(&path, body).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn submit(dir: &Path, args: &[&str]) -> Output {
    let bin = fake_sbatch(dir);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    Command::new("bash")
        .arg(script("submit.sh"))
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("HEAVYBALL", BIN)
        .env_remove("WAIT")
        .output()
        .unwrap()
}

#[test]
fn submit_without_a_scenario_prints_its_usage_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = submit(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(2));
    let usage = String::from_utf8(o.stderr).unwrap();
    assert!(
        usage.starts_with("# Runs a sweep as a Slurm job array")
            && usage
                .contains("submit.sh SCENARIO.toml [SHARDS (default 4)] [OUT (default output)]"),
        "{usage}"
    );
    assert_eq!(usage.lines().count(), 4, "{usage}");
    assert!(!dir.path().join("calls.log").exists(), "nothing submitted");
}

#[test]
fn submit_checks_the_scenario_before_submitting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    fs::write(
        &bad,
        SWEEP.replace("[0.5, 1.0, 2.0, 4.0]", "[-0.5, 1.0, 2.0, 4.0]"),
    )
    .unwrap();
    let o = submit(dir.path(), &[s(&bad), "3"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.starts_with(&format!("error: {}:12:", bad.display())) && err.contains("sweep.friction"),
        "{err}"
    );
    assert!(!dir.path().join("calls.log").exists(), "nothing submitted");
    // More shards than the 12 grid points: refused before any job, as every task would be.
    let good = dir.path().join("good.toml");
    fs::write(&good, SWEEP).unwrap();
    let o = submit(dir.path(), &[s(&good), "13"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(o.stderr).unwrap(),
        "submit.sh: 13 shards for a grid of 12 point(s); use at most 12\n"
    );
    assert!(!dir.path().join("calls.log").exists(), "nothing submitted");
}

/// Two calls: the array `--array=1-3` of shard.sbatch, then merge.sbatch depending on its
/// job id with `afterok`, both seeing the scenario and the output root as absolute paths.
#[test]
fn submit_sends_the_array_then_the_dependent_merge() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my-file.toml");
    fs::write(&file, SWEEP).unwrap();
    let o = submit(dir.path(), &[s(&file), "3", "results"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("results");
    let env = format!("SCENARIO={} OUT={}", file.display(), out.display());
    let calls = fs::read_to_string(dir.path().join("calls.log")).unwrap();
    let shard = script("shard.sbatch");
    let merge = script("merge.sbatch");
    let expected = format!(
        "--parsable --array=1-3 {}/../slurm/shard.sbatch | {env}\n\
         --parsable --dependency=afterok:101 --kill-on-invalid-dep=yes {}/../slurm/merge.sbatch | {env}\n",
        shard.parent().unwrap().display(),
        merge.parent().unwrap().display(),
    );
    // submit.sh names its folder by `cd "$(dirname "$0")" && pwd`: the same folder.
    let normal = |text: &str| text.replace("/../slurm", "");
    assert_eq!(normal(&calls), normal(&expected));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!(
            "shards: job 101 (array 1-3) -> {}\nmerge: job 102 (runs when all shards succeed)\n",
            out.display()
        )
    );
}

/// merge.sbatch finds `OUT/<name>` from `check`'s line — here "tiny (sharded) sweep", not
/// the file's stem — and joins two local shards to the unsharded run's bytes.
#[test]
fn merge_sbatch_finds_the_folder_by_the_scenarios_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my-file.toml");
    fs::write(&file, SWEEP).unwrap();
    let out = dir.path().join("out");
    for shard in ["1/2", "2/2"] {
        let o = heavyball(&[
            "run",
            s(&file),
            "--out",
            s(&out),
            "--shard",
            shard,
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = Command::new("bash")
        .arg(script("merge.sbatch"))
        .env("SCENARIO", &file)
        .env("OUT", &out)
        .env("HEAVYBALL", BIN)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let whole = dir.path().join("whole");
    run_ok(&file, &whole);
    let name = "tiny (sharded) sweep";
    let merged = fs::read(out.join(name).join("summary.csv")).unwrap();
    assert_eq!(merged.iter().filter(|&&b| b == b'\n').count(), 1 + 12);
    assert!(merged == fs::read(whole.join(name).join("summary.csv")).unwrap());
}
