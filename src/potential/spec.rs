//! Built-in potentials described by their parameters, and how to build them.

use super::{
    Colorization, ConvexRosenbrock, Expression, Potential, PotentialError, Quadratic, Rosenbrock,
};

/// A built-in potential, described by its parameters (what a scenario's `[potential]`
/// table holds); [`build`] makes it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PotentialSpec {
    /// `E = ½ (w − w*)ᵀ H (w − w*)`.
    Quadratic {
        /// The Hessian, dense or diagonal.
        hessian: HessianSpec,
        /// `w*`.
        minimum: Vec<f64>,
    },
    /// Goh's colorization on the 4-neighbour `rows × cols` grid (SPEC "Landscapes").
    Colorization {
        /// (rows, cols).
        grid: (usize, usize),
        /// Colored pixels `(row, col)`, 0-based, inside the grid, distinct, at least one.
        colored: Vec<(usize, usize)>,
        /// Their value c (the minimum is c everywhere); default 1.
        value: f64,
    },
    /// Rosenbrock's banana `(a − x)² + b(y − x²)²`, minimum (a, a²).
    Rosenbrock {
        /// a (default 1).
        a: f64,
        /// b > 0 (default 100).
        b: f64,
    },
    /// A formula in named variables, differentiated symbolically (exmex).
    Expression {
        /// The coordinate names, in order.
        variables: Vec<String>,
        /// E as text.
        expression: String,
        /// w*: given, found by Newton's method from the position, or unknown.
        minimum: ExpressionMinimum,
    },
    /// Goh's convex Rosenbrock `½(w₁ − 1)² + ½Σ(wᵢ − wᵢ₊₁)² + (2/(κ − 1))|w|²`.
    ConvexRosenbrock {
        /// The dimension.
        n: usize,
        /// κ > 1.
        kappa: f64,
    },
}

impl PotentialSpec {
    /// The dimension n of the position.
    pub fn dim(&self) -> usize {
        match self {
            PotentialSpec::Quadratic { minimum, .. } => minimum.len(),
            PotentialSpec::Colorization { grid, .. } => grid.0 * grid.1,
            PotentialSpec::Rosenbrock { .. } => 2,
            PotentialSpec::Expression { variables, .. } => variables.len(),
            PotentialSpec::ConvexRosenbrock { n, .. } => *n,
        }
    }
}

/// What building a potential costs before anything runs (`heavyball check` prints it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SetupCost {
    /// How its spectrum is found, in words.
    pub method: &'static str,
    /// Floating-point operations, roughly (at most, for an iteration with a cap).
    pub operations: f64,
    /// Bytes the potential holds, roughly.
    pub bytes: f64,
}

impl PotentialSpec {
    /// The set-up's cost where it can be large: a colorization grid's Hessian and extreme
    /// eigenvalues, a dense quadratic's eigendecomposition. `None`: negligible.
    pub fn setup_cost(&self) -> Option<SetupCost> {
        match self {
            PotentialSpec::Colorization { grid, colored, .. } => {
                let n = grid.0 * grid.1;
                let plan = super::grid_spectrum::Plan::new(grid.0, grid.1, colored.len());
                let method = match plan {
                    super::grid_spectrum::Plan::Secular { .. } => {
                        "extreme eigenvalues exactly, by bisection on the secular equation (Lanczos if λ_min ≥ μ₂/2)"
                    }
                    super::grid_spectrum::Plan::Lanczos { .. } => {
                        "extreme eigenvalues by Lanczos, capped"
                    }
                };
                // CSR: 5 entries a row of 16 bytes, offsets, mask and minimum.
                Some(SetupCost {
                    method,
                    operations: plan.operations(n),
                    bytes: 97.0 * n as f64,
                })
            }
            PotentialSpec::Quadratic {
                hessian: HessianSpec::Dense(rows),
                ..
            } => {
                let n = rows.len() as f64;
                Some(SetupCost {
                    method: "eigendecomposition of the dense Hessian",
                    operations: 10.0 * n * n * n,
                    bytes: 24.0 * n * n,
                })
            }
            _ => None,
        }
    }
}

/// Where an expression's minimum w* comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpressionMinimum {
    /// `minimum = [...]` in the file.
    Given(Vec<f64>),
    /// Found by Newton's method from `[particle] position`
    /// ([`Expression::find_minimum`]); also a given minimum that is
    /// exactly that point, so that a resolved `scenario.toml` reads back as it was written.
    Found(Vec<f64>),
    /// None given, and Newton's method from the position reached none: why.
    Unknown(String),
}

impl ExpressionMinimum {
    /// w*, when known.
    pub fn point(&self) -> Option<&[f64]> {
        match self {
            ExpressionMinimum::Given(w) | ExpressionMinimum::Found(w) => Some(w),
            ExpressionMinimum::Unknown(_) => None,
        }
    }
}

/// A quadratic's Hessian.
#[derive(Debug, Clone, PartialEq)]
pub enum HessianSpec {
    /// Full symmetric positive semi-definite matrix, rows as given.
    Dense(Vec<Vec<f64>>),
    /// `diag(eigenvalues)`.
    Diagonal(Vec<f64>),
}

/// Builds the potential `spec` describes.
pub fn build(spec: &PotentialSpec) -> Result<Box<dyn Potential>, PotentialError> {
    Ok(match spec {
        PotentialSpec::Quadratic { hessian, minimum } => {
            Box::new(Quadratic::new(hessian, minimum.clone())?)
        }
        PotentialSpec::Colorization {
            grid,
            colored,
            value,
        } => Box::new(Colorization::new(grid.0, grid.1, colored, *value)?),
        PotentialSpec::Rosenbrock { a, b } => Box::new(Rosenbrock::new(*a, *b)?),
        PotentialSpec::Expression {
            variables,
            expression,
            minimum,
        } => Box::new(
            Expression::new(variables, expression, minimum.point().map(<[f64]>::to_vec))
                .map_err(|e| PotentialError::Expression(e.to_string()))?,
        ),
        PotentialSpec::ConvexRosenbrock { n, kappa } => {
            Box::new(ConvexRosenbrock::new(*n, *kappa)?)
        }
    })
}

/// Eigenvalues (ascending) of a symmetric matrix given by rows.
pub fn symmetric_eigenvalues(rows: &[Vec<f64>]) -> Vec<f64> {
    let n = rows.len();
    let m = nalgebra::DMatrix::from_fn(n, n, |i, j| rows[i][j]);
    let mut ev: Vec<f64> = m.symmetric_eigenvalues().iter().copied().collect();
    ev.sort_by(f64::total_cmp);
    ev
}
