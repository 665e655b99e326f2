//! `heavyball`: gradient descent with momentum as a damped Newtonian particle,
//! `m·w'' + μ·w' = −∇E(w)` (Qian 1999), integrated beside the discrete heavy ball,
//! Nesterov and gradient descent, with the closed-form theory next to every measured
//! number.
//!
//! # A first problem
//!
//! A quadratic with curvatures 1 and 10, a particle of mass 1 and friction 2 (critical
//! damping for the slow direction), its continuous run and the heavy ball and gradient
//! descent at Δt = 0.1 — run in memory:
//!
//! ```
//! use heavyball::prelude::*;
//!
//! let potential = Quadratic::from_eigenvalues(&[1.0, 10.0])?;
//! let problem = Problem::builder(potential)
//!     .mass(1.0)
//!     .friction(2.0)
//!     .position([1.0, 1.0])
//!     .continuous(Continuous::new().t_end(40.0))
//!     .discrete(Discrete::heavy_ball().dt(0.1))
//!     .discrete(Discrete::gradient_descent().dt(0.1))
//!     .stop(Criterion::Distance, 1e-6)
//!     .build()?;
//! let result = problem.run_point(0)?;
//! for row in &result.rows {
//!     println!(
//!         "{:<18} {:<10} t = {:?}, rate {:?} (theory {:?})",
//!         row.method,
//!         row.report.status.as_str(),
//!         row.t_converged(),
//!         row.measured_rate(),
//!         row.theory_rate,
//!     );
//! }
//! // Critical damping of the slowest component: decay rate μ/2m = 1.
//! assert_eq!(result.rows[0].theory_rate, Some(1.0));
//! assert_eq!(result.rows[0].report.status, Status::Converged);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Your own loss surface is any type implementing [`Potential`](potential::Potential)
//! (value and gradient; the rest optional). A sweep is the same builder with
//! [`sweep`](api::ProblemBuilder::sweep) axes; [`Problem::sweep_rows`] streams its
//! summary rows in grid order, the same values `summary.csv` holds
//! ([`output::write_summary_row`] formats them to the same bytes). `examples/` has a
//! point in memory, a sweep reduced to the best friction per mass, and a user-written
//! logistic-regression loss.
//!
//! # The pipeline
//!
//! [`scenario`] (parse, validate, convert) → [`potential`] (E, ∇E, Hessian) →
//! [`dynamics`] (one run: continuous, discrete, lanes) → [`theory`] (closed forms) →
//! [`observe`] (stop rule, observers) → [`problem`] and [`point`] (one grid point, in
//! memory) → [`sweep`] (parallel, shards) → [`output`] (CSV, manifest, atomic folders),
//! driven by [`run`] for the command line; [`merge`] joins shards, [`report`] is
//! `heavyball theory`, [`figures`] is `heavyball plot` (drawn by [`output::plot`]). [`api`] holds the builders. The physics is in `docs/theory.md`.

#![warn(missing_docs)]
// Unit tests may check against std's f64 methods (the platform libm) as a reference.
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod api;
pub mod dynamics;
pub mod error;
pub mod figures;
pub mod grid;
pub mod limits;
pub mod merge;
mod number;
pub mod observe;
pub mod output;
pub mod point;
pub mod portable_math;
pub mod potential;
pub mod problem;
pub mod report;
pub mod run;
pub mod scenario;
pub mod simd;
pub mod sweep;
pub mod theory;

pub use error::{Error, InputError};
pub use figures::{ImageFormat, PlotOptions, Plotted, plot_folder};
pub use problem::Problem;

/// What a program using the engine needs, in one `use`.
pub mod prelude {
    pub use crate::api::{BuildError, Continuous, Discrete, ProblemBuilder, SweepRows};
    pub use crate::dynamics::{Form, Map, Method, Model, Scheme};
    pub use crate::figures::{ImageFormat, PlotOptions, plot_folder};
    pub use crate::grid::{AxisKey, AxisSpec};
    pub use crate::observe::{Criterion, RunReport, Status};
    pub use crate::output::{Trajectories, write_summary, write_summary_row};
    pub use crate::point::{PointResult, SummaryRow};
    pub use crate::potential::{HessianSpec, Potential, PotentialError, Quadratic};
    pub use crate::problem::Problem;
}
