//! A real Slurm job array: the shipped `scenarios/slurm/submit.sh` runs W1 (N = 12) as a
//! 4-task array on a single-node cluster (`.ci/slurm-cluster.sh up`, `SLURM_CONF` set), a
//! dependent job merges it, and the merged `summary.csv` must equal the local unsharded
//! run byte for byte.
//!
//! It needs a cluster, so it is `#[ignore]`d: `cargo test` lists it as ignored (never as
//! passed), and `.ci/run` starts a cluster and runs it with `--ignored`. Run by hand without
//! Slurm (no `sbatch`, or `SLURM_CONF` unset) it fails and says why.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{heavyball, read_csv};

const W1_SMALL: &str = r#"name = "w1-slurm"
[potential]
kind = "quadratic"
eigenvalues = [6.0, 60.0]
[particle]
position = [1.0, 1.0]
[continuous]
rtol = 1e-8
atol = 1e-10
t_end = 200.0
[[discrete]]
label = "qian"
dt = 0.1
steps = 200000
[sweep]
mass = { logspace = [-2.0, 1.0, 12] }
friction = { logspace = [-1.0, 1.5, 12] }
"#;

/// Why Slurm cannot be used here, if it cannot.
fn unavailable() -> Option<String> {
    if std::env::var_os("SLURM_CONF").is_none() {
        return Some("SLURM_CONF is not set (start a cluster with .ci/slurm-cluster.sh up)".into());
    }
    match Command::new("sbatch").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("sbatch is not installed".into()),
    }
}

#[test]
#[ignore = "needs Slurm: .ci/slurm-cluster.sh up, SLURM_CONF set, then --ignored"]
fn a_slurm_job_array_merges_to_the_unsharded_summary() {
    if let Some(why) = unavailable() {
        panic!("the Slurm job-array test needs a cluster: {why}");
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("w1-slurm.toml");
    fs::write(&input, W1_SMALL).unwrap();
    let out = dir.path().join("out");
    let submit = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/slurm/submit.sh");
    let o = Command::new("bash")
        .arg(&submit)
        .arg(&input)
        .arg("4")
        .arg(&out)
        .current_dir(dir.path())
        .env("WAIT", "1")
        .env("HEAVYBALL", env!("CARGO_BIN_EXE_heavyball"))
        .output()
        .unwrap();
    let logs: String = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".out"))
        .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        o.status.success(),
        "submit.sh: {}{}\njob logs:\n{logs}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    // Each task ran its own contiguous quarter of the 144 points.
    for i in 1..=4 {
        let shard = out.join(format!("w1-slurm/shards/{i}-of-4"));
        let m: serde_json::Value =
            serde_json::from_slice(&fs::read(shard.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(m["shard"], format!("{i}/4"));
        assert_eq!(m["points"], 36);
        assert_eq!(m["first_point"], 36 * (i - 1));
        assert_eq!(read_csv(&shard.join("summary.csv")).len(), 72);
    }

    let local = dir.path().join("local");
    let r = heavyball(&[
        "run",
        input.to_str().unwrap(),
        "--out",
        local.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let merged = fs::read(out.join("w1-slurm/summary.csv")).unwrap();
    assert_eq!(merged.iter().filter(|&&b| b == b'\n').count(), 1 + 288);
    assert!(merged == fs::read(local.join("w1-slurm/summary.csv")).unwrap());
}
