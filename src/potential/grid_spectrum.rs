//! The extreme eigenvalues of the colorization Hessian `H = L + PᵀP` (L the free-boundary
//! grid Laplacian, P the d × n selection of the colored pixels) without iterating on H.
//!
//! L is separable: its eigenvectors are products of the path's cosines
//! `v_i(r) ∝ cos(π i (r + ½)/R)` with eigenvalues `α_i + β_j`, `α_i = 4 sin²(π i/2R)`.
//! By the inertia of `[[L − λ, Pᵀ], [P, −I]]` taken both ways,
//! `#{eig H < λ} = #{eig L < λ} − #{eig M(λ) < 0}` with the d × d matrix
//! `M(λ) = I + P (L − λ)⁻¹ Pᵀ`, a sum over L's n known eigenpairs: that count says on
//! which side of an extreme λ lies. `λ_min` lies in `(0, d/n]` (H is positive definite;
//! d/n is the constant vector's Rayleigh quotient) and `λ_max` in `[μ_n, μ_n + 1]` (Weyl,
//! ‖PᵀP‖ = 1), and bisection finds each to adjacent floats in ~60 evaluations of
//! `n·d(d+1)/2` terms. A 10⁶-pixel
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

/// Operations of one Lanczos step per coordinate: one CSR product (5 entries a row) and
/// ~8 vector operations.
const LANCZOS_STEP: f64 = 13.0;

/// The Lanczos steps the budget allows on n coordinates (at least 1, at most 10⁵).
fn budget_steps(n: usize) -> usize {
    ((BUDGET / (LANCZOS_STEP * n as f64)) as usize).clamp(1, 100_000)
}

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
        Plan::Lanczos {
            max_steps: budget_steps(rows * cols),
        }
    }

    /// Lanczos's step cap: the plan's, or (where the exact method hands over, λ_min ≥ μ₂/2)
    /// the budget's.
    pub(crate) fn lanczos_steps(&self, n: usize) -> usize {
        match *self {
            Plan::Lanczos { max_steps } => max_steps,
            Plan::Secular { .. } => budget_steps(n),
        }
    }

    /// Its work in multiply-adds (Lanczos: at most).
    pub(crate) fn operations(&self, n: usize) -> f64 {
        match *self {
            Plan::Secular { operations } => operations,
            Plan::Lanczos { max_steps } => max_steps.min(n) as f64 * LANCZOS_STEP * n as f64,
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
            let s = libm::sin(0.5 * pi * i as f64 / lens);
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
                .map(|&r| scale * libm::cos(pi * i as f64 * (r as f64 + 0.5) / lens));
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

    /// M(λ) = I + Σ_ij u_ij(p) u_ij(q) / (α_i + β_j − λ), and #{eig L < λ} (the pairs
    /// with α_i + β_j < λ), from one pass over L's eigenpairs.
    fn secular(&self, lambda: f64) -> (DMatrix<f64>, usize) {
        let d = self.d;
        let mut m = DMatrix::<f64>::identity(d, d);
        let mut row_sum = DMatrix::<f64>::zeros(d, d);
        let mut below = 0;
        for (a, u) in self.alpha.iter().zip(&self.row_vectors) {
            row_sum.fill(0.0);
            for (b, v) in self.beta.iter().zip(&self.col_vectors) {
                let gap = a + b - lambda;
                below += usize::from(gap < 0.0);
                let w = 1.0 / gap;
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
        (m, below)
    }

    /// #{eig H < λ} = #{eig L < λ} − #{eig M(λ) < 0} (M is d × d).
    fn count_below(&self, lambda: f64) -> usize {
        let (m, below) = self.secular(lambda);
        let negative = m
            .symmetric_eigenvalues()
            .iter()
            .filter(|&&e| e < 0.0)
            .count();
        below.saturating_sub(negative)
    }

    /// Whether M(λ) is positive definite: above μ_n, whether λ is above every eigenvalue
    /// of H.
    fn positive_definite(&self, lambda: f64) -> bool {
        self.secular(lambda).0.cholesky().is_some()
    }
}

/// `[λ_min, λ_max]` of `L + PᵀP` on a `rows × cols` grid with the given colored pixels
/// (inside the grid, distinct, at least one — as the potential checked); `None` where
/// λ_min comes within half of L's smallest positive eigenvalue μ₂ (many colored pixels),
/// where the pole of M(λ) at μ₂ can cost the count its sign (all pixels colored:
/// λ_min = μ₂ = 1 found only to 6e-9) — and where Lanczos converges fast (κ ≤ 16/μ₂).
pub(crate) fn extremes(rows: usize, cols: usize, pixels: &[(usize, usize)]) -> Option<[f64; 2]> {
    if rows * cols == 1 {
        return Some([1.0, 1.0]);
    }
    let modes = Modes::new(rows, cols, pixels);
    // λ_min ∈ (0, d/n]: H is positive definite (the grid is connected, D not empty) and
    // the constant vector's Rayleigh quotient is d/n.
    let upper = pixels.len() as f64 / (rows * cols) as f64;
    let lo = bisect(0.0, upper, |x| modes.count_below(x) >= 1);
    let positive = |v: &[f64]| {
        v.iter()
            .copied()
            .filter(|&x| x > 0.0)
            .fold(f64::INFINITY, f64::min)
    };
    if lo >= 0.5 * positive(&modes.alpha).min(positive(&modes.beta)) {
        return None;
    }
    // λ_max ∈ [μ_n, μ_n + 1] (Weyl, ‖PᵀP‖ = 1), where #{eig L < λ} = n: λ is above every
    // eigenvalue of H exactly where M(λ) has no negative one.
    let largest = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let mu_n = largest(&modes.alpha) + largest(&modes.beta);
    let hi = bisect(mu_n, mu_n + 1.0, |x| modes.positive_definite(x));
    Some([lo, hi])
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

    /// Checks `extremes` on one grid against the dense decomposition: exact to the dense
    /// QR's backward error n·ε·‖H‖ (‖H‖ ≤ 9), which is the larger one — on 4 × 10 with
    /// pixels (2, 5), (2, 6) it is 2.3e-14 off λ_max, where the bisection is within 2e-16
    /// of the 40-digit value 7.57710993970363977… (mpmath) — or handed to Lanczos, only
    /// where λ_min ≥ μ₂/2. Returns whether it was exact.
    fn check(rows: usize, cols: usize, pixels: &[(usize, usize)]) -> bool {
        let ev = dense(rows, cols, pixels);
        let n = rows * cols;
        let what = format!("{rows} x {cols}, {pixels:?}");
        let Some([lo, hi]) = extremes(rows, cols, pixels) else {
            let path_mu2 = |k: usize| {
                let s = (std::f64::consts::PI / (2 * k) as f64).sin();
                if k > 1 { 4.0 * s * s } else { f64::INFINITY }
            };
            let half_mu2 = 0.5 * path_mu2(rows).min(path_mu2(cols));
            assert!(
                ev[0] >= half_mu2 * (1.0 - 1e-12),
                "{what}: {} < μ₂/2 = {half_mu2}",
                ev[0]
            );
            return false;
        };
        let tol = n as f64 * f64::EPSILON * 9.0;
        assert!((lo - ev[0]).abs() <= tol, "{what}: {lo} vs {}", ev[0]);
        assert!(
            (hi - ev[n - 1]).abs() <= tol,
            "{what}: {hi} vs {}",
            ev[n - 1]
        );
        assert!(lo > 0.0, "{what}");
        true
    }

    #[test]
    fn extremes_match_a_dense_decomposition() {
        // Square and thin grids, one pixel or several, corners, a degenerate centre; all
        // pixels colored (H = L + I, λ_min = 1 = μ₂ on 2 × 2) and a path's two ends go to
        // Lanczos.
        type Case<'a> = (usize, usize, &'a [(usize, usize)], bool);
        let cases: [Case; 6] = [
            (9, 9, &[(4, 4)], true),
            (7, 11, &[(0, 0), (3, 5), (6, 10)], true),
            (1, 30, &[(0, 7)], true),
            (12, 1, &[(0, 0), (11, 0)], false), // both ends of a path: λ_min ≥ μ₂/2
            (2, 2, &[(0, 0), (0, 1), (1, 0), (1, 1)], false),
            (16, 16, &[(1, 2), (8, 8), (15, 0), (3, 14), (9, 1)], true),
        ];
        for (rows, cols, pixels, exact) in cases {
            assert_eq!(
                check(rows, cols, pixels),
                exact,
                "{rows} x {cols}, {pixels:?}"
            );
        }
    }

    /// 300 random grids (1–12 rows and columns, 1–6 distinct colored pixels, a 1 × 1 grid
    /// among them): the bisection's brackets and inertia count hold for every shape, thin,
    /// square or tiny.
    #[test]
    fn random_grids_match_a_dense_decomposition() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        let mut exact = 0;
        for _ in 0..300 {
            let (rows, cols) = (1 + next(12), 1 + next(12));
            let d = 1 + next(6.min(rows * cols));
            let mut pixels: Vec<(usize, usize)> = Vec::new();
            while pixels.len() < d {
                let p = (next(rows), next(cols));
                if !pixels.contains(&p) {
                    pixels.push(p);
                }
            }
            exact += usize::from(check(rows, cols, &pixels));
        }
        // 189 exact: the rest are small grids dense in colored pixels (λ_min ≥ μ₂/2).
        assert!(exact > 150, "only {exact} of 300 exact");
    }

    #[test]
    fn one_pixel_on_a_path_is_the_closed_form() {
        // A path of n nodes with node 0 colored: H = tridiag(−1, 2, −1) with H₀₀ = 1 + 1 and
        // H_{n−1,n−1} = 1, the Dirichlet–Neumann path: eigenvalues 2 − 2cos((2j − 1)π/(2n + 1)).
        let n = 1000;
        let [lo, hi] = extremes(1, n, &[(0, 0)]).unwrap();
        let angle = |j: f64| (2.0 * j - 1.0) * std::f64::consts::PI / (2.0 * n as f64 + 1.0);
        let exact = |j: f64| 4.0 * (0.5 * angle(j)).sin() * (0.5 * angle(j)).sin();
        approx::assert_relative_eq!(lo, exact(1.0), max_relative = 1e-12);
        approx::assert_relative_eq!(hi, exact(n as f64), max_relative = 1e-15);
    }
}
