//! The quadratic `E = ½ (w − w*)ᵀ H (w − w*)`, with a fast path for a diagonal H.

use nalgebra::DMatrix;

use super::{HessianSpec, Potential, PotentialError, check_finite};

/// A quadratic potential with a symmetric positive semi-definite Hessian.
#[derive(Debug, Clone)]
pub struct Quadratic {
    n: usize,
    /// H, row-major; empty when H is diagonal (n may be large: no n² arrays).
    h: Vec<f64>,
    /// The diagonal of H when H is diagonal (the common case, and W1's).
    diagonal: Option<Vec<f64>>,
    minimum: Vec<f64>,
    /// Eigenvalues of H, ascending (negative round-off clamped to 0).
    eigenvalues: Vec<f64>,
    /// L = Λ^{1/2} Qᵀ, row-major, so that E − E* = ½ |L (w − w*)|²; for a diagonal H, L's
    /// diagonal √d.
    factor: Vec<f64>,
}

impl Quadratic {
    /// The quadratic ½ (w − w*)ᵀ H (w − w*) with its minimum w*: H symmetric positive
    /// semi-definite (eigenvalues within 1e-12 of the largest below 0 count as 0), of
    /// w*'s dimension, every number finite.
    ///
    /// ```
    /// use heavyball::potential::{HessianSpec, Potential, PotentialError, Quadratic};
    ///
    /// let q = Quadratic::new(&HessianSpec::Diagonal(vec![1.0, 10.0]), vec![0.0, 0.0])?;
    /// assert_eq!(q.hessian_spectrum(), Some(&[1.0, 10.0][..]));
    /// // A negative eigenvalue, or a minimum of the wrong dimension, is an error.
    /// assert!(Quadratic::new(&HessianSpec::Diagonal(vec![-1.0]), vec![0.0]).is_err());
    /// assert!(Quadratic::new(&HessianSpec::Diagonal(vec![1.0, 2.0]), vec![0.0]).is_err());
    /// # Ok::<(), PotentialError>(())
    /// ```
    pub fn new(hessian: &HessianSpec, minimum: Vec<f64>) -> Result<Self, PotentialError> {
        check(hessian, &minimum)?;
        Ok(Self::checked(hessian, minimum))
    }

    /// A diagonal Hessian diag(eigenvalues), minimum at the origin.
    pub fn from_eigenvalues(eigenvalues: &[f64]) -> Result<Self, PotentialError> {
        Self::new(
            &HessianSpec::Diagonal(eigenvalues.to_vec()),
            vec![0.0; eigenvalues.len()],
        )
    }

    fn checked(hessian: &HessianSpec, minimum: Vec<f64>) -> Self {
        let n = minimum.len();
        let (h, diagonal) = match hessian {
            HessianSpec::Diagonal(d) => (Vec::new(), Some(d.clone())),
            HessianSpec::Dense(rows) => {
                let h: Vec<f64> = rows.iter().flatten().copied().collect();
                let is_diag = (0..n).all(|i| (0..n).all(|j| i == j || rows[i][j] == 0.0));
                let diagonal = is_diag.then(|| (0..n).map(|i| rows[i][i]).collect());
                (h, diagonal)
            }
        };
        let (eigenvalues, factor) = match &diagonal {
            Some(d) => {
                // Diagonal: L = diag(√d) exactly, no eigen-solver round-off. A negative
                // entry the parser let through (within 1e-12 of the largest) is a flat
                // direction to the theory, as a dense Hessian's is.
                let f = d.iter().map(|v| v.max(0.0).sqrt()).collect();
                let mut ev: Vec<f64> = d.iter().map(|&v| if v < 0.0 { 0.0 } else { v }).collect();
                ev.sort_by(f64::total_cmp);
                (ev, f)
            }
            None => {
                let mut eig = DMatrix::from_row_slice(n, n, &h).symmetric_eigen();
                // The eigen-solver leaves a singular Hessian's zero eigenvalues ±ε·|H| away
                // from 0; within the tolerance the parser grants negative ones (1e-12 of the
                // largest) they are 0: flat directions, which the rate and noise-floor
                // formulas must see as such.
                let scale = eig.eigenvalues.amax();
                for v in eig.eigenvalues.iter_mut() {
                    if v.abs() <= 1e-12 * scale {
                        *v = 0.0;
                    }
                }
                let mut f = vec![0.0; n * n];
                for k in 0..n {
                    let s = eig.eigenvalues[k].max(0.0).sqrt();
                    for j in 0..n {
                        f[k * n + j] = s * eig.eigenvectors[(j, k)];
                    }
                }
                let mut ev: Vec<f64> = eig.eigenvalues.iter().map(|v| v.max(0.0)).collect();
                ev.sort_by(f64::total_cmp);
                (ev, f)
            }
        };
        Quadratic {
            n,
            h,
            diagonal,
            minimum,
            eigenvalues,
            factor,
        }
    }

    /// The eigenvalues of a diagonal Hessian (None for a dense one).
    pub fn diagonal(&self) -> Option<&[f64]> {
        self.diagonal.as_deref()
    }

    /// H, row-major (`h[i·n + j]`); None for a diagonal H, whose entries are
    /// [`Self::diagonal`] (no n² array is made for it).
    pub fn hessian_rows(&self) -> Option<&[f64]> {
        self.diagonal.is_none().then_some(&self.h[..])
    }

    /// Writes H·x into `out`.
    #[inline]
    pub fn hessian_apply(&self, x: &[f64], out: &mut [f64]) {
        match &self.diagonal {
            Some(d) => {
                for i in 0..self.n {
                    out[i] = d[i] * x[i];
                }
            }
            None => mat_vec(&self.h, self.n, x, out),
        }
    }

    /// Writes L·x into `out`, where LᵀL = H (so ½|L x|² = ½ xᵀHx).
    pub fn factor_apply(&self, x: &[f64], out: &mut [f64]) {
        match &self.diagonal {
            Some(_) => {
                for ((o, f), x) in out.iter_mut().zip(&self.factor).zip(x) {
                    *o = f * x;
                }
            }
            None => mat_vec(&self.factor, self.n, x, out),
        }
    }
}

#[inline]
fn mat_vec(a: &[f64], n: usize, x: &[f64], out: &mut [f64]) {
    for (i, o) in out.iter_mut().enumerate().take(n) {
        let row = &a[i * n..(i + 1) * n];
        let mut s = 0.0;
        for j in 0..n {
            s += row[j] * x[j];
        }
        *o = s;
    }
}

impl Potential for Quadratic {
    fn dim(&self) -> usize {
        self.n
    }

    fn value(&self, w: &[f64]) -> f64 {
        let mut e = 0.0;
        match &self.diagonal {
            Some(d) => {
                for i in 0..self.n {
                    let x = w[i] - self.minimum[i];
                    e += d[i] * x * x;
                }
            }
            None => {
                for i in 0..self.n {
                    let xi = w[i] - self.minimum[i];
                    let row = &self.h[i * self.n..(i + 1) * self.n];
                    for j in 0..self.n {
                        e += xi * row[j] * (w[j] - self.minimum[j]);
                    }
                }
            }
        }
        0.5 * e
    }

    #[inline]
    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        match &self.diagonal {
            Some(d) => {
                // Zipped, not indexed: no bounds checks in the hottest loop.
                for (((g, w), d), m) in g.iter_mut().zip(w).zip(d).zip(&self.minimum) {
                    *g = d * (w - m);
                }
            }
            None => {
                for (i, gi) in g[..self.n].iter_mut().enumerate() {
                    let row = &self.h[i * self.n..(i + 1) * self.n];
                    let mut s = 0.0;
                    for j in 0..self.n {
                        s += row[j] * (w[j] - self.minimum[j]);
                    }
                    *gi = s;
                }
            }
        }
    }

    fn hessian_vector_into(&self, _w: &[f64], x: &[f64], out: &mut [f64]) {
        self.hessian_apply(x, out);
    }

    #[inline]
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
        Some(&self.eigenvalues)
    }

    fn as_quadratic(&self) -> Option<&Quadratic> {
        Some(self)
    }
}

/// The rules of a quadratic: finite numbers, a Hessian of the minimum's dimension,
/// symmetric positive semi-definite.
fn check(hessian: &HessianSpec, minimum: &[f64]) -> Result<(), PotentialError> {
    check_finite("minimum", minimum)?;
    let n = minimum.len();
    if n == 0 {
        return Err(PotentialError::OutOfRange {
            what: "minimum",
            rule: "of dimension >= 1",
            value: 0.0,
        });
    }
    let dimension = |got| PotentialError::Dimension {
        what: "hessian",
        expected: n,
        got,
    };
    match hessian {
        HessianSpec::Diagonal(d) => {
            check_finite("eigenvalues", d)?;
            if d.len() != n {
                return Err(PotentialError::Dimension {
                    what: "eigenvalues",
                    expected: n,
                    got: d.len(),
                });
            }
            if let Some(&value) = d.iter().find(|&&k| k < 0.0) {
                return Err(PotentialError::OutOfRange {
                    what: "eigenvalues",
                    rule: ">= 0 (a negative curvature has no minimum)",
                    value,
                });
            }
        }
        HessianSpec::Dense(rows) => {
            for row in rows {
                check_finite("hessian", row)?;
            }
            if rows.len() != n {
                return Err(dimension(rows.len()));
            }
            check_hessian(rows).map_err(|e| PotentialError::Hessian(e.to_string()))?;
        }
    }
    Ok(())
}

/// Why a dense Hessian is refused (indices 1-based).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadHessian {
    /// No rows.
    #[error("must not be empty")]
    Empty,
    /// A row of the wrong length.
    #[error("not square: row {row} has {len} entries, expected {n}")]
    NotSquare {
        /// The row.
        row: usize,
        /// Its length.
        len: usize,
        /// The number of rows.
        n: usize,
    },
    /// An entry beyond 1e150 in magnitude, whose eigenvalues could overflow.
    #[error("has an entry beyond 1e150 in magnitude: its eigenvalues could overflow")]
    TooLarge,
    /// H ≠ Hᵀ.
    #[error("not symmetric: entry ({row}, {col}) is {lower} but ({col}, {row}) is {upper}")]
    NotSymmetric {
        /// Row of the lower entry.
        row: usize,
        /// Its column.
        col: usize,
        /// The lower entry.
        lower: f64,
        /// Its mirror.
        upper: f64,
    },
    /// A negative eigenvalue beyond round-off (1e-12 of the largest).
    #[error("not positive semi-definite: it has the eigenvalue {0}")]
    Indefinite(f64),
}

/// The largest Hessian entry in magnitude: the eigen-solver squares entries.
pub(crate) const MAX_ENTRY: f64 = 1e150;

/// Square, symmetric, positive semi-definite, no entry beyond 1e150 in magnitude.
pub fn check_hessian(rows: &[Vec<f64>]) -> Result<(), BadHessian> {
    let n = rows.len();
    if n == 0 {
        return Err(BadHessian::Empty);
    }
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != n) {
        return Err(BadHessian::NotSquare {
            row: i + 1,
            len: r.len(),
            n,
        });
    }
    for (i, row) in rows.iter().enumerate() {
        for (j, &lower) in row[..i].iter().enumerate() {
            if lower != rows[j][i] {
                return Err(BadHessian::NotSymmetric {
                    row: i + 1,
                    col: j + 1,
                    lower,
                    upper: rows[j][i],
                });
            }
        }
    }
    // Every entry finite, yet the eigen-solver's sums of squares would overflow.
    if rows.iter().flatten().any(|h| h.abs() > MAX_ENTRY) {
        return Err(BadHessian::TooLarge);
    }
    let ev = super::symmetric_eigenvalues(rows);
    let scale = ev.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let min = ev.iter().copied().fold(f64::INFINITY, f64::min);
    if min < -1e-12 * scale.max(f64::MIN_POSITIVE) {
        return Err(BadHessian::Indefinite(min));
    }
    Ok(())
}
