//! The expression potential from a scenario file: the tilted double well, where gradient
//! descent stops in the shallow well and momentum rolls through to the deep one.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{assert_same_results, num, read_csv, run_ok, scenarios_dir};

#[test]
fn momentum_rolls_through_the_shallow_well_and_gradient_descent_stays() {
    // E = (x² − 1)² + 0.3x: E' = 4x³ − 4x + 0.3 vanishes at the deep minimum −1.0355787,
    // the barrier 0.0754292 and the shallow minimum 0.9601496 (bisection on E').
    let (deep, shallow) = (-1.035578714088854, 0.9601495555191055);
    let dir = tempfile::tempdir().unwrap();
    run_ok(&scenarios_dir().join("double-well.toml"), dir.path());
    let out = dir.path().join("double-well");
    let rows = read_csv(&out.join("discrete.csv"));
    let last = |method: &str| {
        let r = rows.iter().rev().find(|r| r["method"] == method).unwrap();
        num(r, "w1")
    };
    // Gradient descent contracts onto the shallow minimum (rate 1 − 0.01·E''(0.96) per
    // step, 5000 steps: converged to round-off there).
    assert!(
        (last("gradient-descent") - shallow).abs() < 1e-9,
        "{}",
        last("gradient-descent")
    );
    // The heavy ball stops by the energy criterion √(m v² + 2(E − E*)) < 1e-6 in the deep well:
    // |x − x*| ≤ 1e-6/√E''(x*) ≈ 3e-7.
    assert!(
        (last("momentum") - deep).abs() < 1e-6,
        "{}",
        last("momentum")
    );
    let summary = read_csv(&out.join("summary.csv"));
    let status = |m: &str| summary.iter().find(|r| r["method"] == m).unwrap()["status"].clone();
    assert_eq!(status("momentum"), "converged");
    assert_eq!(status("gradient-descent"), "not-converged");
    assert_eq!(status("continuous"), "converged");
    let continuous = read_csv(&out.join("continuous.csv"));
    let x = num(continuous.last().unwrap(), "w1");
    assert!((x - deep).abs() < 1e-6, "continuous ends at {x}");
}

/// The tilted double well from x = −2 (the deep well) with the default distance criterion,
/// `minimum` as given (or none).
fn deep_well(minimum: Option<f64>) -> String {
    let minimum = minimum.map_or(String::new(), |m| format!("minimum = [{m:?}]\n"));
    format!(
        r#"[potential]
kind = "expression"
variables = ["x"]
expression = "(x^2 - 1)^2 + 0.3*x"
{minimum}
[particle]
mass = 1.0
friction = 8.0
position = [-2.0]

[continuous]
method = "dopri5"
t_end = 60.0
sample_interval = 0.5

[[discrete]]
label = "gd"
scheme = "gradient-descent"
learning_rate = 0.01
steps = 5000
"#
    )
}

/// The root of E' = 4x³ − 4x + 0.3 in the deep well, by bisection to adjacent doubles.
fn deep_minimum() -> f64 {
    let (mut lo, mut hi) = (-1.5f64, -0.5f64); // E'(−1.5) < 0 < E'(−0.5)
    loop {
        let mid = 0.5 * (lo + hi);
        if mid == lo || mid == hi {
            return mid;
        }
        if 4.0 * mid * mid * mid - 4.0 * mid + 0.3 > 0.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
}

#[test]
fn a_found_minimum_gives_the_theory_columns_of_a_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let found_file = dir.path().join("found.toml");
    let given_file = dir.path().join("given.toml");
    let x = deep_minimum();
    std::fs::write(&found_file, deep_well(None)).unwrap();
    std::fs::write(&given_file, deep_well(Some(x))).unwrap();
    let out = dir.path().join("out");
    run_ok(&found_file, &out);
    run_ok(&given_file, &out);
    let found = read_csv(&out.join("found/summary.csv"));
    let given = read_csv(&out.join("given/summary.csv"));

    // THEORY §2 and §3 at k = E''(x*) = 12x*² − 4 ≈ 8.87: the particle (m = 1, μ = 8) is
    // overdamped (k < μ²/4m = 16), r = μ/2m − √(μ²/4m² − k/m); gradient descent at ε = 0.01
    // contracts by ρ = 1 − εk a step (Δt = 1).
    let k = 12.0 * x * x - 4.0;
    let r = 4.0 - (16.0 - k).sqrt();
    let rho = 1.0 - 0.01 * k;
    // Newton's x* and the bisection's differ by a few ulps at most: k by ~1e-15 relative,
    // r (a difference of 4 and 2.67) by ~3e-15.
    for rows in [&found, &given] {
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["method"], "continuous");
        approx::assert_relative_eq!(num(&rows[0], "theory_rate"), r, max_relative = 1e-13);
        assert_eq!(rows[1]["method"], "gd");
        approx::assert_relative_eq!(num(&rows[1], "theory_radius"), rho, max_relative = 1e-14);
        approx::assert_relative_eq!(
            num(&rows[1], "theory_rate"),
            -rho.ln(),
            max_relative = 1e-12
        );
        for row in rows.iter() {
            assert_eq!(row["status"], "converged", "{row:?}");
        }
    }
    // Column by column the two summaries agree. Newton's x* is the correctly rounded root
    // (−1.03557871408885374…, checked at 50 digits); the bisection, steered by E' rounded
    // in floats, may end an ulp away. Shifting w* by an ulp (2.2e-16) moves a distance
    // near the tolerance 1e-6 by 2.2e-10 of itself, and the crossing time and measured rate
    // with it: 1e-9 relative.
    for (a, b) in found.iter().zip(&given) {
        for (key, va) in a {
            let vb = &b[key];
            match (va.parse::<f64>(), vb.parse::<f64>()) {
                (Ok(p), Ok(q)) => approx::assert_relative_eq!(p, q, max_relative = 1e-9),
                _ => assert_eq!(va, vb, "{key}"),
            }
        }
    }

    // The resolved file says where the minimum came from and holds it in full…
    let resolved = std::fs::read_to_string(out.join("found/scenario.toml")).unwrap();
    let line = resolved
        .lines()
        .skip_while(|l| !l.starts_with("# the local minimum Newton's method reaches"))
        .nth(1)
        .unwrap();
    let written: f64 = line
        .strip_prefix("minimum = [")
        .and_then(|l| l.strip_suffix(']'))
        .unwrap()
        .parse()
        .unwrap();
    approx::assert_relative_eq!(written, x, max_relative = 1e-15);
    // …and running it again reproduces every file byte for byte, itself included.
    let again = dir.path().join("again");
    run_ok(&out.join("found/scenario.toml"), &again);
    for file in ["continuous.csv", "discrete.csv", "comparison.csv"] {
        assert!(out.join("found").join(file).is_file(), "no {file}");
    }
    assert_same_results(&out.join("found"), &again.join("found"));
}

#[test]
fn without_a_minimum_the_theory_columns_stay_empty_and_the_gradient_criterion_runs() {
    // x³ has no minimum: Newton from x = 1 creeps onto the inflection at 0 and is refused
    // there (E falls to its left). The gradient criterion |∇E| = 3x² needs none.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cubic.toml");
    std::fs::write(
        &file,
        r#"[potential]
kind = "expression"
variables = ["x"]
expression = "x^3"

[particle]
mass = 1.0
friction = 2.0
position = [1.0]

[[discrete]]
scheme = "gradient-descent"
learning_rate = 0.1
steps = 200

[stop]
criterion = "gradient"
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    run_ok(&file, &out);
    let rows = read_csv(&out.join("cubic/summary.csv"));
    assert_eq!(rows.len(), 1);
    for key in ["theory_rate", "theory_radius", "theory_stable"] {
        assert_eq!(rows[0][key], "", "{key}");
    }
    let resolved = std::fs::read_to_string(out.join("cubic/scenario.toml")).unwrap();
    assert!(
        resolved
            .contains("\n# no minimum: Newton's method from [particle] position stopped at w = [")
    );
    assert!(resolved.contains("a stationary point that is no minimum"));
    assert!(!resolved.contains("\nminimum ="));
}
