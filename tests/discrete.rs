//! The discrete schemes against hand-written updates: Qian's heavy ball (bit for bit with
//! the peers' formula on W1), the semi-implicit Euler update of the particle, PyTorch's
//! SGD with momentum, and gradient descent's exact step counts.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;

use common::iterates::{relative_gap, run_entry as run};

use heavyball::observe::Status;
use heavyball::scenario::{self, Scenario};

fn scenario(text: &str) -> Scenario {
    scenario::parse_str(text, Path::new("test.toml")).unwrap()
}

const DENSE: &str = r#"
[potential]
kind = "quadratic"
hessian = [[3.0, 1.0], [1.0, 2.0]]
minimum = [0.5, -1.0]
[particle]
mass = 1.5
friction = 0.7
position = [2.0, 1.0]
velocity = [0.2, -0.1]
[stop]
tolerance = 1e-150
"#;

/// ∇E of DENSE's quadratic, H = [[3, 1], [1, 2]], w* = (0.5, −1), written out by hand.
fn dense_gradient(w: [f64; 2]) -> [f64; 2] {
    let (h, star) = ([[3.0, 1.0], [1.0, 2.0]], [0.5, -1.0]);
    let x = [w[0] - star[0], w[1] - star[1]];
    [
        h[0][0] * x[0] + h[0][1] * x[1],
        h[1][0] * x[0] + h[1][1] * x[1],
    ]
}

#[test]
fn heavy_ball_is_the_recurrence_q6() {
    // A dense, non-diagonal H with a shifted minimum and a start in motion. Written the
    // other way round (momentum term first), the recurrence rounds differently: agreement
    // to 1e-14 of the iterates' size over 500 steps.
    let s = scenario(&format!(
        "{DENSE}\n[[discrete]]\ndt = 0.3\nmap = \"qian\"\nsteps = 500\n"
    ));
    let (m, mu, dt) = (1.5, 0.7, 0.3);
    let (eps, p) = (dt * dt / (m + mu * dt), m / (m + mu * dt));
    let mut w = [2.0, 1.0];
    let mut wp = [2.0 - dt * 0.2, 1.0 + dt * 0.1];
    let mut expected = vec![w.to_vec()];
    for _ in 0..500 {
        let g = dense_gradient(w);
        let next = [
            w[0] + p * (w[0] - wp[0]) - eps * g[0],
            w[1] + p * (w[1] - wp[1]) - eps * g[1],
        ];
        wp = w;
        w = next;
        expected.push(w.to_vec());
    }
    let (report, got) = run(&s, 0);
    assert_eq!(report.status, Status::NotConverged);
    assert_eq!(report.steps, 500);
    assert!(relative_gap(&got, &expected) <= 1e-14);
}

#[test]
fn symplectic_euler_is_the_semi_implicit_update_of_the_particle() {
    // THEORY §4: v ← (1 − μΔt/m)v − (Δt/m)∇E(w); w ← w + Δt v, from v₀.
    let s = scenario(&format!(
        "{DENSE}\n[[discrete]]\ndt = 0.3\nmap = \"symplectic-euler\"\nsteps = 400\n"
    ));
    let (m, mu, dt) = (1.5, 0.7, 0.3);
    let (mut w, mut v) = ([2.0, 1.0], [0.2, -0.1]);
    let mut expected = vec![w.to_vec()];
    for _ in 0..400 {
        let g = dense_gradient(w);
        for i in 0..2 {
            v[i] = (1.0 - mu * dt / m) * v[i] - (dt / m) * g[i];
            w[i] += dt * v[i];
        }
        expected.push(w.to_vec());
    }
    let (_, got) = run(&s, 0);
    // Different operation order; both forms are stable here (ρ < 1), so round-off stays ~1e-15.
    assert!(
        relative_gap(&got, &expected) <= 1e-12,
        "gap {}",
        relative_gap(&got, &expected)
    );
}

#[test]
fn explicit_learning_rate_and_momentum_are_pytorch_sgd() {
    // torch.optim.SGD(lr = α, momentum = β), dampening 0: buf = ∇E at the first step, then
    // buf ← β·buf + ∇E; w ← w − α·buf. From rest, the heavy ball with ε = α, p = β. (600
    // steps: the distance passes the smallest tolerance, 1e-150, near step 700.)
    let (alpha, beta) = (0.05, 0.9);
    let text = DENSE.replace("velocity = [0.2, -0.1]", "velocity = [0.0, 0.0]");
    let s = scenario(&format!(
        "{text}\n[[discrete]]\nlearning_rate = {alpha}\nmomentum = {beta}\nsteps = 600\n"
    ));
    let mut w = [2.0f64, 1.0];
    let mut buf: Option<[f64; 2]> = None;
    let mut expected = vec![w.to_vec()];
    for _ in 0..600 {
        let g = dense_gradient(w);
        let b = match buf {
            None => g,
            Some(b) => [beta * b[0] + g[0], beta * b[1] + g[1]],
        };
        buf = Some(b);
        w = [w[0] - alpha * b[0], w[1] - alpha * b[1]];
        expected.push(w.to_vec());
    }
    let (_, got) = run(&s, 0);
    assert!(
        relative_gap(&got, &expected) <= 1e-12,
        "gap {}",
        relative_gap(&got, &expected)
    );
}

#[test]
fn w1_steps_equal_the_peers_recurrence_point_for_point() {
    // peers/common.py discrete_point_floats, on the W1 grid at N = 20: the same
    // floating-point operations, so k_conv and divergence must agree exactly.
    let n = 20;
    let logspace = |a: f64, b: f64, i: usize| 10f64.powf(a + (b - a) * i as f64 / (n - 1) as f64);
    let (mut converged, mut diverged) = (0, 0);
    for i in 0..n {
        for j in 0..n {
            let (m, mu) = (logspace(-2.0, 1.0, i), logspace(-1.0, 1.5, j));
            let dt = 0.1;
            let (eps, p) = (dt * dt / (m + mu * dt), m / (m + mu * dt));
            let (mut x0, mut x1, mut y0, mut y1) = (1.0f64, 1.0f64, 1.0f64, 1.0f64);
            let mut peer = (-1i64, false);
            for k in 1..=200_000i64 {
                let n0 = x0 - eps * (6.0 * x0) + p * (x0 - y0);
                let n1 = x1 - eps * (60.0 * x1) + p * (x1 - y1);
                (y0, y1, x0, x1) = (x0, x1, n0, n1);
                let r2 = x0 * x0 + x1 * x1;
                if r2 < 1e-6 * 1e-6 {
                    peer = (k, false);
                    break;
                }
                #[allow(clippy::neg_cmp_op_on_partial_ord)] // the peers' test: catches NaN
                if !(r2 <= 1e12 * 1e12) {
                    peer = (k, true);
                    break;
                }
            }
            let s = scenario(&format!(
                "[potential]\nkind = \"quadratic\"\neigenvalues = [6.0, 60.0]\n\
                 [particle]\nmass = {m:?}\nfriction = {mu:?}\nposition = [1.0, 1.0]\n\
                 [[discrete]]\ndt = 0.1\nsteps = 200000\n[stop]\ntolerance = 1e-6\n"
            ));
            let (report, _) = run(&s, 0);
            match peer {
                (k, false) if k > 0 => {
                    converged += 1;
                    assert_eq!(report.status, Status::Converged, "m = {m}, mu = {mu}");
                    assert_eq!(report.steps, k as u64, "m = {m}, mu = {mu}");
                    assert_eq!(report.crossings.tight, Some(k as f64 * dt));
                }
                (k, true) => {
                    diverged += 1;
                    assert_eq!(
                        (report.status.clone(), report.steps),
                        (Status::Diverged, k as u64),
                        "m = {m}, mu = {mu}"
                    );
                }
                _ => assert_eq!(report.status, Status::NotConverged),
            }
        }
    }
    assert!(
        converged > 0 && diverged > 0,
        "{converged} converged, {diverged} diverged"
    );
}

#[test]
fn gradient_descent_step_counts_are_exact() {
    // One spring k = 30: w_k = (1 − εk)^k exactly (εk = 3.75, |1 − εk| = 2.75 from the KTH
    // poster's Δt = 0.5, μ = 4): |w_k| first exceeds 1e12 at k = ⌈12/log10 2.75⌉ = 28.
    let base = "[potential]\nkind = \"quadratic\"\neigenvalues = [30.0]\n[particle]\nmass = 2.0\nfriction = 4.0\nposition = 1.0\n";
    let s = scenario(&format!(
        "{base}[[discrete]]\nscheme = \"gradient-descent\"\ndt = 0.5\n"
    ));
    let (r, _) = run(&s, 0);
    assert_eq!(
        (r.status.clone(), r.steps),
        (Status::Diverged, (12.0 / 2.75f64.log10()).ceil() as u64)
    );
    // εk = 0.5 (Δt = 1/15, ε = Δt/μ): w_k = 2⁻ᵏ falls below 1e-6 at k = ⌈6/log10 2⌉ = 20,
    // and its envelope |w_k| decays by exactly 2 per step: measured rate ln 2/Δt.
    let dt = 1.0 / 15.0;
    let s = scenario(&format!(
        "{base}[[discrete]]\nscheme = \"gradient-descent\"\ndt = {dt:?}\n"
    ));
    let (r, _) = run(&s, 0);
    assert_eq!((r.status.clone(), r.steps), (Status::Converged, 20));
    assert_eq!(r.crossings.tight, Some(20.0 * dt));
    approx::assert_relative_eq!(
        r.measured_rate.unwrap(),
        2f64.ln() / dt,
        max_relative = 1e-12
    );
    // A budget of 10 steps ends not-converged at step 10.
    let s = scenario(&format!(
        "{base}[[discrete]]\nscheme = \"gradient-descent\"\ndt = {dt:?}\nsteps = 10\n"
    ));
    let (r, w) = run(&s, 0);
    assert_eq!((r.status, r.steps, w.len()), (Status::NotConverged, 10, 11));
    assert_eq!(w[10][0], 0.5f64.powi(10));
}
