//! Loss surfaces behind one small trait: value, gradient written into the caller's buffer,
//! Hessian-vector product, and the minimum and Hessian spectrum where they are known.
//!
//! A potential knows nothing of time, mass or solvers.

mod colorization;
mod expression;
pub mod lanczos;
mod quadratic;
mod rosenbrock;

pub use colorization::Colorization;
pub use expression::{Expression, ExpressionError, NEWTON_ITERATIONS};
pub use quadratic::Quadratic;
pub use rosenbrock::{ConvexRosenbrock, Rosenbrock};

use crate::scenario::PotentialSpec;

/// A loss surface E(w) on ℝⁿ.
pub trait Potential: Send + Sync {
    /// The dimension n.
    fn dim(&self) -> usize;
    /// E(w).
    fn value(&self, w: &[f64]) -> f64;
    /// Writes ∇E(w) into `g` (no allocation).
    fn gradient_into(&self, w: &[f64], g: &mut [f64]);
    /// Writes H(w)·x into `out`, the Hessian at `w` applied to `x`.
    fn hessian_vector_into(&self, w: &[f64], x: &[f64], out: &mut [f64]);
    /// The minimum w*, where known.
    fn minimum(&self) -> Option<&[f64]>;
    /// E(w*), where known.
    fn minimum_value(&self) -> Option<f64>;
    /// Eigenvalues of the Hessian at the minimum, ascending, where known.
    fn hessian_spectrum(&self) -> Option<&[f64]>;
    /// The quadratic structure, for potentials that are quadratic forms.
    fn as_quadratic(&self) -> Option<&Quadratic> {
        None
    }
}

/// Every eigenvalue of a quadratic's Hessian, where all are known (the noise floors'
/// closed forms sum over them; colorization knows only the extremes).
pub fn full_spectrum(p: &dyn Potential) -> Option<&[f64]> {
    p.as_quadratic()?;
    p.hessian_spectrum().filter(|ks| ks.len() == p.dim())
}

/// How many directions of a quadratic are curved (k > 0): all when the smallest
/// eigenvalue is positive, else counted on the whole spectrum; None for other potentials.
pub fn curved_directions(p: &dyn Potential) -> Option<usize> {
    p.as_quadratic()?;
    if p.hessian_spectrum()?.first().is_some_and(|&k| k > 0.0) {
        Some(p.dim())
    } else {
        full_spectrum(p).map(|ks| ks.iter().filter(|&&k| k > 0.0).count())
    }
}

/// Builds the potential a scenario describes.
pub fn build(spec: &PotentialSpec) -> Box<dyn Potential> {
    match spec {
        PotentialSpec::Quadratic { hessian, minimum } => {
            Box::new(Quadratic::new(hessian, minimum.clone()))
        }
        PotentialSpec::Colorization {
            grid,
            colored,
            value,
        } => Box::new(Colorization::new(grid.0, grid.1, colored, *value)),
        PotentialSpec::Rosenbrock { a, b } => Box::new(Rosenbrock::new(*a, *b)),
        PotentialSpec::Expression {
            variables,
            expression,
            minimum,
        } => Box::new(
            Expression::new(variables, expression, minimum.point().map(<[f64]>::to_vec))
                .expect("validated when the scenario was read"),
        ),
        PotentialSpec::ConvexRosenbrock { n, kappa } => Box::new(ConvexRosenbrock::new(*n, *kappa)),
    }
}

/// Eigenvalues (ascending) of a symmetric matrix given by rows.
pub fn symmetric_eigenvalues(rows: &[Vec<f64>]) -> Vec<f64> {
    let n = rows.len();
    let m = nalgebra::DMatrix::from_fn(n, n, |i, j| rows[i][j]);
    let mut ev: Vec<f64> = m.symmetric_eigenvalues().iter().copied().collect();
    ev.sort_by(f64::total_cmp);
    ev
}
