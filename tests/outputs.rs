//! End to end through the binary: the shipped scenarios' numbers (KTH poster, spiral,
//! Goh), byte-identical re-runs from the written `scenario.toml`, the manifest, the rows of
//! `continuous.csv` and `comparison.csv`, and atomic result folders.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;

mod common;

use common::{assert_same_results, num, read_csv, run_ok, scenarios_dir, shipped};
use std::process::Command;

use sha2::{Digest, Sha256};

#[test]
fn kth_poster_heavy_ball_converges_and_gradient_descent_diverges() {
    let rows = read_csv(&shipped().join("kth-poster/summary.csv"));
    let by_method: HashMap<&str, &HashMap<String, String>> =
        rows.iter().map(|r| (r["method"].as_str(), r)).collect();
    let hb = by_method["heavy-ball"];
    // THEORY §6: ε = Δt²/(m + μΔt) = 0.0625, p = 0.5, ρ = √p = 1/√2 (complex roots).
    assert_eq!(num(hb, "learning_rate"), 0.0625);
    assert_eq!(num(hb, "momentum"), 0.5);
    approx::assert_relative_eq!(
        num(hb, "theory_radius"),
        std::f64::consts::FRAC_1_SQRT_2,
        max_relative = 1e-15
    );
    assert_eq!(
        (hb["status"].as_str(), hb["theory_stable"].as_str()),
        ("converged", "true")
    );
    let gd = by_method["gradient-descent"];
    // ε = Δt/μ = 0.125: |1 − εk| = 2.75 at k = 30.
    assert_eq!(num(gd, "learning_rate"), 0.125);
    assert_eq!(num(gd, "theory_radius"), 2.75);
    assert_eq!(
        (gd["status"].as_str(), gd["theory_stable"].as_str()),
        ("diverged", "false")
    );
    assert_eq!(gd["t_converged"], "");
    // Continuous: both directions underdamped (k > μ²/4m = 2), rate μ/2m = 1.
    assert_eq!(num(by_method["continuous"], "theory_rate"), 1.0);
}

#[test]
fn spiral_converges_at_the_exact_time_and_rate() {
    // |w(t)| = e^{−t/4}: crosses 1e-8 at t = 4 ln 1e8; the final row sits there, at |w| = tol.
    let dir = shipped().join("underdamped");
    let rows = read_csv(&dir.join("summary.csv"));
    let c = &rows[0];
    approx::assert_relative_eq!(
        num(c, "t_converged"),
        4.0 * 1e8f64.ln(),
        max_relative = 1e-8
    );
    approx::assert_relative_eq!(num(c, "measured_rate"), 0.25, max_relative = 1e-6);
    let traj = read_csv(&dir.join("continuous.csv"));
    let last = traj.last().unwrap();
    assert_eq!(num(last, "t"), num(c, "t_converged"));
    approx::assert_relative_eq!(num(last, "distance"), 1e-8, max_relative = 1e-9);
    // Rows every sample_interval = 0.01, then the final time.
    for (j, row) in traj[..traj.len() - 1].iter().enumerate() {
        assert_eq!(num(row, "t"), j as f64 / 100.0);
    }
    // Energy ½m|v|² + E along the spiral: (½ + ½k/ω²·…) — simply check it never rises.
    for pair in traj.windows(2) {
        assert!(num(&pair[1], "energy") <= num(&pair[0], "energy") * (1.0 + 1e-9));
    }
}

#[test]
fn goh_optimum_contracts_at_nine_elevenths_per_step() {
    // At Goh's optimum every component contracts by (√κ − 1)/(√κ + 1) = 9/11 per step
    // (the extreme ones with a double root: n·ρⁿ). Over a late window of the discrete
    // trajectory, |w_{k+10}|/|w_k| → (9/11)^10 up to the polynomial factor (1 + 10/k).
    let dir = shipped().join("goh-three-eigenvalues");
    let rows = read_csv(&dir.join("discrete.csv"));
    let hb: Vec<f64> = rows
        .iter()
        .filter(|r| r["method"] == "momentum-optimal")
        .map(|r| num(r, "distance"))
        .collect();
    let k = 80;
    let ratio = (hb[k] / hb[k - 10]).powf(0.1);
    assert!(
        ratio > 9.0 / 11.0 && ratio < 9.0 / 11.0 * (1.0 + 1.0 / (k as f64 - 10.0)),
        "ratio {ratio}"
    );
    let summary = read_csv(&dir.join("summary.csv"));
    approx::assert_relative_eq!(
        num(&summary[1], "theory_radius"),
        9.0 / 11.0,
        max_relative = 1e-7
    );
    approx::assert_relative_eq!(
        num(&summary[2], "theory_radius"),
        99.0 / 101.0,
        max_relative = 1e-15
    );
}

#[test]
fn rerunning_the_written_scenario_reproduces_every_csv_byte_for_byte() {
    let again = tempfile::tempdir().unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(shipped()).unwrap() {
        let dir = entry.unwrap().path();
        run_ok(&dir.join("scenario.toml"), again.path());
        let name = dir.file_name().unwrap();
        assert_same_results(&dir, &again.path().join(name));
        n += 1;
    }
    assert!(n >= 6, "only {n} shipped scenarios ran");
}

#[test]
fn manifest_describes_every_column_and_hashes_the_scenario() {
    let dir = shipped().join("kth-poster");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let toml = std::fs::read(dir.join("scenario.toml")).unwrap();
    let hash: String = Sha256::digest(&toml)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(m["scenario_hash"], hash.as_str());
    assert_eq!(m["engine"], "heavyball");
    assert_eq!(m["shard"], serde_json::Value::Null);
    assert_eq!(m["points"], 1);
    assert!(m["started"].as_str().unwrap().ends_with('Z'));
    assert!(m["wall_seconds"].as_f64().unwrap() >= 0.0);
    for file in [
        "summary.csv",
        "continuous.csv",
        "discrete.csv",
        "comparison.csv",
    ] {
        let header: Vec<String> = csv::Reader::from_path(dir.join(file))
            .unwrap()
            .headers()
            .unwrap()
            .iter()
            .map(String::from)
            .collect();
        let described: Vec<String> = m["columns"][file]
            .as_array()
            .unwrap_or_else(|| panic!("no columns for {file}"))
            .iter()
            .map(|c| {
                assert!(!c["meaning"].as_str().unwrap().is_empty());
                c["name"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(header, described, "{file}");
    }
}

#[test]
fn comparison_reads_the_continuous_solution_at_each_step() {
    let dir = shipped().join("critically-damped");
    let cont = read_csv(&dir.join("continuous.csv"));
    let comp = read_csv(&dir.join("comparison.csv"));
    let disc = read_csv(&dir.join("discrete.csv"));
    assert_eq!(comp.len(), disc.len());
    assert_eq!(num(&comp[0], "gap"), 0.0);
    // Δt = 0.05 is every 5th row of continuous.csv (interval 0.01): same interpolant, same numbers.
    let at: HashMap<String, &HashMap<String, String>> =
        cont.iter().map(|r| (r["t"].clone(), r)).collect();
    let mut matched = 0;
    for row in &comp {
        if let Some(c) = at.get(&row["t"]) {
            assert_eq!(row["continuous_distance"], c["distance"]);
            matched += 1;
        }
        assert_eq!(
            num(row, "discrete_distance"),
            num(&disc[num(row, "step") as usize], "distance")
        );
    }
    assert!(matched > 100);
    // Qian's scheme is first order in Δt (backward difference for the friction): halving
    // Δt halves the largest gap, within 10%.
    let text = std::fs::read_to_string(dir.join("scenario.toml")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut gaps = Vec::new();
    for dt in ["0.02", "0.01"] {
        let file = out.path().join(format!("half-{dt}.toml"));
        let t = text.replace(
            "name = \"critically-damped\"",
            &format!("name = \"dt-{dt}\""),
        );
        let t = t
            .replace("dt = 0.05", &format!("dt = {dt}"))
            .replace("steps = 2000", "steps = 100000");
        std::fs::write(&file, t).unwrap();
        run_ok(&file, out.path());
        let comp = read_csv(&out.path().join(format!("dt-{dt}/comparison.csv")));
        gaps.push(
            comp.iter()
                .filter(|r| !r["gap"].is_empty())
                .map(|r| num(r, "gap"))
                .fold(0.0, f64::max),
        );
    }
    let ratio = gaps[0] / gaps[1];
    assert!((ratio - 2.0).abs() < 0.2, "gap ratio {ratio} from {gaps:?}");
}

#[test]
fn a_result_folder_is_replaced_only_when_complete_and_leftovers_are_removed() {
    let out = tempfile::tempdir().unwrap();
    let file = scenarios_dir().join("overdamped.toml");
    run_ok(&file, out.path());
    let first = std::fs::read(out.path().join("overdamped/summary.csv")).unwrap();
    // A killed run leaves a partial folder with a dead pid (pids never reach u32::MAX − 1 here).
    let stale = out
        .path()
        .join(format!(".overdamped.partial-{}", u32::MAX - 1));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("summary.csv"), "half").unwrap();
    run_ok(&file, out.path());
    assert!(!stale.exists(), "leftover of a killed run not removed");
    let names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["overdamped".to_string()]);
    assert_eq!(
        std::fs::read(out.path().join("overdamped/summary.csv")).unwrap(),
        first
    );
}

#[test]
fn check_validates_without_writing() {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_heavyball"))
        .args(["check", scenarios_dir().to_str().unwrap()])
        .current_dir(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.contains(": ok (")).count(),
        std::fs::read_dir(scenarios_dir())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml"))
            .count()
    );
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn large_n_rows_hold_the_gradient_norm_of_their_own_iterate() {
    // n = 25 > 16: the trajectory CSVs carry |∇E(w)|. With every coordinate requested, each
    // row's w is in the file (shortest round trip: exact), so |∇E(w)| can be recomputed from
    // the row itself and must match to round-off (the summation order is the same: 1e-15).
    // The heavy ball shares ∇E(w_k) between its step and its row; Nesterov (look-ahead)
    // computes the row's own. Either way a run of K steps spends K evaluations.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grad-norm.toml");
    let coords: Vec<String> = (1..=25).map(|i| i.to_string()).collect();
    std::fs::write(
        &file,
        format!(
            r#"
[potential]
kind = "colorization"
grid = [5, 5]
colored = [[0, 0], [4, 4]]

[particle]
mass = 1.0
friction = 0.5
position = 0.0

[continuous]
method = "dopri5"
t_end = 20.0
sample_interval = 1.0

[[discrete]]
label = "heavy-ball"
scheme = "heavy-ball"
learning_rate = 0.2
momentum = 0.5
steps = 50

[[discrete]]
label = "nesterov"
scheme = "nesterov"
learning_rate = 0.2
momentum = 0.5
steps = 50

[stop]
tolerance = 1e-150

[output]
coordinates = [{}]
"#,
            coords.join(", ")
        ),
    )
    .unwrap();
    run_ok(&file, dir.path());
    let p = heavyball::potential::Colorization::new(5, 5, &[(0, 0), (4, 4)], 1.0).unwrap();
    let mut g = vec![0.0; 25];
    let out = dir.path().join("grad-norm");
    let mut checked = 0;
    for csv in ["discrete.csv", "continuous.csv"] {
        for row in read_csv(&out.join(csv)) {
            let w: Vec<f64> = (1..=25).map(|i| num(&row, &format!("w{i}"))).collect();
            heavyball::potential::Potential::gradient_into(&p, &w, &mut g);
            let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            approx::assert_relative_eq!(num(&row, "gradient_norm"), norm, max_relative = 1e-15);
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        2 * 51 + 21,
        "51 rows per entry, 21 continuous samples"
    );
    for row in read_csv(&out.join("summary.csv")).iter().skip(1) {
        assert_eq!(row["status"], "not-converged");
        assert_eq!((num(row, "steps"), num(row, "evaluations")), (50.0, 50.0));
    }
}
