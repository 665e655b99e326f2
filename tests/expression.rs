//! The expression potential from a scenario file: the tilted double well, where gradient
//! descent stops in the shallow well and momentum rolls through to the deep one.

mod common;

use common::{num, read_csv, run_ok, scenarios_dir};

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
