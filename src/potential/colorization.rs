//! Goh's colorization problem (docs/theory.md §6): on the 4-neighbour grid graph,
//! `E(w) = ½ Σ_{i∈D} (w_i − c)² + ½ Σ_{(i,j)∈E} (w_i − w_j)²`, a quadratic whose Hessian is
//! the graph Laplacian plus the indicator of the colored pixels D, stored sparse (CSR).
//! Its minimum is `c` everywhere (the grid is connected and D is not empty).

use nalgebra_sparse::{CooMatrix, CsrMatrix};

use super::lanczos;
use super::{Potential, PotentialError, check_finite};

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
        let mut colored = vec![false; n];
        for &(r, c) in colored_pixels {
            colored[r * cols + c] = true;
        }
        let mut coo = CooMatrix::new(n, n);
        for r in 0..rows {
            for c in 0..cols {
                let i = r * cols + c;
                let mut neighbours = Vec::with_capacity(4);
                if r > 0 {
                    neighbours.push(i - cols);
                }
                if c > 0 {
                    neighbours.push(i - 1);
                }
                if c + 1 < cols {
                    neighbours.push(i + 1);
                }
                if r + 1 < rows {
                    neighbours.push(i + cols);
                }
                // Row i in column order: the entries before the diagonal, the diagonal
                // (degree + indicator), then the rest.
                let diagonal = neighbours.len() as f64 + if colored[i] { 1.0 } else { 0.0 };
                let mut entries: Vec<(usize, f64)> =
                    neighbours.iter().map(|&j| (j, -1.0)).collect();
                entries.push((i, diagonal));
                entries.sort_by_key(|e| e.0);
                for (j, v) in entries {
                    coo.push(i, j, v);
                }
            }
        }
        let hessian = CsrMatrix::from(&coo);
        let mut potential = Colorization {
            rows,
            cols,
            hessian,
            colored,
            value,
            minimum: vec![value; n],
            extremes: [0.0, 0.0],
        };
        let (lo, hi) = lanczos::extreme_eigenvalues(n, |x, out| potential.hessian_apply(x, out));
        potential.extremes = [lo, hi];
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
