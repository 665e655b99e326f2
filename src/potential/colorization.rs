//! Goh's colorization problem (docs/theory.md §6): on the 4-neighbour grid graph,
//! `E(w) = ½ Σ_{i∈D} (w_i − c)² + ½ Σ_{(i,j)∈E} (w_i − w_j)²`, a quadratic whose Hessian is
//! the graph Laplacian plus the indicator of the colored pixels D, stored sparse (CSR).
//! Its minimum is `c` everywhere (the grid is connected and D is not empty).

use nalgebra_sparse::CsrMatrix;

use super::grid_spectrum::{self, Plan};
use super::lanczos;
use super::{Potential, PotentialError, check_finite, try_filled};

/// The colorization potential of a `rows × cols` grid; pixel `(r, c)` is coordinate
/// `r·cols + c`.
#[derive(Debug, Clone)]
pub struct Colorization {
    rows: usize,
    cols: usize,
    /// H = L + diag(1_D).
    hessian: CsrMatrix<f64>,
    /// Whether each pixel is colored.
    colored: Vec<bool>,
    /// The colored pixels' value c.
    value: f64,
    minimum: Vec<f64>,
    /// λ_min and λ_max of H (Lanczos), ascending.
    extremes: [f64; 2],
}

impl Colorization {
    /// Builds the Hessian of a `rows × cols` grid with the given colored pixels
    /// (`(row, col)`, 0-based: inside the grid, at least one, no repeats) of value `value`,
    /// and computes its extreme eigenvalues.
    pub fn new(
        rows: usize,
        cols: usize,
        colored_pixels: &[(usize, usize)],
        value: f64,
    ) -> Result<Self, PotentialError> {
        check_finite("value", &[value])?;
        check_pixels(rows, cols, colored_pixels)?;
        let n = rows * cols;
        let mut colored = try_filled("the colored-pixel mask", n, false)?;
        for &(r, c) in colored_pixels {
            colored[r * cols + c] = true;
        }
        let hessian = grid_hessian(rows, cols, &colored)?;
        let mut potential = Colorization {
            rows,
            cols,
            hessian,
            colored,
            value,
            minimum: try_filled("the minimum", n, value)?,
            extremes: [0.0, 0.0],
        };
        let plan = Plan::new(rows, cols, colored_pixels.len());
        let exact = match plan {
            Plan::Secular { .. } => grid_spectrum::extremes(rows, cols, colored_pixels),
            Plan::Lanczos { .. } => None,
        };
        potential.extremes = match exact {
            Some(extremes) => extremes,
            None => {
                let apply = |x: &[f64], out: &mut [f64]| potential.hessian_apply(x, out);
                let (lo, hi) = lanczos::extreme_eigenvalues(n, plan.lanczos_steps(n), apply)
                    .map_err(|steps| PotentialError::Spectrum { steps })?;
                [lo, hi]
            }
        };
        Ok(potential)
    }

    /// The grid's shape.
    pub fn grid(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The Hessian, CSR.
    pub fn hessian(&self) -> &CsrMatrix<f64> {
        &self.hessian
    }

    /// Writes H·x into `out`: one pass over the CSR rows.
    #[inline]
    pub fn hessian_apply(&self, x: &[f64], out: &mut [f64]) {
        let (offsets, cols, values) = (
            self.hessian.row_offsets(),
            self.hessian.col_indices(),
            self.hessian.values(),
        );
        for (i, o) in out.iter_mut().enumerate() {
            let (a, b) = (offsets[i], offsets[i + 1]);
            let mut s = 0.0;
            for (j, v) in cols[a..b].iter().zip(&values[a..b]) {
                s += v * x[*j];
            }
            *o = s;
        }
    }
}

impl Potential for Colorization {
    fn dim(&self) -> usize {
        self.rows * self.cols
    }

    fn value(&self, w: &[f64]) -> f64 {
        let (offsets, cols) = (self.hessian.row_offsets(), self.hessian.col_indices());
        let mut e = 0.0;
        for i in 0..w.len() {
            if self.colored[i] {
                let x = w[i] - self.value;
                e += x * x;
            }
            // Each edge once: from its lower end.
            for &j in &cols[offsets[i]..offsets[i + 1]] {
                if j > i {
                    let x = w[i] - w[j];
                    e += x * x;
                }
            }
        }
        0.5 * e
    }

    /// ∇E = H (w − c·1) = H w − c·1_D (L·1 = 0): one CSR pass, into `g`.
    #[inline]
    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        self.hessian_apply(w, g);
        for (g, &colored) in g.iter_mut().zip(&self.colored) {
            if colored {
                *g -= self.value;
            }
        }
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
        Some(0.0)
    }

    /// The two extreme eigenvalues (not the whole spectrum of a 10⁵-matrix): they fix
    /// every rate the theory computes (continuous decay rates grow with k; the discrete
    /// radius over [λ_min, λ_max] peaks at an end).
    fn hessian_spectrum(&self) -> Option<&[f64]> {
        Some(&self.extremes)
    }
}

/// H = L + diag(1_D) of the grid in CSR, row by row in column order (up, left, the
/// diagonal — degree plus the indicator —, right, down); its arrays allocated fallibly.
fn grid_hessian(
    rows: usize,
    cols: usize,
    colored: &[bool],
) -> Result<CsrMatrix<f64>, PotentialError> {
    let n = rows * cols;
    // Every pixel has itself and its neighbours: 4 per interior edge counted twice.
    let entries = n + 2 * (rows * cols.saturating_sub(1) + cols * rows.saturating_sub(1));
    let mut offsets = try_filled("the Hessian's row offsets", n + 1, 0usize)?;
    let mut indices = try_filled("the Hessian's column indices", entries, 0usize)?;
    let mut values = try_filled("the Hessian's entries", entries, 0.0f64)?;
    let mut k = 0;
    for r in 0..rows {
        for c in 0..cols {
            let i = r * cols + c;
            let neighbours = [
                (r > 0).then(|| i - cols),
                (c > 0).then(|| i - 1),
                (c + 1 < cols).then(|| i + 1),
                (r + 1 < rows).then(|| i + cols),
            ];
            let degree = neighbours.iter().flatten().count() as f64;
            let diagonal = degree + if colored[i] { 1.0 } else { 0.0 };
            let (before, after) = neighbours.split_at(2);
            for (j, v) in before.iter().flatten().map(|&j| (j, -1.0)) {
                (indices[k], values[k], k) = (j, v, k + 1);
            }
            (indices[k], values[k], k) = (i, diagonal, k + 1);
            for (j, v) in after.iter().flatten().map(|&j| (j, -1.0)) {
                (indices[k], values[k], k) = (j, v, k + 1);
            }
            offsets[i + 1] = k;
        }
    }
    debug_assert_eq!(k, entries);
    CsrMatrix::try_from_csr_data(n, n, offsets, indices, values)
        .map_err(|e| PotentialError::Pixels(format!("the grid's Hessian: {e}")))
}

/// A grid of at least one pixel, and colored pixels inside it, at least one, distinct.
fn check_pixels(rows: usize, cols: usize, pixels: &[(usize, usize)]) -> Result<(), PotentialError> {
    let bad = |why: String| Err(PotentialError::Pixels(why));
    if rows == 0 || cols == 0 {
        return bad(format!("the grid {rows} x {cols} has no pixel"));
    }
    if pixels.is_empty() {
        return bad("at least one colored pixel is needed (else E has no unique minimum)".into());
    }
    let mut seen = std::collections::HashSet::new();
    for (i, &(r, c)) in pixels.iter().enumerate() {
        if r >= rows || c >= cols {
            return bad(format!(
                "pixel {} = [{r}, {c}] is outside the {rows} x {cols} grid",
                i + 1
            ));
        }
        if !seen.insert((r, c)) {
            return bad(format!("pixel {} = [{r}, {c}] is listed twice", i + 1));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lanczos, the fallback past the exact method's budget, finds the same extremes on a
    /// 32 × 32 grid (λ_min ≈ 1.7e-3): it stops at a residual bound r ≤ 1e-10·λ_max and the
    /// Ritz value's error is of order r²/gap; measured 1e-11 relative for λ_min.
    #[test]
    fn lanczos_agrees_with_the_exact_extremes() {
        let p = Colorization::new(32, 32, &[(3, 3), (20, 28), (30, 5)], 1.0).unwrap();
        let apply = |x: &[f64], out: &mut [f64]| p.hessian_apply(x, out);
        let (lo, hi) = lanczos::extreme_eigenvalues(1024, 100_000, apply).unwrap();
        approx::assert_relative_eq!(lo, p.extremes[0], max_relative = 1e-9);
        approx::assert_relative_eq!(hi, p.extremes[1], max_relative = 1e-12);
        // A cap it cannot converge within is an error, not a guess.
        let apply = |x: &[f64], out: &mut [f64]| p.hessian_apply(x, out);
        assert_eq!(lanczos::extreme_eigenvalues(1024, 20, apply), Err(20));
    }

    /// The plan: exact up to 4e10 multiply-adds (120 evaluations of n·d(d+1)/2 terms),
    /// Lanczos capped at that budget past it.
    #[test]
    fn the_set_up_plan_follows_its_budget() {
        assert_eq!(
            Plan::new(1000, 1000, 1),
            Plan::Secular { operations: 1.2e8 }
        );
        assert_eq!(
            Plan::new(1000, 1000, 16),
            Plan::Secular {
                operations: 120.0 * 1e6 * 136.0
            }
        );
        // d = 30: 465 terms a pixel, 5.6e10 > 4e10; 4e10/(13·10⁶) steps.
        assert_eq!(Plan::new(1000, 1000, 30), Plan::Lanczos { max_steps: 3076 });
        assert_eq!(
            Plan::new(100, 100, 300),
            Plan::Lanczos { max_steps: 100_000 }
        );
    }
}
