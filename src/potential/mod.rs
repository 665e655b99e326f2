//! Loss surfaces behind one small trait: value, gradient written into the caller's buffer,
//! Hessian-vector product, and the minimum and Hessian spectrum where they are known.
//!
//! A potential knows nothing of time, mass or solvers.

mod colorization;
mod expression;
mod grid_spectrum;
pub mod lanczos;
mod quadratic;
mod rosenbrock;
mod spec;

pub use colorization::Colorization;
pub(crate) use expression::check_variables;
pub use expression::{Expression, ExpressionError, NEWTON_ITERATIONS, NoMinimum};
pub use quadratic::{BadHessian, Quadratic, check_hessian};
pub use rosenbrock::{ConvexRosenbrock, Rosenbrock};
pub use spec::{
    ExpressionMinimum, HessianSpec, PotentialSpec, SetupCost, build, symmetric_eigenvalues,
};

/// A loss surface E(w) on ℝⁿ.
///
/// The built-in potentials implement it, and so can yours: [`Potential::dim`],
/// [`Potential::value`] and [`Potential::gradient_into`] are required; everything else
/// has a default, and a better answer where you have one makes the engine better:
///
/// | method | default | what uses it |
/// |---|---|---|
/// | [`hessian_vector_into`](Potential::hessian_vector_into) | central difference of the gradient (2 gradients) | the step interpolant of a massless particle, BDF's Jacobian |
/// | [`has_hessian`](Potential::has_hessian) | `false` | `method = bdf` is refused without an exact Hessian; `auto` may still take BDF at a stiff point, on central differences of the gradient (two gradients a product that moves the position, counted in `evaluations`) |
/// | [`minimum`](Potential::minimum) | unknown | the `distance`, `loss` and `energy` criteria and the distance columns |
/// | [`minimum_value`](Potential::minimum_value) | E(w*) | the `loss` and `energy` criteria |
/// | [`hessian_spectrum`](Potential::hessian_spectrum) | unknown | every `theory_*` column (empty without it) and `auto`'s stiffness test |
///
/// # Example
///
/// ```
/// use heavyball::potential::Potential;
///
/// /// E(w) = Σ cosh(wᵢ) − 1, minimum 0 at the origin, Hessian I there.
/// struct Cosh(usize);
///
/// impl Potential for Cosh {
///     fn dim(&self) -> usize {
///         self.0
///     }
///     fn value(&self, w: &[f64]) -> f64 {
///         w.iter().map(|x| x.cosh() - 1.0).sum()
///     }
///     fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
///         for (g, x) in g.iter_mut().zip(w) {
///             *g = x.sinh();
///         }
///     }
/// }
///
/// let mut hv = [0.0; 2];
/// Cosh(2).hessian_vector_into(&[0.0, 0.0], &[1.0, 2.0], &mut hv);
/// assert!((hv[0] - 1.0).abs() < 1e-6 && (hv[1] - 2.0).abs() < 1e-6);
/// ```
pub trait Potential: Send + Sync {
    /// The dimension n.
    fn dim(&self) -> usize;
    /// E(w).
    fn value(&self, w: &[f64]) -> f64;
    /// Writes ∇E(w) into `g` (no allocation).
    fn gradient_into(&self, w: &[f64], g: &mut [f64]);
    /// Writes H(w)·x into `out`, the Hessian at `w` applied to `x`. Default: the central
    /// difference (∇E(w + hx) − ∇E(w − hx))/2h with h = ∛ε·max(1, |w|)/|x| (allocates
    /// two vectors: override it where speed or exactness matters).
    fn hessian_vector_into(&self, w: &[f64], x: &[f64], out: &mut [f64]) {
        finite_difference_hv(self, w, x, out);
    }
    /// Whether [`Self::hessian_vector_into`] is exact (BDF needs it).
    fn has_hessian(&self) -> bool {
        false
    }
    /// The minimum w*, where known.
    fn minimum(&self) -> Option<&[f64]> {
        None
    }
    /// E(w*), where known.
    fn minimum_value(&self) -> Option<f64> {
        self.minimum().map(|w| self.value(w))
    }
    /// Eigenvalues of the Hessian at the minimum, ascending, where known.
    fn hessian_spectrum(&self) -> Option<&[f64]> {
        None
    }
    /// The quadratic structure, for potentials that are quadratic forms.
    fn as_quadratic(&self) -> Option<&Quadratic> {
        None
    }
    /// Runs `work`, which evaluates this potential on the current thread, perhaps many
    /// times (a sweep's worker runs a chunk of points through it). Default: runs it. A
    /// potential whose evaluations need a set-up per thread (one written in Python: the
    /// thread's interpreter state) makes it once around `work` rather than at every
    /// evaluation.
    fn on_this_thread(&self, work: &mut (dyn FnMut() + Send)) {
        work();
    }
}

/// The central-difference Hessian-vector product behind the trait's default,
/// `(∇E(w + hx) − ∇E(w − hx))/2h` with `h = ∛ε·max(1, |w|)/|x|`: for an implementation that
/// overrides [`Potential::hessian_vector_into`] only sometimes.
pub fn finite_difference_hv<P: Potential + ?Sized>(p: &P, w: &[f64], x: &[f64], out: &mut [f64]) {
    if !moves(x) {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    let xn = norm(x);
    let h = libm::cbrt(f64::EPSILON) * norm(w).max(1.0) / xn;
    let shifted =
        |sign: f64| -> Vec<f64> { w.iter().zip(x).map(|(a, b)| a + sign * h * b).collect() };
    let mut minus = vec![0.0; w.len()];
    p.gradient_into(&shifted(1.0), out);
    p.gradient_into(&shifted(-1.0), &mut minus);
    for (o, m) in out.iter_mut().zip(&minus) {
        *o = (*o - m) / (2.0 * h);
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// Whether [`finite_difference_hv`] spends its two gradients on direction `x` (not for
/// one whose length is 0, which it answers with 0).
pub(crate) fn moves(x: &[f64]) -> bool {
    norm(x) != 0.0
}

/// Why a built-in potential cannot be made from the parameters given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PotentialError {
    /// A parameter is NaN or infinite.
    #[error("{what}: must be finite, got {value:?}")]
    NotFinite {
        /// The parameter.
        what: &'static str,
        /// Its value.
        value: f64,
    },
    /// Two parameters disagree on the dimension.
    #[error("{what}: has {got} entries, expected {expected}")]
    Dimension {
        /// The parameter.
        what: &'static str,
        /// The dimension the others give.
        expected: usize,
        /// Its own.
        got: usize,
    },
    /// A parameter is outside its range.
    #[error("{what}: must be {rule}, got {value:?}")]
    OutOfRange {
        /// The parameter.
        what: &'static str,
        /// The range, in words.
        rule: &'static str,
        /// Its value.
        value: f64,
    },
    /// The Hessian is not a symmetric positive semi-definite matrix.
    #[error("hessian: {0}")]
    Hessian(String),
    /// A colorization pixel is outside the grid, repeated, or missing.
    #[error("colored: {0}")]
    Pixels(String),
    /// An expression that does not parse or differentiate.
    #[error("expression: {0}")]
    Expression(String),
    /// Lanczos did not find a colorization Hessian's extremes within its budget.
    #[error(
        "colored: with this many colored pixels on this grid the Hessian's extreme eigenvalues (for the theory) are found by Lanczos, which did not converge in {steps} steps (about 30 s); color fewer pixels (the exact method costs n·d² for d pixels) or use a smaller grid"
    )]
    Spectrum {
        /// The steps it took.
        steps: usize,
    },
    /// A large array could not be allocated (a memory limit: `ulimit -v`, a job's `--mem`).
    #[error(
        "{what} needs {:.2} GB of memory, which could not be allocated (is the process's memory limited? `ulimit -v`, a job's --mem)",
        *bytes as f64 / 1e9
    )]
    Memory {
        /// The array, in words.
        what: &'static str,
        /// Its size in bytes.
        bytes: usize,
    },
}

/// A vector of `len` copies of `value`, allocated fallibly: a memory limit becomes
/// [`PotentialError::Memory`] instead of an abort.
pub(crate) fn try_filled<T: Clone>(
    what: &'static str,
    len: usize,
    value: T,
) -> Result<Vec<T>, PotentialError> {
    let mut v = Vec::new();
    let memory = || PotentialError::Memory {
        what,
        bytes: len.saturating_mul(std::mem::size_of::<T>()),
    };
    v.try_reserve_exact(len).map_err(|_| memory())?;
    v.resize(len, value);
    Ok(v)
}

/// Checks that every number is finite.
pub(crate) fn check_finite(what: &'static str, xs: &[f64]) -> Result<(), PotentialError> {
    match xs.iter().find(|x| !x.is_finite()) {
        Some(&value) => Err(PotentialError::NotFinite { what, value }),
        None => Ok(()),
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
