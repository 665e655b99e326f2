//! Stochastic gradients (issue 6): reproducible noise, and the noise floor of a quadratic
//! against its closed form.

mod common;

use std::fs;

use common::{heavyball, num, read_csv, scenarios_dir};

fn run(args: &[&str]) {
    let o = heavyball(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Runs the scenario `text` as `<name>.toml` in a fresh folder and reads its summary.
fn summary_of(name: &str, text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.toml"));
    fs::write(&file, text).unwrap();
    run(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
        "--quiet",
    ]);
    read_csv(&dir.path().join(name).join("summary.csv"))
}

/// The shipped noisy sweep at 32 × 32 points and short budgets: 1024 points, several
/// chunks of work for every thread count (a grid smaller than one chunk would run on one
/// thread whatever was asked, and prove nothing).
fn noisy_grid(seed: u64) -> String {
    let text = fs::read_to_string(scenarios_dir().join("stochastic-quadratic.toml")).unwrap();
    let text = text
        .replace("t_end = 20000.0", "t_end = 100.0")
        .replace("steps = 20000", "steps = 200")
        .replace("seed = 7", &format!("seed = {seed}"))
        .replace(
            "learning_rate = { values = [0.01, 0.03, 0.1] }",
            "learning_rate = { linspace = [0.01, 0.1, 32] }",
        )
        .replace(
            "momentum = { values = [0.0, 0.5, 0.9] }",
            "momentum = { linspace = [0.0, 0.9, 32] }",
        );
    assert!(text.contains("linspace = [0.0, 0.9, 32]") && text.contains("steps = 200\n"));
    text
}

#[test]
fn the_same_seed_gives_the_same_bytes_for_any_thread_count_or_shard() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("stochastic-quadratic.toml");
    fs::write(&scenario, noisy_grid(7)).unwrap();
    let scenario = scenario.to_str().unwrap();
    let out = |name: &str| dir.path().join(name);
    let summary =
        |name: &str| fs::read(out(name).join("stochastic-quadratic/summary.csv")).unwrap();
    for threads in ["1", "2", "5"] {
        let o = out(threads);
        run(&[
            "run",
            scenario,
            "--out",
            o.to_str().unwrap(),
            "--threads",
            threads,
            "--quiet",
        ]);
    }
    // 1024 points, a continuous and a discrete row each, after the header.
    let one = summary("1");
    assert_eq!(one.iter().filter(|&&b| b == b'\n').count(), 1 + 2 * 1024);
    assert!(one == summary("2"), "1 vs 2 threads");
    assert!(one == summary("5"), "1 vs 5 threads");
    for shards in [3, 7] {
        let sharded = out(&format!("sharded{shards}"));
        for i in 1..=shards {
            let shard = format!("{i}/{shards}");
            let o = sharded.to_str().unwrap();
            run(&["run", scenario, "--out", o, "--shard", &shard, "--quiet"]);
        }
        run(&[
            "merge",
            sharded.join("stochastic-quadratic").to_str().unwrap(),
        ]);
        assert!(
            one == summary(&format!("sharded{shards}")),
            "{shards} shards merged vs one run"
        );
    }
    // The noise is there: a different seed changes the numbers.
    let other = dir.path().join("seed8").join("stochastic-quadratic.toml");
    fs::create_dir_all(other.parent().unwrap()).unwrap();
    fs::write(&other, noisy_grid(8)).unwrap();
    let o = out("seed8");
    run(&[
        "run",
        other.to_str().unwrap(),
        "--out",
        o.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(one != summary("seed8"), "seed 8 gave seed 7's numbers");
}

/// The stationary mean loss of the heavy ball with N(0, σ²) gradient noise on one
/// component k: the recursion x' = (1 + p − εk)x − p x₋ − εσξ is AR(2), whose stationary
/// variance is (1 + p)ε²σ² / ((1 − p)εk(2(1 + p) − εk)), so E[½kx²] =
/// ½(1 + p)εσ²/((1 − p)(2(1 + p) − εk)).
fn floor(eps: f64, p: f64, sigma: f64, ks: &[f64]) -> f64 {
    ks.iter()
        .map(|k| 0.5 * (1.0 + p) * eps * sigma * sigma / ((1.0 - p) * (2.0 * (1.0 + p) - eps * k)))
        .sum()
}

#[test]
fn the_noise_floor_grows_with_learning_rate_and_momentum_as_the_closed_form_says() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenarios_dir().join("stochastic-quadratic.toml");
    run(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
        "--quiet",
    ]);
    let rows = read_csv(&dir.path().join("stochastic-quadratic/summary.csv"));
    assert_eq!(
        rows.len(),
        18,
        "9 points, each a continuous twin and a discrete run"
    );
    let row_of = |method: &str, eps: f64, p: f64| {
        rows.iter()
            .find(|r| {
                r["method"] == method && num(r, "learning_rate") == eps && num(r, "momentum") == p
            })
            .unwrap()
    };
    let floor_of = |method: &str, eps: f64, p: f64| {
        let row = row_of(method, eps, p);
        assert_eq!(row["status"], "not-converged");
        num(row, "noise_floor")
    };
    let (rates, momenta) = ([0.01, 0.03, 0.1], [0.0, 0.5, 0.9]);
    // Goh's claim, for the discrete runs and for their continuous twins (the Langevin SDE,
    // whose floor n·σ²ε/(4(1 − p)) rises with both; its closed form is tests/langevin.rs').
    for method in ["sgd-momentum", "continuous"] {
        for p in momenta {
            let f: Vec<f64> = rates.iter().map(|&e| floor_of(method, e, p)).collect();
            assert!(
                f[0] < f[1] && f[1] < f[2],
                "{method}, p = {p}: {f:?} not rising with ε"
            );
        }
        for eps in rates {
            let f: Vec<f64> = momenta.iter().map(|&p| floor_of(method, eps, p)).collect();
            assert!(
                f[0] < f[1] && f[1] < f[2],
                "{method}, ε = {eps}: {f:?} not rising with p"
            );
        }
    }
    // The theory_noise_floor column holds the closed forms: Goh's for the discrete runs,
    // equipartition's n·σ²Δt/(4μ) = nσ²ε/(4(1 − p)) for their continuous twins.
    let theory_of =
        |method: &str, eps: f64, p: f64| num(row_of(method, eps, p), "theory_noise_floor");
    for eps in rates {
        for p in momenta {
            approx::assert_relative_eq!(
                theory_of("sgd-momentum", eps, p),
                floor(eps, p, 0.1, &[1.0, 10.0]),
                max_relative = 1e-12
            );
            approx::assert_relative_eq!(
                theory_of("continuous", eps, p),
                2.0 * 0.01 * eps / (4.0 * (1.0 - p)),
                max_relative = 1e-12
            );
        }
    }
    // Against the closed form, on runs ten times longer than the shipped ones (the mean of
    // the last 20 000 of 200 000 steps): the slowest case (ε = 0.01, p = 0.9, k = 1:
    // |σ| = √0.9, correlation ~20 steps) averages ~1000 independent samples of a χ²-like
    // quantity, ~3% standard error; 8% is 2.5 of them. The band must also tell the closed
    // form from the wrong one it resembles most, the εk → 0 limit nσ²ε/(4(1 − p)) (the
    // continuous twin's floor): where the two differ by more than twice the band, the
    // measured floor must be nearer the right one.
    let long = fs::read_to_string(scenarios_dir().join("stochastic-quadratic.toml"))
        .unwrap()
        .replace("steps = 20000", "steps = 200000")
        .replace("name = \"stochastic-quadratic\"", "name = \"long\"")
        .replace(
            "[continuous]\nmethod = \"baoab\"\nt_end = 20000.0\nstep = 0.5\n",
            "",
        );
    assert!(long.contains("steps = 200000") && !long.contains("[continuous]"));
    let long = summary_of("long", &long);
    let mut discriminated = 0;
    for row in &long {
        let (eps, p) = (num(row, "learning_rate"), num(row, "momentum"));
        let (measured, theory) = (num(row, "noise_floor"), floor(eps, p, 0.1, &[1.0, 10.0]));
        assert!(
            (measured / theory - 1.0).abs() < 0.08,
            "ε = {eps}, p = {p}: noise floor {measured} vs {theory}"
        );
        let limit = 2.0 * 0.01 * eps / (4.0 * (1.0 - p));
        if (limit / theory - 1.0).abs() > 0.16 {
            assert!(
                (measured - theory).abs() < (measured - limit).abs(),
                "ε = {eps}, p = {p}"
            );
            discriminated += 1;
        }
    }
    assert_eq!(long.len(), 9);
    assert!(
        discriminated >= 3,
        "{discriminated} points tell the two forms apart"
    );
}

#[test]
fn nesterovs_noise_floor_matches_its_ar2_closed_form() {
    // Nesterov's scheme evaluates the noisy gradient at the look-ahead: each eigen-component
    // is AR(2) with a₁ = (1 + p)(1 − εk), a₂ = −p(1 − εk), innovation −εσξ, whose stationary
    // variance gives the theory_noise_floor column. Over the last 20 000 of 200 000 steps
    // the slowest case (ε = 0.03, p = 0.9, k = 1: radius √(p(1 − εk)) ≈ 0.93, x²'s
    // correlation ~7 steps) averages ≥ 1000 independent values of a ½χ²₁-like energy
    // (relative spread √2): ~4% standard error per component, less for the sum.
    let rows = summary_of(
        "nesterov-noise",
        r#"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 10.0]

[particle]
position = [1.0, 1.0]

[[discrete]]
label = "nesterov"
scheme = "nesterov"
learning_rate = 0.03
momentum = 0.5
steps = 200000

[gradient]
noise = 0.1
seed = 3

[stop]
tolerance = 1e-12

[sweep]
learning_rate = { values = [0.03, 0.1] }
momentum = { values = [0.5, 0.9] }
"#,
    );
    assert_eq!(rows.len(), 4);
    let mut told_apart = 0;
    for row in &rows {
        let (eps, p) = (num(row, "learning_rate"), num(row, "momentum"));
        let by_hand: f64 = [1.0, 10.0]
            .iter()
            .map(|&k| {
                let g = 1.0 - eps * k;
                let (a1, a2) = ((1.0 + p) * g, -p * g);
                let var = (1.0 - a2) * (eps * 0.1f64).powi(2)
                    / ((1.0 + a2) * ((1.0 - a2).powi(2) - a1 * a1));
                0.5 * k * var
            })
            .sum();
        let theory = num(row, "theory_noise_floor");
        approx::assert_relative_eq!(theory, by_hand, max_relative = 1e-12);
        let measured = num(row, "noise_floor");
        // Measured within 3.2% at 200 000 steps: 6% is about twice that, and must also
        // tell Nesterov's floor from the heavy ball's at the same (ε, p), which it
        // resembles most: where they differ by more than 12%, the measured floor is the
        // nearer to Nesterov's.
        assert!(
            (measured / theory - 1.0).abs() < 0.06,
            "ε = {eps}, p = {p}: noise floor {measured} vs {theory}"
        );
        let heavy_ball = floor(eps, p, 0.1, &[1.0, 10.0]);
        if (heavy_ball / theory - 1.0).abs() > 0.12 {
            assert!(
                (measured - theory).abs() < (measured - heavy_ball).abs(),
                "ε = {eps}, p = {p}"
            );
            told_apart += 1;
        }
    }
    assert!(
        told_apart >= 2,
        "{told_apart} points tell Nesterov's floor from the heavy ball's"
    );
}

#[test]
fn a_singular_hessians_flat_directions_add_no_noise_floor() {
    // H = vvᵀ with v = (1, 2, 3): one curved direction (k = 14), two flat ones, which the
    // eigen-solver leaves a few ulps from 0 and the engine reads as 0. The continuous floor
    // is then one direction's kT/2 = σ²/(4μ), the heavy ball's Goh's formula at k = 14
    // alone. Measured over the last 10% (2000 time units of a particle relaxing at rate ≥ 1;
    // 20 000 steps whose slowest correlation is ~2 steps): standard errors ~3% and ~1%;
    // 10% is over three of them.
    let rows = summary_of(
        "rank-one",
        r#"
[potential]
kind = "quadratic"
hessian = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 9.0]]

[particle]
position = [1.0, 1.0, 1.0]
mass = 1.0
friction = 2.0

[continuous]
method = "baoab"
t_end = 20000.0
step = 0.05

[[discrete]]
label = "hb"
scheme = "heavy-ball"
learning_rate = 0.01
momentum = 0.5
steps = 200000

[gradient]
noise = 0.1
seed = 1

[stop]
criterion = "loss"
tolerance = 1e-30
"#,
    );
    let (sigma, mu, eps, p) = (0.1, 2.0, 0.01, 0.5);
    for (row, theory) in rows
        .iter()
        .zip([sigma * sigma / (4.0 * mu), floor(eps, p, sigma, &[14.0])])
    {
        approx::assert_relative_eq!(num(row, "theory_noise_floor"), theory, max_relative = 1e-12);
        let measured = num(row, "noise_floor");
        assert!(
            (measured / theory - 1.0).abs() < 0.1,
            "{}: noise floor {measured} vs {theory}",
            row["method"]
        );
    }
}

#[test]
fn beyond_baoabs_stability_edge_the_run_diverges_and_no_floor_is_predicted() {
    // On diag(1, 10) with m = 1 the velocity-Verlet part of BAOAB is stable for
    // h < 2√(m/k_max) = 0.632…: at h = 0.6 the run settles on its floor (predicted,
    // σ²·2/(4μ)); at h = 0.7 the k = 10 mode grows by |σ| > 1 a step and the run diverges,
    // with an empty theory_noise_floor.
    for (name, step, diverges) in [("stable", 0.6, false), ("unstable", 0.7, true)] {
        let rows = summary_of(
            name,
            &format!(
                r#"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 10.0]

[particle]
position = [1.0, 1.0]
mass = 1.0
friction = 2.0

[continuous]
t_end = 2000.0
sample_interval = {step}
step = {step}

[gradient]
noise = 0.1

[stop]
tolerance = 1e-30
"#
            ),
        );
        let row = &rows[0];
        if diverges {
            assert_eq!(row["status"], "diverged");
            assert_eq!(row["theory_noise_floor"], "");
        } else {
            assert_eq!(row["status"], "not-converged");
            approx::assert_relative_eq!(
                num(row, "theory_noise_floor"),
                2.0 * 0.01 / (4.0 * 2.0),
                max_relative = 1e-12
            );
        }
    }
}
