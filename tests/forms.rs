//! The equivalent ways of writing momentum (THEORY §4) run as their users write them and
//! agree with the heavy-ball form; Nesterov's scheme against its definition and its
//! companion matrix; the Nesterov ODE against its Bessel solution.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

mod common;

use std::f64::consts::PI;
use std::path::Path;

use common::iterates::{relative_gap, run_entry as run};

use heavyball::dynamics::ContinuousRun;
use heavyball::dynamics::maps;
use heavyball::observe::{ContinuousObserver, Status, StopRule};
use heavyball::potential::{self, Potential};
use heavyball::scenario::{self, Scenario};
use heavyball::theory;

fn parse(text: &str) -> Scenario {
    scenario::parse_str(text, Path::new("forms.toml")).unwrap()
}

/// Goh's spectrum, started with a velocity so that the momentum buffers start non-zero.
fn goh(entries: &str) -> Scenario {
    parse(&format!(
        r#"
[potential]
kind = "quadratic"
eigenvalues = [0.01, 0.1, 1.0]
[particle]
mass = 1.0
friction = 1.0
position = [1.0, -2.0, 0.5]
velocity = [0.3, 0.1, -0.2]
{entries}
[stop]
tolerance = 1e-150
"#
    ))
}

#[test]
fn pytorch_and_ema_iterates_are_the_heavy_ball_with_the_mapped_coefficients() {
    // ε = 0.5, p = 0.8: PyTorch lr = 0.5, momentum = 0.8; EMA α = ε/(1 − β) = 2.5, β = 0.8.
    let s = goh(r#"
[[discrete]]
label = "polyak"
parameterization = "polyak"
learning_rate = 0.5
momentum = 0.8
steps = 1000
[[discrete]]
label = "pytorch"
learning_rate = 0.5
momentum = 0.8
steps = 1000
[[discrete]]
label = "ema"
parameterization = "ema"
learning_rate = 2.5
momentum = 0.8
steps = 1000
[[discrete]]
label = "ema-wrongly-mapped"
parameterization = "ema"
learning_rate = 0.5
momentum = 0.8
steps = 1000
"#);
    let (_, polyak) = run(&s, 0);
    let (_, pytorch) = run(&s, 1);
    let (_, ema) = run(&s, 2);
    let (_, wrong) = run(&s, 3);
    assert_eq!(polyak.len(), 1001);
    // The forms round differently: measured 9.4e-16 (PyTorch) and 8.0e-16 (EMA) over 1000
    // steps, held to 1e-14 (about ten times that, room for another compiler's rounding);
    // a wrong map is off by far more (0.67).
    let (g_pt, g_ema, g_wrong) = (
        relative_gap(&pytorch, &polyak),
        relative_gap(&ema, &polyak),
        relative_gap(&wrong, &polyak),
    );
    eprintln!("pytorch {g_pt:e}, ema {g_ema:e}, wrong map {g_wrong:e}");
    assert!(
        g_pt <= 1e-14 && g_ema <= 1e-14,
        "pytorch {g_pt:e}, ema {g_ema:e}"
    );
    assert!(g_wrong >= 1e-2, "a wrong mapping must show: {g_wrong:e}");
    // Every form reports the same effective (ε, p) in its CSV columns.
    let point = s.point(0);
    for (i, d) in s.discrete.iter().take(3).enumerate() {
        let c = maps::coefficients(d.scheme, d.form, point.discrete[i].0, point.particle);
        // EMA: ε = α(1 − β) = 2.5 · 0.2, one rounding away from 0.5.
        approx::assert_relative_eq!(c.learning_rate, 0.5, max_relative = 1e-15);
        assert_eq!(c.momentum, 0.8, "{}", d.label);
    }
}

#[test]
fn the_pytorch_form_is_torch_optim_sgd_to_the_last_bit() {
    // torch.optim.SGD(lr=α, momentum=β): buf = buf·β + g (buf = g at the first step, i.e.
    // buf₀ = 0 from rest), p += −α·buf; here on E = ½ Σ k_i w_i².
    let s = parse(
        r#"
[potential]
kind = "quadratic"
eigenvalues = [0.01, 0.1, 1.0]
[particle]
mass = 1.0
friction = 1.0
position = [1.0, -2.0, 0.5]
[[discrete]]
learning_rate = 3.3057851239669422
momentum = 0.6694214876033058
steps = 300
[stop]
tolerance = 1e-150
"#,
    );
    let (_, ours) = run(&s, 0);
    let ks = [0.01, 0.1, 1.0];
    let (alpha, beta) = (3.3057851239669422, 0.6694214876033058);
    let mut w = vec![1.0, -2.0, 0.5];
    let mut buf = [0.0; 3];
    let mut reference = vec![w.clone()];
    for _ in 0..300 {
        for i in 0..3 {
            buf[i] = buf[i] * beta + ks[i] * w[i];
            w[i] += -alpha * buf[i];
        }
        reference.push(w.clone());
    }
    assert_eq!(ours, reference);
}

#[test]
fn nesterov_is_its_definition_and_contracts_at_its_companion_radius() {
    // y = w + p(w − w_prev); w_next = y − ε∇E(y), on one spring k = 2.
    let (k, eps, p) = (2.0, 0.1, 0.2);
    let s = parse(&format!(
        r#"
[potential]
kind = "quadratic"
eigenvalues = [{k:?}]
[particle]
mass = 1.0
friction = 1.0
position = 1.0
[[discrete]]
scheme = "nesterov"
learning_rate = {eps:?}
momentum = {p:?}
steps = 200
[stop]
tolerance = 1e-150
"#
    ));
    let (report, ours) = run(&s, 0);
    let (mut w, mut prev) = (1.0f64, 1.0f64);
    let mut reference = vec![vec![w]];
    for _ in 0..200 {
        let y = w + p * (w - prev);
        let next = y - eps * (k * y);
        prev = w;
        w = next;
        reference.push(vec![w]);
    }
    assert_eq!(ours, reference);
    // One gradient evaluation per step, at the look-ahead.
    assert_eq!(report.evaluations, 200);
    // εk = 0.2 with p = 0.2: real roots of σ² − (1 + p)(1 − εk)σ + p(1 − εk)
    // ((1 + p)²(1 − εk) = 1.152 > 4p = 0.8), so late iterates shrink by exactly ρ a step.
    let rho = theory::nesterov_radius(eps, p, k);
    let ratio = ours[200][0] / ours[199][0];
    approx::assert_relative_eq!(ratio, rho, max_relative = 1e-12);
}

#[test]
fn nesterov_converges_exactly_inside_its_stability_region() {
    // Jury: stable iff 0 < εk < (2 + 2p)/(1 + 2p) for 0 ≤ p < 1.
    for p in [0.0, 0.5, 0.9] {
        let edge = (2.0 + 2.0 * p) / (1.0 + 2.0 * p);
        for (factor, status) in [(0.97, Status::Converged), (1.03, Status::Diverged)] {
            let s = parse(&format!(
                r#"
[potential]
kind = "quadratic"
eigenvalues = [1.0]
[particle]
mass = 1.0
friction = 1.0
position = 1.0
[[discrete]]
scheme = "nesterov"
learning_rate = {:?}
momentum = {p:?}
steps = 100000
"#,
                edge * factor
            ));
            let (report, _) = run(&s, 0);
            assert_eq!(report.status, status, "p = {p}, eps = {} x edge", factor);
            let rho = theory::nesterov_radius(edge * factor, p, 1.0);
            assert_eq!(rho < 1.0, status == Status::Converged);
        }
    }
}

/// J₁(x) by the trapezoidal rule on its integral over a full period,
/// `J₁(x) = (1/2π) ∫ cos(τ − x sin τ) dτ`, which converges exponentially for a periodic
/// analytic integrand: with N > x + 60 points it is exact to round-off.
fn bessel_j1(x: f64) -> f64 {
    let n = 200 + 2 * x.ceil() as usize;
    (0..n)
        .map(|i| {
            let tau = 2.0 * PI * i as f64 / n as f64;
            (tau - x * tau.sin()).cos()
        })
        .sum::<f64>()
        / n as f64
}

/// The Nesterov ODE from rest: `x(t) = x₀ · 2J₁(√(k/m) t)/(√(k/m) t)` per component.
fn bessel_solution(k: f64, m: f64, x0: f64, t: f64) -> f64 {
    if t == 0.0 {
        return x0;
    }
    let z = (k / m).sqrt() * t;
    x0 * 2.0 * bessel_j1(z) / z
}

/// Records w every `interval`.
struct Samples {
    interval: f64,
    next: u64,
    rows: Vec<(f64, Vec<f64>)>,
}

impl ContinuousObserver for Samples {
    fn next_time(&self) -> Option<f64> {
        Some(self.next as f64 * self.interval)
    }
    fn observe(&mut self, t: f64, w: &[f64], _: &[f64]) -> Result<(), heavyball::Error> {
        self.rows.push((t, w.to_vec()));
        self.next += 1;
        Ok(())
    }
    fn finish(&mut self, _: f64, _: &[f64], _: &[f64]) -> Result<(), heavyball::Error> {
        Ok(())
    }
}

#[test]
fn the_nesterov_ode_follows_its_bessel_solution() {
    // w'' + (3/t) w' + ∇E/m = 0 on E = ½(1·w₁² + 4·w₂² + 25·w₃²), m = 2, from rest.
    let (ks, m, w0) = ([1.0, 4.0, 25.0], 2.0, [1.0, -0.5, 0.25]);
    let s = parse(
        r#"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 4.0, 25.0]
[particle]
mass = 2.0
position = [1.0, -0.5, 0.25]
[continuous]
model = "nesterov"
rtol = 1e-11
atol = 1e-14
t_end = 60.0
[stop]
tolerance = 1e-150
"#,
    );
    let p = potential::build(&s.potential).unwrap();
    let spec = s.continuous.as_ref().unwrap();
    for method in ["dopri5", "dop853", "rk4"] {
        let mut spec = *spec;
        if method == "dop853" {
            spec.method = heavyball::dynamics::Method::Dop853;
        }
        if method == "rk4" {
            spec.method = heavyball::dynamics::Method::Rk4;
            spec.step = Some(0.001);
            spec.max_steps = 100_000;
        }
        let mut samples = Samples {
            interval: 0.05,
            next: 0,
            rows: Vec::new(),
        };
        let report = ContinuousRun {
            potential: p.as_ref() as &dyn Potential,
            mass: m,
            friction: f64::NAN,
            position: &w0,
            velocity: &[0.0; 3],
            spec: &spec,
            stop: StopRule::new(&s.stop),
            noise: None,
        }
        .run(&mut samples)
        .unwrap();
        assert_eq!(report.status, Status::NotConverged);
        // Every 0.05 up to 60 (1200 × 0.05 rounds a hair past t_end).
        assert!(samples.rows.len() >= 1200);
        let mut worst: f64 = 0.0;
        for (t, w) in &samples.rows {
            for i in 0..3 {
                let exact = bessel_solution(ks[i], m, w0[i], *t);
                let error = (w[i] - exact).abs();
                assert!(
                    error.is_finite(),
                    "{method}: w{} = {} at t = {t}",
                    i + 1,
                    w[i]
                );
                worst = worst.max(error);
            }
        }
        eprintln!("{method}: worst |w − Bessel| = {worst:e}");
        // Measured 3.8e-13 (dopri5), 2.2e-13 (dop853) and 1.9e-13 (rk4): held to 2e-12.
        assert!(worst <= 2e-12, "{method}: {worst:e}");
    }
}

#[test]
fn the_energy_criterion_meets_its_closed_form() {
    // m x'' + μ x' + k x = 0, underdamped (m = 1, μ = 0.5, k = 4) from x = 1 at rest. The
    // energy criterion √(m v² + k x²) never rises (Q9): its first crossing of tol is the
    // only one, found here on the exact solution by a scan and bisection.
    let (m, mu, k, tol) = (1.0, 0.5, 4.0, 1e-6);
    let energy = |t: f64| {
        let (x, v) = theory::exact_component(m, mu, k, 1.0, 0.0, t);
        (m * v * v + k * x * x).sqrt()
    };
    let mut hi = 0.0;
    while energy(hi) >= tol {
        hi += 0.01;
    }
    let mut lo = hi - 0.01;
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if energy(mid) < tol {
            hi = mid
        } else {
            lo = mid
        }
    }
    let exact = hi;

    let s = parse(
        r#"
[potential]
kind = "quadratic"
eigenvalues = [4.0]
[particle]
mass = 1.0
friction = 0.5
position = 1.0
[continuous]
rtol = 1e-12
atol = 1e-16
t_end = 200.0
[[discrete]]
dt = 0.05
steps = 40
[stop]
criterion = "energy"
tolerance = 1e-6
"#,
    );
    let p = potential::build(&s.potential).unwrap();
    let report = ContinuousRun {
        potential: p.as_ref(),
        mass: m,
        friction: mu,
        position: &[1.0],
        velocity: &[0.0],
        spec: s.continuous.as_ref().unwrap(),
        stop: StopRule::new(&s.stop),
        noise: None,
    }
    .run(&mut ())
    .unwrap();
    assert_eq!(report.status, Status::Converged);
    let t = report.crossings.tight.unwrap();
    approx::assert_relative_eq!(t, exact, max_relative = 1e-9);

    // Discrete: the final value is √(m|v|² + 2E) with v = (w_k − w_{k−1})/Δt and the
    // entry's mass (Qian's map: the particle's m = 1).
    let (report, w) = run(&s, 0);
    assert_eq!((report.status, w.len()), (Status::NotConverged, 41));
    let (wk, wp) = (w[40][0], w[39][0]);
    let v = (wk - wp) / 0.05;
    let expected = (m * v * v + k * wk * wk).sqrt();
    approx::assert_relative_eq!(report.final_value.unwrap(), expected, max_relative = 1e-14);
}
