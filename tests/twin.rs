//! The continuous twin of a single run's explicit (learning_rate, momentum) entry, the
//! `note` that says why a run stopped, and the `damping_ratio` column.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{heavyball, num, read_csv, run_ok};
use heavyball::prelude::*;

/// Writes `text` as `dir/name.toml`, runs it, and returns its summary rows by method.
fn run(dir: &Path, name: &str, text: &str) -> HashMap<String, HashMap<String, String>> {
    let input = dir.join(format!("{name}.toml"));
    std::fs::write(&input, text).unwrap();
    let out = dir.join("out");
    run_ok(&input, &out);
    read_csv(&out.join(name).join("summary.csv"))
        .into_iter()
        .map(|r| (r["method"].clone(), r))
        .collect()
}

const TWIN: &str = r#"
[potential]
kind = "quadratic"
eigenvalues = [0.01, 0.1]
[particle]
position = [1.0, 1.0]
[continuous]
t_end = 40.0
[[discrete]]
learning_rate = 0.01
momentum = 0.9
dt = 1.0
"#;

/// m = pΔt²/ε and μ = (1 − p)Δt/ε for ε = 0.01, p = 0.9, Δt = 1, as the stored floats give
/// them: m = 0.9/0.01 rounds to 90 exactly; 1 − 0.9 is 0.09999999999999998 in binary
/// (0.9 is not), so μ is 9.999999999999998, one ulp-scale step below 10.
const TWIN_M: f64 = 0.9 * 1.0 * 1.0 / 0.01;
const TWIN_MU: f64 = (1.0 - 0.9) * 1.0 / 0.01;

#[test]
fn a_single_run_takes_the_twin_of_its_explicit_entry() {
    assert_eq!(TWIN_M, 90.0);
    assert_eq!(TWIN_MU, 9.999999999999998);
    assert!((TWIN_MU - 10.0).abs() <= 2.0 * f64::EPSILON * 10.0);
    let dir = tempfile::tempdir().unwrap();
    let rows = run(dir.path(), "twin", TWIN);
    let c = &rows["continuous"];
    assert_eq!(num(c, "mass"), 90.0);
    assert_eq!(num(c, "friction"), TWIN_MU);
    assert_eq!(c["friction"], "9.999999999999998");
    // The row carries its entry's (ε, p, Δt), as a sweep's twin does.
    assert_eq!(
        (num(c, "learning_rate"), num(c, "momentum"), num(c, "dt")),
        (0.01, 0.9, 1.0)
    );
    // theory_rate: the slow root's rate min_i r_i of m x'' + μ x' + k x on k = 0.01, 0.1.
    let rate = heavyball::theory::continuous_rate(TWIN_M, TWIN_MU, &[0.01, 0.1]);
    assert_eq!(num(c, "theory_rate"), rate);
    // Overdamped on k = 0.01: r = 2k/(μ + √(μ² − 4mk)) = 0.02/(10 + √96.4) for μ = 10.
    assert!(
        (rate - 0.02 / (10.0 + 96.4f64.sqrt())).abs() < 1e-15,
        "{rate}"
    );
    assert_eq!(num(&rows["heavy-ball-1"], "mass"), 90.0);
}

#[test]
fn the_builder_takes_the_same_twin() {
    let problem = Problem::builder(Quadratic::from_eigenvalues(&[0.01, 0.1]).unwrap())
        .position([1.0, 1.0])
        .continuous(Continuous::new().t_end(40.0))
        .discrete(
            Discrete::heavy_ball()
                .learning_rate(0.01)
                .momentum(0.9)
                .dt(1.0),
        )
        .build()
        .unwrap();
    let rows = problem.run_point(0).unwrap().rows;
    assert_eq!(rows[0].mass, Some(90.0));
    assert_eq!(rows[0].friction, Some(TWIN_MU));
    let rate = heavyball::theory::continuous_rate(TWIN_M, TWIN_MU, &[0.01, 0.1]);
    assert_eq!(rows[0].theory_rate, Some(rate));
    // A mass without friction beside such an entry is refused, naming the twin.
    let e = Problem::builder(Quadratic::from_eigenvalues(&[0.01, 0.1]).unwrap())
        .position([1.0, 1.0])
        .mass(90.0)
        .continuous(Continuous::new().t_end(40.0))
        .discrete(
            Discrete::heavy_ball()
                .learning_rate(0.01)
                .momentum(0.9)
                .dt(1.0),
        )
        .build()
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("particle.mass"), "{text}");
    assert!(
        text.contains("m = p dt^2/eps = 90, mu = (1 - p) dt/eps = 9.999999999999998"),
        "{text}"
    );
}

#[test]
fn an_entry_without_a_twin_skips_the_continuous_row() {
    let dir = tempfile::tempdir().unwrap();
    let rows = run(
        dir.path(),
        "p1",
        &TWIN.replace("momentum = 0.9", "momentum = 1.0"),
    );
    assert_eq!(rows["continuous"]["status"], "skipped");
    assert_eq!(
        rows["continuous"]["note"],
        "no physical twin: momentum 1.0 >= 1"
    );
    let nesterov = TWIN.replace(
        "learning_rate = 0.01",
        "scheme = \"nesterov\"\nlearning_rate = 0.01",
    );
    let rows = run(dir.path(), "nesterov", &nesterov);
    assert_eq!(rows["continuous"]["status"], "skipped");
    assert_eq!(
        rows["continuous"]["note"],
        "no physical twin: Nesterov's scheme has no constant-friction particle"
    );
    // ε = 1e-310: m = 0.9/1e-310 is beyond the largest number, so there is no particle to
    // run (it used to run with an infinite mass and fail).
    let rows = run(
        dir.path(),
        "tiny",
        &TWIN.replace("learning_rate = 0.01", "learning_rate = 1e-310"),
    );
    assert_eq!(rows["continuous"]["status"], "skipped");
    assert_eq!(
        rows["continuous"]["note"],
        "no physical twin: learning_rate 1e-310 is so small that the particle's mass p dt^2/eps or friction (1 - p) dt/eps overflows"
    );
}

/// Discrete entries that all give their own (ε, p), and no continuous run: nothing uses a
/// particle's mass and friction, so the file may leave them out (as the builder may). The
/// rows are those of the same file with a particle; a map entry still needs one, and is
/// named where it stands.
#[test]
fn explicit_entries_alone_need_no_particle() {
    let alone = r#"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 10.0]
[particle]
position = [1.0, 1.0]
[[discrete]]
learning_rate = 0.1
momentum = 0.5
steps = 500
[[discrete]]
scheme = "gradient-descent"
learning_rate = 0.1
steps = 500
"#;
    let dir = tempfile::tempdir().unwrap();
    let rows = run(dir.path(), "alone", alone);
    let resolved = std::fs::read_to_string(dir.path().join("out/alone/scenario.toml")).unwrap();
    assert!(!resolved.contains("mass"), "{resolved}");
    let with = alone.replace("[particle]\n", "[particle]\nmass = 7.0\nfriction = 3.0\n");
    assert_eq!(rows, run(dir.path(), "with", &with));
    // ε = 0.1, p = 0.5 on k = 1 and 10: 1 + p − εk = 1.4 and 0.5, both below 2√p, so every
    // root has |λ| = √p; the row's mass is the entry's particle p·Δt²/ε = 5.
    let hb = &rows["heavy-ball-1"];
    assert_eq!(num(hb, "theory_radius"), 0.5f64.sqrt());
    assert_eq!((num(hb, "mass"), num(hb, "friction")), (5.0, 5.0));
    // Gradient descent's radius: max |1 − εk| = |1 − 0.1·10| = 0 and 1 − 0.1 = 0.9.
    assert_eq!(num(&rows["gradient-descent-2"], "theory_radius"), 0.9);
    let map = alone.replace("learning_rate = 0.1\nmomentum = 0.5", "dt = 0.1");
    let input = dir.path().join("map.toml");
    std::fs::write(&input, map).unwrap();
    let out = heavyball(&[
        "run",
        input.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("map.toml:8:6: discrete[1].dt: a map derives (eps, p) from [particle] mass and friction, which are not given; give discrete[1] learning_rate and momentum, or [particle] mass and friction"),
        "{err}"
    );
}

/// The refused files of the bad-input corpus name the twin's values in their message.
#[test]
fn twin_refusals_name_the_twin() {
    let twin = "the continuous particle is the twin of discrete[1] (eps = 0.01, p = 0.9, dt = 1): m = p dt^2/eps = 90, mu = (1 - p) dt/eps = 9.999999999999998";
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input");
    for (file, start) in [
        (
            "157-twin-mass-without-friction.toml",
            "particle.mass: mass without friction: a particle of your own needs both, and without both ",
        ),
        (
            "158-twin-friction-without-mass.toml",
            "particle.friction: friction without mass: a particle of your own needs both, and without both ",
        ),
        (
            "159-twin-map-entry.toml",
            "discrete[2].dt: a map derives (eps, p) from [particle] mass and friction, which are not given: ",
        ),
    ] {
        let o = heavyball(&["check", corpus.join(file).to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&format!("{start}{twin}")), "{file}: {err}");
    }
    // A learning-rate sweep's refusal of particle.mass names point 0's twin (ε = 0.1, p = 0.5).
    let o = heavyball(&[
        "check",
        corpus
            .join("95-sweep-rate-with-particle-mass.toml")
            .to_str()
            .unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("(at point 0: the continuous particle is the twin of discrete[1] (eps = 0.1, p = 0.5, dt = 1): m = p dt^2/eps = 5, mu = (1 - p) dt/eps = 5)"),
        "{err}"
    );
}

#[test]
fn notes_say_which_budget_a_run_spent() {
    let dir = tempfile::tempdir().unwrap();
    // k = 0.01, m = 1, μ = 1: rate ≈ 0.0101, far from 1e-6 within t = 100.
    let slow = r#"
[potential]
kind = "quadratic"
eigenvalues = [0.01]
[particle]
mass = 1.0
friction = 1.0
position = 1.0
[continuous]
t_end = 100.0
[[discrete]]
dt = 0.5
[[discrete]]
label = "given"
dt = 0.5
steps = 500
"#;
    let rows = run(dir.path(), "slow", slow);
    // The note's remarks on the budget (a rate that could not be measured has its own).
    let note = |m: &str| budget_part(&rows[m]["note"]);
    assert_eq!(rows["continuous"]["status"], "not-converged");
    assert!(
        rows["continuous"]["note"]
            .starts_with("no measured_rate: the envelope fell 0.4 decades, 3 needed; "),
        "{}",
        rows["continuous"]["note"]
    );
    assert_eq!(
        note("continuous"),
        "budget spent: t_end = 100 (the default) reached without meeting the criterion"
    );
    assert_eq!(rows["heavy-ball-1"]["steps"], "200");
    assert_eq!(
        note("heavy-ball-1"),
        "budget spent: steps = 200 = ceil(t_end/dt) = ceil(100/0.5)"
    );
    assert_eq!(note("given"), "budget spent: steps = 500 (given)");
    // The resolved scenario.toml keeps the default a default: running it again says the same.
    let again = std::fs::read_to_string(dir.path().join("out/slow/scenario.toml")).unwrap();
    assert!(
        again.contains("# steps = 200: the default, ceil(t_end/dt)"),
        "{again}"
    );
    let rows2 = run(
        dir.path(),
        "slow2",
        &again.replace("name = \"slow\"", "name = \"slow2\""),
    );
    assert_eq!(
        budget_part(&rows2["heavy-ball-1"]["note"]),
        note("heavy-ball-1")
    );

    // A t_end other than the default was given; w = e^{-0.01t} is still 0.61 at t = 50.
    let given = slow.replace("t_end = 100.0", "t_end = 50.0");
    let rows = run(dir.path(), "slow-given", &given);
    assert_eq!(
        budget_part(&rows["continuous"]["note"]),
        "budget spent: t_end = 50 (given) reached without meeting the criterion"
    );

    // Without [continuous]: 100000 steps; k = 1e-6 with ε = 0.01 barely moves.
    let flat = r#"
[potential]
kind = "quadratic"
eigenvalues = [1e-6]
[particle]
mass = 1.0
friction = 1.0
position = 1.0
[[discrete]]
scheme = "gradient-descent"
learning_rate = 0.01
"#;
    let rows = run(dir.path(), "flat", flat);
    let gd = &rows["gradient-descent-1"];
    assert_eq!(
        (gd["status"].as_str(), gd["steps"].as_str()),
        ("not-converged", "100000")
    );
    assert_eq!(
        budget_part(&gd["note"]),
        "budget spent: steps = 100000 (default without [continuous])"
    );

    // Diverged: w_k = (1 − εk)^k = (−2)^k passes 1e12 at k = 40, |w| = 2^40.
    let wild = flat.replace("1e-6", "1.0").replace("0.01", "3.0");
    let rows = run(dir.path(), "wild", &wild);
    let gd = &rows["gradient-descent-1"];
    assert_eq!(
        (gd["status"].as_str(), gd["steps"].as_str()),
        ("diverged", "40")
    );
    assert_eq!(2f64.powi(40), 1.099511627776e12);
    assert_eq!(
        budget_part(&gd["note"]),
        "|w - w*| = 1.099511627776e12 passed divergence = 1e12 at step 40"
    );

    // A finite start at 1e200: its distance's square overflows (above ~1.3e154), so the
    // run stops at step 0 and the note says so rather than "not finite".
    let far = wild.replace("position = 1.0", "position = 1e200");
    assert_ne!(far, wild);
    let rows = run(dir.path(), "far", &far);
    let gd = &rows["gradient-descent-1"];
    assert_eq!(
        (gd["status"].as_str(), gd["steps"].as_str()),
        ("diverged", "0")
    );
    assert!((1e200f64 * 1e200).is_infinite() && 1.3e154f64 * 1.3e154 < f64::MAX);
    assert_eq!(
        budget_part(&gd["note"]),
        "|w - w*| beyond 1e154 or not finite at step 0"
    );
}

#[test]
fn damping_ratio_marks_the_critical_line_on_a_grid() {
    let dir = tempfile::tempdir().unwrap();
    let grid = r#"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 10.0]
[particle]
position = 1.0
[continuous]
t_end = 1.0
[[discrete]]
dt = 0.1
steps = 5
[sweep]
mass = { values = [1.0] }
friction = { values = [1.0, 2.0, 4.0] }
"#;
    let input = dir.path().join("grid.toml");
    std::fs::write(&input, grid).unwrap();
    run_ok(&input, &dir.path().join("out"));
    let rows = read_csv(&dir.path().join("out/grid/summary.csv"));
    let continuous: Vec<_> = rows
        .iter()
        .filter(|r| r["method"] == "continuous")
        .collect();
    let zetas: Vec<f64> = continuous.iter().map(|r| num(r, "damping_ratio")).collect();
    assert_eq!(zetas, [0.5, 1.0, 2.0]);
    let regimes: Vec<&str> = continuous.iter().map(|r| r["damping"].as_str()).collect();
    assert_eq!(regimes, ["under", "critical", "over"]);
    // A discrete entry from the particle by Qian's map carries the same particle's ζ.
    let discrete: Vec<f64> = rows
        .iter()
        .filter(|r| r["method"] == "heavy-ball-1")
        .map(|r| num(r, "damping_ratio"))
        .collect();
    assert_eq!(discrete, [0.5, 1.0, 2.0]);
}

/// The parts of a `note` that are not about the measured rate.
fn budget_part(note: &str) -> String {
    note.split("; ")
        .filter(|p| !p.starts_with("no measured_rate"))
        .collect::<Vec<_>>()
        .join("; ")
}
