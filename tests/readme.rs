//! The numbers the README and docs/shipped-scenarios.md state about the shipped scenarios
//! and the README's first example, against fresh runs. Each claim is checked twice: the
//! text still says it (so an edit to the docs cannot drift from this file) and a run gives
//! it (so a change to the engine cannot drift from the docs).

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use common::{read_csv, run_ok};

fn text(file: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

/// Asserts that `doc` says `phrase` (whitespace-insensitive: tables and paragraphs wrap).
fn says(doc: &str, phrase: &str) {
    let squash = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        squash(doc).contains(&squash(phrase)),
        "the docs no longer say {phrase:?}"
    );
}

/// Runs a shipped scenario; its summary rows by method.
fn summary(name: &str, out: &Path) -> HashMap<String, HashMap<String, String>> {
    run_ok(&common::scenarios_dir().join(format!("{name}.toml")), out);
    read_csv(&out.join(name).join("summary.csv"))
        .into_iter()
        .map(|row| (row["method"].clone(), row))
        .collect()
}

/// The README's first example, taken from the README itself: it runs into `output/first`
/// (announced on stdout), its summary has the three methods the README names, the heavy
/// ball's radius is √(5/6) and gradient descent's 0.95 (ε = Δt/μ = 0.05 on k = 1 and 10:
/// max |1 − εk| = 0.95), and continuous.csv has the columns it lists.
#[test]
fn the_readmes_first_example_does_what_the_readme_says() {
    let readme = text("README.md");
    let start = readme.find("Save this as `first.toml`:").unwrap();
    let block = &readme[start..];
    let body = &block[block.find("```toml\n").unwrap() + 8..];
    let toml = &body[..body.find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("first.toml"), toml).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_heavyball"))
        .args(["run", "first.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    says(&readme, "prints: first.toml: wrote output/first");
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "first.toml: wrote output/first\n"
    );
    let folder = dir.path().join("output/first");
    let rows = read_csv(&folder.join("summary.csv"));
    let methods: Vec<&str> = rows.iter().map(|r| r["method"].as_str()).collect();
    says(
        &readme,
        "(`continuous`, `heavy-ball-1`, `gradient-descent-2`)",
    );
    assert_eq!(
        methods,
        ["continuous", "heavy-ball-1", "gradient-descent-2"]
    );
    says(
        &readme,
        "√(5/6) ≈ 0.913 for the heavy ball, 0.95 for gradient descent",
    );
    let radius = |i: usize| rows[i]["theory_radius"].parse::<f64>().unwrap();
    approx::assert_relative_eq!(radius(1), (5.0f64 / 6.0).sqrt(), max_relative = 1e-15);
    approx::assert_relative_eq!(radius(2), 0.95, max_relative = 1e-15);
    says(&readme, "t, loss, distance, energy, w1, w2, v1, v2");
    let continuous = fs::read_to_string(folder.join("continuous.csv")).unwrap();
    assert_eq!(
        continuous.lines().next().unwrap(),
        "t,loss,distance,energy,w1,w2,v1,v2"
    );
}

/// docs/shipped-scenarios.md's step counts, crossing times and distances (exact integers
/// the runs reproduce on every machine: the engine's numbers do not depend on the CPU).
#[test]
fn the_shipped_scenarios_table_states_what_the_runs_give() {
    let doc = text("docs/shipped-scenarios.md");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let num = |rows: &HashMap<String, HashMap<String, String>>, m: &str, key: &str| -> f64 {
        rows[m][key].parse().unwrap()
    };

    let banana = summary("rosenbrock-banana", out);
    says(
        &doc,
        "the heavy ball (momentum 0.9) arrives in 2087 steps, gradient descent in 22 906; the particle m = μ = 1 at t ≈ 23.9",
    );
    assert_eq!(num(&banana, "momentum", "steps"), 2087.0);
    assert_eq!(num(&banana, "gradient-descent", "steps"), 22906.0);
    assert_eq!(
        format!("{:.1}", num(&banana, "continuous", "t_converged")),
        "23.9"
    );

    let cone = summary("convex-rosenbrock-light-cone", out);
    says(
        &doc,
        "Goh's optimal momentum in 98 steps against 796 for gradient descent at its optimum",
    );
    assert_eq!(num(&cone, "momentum", "steps"), 98.0);
    assert_eq!(num(&cone, "gradient-descent", "steps"), 796.0);

    let colorization = summary("colorization-64", out);
    says(
        &doc,
        "momentum at Goh's optimum converges in 1099 steps at (√κ − 1)/(√κ + 1) ≈ 0.981 a step, gradient descent at its optimum (0.99982 a step) is still 1.6 away after 20 000",
    );
    assert_eq!(num(&colorization, "momentum", "steps"), 1099.0);
    assert_eq!(
        format!("{:.3}", num(&colorization, "momentum", "theory_radius")),
        "0.981"
    );
    let gd = &colorization["gradient-descent"];
    assert_eq!(
        (gd["status"].as_str(), gd["steps"].as_str()),
        ("not-converged", "20000")
    );
    assert_eq!(
        format!(
            "{:.5}",
            num(&colorization, "gradient-descent", "theory_radius")
        ),
        "0.99982"
    );
    // final_value is the distance criterion's |w − w*|.
    assert_eq!(
        format!(
            "{:.1}",
            num(&colorization, "gradient-descent", "final_value")
        ),
        "1.6"
    );

    let kth = summary("kth-poster", out);
    says(
        &doc,
        "heavy ball at Δt = 0.5 converges (ε = 0.0625, p = 0.5, ρ = 1/√2), gradient descent diverges (|1 − εk| = 2.75)",
    );
    assert_eq!(kth["heavy-ball"]["status"], "converged");
    approx::assert_relative_eq!(
        num(&kth, "heavy-ball", "theory_radius"),
        0.5f64.sqrt(),
        max_relative = 1e-15
    );
    assert_eq!(kth["gradient-descent"]["status"], "diverged");
    assert_eq!(num(&kth, "gradient-descent", "theory_radius"), 2.75);
}
