//! A status is never wrong: a non-finite iterate is `diverged` before any criterion is
//! read (∇E(∞) = 0 and E(∞) − E* < 0 must not read as converged), in every loop; a
//! tolerance no squared norm can meet is refused where it is written.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::HashMap;

use common::{heavyball, read_csv};

/// Runs an inline scenario, returning its summary rows by method (or the failed output).
fn run(toml: &str) -> Result<HashMap<String, HashMap<String, String>>, String> {
    Ok(rows(toml)?
        .into_iter()
        .map(|r| (r["method"].clone(), r))
        .collect())
}

/// Runs an inline scenario named "inv", returning its summary rows in order (or the failed
/// output).
fn rows(toml: &str) -> Result<Vec<HashMap<String, String>>, String> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("s.toml");
    std::fs::write(&input, toml).unwrap();
    let out = dir.path().join("out");
    let o = heavyball(&[
        "run",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    Ok(read_csv(&out.join("inv").join("summary.csv")))
}

/// E = 1/x + x (minimum E* = 2 at x = 1; not finite at 0) from `position`, with `run` (a
/// `[[discrete]]` or `[continuous]` table) and a `[stop]` body.
fn inverse(position: &str, run: &str, stop: &str) -> String {
    format!(
        "name = \"inv\"\n[potential]\nkind = \"expression\"\nvariables = [\"x\"]\nexpression = \"1/x + x\"\n\
         {}\n[particle]\nmass = 1.0\nfriction = 1.0\nposition = [{position}]\n{run}\n[stop]\n{stop}\n",
        if stop.contains("loss") {
            "minimum = [1.0]"
        } else {
            ""
        }
    )
}

const DISCRETE: &str = "[[discrete]]\ndt = 0.1\nsteps = 5";
const BAOAB: &str = "[continuous]\nmethod = \"baoab\"\nstep = 0.1";

#[test]
fn a_non_finite_iterate_is_diverged_in_every_loop() {
    for (position, run_table, stop) in [
        ("0.0", DISCRETE, "criterion = \"gradient\""),
        ("1e-200", DISCRETE, "criterion = \"gradient\""),
        ("0.0", DISCRETE, "criterion = \"loss\""),
        ("0.0", BAOAB, "criterion = \"gradient\""),
        ("1e-200", BAOAB, "criterion = \"gradient\""),
        (
            "0.0",
            "[continuous]\nmethod = \"rk4\"\nstep = 0.1",
            "criterion = \"gradient\"",
        ),
    ] {
        let rows = run(&inverse(position, run_table, stop)).unwrap();
        assert!(!rows.is_empty());
        for (method, row) in &rows {
            assert_eq!(
                row["status"], "diverged",
                "{method} from {position} ({stop}): {row:?}"
            );
            assert_eq!(row["t_converged"], "", "{method}");
            assert_eq!(row["final_value"], "", "{method}");
        }
    }
}

#[test]
fn a_tolerance_whose_square_underflows_is_refused() {
    let quadratic = |criterion: &str, tolerance: &str| {
        format!(
            "name = \"inv\"\n[potential]\nkind = \"quadratic\"\neigenvalues = [1.0]\n[particle]\n\
             mass = 1.0\nfriction = 1.0\nposition = [1.5]\n{DISCRETE}\n[stop]\n\
             criterion = \"{criterion}\"\ntolerance = {tolerance}\n"
        )
    };
    for criterion in ["distance", "gradient", "energy"] {
        let err = run(&quadratic(criterion, "1e-300")).unwrap_err();
        assert!(
            err.contains("s.toml:") && err.contains("stop.tolerance") && err.contains("underflows"),
            "{criterion}: {err}"
        );
        // The smallest allowed one runs.
        run(&quadratic(criterion, "1.5e-154")).unwrap();
    }
    assert!(
        run(&quadratic("loss", "1e-310"))
            .unwrap_err()
            .contains("stop.tolerance")
    );
    run(&quadratic("loss", "1e-300")).unwrap();
    let far = quadratic("distance", "1e-6").replace("[stop]\n", "[stop]\ndivergence = 1e200\n");
    assert!(run(&far).unwrap_err().contains("stop.divergence"));
}

/// A continuous run that diverges says what passed the threshold and when, and the numbers
/// are the solution's: on E = −x²/2 with m = 1, μ = 1.5 from x = 1 at rest,
/// x(t) = 0.8·e^{t/2} + 0.2·e^{−2t} passes 1e12 at t = 2·ln(1.25e12) ≈ 55.71. (No minimum:
/// the gradient criterion, |∇E| = |x|, and the divergence measured from the origin.)
#[test]
fn a_diverging_continuous_run_names_the_value_and_time() {
    let toml = "name = \"inv\"\n[potential]\nkind = \"expression\"\nvariables = [\"x\"]\n\
                expression = \"-(x^2)/2\"\n[particle]\nmass = 1.0\nfriction = 1.5\n\
                position = [1.0]\n[continuous]\nmethod = \"dopri5\"\nt_end = 100.0\n\
                [stop]\ncriterion = \"gradient\"\n";
    let rows = run(toml).unwrap();
    let row = &rows["continuous"];
    assert_eq!(row["status"], "diverged", "{row:?}");
    let note = &row["note"];
    let rest = note
        .strip_prefix("|w| passed divergence = 1e12 at t = ")
        .unwrap_or_else(|| panic!("{note}"));
    let (t, rest) = rest.split_once(" (gradient = ").unwrap();
    let x = rest.strip_suffix(" there)").unwrap();
    let (t, x): (f64, f64) = (t.parse().unwrap(), x.parse().unwrap());
    let exact = 0.8 * (t / 2.0).exp() + 0.2 * (-2.0 * t).exp();
    let crossing = 2.0 * 1.25e12f64.ln();
    // Measured 3.9e-8 (rtol 1e-8, on a solution that grows 12 decades).
    assert!((x / exact - 1.0).abs() < 1e-7, "{x} vs {exact} at t = {t}");
    // The step that passed it ends past the crossing, within one step of it (measured:
    // 0.013 past it with ode_solvers' steps, 0.11 with the lane kernel's).
    assert!(x > 1e12 && t > crossing && t < crossing + 0.5, "{note}");
}

/// A map whose (ε, p) overflow (Qian's ε = Δt²/(m + μΔt) at Δt = 1e308) is not run and not
/// called `diverged`: the row is `skipped` with the reason, and no theory stands beside it
/// (NaN once took the complex branch of the radius and read "stable" at ρ = 0). A lane-ready
/// heavy ball of a sweep beside it runs as before.
#[test]
fn a_map_that_overflows_skips_its_entry() {
    let toml = "name = \"inv\"\n[potential]\nkind = \"quadratic\"\neigenvalues = [1.0, 2.0]\n\
                [particle]\nmass = 1.0\nfriction = 1.0\nposition = [1.0, 1.0]\n\
                [[discrete]]\nlabel = \"huge\"\nscheme = \"heavy-ball\"\ndt = 1e308\nsteps = 10\n\
                [[discrete]]\nlabel = \"fine\"\nscheme = \"heavy-ball\"\ndt = 0.1\nsteps = 10\n\
                [sweep]\nfriction = { values = [1.0, 2.0] }\n";
    let rows = rows(toml).unwrap();
    assert_eq!(rows.len(), 4);
    // μ = 1: ε = 1e616/(1 + 1e308) = inf, p = 1/(1 + 1e308) = 1e-308; μ = 2: μΔt overflows
    // too, ε = inf/inf = NaN and p = 1/inf = 0.
    for (row, (eps, p)) in rows
        .iter()
        .step_by(2)
        .zip([("inf", "1e-308"), ("NaN", "0.0")])
    {
        assert_eq!(row["method"], "huge");
        assert_eq!(row["status"], "skipped");
        assert_eq!((&*row["steps"], &*row["evaluations"]), ("0", "0"));
        assert_eq!(
            row["note"],
            format!(
                "not run: learning_rate {eps} and momentum {p} at dt = 1e308 are not both finite numbers (a quantity of the map overflowed)"
            )
        );
        for empty in [
            "theory_rate",
            "theory_radius",
            "theory_stable",
            "measured_rate",
            "optimal_momentum",
            "theory_noise_floor",
            "t_converged",
            "final_value",
        ] {
            assert_eq!(row[empty], "", "{empty}");
        }
    }
    for row in rows.iter().skip(1).step_by(2) {
        assert_eq!(row["method"], "fine");
        assert_eq!(row["status"], "not-converged");
        assert_eq!(row["steps"], "10");
    }
}

/// A start where the particle's derivative is not finite is `failed` with the reason, on
/// every method, after the one evaluation of the start (it used to shrink the step until
/// "step size underflow at t = 0"): a gradient that is NaN there — √(x − 2) at x = 1,
/// ∂E/∂y = 2y = 2 —, or one that is finite but overflows −∇E/m — 10¹⁰/10⁻³⁰⁰.
#[test]
fn a_start_whose_derivative_is_not_finite_fails_with_the_reason() {
    for method in ["dopri5", "dop853", "bdf", "auto"] {
        let toml = format!(
            "name = \"inv\"\n[potential]\nkind = \"expression\"\nvariables = [\"x\", \"y\"]\n\
             expression = \"(x - 3)^2 + y^2 + 1e-300*sqrt(x - 2)\"\nminimum = [3.0, 0.0]\n\
             [particle]\nmass = 1.0\nfriction = 1.0\nposition = [1.0, 1.0]\n\
             [continuous]\nmethod = \"{method}\"\nt_end = 10.0\n"
        );
        let row = &run(&toml).unwrap()["continuous"];
        assert_eq!(row["status"], "failed", "{method}: {row:?}");
        assert_eq!(
            (&*row["steps"], &*row["evaluations"]),
            ("0", "1"),
            "{method}"
        );
        let note = "the gradient is not finite at the start: ∇E = [NaN, 2.0] at w = [1.0, 1.0]";
        assert!(row["note"].starts_with(note), "{method}: {}", row["note"]);
    }
    let toml = "name = \"inv\"\n[potential]\nkind = \"quadratic\"\neigenvalues = [1e10, 1.0]\n\
                [particle]\nmass = 1e-300\nfriction = 1.0\nposition = [1.0, 1.0]\n\
                [continuous]\nmethod = \"dopri5\"\nt_end = 10.0\n";
    let row = &run(toml).unwrap()["continuous"];
    assert_eq!(row["status"], "failed", "{row:?}");
    let note = "the state's derivative overflows at the start: ∇E = [10000000000.0, 1.0] \
                at w = [1.0, 1.0], with m = 1e-300, μ = 1.0";
    assert!(row["note"].starts_with(note), "{}", row["note"]);
}

/// A run that meets its tolerance at the start while moving fast (at w* with v = (1, 0),
/// m = 1: the energy √(m|v|²) is 1) is converged at t = 0, with the note of a crossing
/// during a swing in its continuous row as in its discrete one.
#[test]
fn a_start_within_tolerance_while_moving_notes_the_swing() {
    let toml = "name = \"inv\"\n[potential]\nkind = \"quadratic\"\neigenvalues = [1.0, 3.0]\n\
                [particle]\nmass = 1.0\nfriction = 0.5\nposition = [0.0, 0.0]\nvelocity = [1.0, 0.0]\n\
                [continuous]\nt_end = 10.0\n[[discrete]]\ndt = 0.1\n\
                [stop]\ncriterion = \"distance\"\ntolerance = 1e-3\n";
    let rows = run(toml).unwrap();
    for method in ["continuous", "heavy-ball-1"] {
        let row = &rows[method];
        assert_eq!(
            (&*row["status"], &*row["t_converged"]),
            ("converged", "0.0")
        );
        let note = "crossed during a swing: the energy √(m|v|² + 2(E − E*)) was still 1.000e0";
        assert!(row["note"].starts_with(note), "{method}: {}", row["note"]);
    }
}
