//! `heavyball`: gradient descent with momentum as a damped Newtonian particle.
//!
//! The crate reads as the pipeline it implements:
//! [`scenario`] (parse, validate, resolve) → [`potential`] (E, ∇E, Hessian) →
//! [`dynamics`] (continuous particle and discrete schemes, one run each) →
//! [`theory`] (closed forms) → [`observe`] (stop criterion, samplers) →
//! [`sweep`] (parallel points, reorder window, shards) → [`output`] (CSV, manifest, atomic
//! folders), driven by [`run`]; [`merge`] joins the shards of a sweep.

pub mod dynamics;
pub mod error;
pub mod grid;
pub mod merge;
pub mod observe;
pub mod output;
pub mod point;
pub mod potential;
pub mod problem;
pub mod report;
pub mod run;
pub mod scenario;
pub mod sweep;
pub mod theory;

pub use error::{Error, InputError};
