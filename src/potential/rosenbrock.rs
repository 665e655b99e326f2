//! Rosenbrock's banana `(a − x)² + b(y − x²)²` and Goh's convex Rosenbrock
//! `½(w₁ − 1)² + ½Σ(wᵢ − wᵢ₊₁)² + (2/(κ − 1))|w|²` (docs/theory.md §6), with their gradients written
//! into the caller's buffer and their Hessians in closed form.

use super::lanczos::tridiagonal_eigenvalues;
use super::{Potential, PotentialError, check_finite};

/// Rosenbrock's function on ℝ², minimum (a, a²) where it is 0.
#[derive(Debug, Clone)]
pub struct Rosenbrock {
    a: f64,
    b: f64,
    minimum: [f64; 2],
    /// Eigenvalues of the Hessian at the minimum, ascending.
    spectrum: [f64; 2],
}

impl Rosenbrock {
    /// The banana with parameters a and b > 0.
    pub fn new(a: f64, b: f64) -> Result<Self, PotentialError> {
        check_finite("a", &[a])?;
        check_finite("b", &[b])?;
        if b <= 0.0 {
            return Err(PotentialError::OutOfRange {
                what: "b",
                rule: "> 0",
                value: b,
            });
        }
        // H* = [[2 + 8ba², −4ba], [−4ba, 2b]]: a symmetric 2 × 2 in closed form, its entries
        // bounded as a quadratic's are (so its spectrum and every norm stay finite).
        let (p, q, r) = (2.0 + 8.0 * b * a * a, -4.0 * b * a, 2.0 * b);
        let largest = p.max(q.abs()).max(r);
        if largest.is_nan() || largest > super::quadratic::MAX_ENTRY {
            let (what, value) = if a.abs() > 1.0 { ("a", a) } else { ("b", b) };
            return Err(PotentialError::OutOfRange {
                what,
                rule: "small enough that the Hessian at the minimum (a, a^2), [[2 + 8ba^2, -4ab], [-4ab, 2b]], stays within 1e150",
                value,
            });
        }
        let (mean, half) = (0.5 * (p + r), (0.25 * (p - r) * (p - r) + q * q).sqrt());
        // The smaller eigenvalue from the determinant, pr − q² = 4b exactly: mean − half
        // would cancel (b = 1e12 read 0.3994 for 0.4).
        let big = mean + half;
        Ok(Rosenbrock {
            a,
            b,
            minimum: [a, a * a],
            spectrum: [4.0 * b / big, big],
        })
    }
}

impl Potential for Rosenbrock {
    fn dim(&self) -> usize {
        2
    }

    fn value(&self, w: &[f64]) -> f64 {
        let (x, y) = (w[0], w[1]);
        (self.a - x) * (self.a - x) + self.b * (y - x * x) * (y - x * x)
    }

    #[inline]
    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        let (x, y) = (w[0], w[1]);
        let s = y - x * x;
        g[0] = -2.0 * (self.a - x) - 4.0 * self.b * x * s;
        g[1] = 2.0 * self.b * s;
    }

    fn hessian_vector_into(&self, w: &[f64], v: &[f64], out: &mut [f64]) {
        let (x, y) = (w[0], w[1]);
        let (hxx, hxy, hyy) = (
            2.0 - 4.0 * self.b * y + 12.0 * self.b * x * x,
            -4.0 * self.b * x,
            2.0 * self.b,
        );
        out[0] = hxx * v[0] + hxy * v[1];
        out[1] = hxy * v[0] + hyy * v[1];
    }

    fn has_hessian(&self) -> bool {
        true
    }

    fn minimum(&self) -> Option<&[f64]> {
        Some(&self.minimum)
    }

    fn minimum_value(&self) -> Option<f64> {
        Some(0.0)
    }

    fn hessian_spectrum(&self) -> Option<&[f64]> {
        Some(&self.spectrum)
    }
}

/// Goh's convex Rosenbrock on ℝⁿ: a quadratic with the tridiagonal Hessian
/// `e₁e₁ᵀ + L_path + c·I`, c = 4/(κ − 1), applied in O(n) (no matrix stored).
#[derive(Debug, Clone)]
pub struct ConvexRosenbrock {
    n: usize,
    /// 4/(κ − 1), the Hessian's ridge.
    c: f64,
    minimum: Vec<f64>,
    minimum_value: f64,
    /// Eigenvalues of the Hessian, ascending (all of them up to [`FULL_SPECTRUM`]
    /// coordinates, else the two extremes).
    spectrum: Vec<f64>,
}

/// Largest n whose whole spectrum is computed (Sturm bisection, O(n²)).
const FULL_SPECTRUM: usize = 2000;

impl ConvexRosenbrock {
    /// Goh's function with n ≥ 1 coordinates and κ > 1.
    pub fn new(n: usize, kappa: f64) -> Result<Self, PotentialError> {
        if n == 0 {
            return Err(PotentialError::OutOfRange {
                what: "n",
                rule: ">= 1",
                value: 0.0,
            });
        }
        check_finite("kappa", &[kappa])?;
        if kappa <= 1.0 {
            return Err(PotentialError::OutOfRange {
                what: "kappa",
                rule: "> 1",
                value: kappa,
            });
        }
        let c = 4.0 / (kappa - 1.0);
        let (diagonal, off) = Self::tridiagonal(n, c);
        // The minimum solves H w = e₁ (∇E = Hw − e₁): Thomas' algorithm, H being
        // diagonally dominant.
        let mut cp = vec![0.0; n];
        let mut dp = vec![0.0; n];
        let mut pivot = diagonal[0];
        dp[0] = 1.0 / pivot;
        for i in 1..n {
            cp[i - 1] = off[i - 1] / pivot;
            pivot = diagonal[i] - off[i - 1] * cp[i - 1];
            dp[i] = (0.0 - off[i - 1] * dp[i - 1]) / pivot;
        }
        for i in (0..n.saturating_sub(1)).rev() {
            dp[i] -= cp[i] * dp[i + 1];
        }
        let spectrum = if n <= FULL_SPECTRUM {
            tridiagonal_eigenvalues(&diagonal, &off, 0..n)
        } else {
            tridiagonal_eigenvalues(&diagonal, &off, [0, n - 1].into_iter())
        };
        let mut potential = ConvexRosenbrock {
            n,
            c,
            minimum: dp,
            minimum_value: 0.0,
            spectrum,
        };
        potential.minimum_value = potential.value(&potential.minimum);
        Ok(potential)
    }

    /// The Hessian's diagonal and off-diagonal.
    fn tridiagonal(n: usize, c: f64) -> (Vec<f64>, Vec<f64>) {
        let diagonal = (0..n)
            .map(|i| {
                let neighbours = (i > 0) as u8 + (i + 1 < n) as u8;
                f64::from(neighbours) + c + if i == 0 { 1.0 } else { 0.0 }
            })
            .collect();
        (diagonal, vec![-1.0; n.saturating_sub(1)])
    }

    /// H x into `out`, neighbour differences first (exact zeros stay exact: the light cone).
    #[inline]
    fn hessian_apply(&self, x: &[f64], out: &mut [f64]) {
        let n = self.n;
        for i in 0..n {
            let mut s = self.c * x[i];
            if i == 0 {
                s += x[0];
            }
            if i > 0 {
                s += x[i] - x[i - 1];
            }
            if i + 1 < n {
                s += x[i] - x[i + 1];
            }
            out[i] = s;
        }
    }
}

impl Potential for ConvexRosenbrock {
    fn dim(&self) -> usize {
        self.n
    }

    fn value(&self, w: &[f64]) -> f64 {
        let mut e = 0.5 * (w[0] - 1.0) * (w[0] - 1.0);
        for i in 0..self.n - 1 {
            let d = w[i] - w[i + 1];
            e += 0.5 * d * d;
        }
        e + 0.5 * self.c * w.iter().map(|x| x * x).sum::<f64>()
    }

    /// ∇E = H w − e₁.
    #[inline]
    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        self.hessian_apply(w, g);
        g[0] -= 1.0;
    }

    fn hessian_vector_into(&self, _w: &[f64], x: &[f64], out: &mut [f64]) {
        self.hessian_apply(x, out);
    }

    fn has_hessian(&self) -> bool {
        true
    }

    fn minimum(&self) -> Option<&[f64]> {
        Some(&self.minimum)
    }

    fn minimum_value(&self) -> Option<f64> {
        Some(self.minimum_value)
    }

    fn hessian_spectrum(&self) -> Option<&[f64]> {
        Some(&self.spectrum)
    }
}
