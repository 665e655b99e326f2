//! The continuous particle under a noisy gradient (the Langevin SDE, integrated by BAOAB):
//! without noise the scheme's deterministic order (2, and 1 for its massless limit)
//! against THEORY §2's exact trajectory; with noise the stationary law — equipartition's
//! noise floor n·s²/(4μ) at any stable step — and the exact Ornstein–Uhlenbeck variance of
//! the friction-plus-noise step, constant friction and Nesterov's 3/t alike.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

mod common;

use common::exact::max_position_error;
use heavyball::dynamics::ContinuousRun;
use heavyball::dynamics::noise::{CONTINUOUS_STREAM, GradientNoise};
use heavyball::dynamics::{ContinuousSpec, Method, Model};
use heavyball::observe::StopSpec;
use heavyball::observe::{ContinuousObserver, RunReport, Status, StopRule};
use heavyball::potential::{self, Potential};
use heavyball::potential::{HessianSpec, PotentialSpec};

/// Records (t, w) at the times asked for, and the final state.
#[derive(Default)]
struct Recorder {
    interval: f64,
    next: u64,
    rows: Vec<(f64, Vec<f64>)>,
    end: Option<(f64, Vec<f64>, Vec<f64>)>,
}

impl ContinuousObserver for Recorder {
    fn next_time(&self) -> Option<f64> {
        (self.interval > 0.0).then_some(self.next as f64 * self.interval)
    }
    fn observe(&mut self, t: f64, w: &[f64], _: &[f64]) -> Result<(), heavyball::Error> {
        self.rows.push((t, w.to_vec()));
        self.next += 1;
        Ok(())
    }
    fn finish(&mut self, t: f64, w: &[f64], v: &[f64]) -> Result<(), heavyball::Error> {
        self.end = Some((t, w.to_vec(), v.to_vec()));
        Ok(())
    }
}

fn quadratic(ks: &[f64]) -> Box<dyn Potential> {
    potential::build(&PotentialSpec::Quadratic {
        hessian: HessianSpec::Diagonal(ks.to_vec()),
        minimum: vec![0.0; ks.len()],
    })
    .unwrap()
}

fn spec(t_end: f64, sample_interval: f64, step: f64, model: Model) -> ContinuousSpec {
    ContinuousSpec {
        method: Method::Baoab,
        t_end,
        sample_interval,
        step: Some(step),
        max_steps: 100_000_000,
        model,
        ..Default::default()
    }
}

/// A stop rule that never fires (the runs spend their time budget).
fn never() -> StopRule {
    StopRule::new(&StopSpec {
        tolerance: 1e-300,
        ..Default::default()
    })
}

#[allow(clippy::too_many_arguments)]
fn run(
    p: &dyn Potential,
    m: f64,
    mu: f64,
    w0: &[f64],
    v0: &[f64],
    spec: &ContinuousSpec,
    noise: Option<&GradientNoise>,
    rec: &mut Recorder,
) -> RunReport {
    ContinuousRun {
        potential: p,
        mass: m,
        friction: mu,
        position: w0,
        velocity: v0,
        spec,
        stop: never(),
        noise,
    }
    .run(rec)
    .unwrap()
}

#[test]
fn without_noise_baoab_is_second_order_and_its_massless_limit_first_order() {
    // Halving the step divides a method of order q's global error by 2^q. With h ≤ 0.02
    // and the fastest root |λ| ≤ 10, the next term of the error expansion is O(|λ|h) ≤ 0.2
    // of the leading one, moving the observed order by at most log2(1.2) ≈ 0.26 in the
    // worst case and far less in practice (measured below 0.05): ±0.15 is asserted. The
    // errors (≥ 1e-7) stay far above round-off.
    let ks = [4.0, 9.0];
    let (w0, v0) = ([1.0, -0.5], [0.3, 1.0]);
    for (m, mu, order) in [
        (1.0, 0.5, 2.0),  // underdamped
        (1.0, 10.0, 2.0), // overdamped
        (1.0, 4.0, 2.0),  // critical for k = 4
        (0.0, 2.0, 1.0),  // gradient flow: explicit Euler
    ] {
        let p = quadratic(&ks);
        let errs: Vec<f64> = [0.02, 0.01, 0.005]
            .iter()
            .map(|&h| {
                let mut rec = Recorder {
                    interval: 0.5,
                    ..Recorder::default()
                };
                run(
                    p.as_ref(),
                    m,
                    mu,
                    &w0,
                    &v0,
                    &spec(5.0, 0.5, h, Model::HeavyBall),
                    None,
                    &mut rec,
                );
                assert_eq!(rec.rows.len(), 11, "a row every 0.5 up to t_end = 5");
                max_position_error(
                    m,
                    mu,
                    &ks,
                    &w0,
                    &v0,
                    rec.rows.iter().map(|(t, w)| (*t, &w[..])),
                )
            })
            .collect();
        for pair in errs.windows(2) {
            let observed = (pair[0] / pair[1]).log2();
            assert!(
                (observed - order).abs() < 0.15,
                "m = {m}, μ = {mu}: errors {errs:?}, observed order {observed}"
            );
        }
    }
}

#[test]
fn the_noise_floor_is_equipartitions_at_any_stable_step() {
    // Stationary law exp(−E/kT) with kT = s²/(2μ): each coordinate of a quadratic carries
    // E − E* = kT/2 on average, n·s²/(4μ) in all, for any m and curvature — and BAOAB (and
    // its massless limit) sample the positions' stationary law exactly on a quadratic at
    // any stable step, so the coarse steps must give it too.
    //
    // Tolerance: the floor is the mean over the last 10% of t_end = 10⁵ (10⁴ time units).
    // The slowest coordinate (k = 1) relaxes at rate 1 (m = 1, μ = 2: critical) or k/μ =
    // 0.5 (m = 0), so E's correlation time is ≤ 1 and the window holds ≥ 5·10³ independent
    // values of a ½χ²₁-distributed energy (relative spread √2): a standard error ≤ 2% per
    // coordinate, ~1.4% for the sum. 6% is four of them.
    let ks = [1.0, 10.0];
    let (s, mu) = (0.1, 2.0);
    let expected = ks.len() as f64 * s * s / (4.0 * mu);
    let p = quadratic(&ks);
    // Stability: m = 1 needs h < 2√(m/k_max) ≈ 0.632; m = 0 needs h < 2μ/k_max = 0.4.
    for (m, steps) in [(1.0, [0.05, 0.5]), (0.0, [0.05, 0.3])] {
        for (i, h) in steps.into_iter().enumerate() {
            let noise = GradientNoise::new(s, 11 + i as u64, 0, CONTINUOUS_STREAM);
            let mut rec = Recorder::default();
            let report = run(
                p.as_ref(),
                m,
                mu,
                &[1.0, 1.0],
                &[0.0, 0.0],
                &spec(1e5, 1e4, h, Model::HeavyBall),
                Some(&noise),
                &mut rec,
            );
            assert_eq!(report.status, Status::NotConverged);
            assert_eq!(report.solver, Some("baoab"));
            let floor = report.noise_floor.expect("a noisy run that spent its time");
            assert!(
                (floor / expected - 1.0).abs() < 0.06,
                "m = {m}, h = {h}: floor {floor} vs n·s²/(4μ) = {expected}"
            );
        }
    }
}

#[test]
fn the_friction_and_noise_step_is_the_exact_ornstein_uhlenbeck_solution() {
    // With ∇E ≡ 0 (k = 0) only the O step acts on v, so any step must reproduce the exact
    // velocity variance from v(0) = 0 (dv = −γ(t) v dt − (s/m) dW):
    //   constant γ = μ/m:  Var v(t) = (s/m)² (1 − e^{−2γt})/(2γ),
    //   Nesterov γ = 3/t:  Var v(t) = (s/m)² t/7.
    // n = 2000 independent coordinates estimate it with relative standard error √(2/n) ≈
    // 3.2%; 12% is 3.8 of them. Coarse steps (h = 0.5 of t = 3) check exactness.
    let n = 2000;
    let p = quadratic(&vec![0.0; n]);
    let (s, m, mu, t): (f64, f64, f64, f64) = (0.3, 2.0, 1.0, 3.0);
    let gamma = mu / m;
    for (model, expected) in [
        (
            Model::HeavyBall,
            (s / m) * (s / m) * (1.0 - (-2.0 * gamma * t).exp()) / (2.0 * gamma),
        ),
        (Model::Nesterov, (s / m) * (s / m) * t / 7.0),
    ] {
        let noise = GradientNoise::new(s, 5, 0, CONTINUOUS_STREAM);
        let mut rec = Recorder::default();
        run(
            p.as_ref(),
            m,
            mu,
            &vec![0.0; n],
            &vec![0.0; n],
            &spec(t, t, 0.5, model),
            Some(&noise),
            &mut rec,
        );
        let (t_end, _, v) = rec.end.expect("finished");
        assert_eq!(t_end, t);
        let var = v.iter().map(|x| x * x).sum::<f64>() / n as f64;
        assert!(
            (var / expected - 1.0).abs() < 0.12,
            "{model:?}: Var v({t}) = {var} vs {expected}"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_path_and_another_seed_another() {
    let p = quadratic(&[1.0, 10.0]);
    let path = |seed: u64| {
        let noise = GradientNoise::new(0.1, seed, 3, CONTINUOUS_STREAM);
        let mut rec = Recorder {
            interval: 1.0,
            ..Recorder::default()
        };
        run(
            p.as_ref(),
            1.0,
            2.0,
            &[1.0, 1.0],
            &[0.0, 0.0],
            &spec(50.0, 1.0, 0.1, Model::HeavyBall),
            Some(&noise),
            &mut rec,
        );
        rec.rows
    };
    let (a, b, c) = (path(7), path(7), path(8));
    assert_eq!(a, b);
    assert_eq!(a.len(), 51);
    assert!(a.iter().zip(&c).skip(1).all(|(x, y)| x.1 != y.1));
}

/// The diffusion's σ√Δt scaling, with Δt ≠ 1: the first discrete entry's Δt sets the
/// continuous run's noise intensity, so equipartition's floor nσ²Δt/(4μ) is 0.00125 at
/// Δt = 0.25 and 0.005 at Δt = 1 (n = 2, σ = 0.1, μ = 1): the `dt` column shows the Δt used,
/// `theory_noise_floor` holds the closed form, and the measured floor (BAOAB samples a
/// quadratic's configuration exactly; ~2000 relaxation times averaged) lies within 10% of it
/// — four times apart, so a Δt forced to 1 fails.
#[test]
fn the_noise_intensity_scales_with_the_entrys_dt() {
    for (dt, floor) in [(0.25, 0.00125), (1.0, 0.005)] {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("dt.toml");
        std::fs::write(
            &input,
            format!(
                "name = \"dt\"\n[potential]\nkind = \"quadratic\"\neigenvalues = [1.0, 10.0]\n\
                 [particle]\nmass = 1.0\nfriction = 1.0\nposition = [1.0, 1.0]\n\
                 [continuous]\nmethod = \"baoab\"\nstep = 0.05\nt_end = 20000.0\n\
                 sample_interval = 100.0\n[[discrete]]\ndt = {dt:?}\nsteps = 10\n\
                 [gradient]\nnoise = 0.1\nseed = 5\n[stop]\ntolerance = 1e-12\n"
            ),
        )
        .unwrap();
        let out = dir.path().join("out");
        common::run_ok(&input, &out);
        let rows = common::read_csv(&out.join("dt").join("summary.csv"));
        let row = rows.iter().find(|r| r["method"] == "continuous").unwrap();
        assert_eq!(common::num(row, "dt"), dt);
        let theory = common::num(row, "theory_noise_floor");
        assert!((theory / floor - 1.0).abs() < 1e-12, "{theory} vs {floor}");
        let measured = common::num(row, "noise_floor");
        assert!(
            (measured / floor - 1.0).abs() < 0.10,
            "Δt = {dt}: {measured} vs {floor}"
        );
    }
}
