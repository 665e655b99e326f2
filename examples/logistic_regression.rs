//! Your own loss surface: logistic regression on a small data set the example makes
//! itself (two Gaussian blobs in the plane, with an L2 penalty so that the minimum is
//! unique), implemented as a `Potential` and run by the heavy ball and by gradient
//! descent with the same learning rate — momentum gets there in fewer steps.
//!
//!     cargo run --release --example logistic_regression

// A user's program: std's f64 methods are theirs to use (the engine itself uses `libm`).
#![allow(clippy::disallowed_methods)]

use heavyball::prelude::*;

/// Mean logistic loss of a linear model w = (w₁, w₂, bias) plus λ/2 |w|².
struct Logistic {
    x: Vec<[f64; 3]>,
    y: Vec<f64>,
    lambda: f64,
}

impl Logistic {
    /// `n` points per class around (±1, ±1), from a small deterministic generator.
    fn generate(n: usize) -> Self {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        // Box–Muller: a standard normal from two uniforms.
        let mut normal = move || {
            let (u, v) = (uniform().max(1e-300), uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        };
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for label in [0.0, 1.0] {
            let centre = if label == 1.0 { 1.0 } else { -1.0 };
            for _ in 0..n {
                x.push([centre + normal(), centre + normal(), 1.0]);
                y.push(label);
            }
        }
        Logistic { x, y, lambda: 0.01 }
    }

    fn margin(w: &[f64], x: &[f64; 3]) -> f64 {
        w[0] * x[0] + w[1] * x[1] + w[2] * x[2]
    }
}

impl Potential for Logistic {
    fn dim(&self) -> usize {
        3
    }

    fn value(&self, w: &[f64]) -> f64 {
        let n = self.y.len() as f64;
        let data: f64 = self
            .x
            .iter()
            .zip(&self.y)
            .map(|(x, y)| {
                let z = Self::margin(w, x);
                // log(1 + e^z) − y z, written so that it never overflows.
                z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z
            })
            .sum();
        data / n + 0.5 * self.lambda * w.iter().map(|a| a * a).sum::<f64>()
    }

    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        let n = self.y.len() as f64;
        for (gi, wi) in g.iter_mut().zip(w) {
            *gi = self.lambda * wi;
        }
        for (x, y) in self.x.iter().zip(&self.y) {
            let p = 1.0 / (1.0 + (-Self::margin(w, x)).exp());
            for (gi, xi) in g.iter_mut().zip(x) {
                *gi += (p - y) * xi / n;
            }
        }
    }
}

// std's math in the solvers' crates on the `libm` crate: the same bits on every machine.
heavyball::portable_math!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // No known minimum: stop on the gradient's norm.
    let problem = Problem::builder(Logistic::generate(200))
        .position([0.0, 0.0, 0.0])
        .discrete(
            Discrete::heavy_ball()
                .learning_rate(0.5)
                .momentum(0.9)
                .label("momentum 0.9"),
        )
        .discrete(
            Discrete::gradient_descent()
                .learning_rate(0.5)
                .label("gradient descent"),
        )
        .stop(Criterion::Gradient, 1e-8)
        .build()?;
    let result = problem.run_point(0)?;
    for row in &result.rows {
        println!(
            "{:<17} {:<10} steps {:>6}  |grad E| = {:.3e}  gradient evaluations {}",
            row.method,
            row.report.status.as_str(),
            row.report.steps,
            row.report.final_value.unwrap_or(f64::NAN),
            row.report.evaluations,
        );
    }
    // Same learning rate: momentum 0.9 converges in fewer steps than gradient descent.
    let (momentum, descent) = (&result.rows[0], &result.rows[1]);
    assert_eq!(momentum.report.status, Status::Converged);
    assert!(momentum.report.steps < descent.report.steps);
    Ok(())
}
