//! The extreme eigenvalues of the colorization Hessian `H = L + PᵀP` (L the free-boundary
//! grid Laplacian, P the d × n selection of the colored pixels) without iterating on H.
//!
//! L is separable: its eigenvectors are products of the path's cosines
//! `v_i(r) ∝ cos(π i (r + ½)/R)` with eigenvalues `α_i + β_j`, `α_i = 4 sin²(π i/2R)`.
//! By the inertia of `[[L − λ, Pᵀ], [P, −I]]` taken both ways,
//! `#{eig H < λ} = #{eig L < λ} − #{eig M(λ) < 0}` with the d × d matrix
//! `M(λ) = I + P (L − λ)⁻¹ Pᵀ`, a sum over L's n known eigenpairs. Interlacing puts
//! `λ_min` in `(0, μ₂]` (μ₂ the smallest positive eigenvalue of L) and `λ_max` in
//! `[μ_n, μ_n + 1]` (‖PᵀP‖ = 1); on each interval `#{eig L < λ}` is fixed, so whether
//! M(λ) is positive definite says on which side of the extreme λ lies, and bisection
//! finds it to the last bit in ~60 evaluations of `n·d(d+1)/2` terms each. A 10⁶-pixel
//! grid with one colored pixel takes a fraction of a second where Lanczos needs ~10⁴
//! sparse products (κ ~ 10⁷).

use nalgebra::DMatrix;

/// Bisection steps at most (each halves the bracket; 1100 reach any f64's neighbour).
const MAX_BISECTIONS: usize = 1100;

/// Evaluations of M(λ) the two bisections take on a grid (measured: 105–115; at most
/// ~60 halvings from each bracket to adjacent floats).
const EVALUATIONS: f64 = 120.0;

/// Set-up work (multiply-adds) beyond which the exact method gives way to Lanczos, and
/// which bounds Lanczos too: about 30 s on the machine of docs/speed.md.
const BUDGET: f64 = 4e10;

/// How the extremes of a grid's Hessian are found, and what that costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Plan {
    /// Bisection on the secular equation (this module): exact, `operations` predicted.
    Secular {
        /// Multiply-adds in all.
        operations: f64,
    },
    /// Lanczos on the sparse Hessian, at most `max_steps` products.
    Lanczos {
        /// The step cap the budget allows.
        max_steps: usize,
    },
}

impl Plan {
    /// The plan for a `rows × cols` grid with `d` colored pixels.
    pub(crate) fn new(rows: usize, cols: usize, d: usize) -> Plan {
        let n = (rows * cols) as f64;
        let operations = EVALUATIONS * n * (d * (d + 1) / 2) as f64;
        if operations <= BUDGET {
            return Plan::Secular { operations };
        }
        // A step: one CSR product (5 entries a row) and ~8 vector operations.
        let per_step = 13.0 * n;
        let max_steps = (BUDGET / per_step).min(100_000.0) as usize;
        Plan::Lanczos { max_steps }
    }

    /// Its work in multiply-adds (Lanczos: at most).
    pub(crate) fn operations(&self, n: usize) -> f64 {
        match *self {
            Plan::Secular { operations } => operations,
            Plan::Lanczos { max_steps } => max_steps.min(n) as f64 * 13.0 * n as f64,
        }
    }
}

/// The orthonormal eigenvectors of the free path Laplacian of `len` nodes at the nodes
/// `at` (`table[i][k]` = `v_i(at[k])`), and its eigenvalues `2 − 2cos(π i/len)`, written
/// `4 sin²(π i/2len)` so that the small ones keep their relative precision.
fn path_modes(len: usize, at: &[usize]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let pi = std::f64::consts::PI;
    let lens = len as f64;
    let values = (0..len)
        .map(|i| {
            let s = (0.5 * pi * i as f64 / lens).sin();
            4.0 * s * s
        })
        .collect();
    let vectors = (0..len)
        .map(|i| {
            let scale = if i == 0 {
                (1.0 / lens).sqrt()
            } else {
                (2.0 / lens).sqrt()
            };
            let row = at
                .iter()
                .map(|&r| scale * (pi * i as f64 * (r as f64 + 0.5) / lens).cos());
            row.collect()
        })
        .collect();
    (values, vectors)
}

/// The grid's modes at the colored pixels: rows' and columns' eigenvalues and vectors.
struct Modes {
    alpha: Vec<f64>,
    row_vectors: Vec<Vec<f64>>,
    beta: Vec<f64>,
    col_vectors: Vec<Vec<f64>>,
    d: usize,
}

impl Modes {
    fn new(rows: usize, cols: usize, pixels: &[(usize, usize)]) -> Self {
        let (r, c): (Vec<usize>, Vec<usize>) = pixels.iter().copied().unzip();
        let (alpha, row_vectors) = path_modes(rows, &r);
        let (beta, col_vectors) = path_modes(cols, &c);
        Modes {
            alpha,
            row_vectors,
            beta,
            col_vectors,
            d: pixels.len(),
        }
    }

    /// Whether M(λ) = I + Σ_ij (u_ij(p) u_ij(q)) / (α_i + β_j − λ) is positive definite.
    fn positive_definite(&self, lambda: f64) -> bool {
        let d = self.d;
        let mut m = DMatrix::<f64>::identity(d, d);
        let mut row_sum = DMatrix::<f64>::zeros(d, d);
        for (a, u) in self.alpha.iter().zip(&self.row_vectors) {
            row_sum.fill(0.0);
            for (b, v) in self.beta.iter().zip(&self.col_vectors) {
                let w = 1.0 / (a + b - lambda);
                for p in 0..d {
                    let vp = w * v[p];
                    for q in 0..=p {
                        row_sum[(p, q)] += vp * v[q];
                    }
                }
            }
            for p in 0..d {
                for q in 0..=p {
                    m[(p, q)] += u[p] * u[q] * row_sum[(p, q)];
                }
            }
        }
        m.fill_upper_triangle_with_lower_triangle();
        m.cholesky().is_some()
    }
}

/// `[λ_min, λ_max]` of `L + PᵀP` on a `rows × cols` grid with the given colored pixels
/// (inside the grid, distinct, at least one — as the potential checked).
pub(crate) fn extremes(rows: usize, cols: usize, pixels: &[(usize, usize)]) -> [f64; 2] {
    if rows * cols == 1 {
        return [1.0, 1.0];
    }
    let modes = Modes::new(rows, cols, pixels);
    let positive = |x: &f64| *x > 0.0;
    let smallest = |v: &[f64]| {
        v.iter()
            .copied()
            .filter(positive)
            .fold(f64::INFINITY, f64::min)
    };
    let mu_2 = smallest(&modes.alpha).min(smallest(&modes.beta));
    let largest = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let mu_n = largest(&modes.alpha) + largest(&modes.beta);
    // Below λ_min M(λ) has one negative eigenvalue, above it none; above λ_max M(λ) is
    // positive definite, below it not.
    let lo = bisect(0.0, mu_2, |x| modes.positive_definite(x));
    let hi = bisect(mu_n, mu_n + 1.0, |x| modes.positive_definite(x));
    [lo, hi]
}

/// The point in `(lo, hi]` where `above` turns true, to adjacent floats.
fn bisect(mut lo: f64, mut hi: f64, above: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..MAX_BISECTIONS {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if above(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dense spectrum of L + PᵀP, from its entries.
    fn dense(rows: usize, cols: usize, pixels: &[(usize, usize)]) -> Vec<f64> {
        let n = rows * cols;
        let mut h = DMatrix::<f64>::zeros(n, n);
        for r in 0..rows {
            for c in 0..cols {
                let i = r * cols + c;
                let mut link = |j: usize| {
                    h[(i, j)] -= 1.0;
                    h[(i, i)] += 1.0;
                };
                if r > 0 {
                    link(i - cols);
                }
                if c > 0 {
                    link(i - 1);
                }
                if r + 1 < rows {
                    link(i + cols);
                }
                if c + 1 < cols {
                    link(i + 1);
                }
            }
        }
        for &(r, c) in pixels {
            h[(r * cols + c, r * cols + c)] += 1.0;
        }
        let mut ev: Vec<f64> = h.symmetric_eigenvalues().iter().copied().collect();
        ev.sort_by(f64::total_cmp);
        ev
    }

    #[test]
    fn extremes_match_a_dense_decomposition() {
        // Square and thin grids, one pixel or several, corners, a degenerate centre.
        type Case<'a> = (usize, usize, &'a [(usize, usize)]);
        let cases: [Case; 6] = [
            (9, 9, &[(4, 4)]),
            (7, 11, &[(0, 0), (3, 5), (6, 10)]),
            (1, 30, &[(0, 7)]),
            (12, 1, &[(0, 0), (11, 0)]),
            (2, 2, &[(0, 0), (0, 1), (1, 0), (1, 1)]),
            (16, 16, &[(1, 2), (8, 8), (15, 0), (3, 14), (9, 1)]),
        ];
        for (rows, cols, pixels) in cases {
            let ev = dense(rows, cols, pixels);
            let [lo, hi] = extremes(rows, cols, pixels);
            // The dense QR's own error is a few ε·‖H‖ ≈ 1e-15 absolute.
            let what = format!("{rows} x {cols}, {pixels:?}");
            approx::assert_abs_diff_eq!(lo, ev[0], epsilon = 2e-14);
            approx::assert_abs_diff_eq!(hi, ev[ev.len() - 1], epsilon = 2e-14);
            assert!(lo > 0.0, "{what}");
        }
    }

    #[test]
    fn one_pixel_on_a_path_is_the_closed_form() {
        // A path of n nodes with node 0 colored: H = tridiag(−1, 2, −1) with H₀₀ = 1 + 1 and
        // H_{n−1,n−1} = 1, the Dirichlet–Neumann path: eigenvalues 2 − 2cos((2j − 1)π/(2n + 1)).
        let n = 1000;
        let [lo, hi] = extremes(1, n, &[(0, 0)]);
        let angle = |j: f64| (2.0 * j - 1.0) * std::f64::consts::PI / (2.0 * n as f64 + 1.0);
        let exact = |j: f64| 4.0 * (0.5 * angle(j)).sin() * (0.5 * angle(j)).sin();
        approx::assert_relative_eq!(lo, exact(1.0), max_relative = 1e-12);
        approx::assert_relative_eq!(hi, exact(n as f64), max_relative = 1e-15);
    }
}
