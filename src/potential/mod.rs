//! Loss surfaces behind one small trait: value, gradient written into the caller's buffer,
//! Hessian-vector product, and the minimum and Hessian spectrum where they are known.
//!
//! A potential knows nothing of time, mass or solvers.

mod colorization;
mod expression;
pub mod lanczos;
mod quadratic;
mod rosenbrock;
mod spec;

pub use colorization::Colorization;
pub use expression::{Expression, ExpressionError, NEWTON_ITERATIONS};
pub use quadratic::Quadratic;
pub use rosenbrock::{ConvexRosenbrock, Rosenbrock};
pub use spec::{ExpressionMinimum, HessianSpec, PotentialSpec, build, symmetric_eigenvalues};

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
