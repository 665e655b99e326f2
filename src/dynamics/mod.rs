//! Running one point: the continuous particle ([`continuous`]) and the discrete schemes
//! ([`discrete`]), both reporting through the observers of [`crate::observe`]; the (ε, p)
//! maps live in [`maps`], the step interpolant in `interp`.
//!
//! The state dimension is a runtime value; [`with_dim!`](crate::with_dim) dispatches small
//! dimensions to fixed-size vectors (no heap allocation per step) and the rest to dynamic
//! ones, through the same generic code.

mod bdf;
pub mod continuous;
pub mod discrete;
pub mod dopri_lanes;
pub mod dormand_prince;
mod explicit;
pub(crate) mod interp;
pub mod lanes;
pub mod langevin;
pub mod maps;
pub mod noise;
mod settings;
pub use crate::simd;
mod watch;
mod ziggurat;

pub use noise::GradientSpec;
pub use settings::{
    Budget, CONTINUOUS_LABEL, ContinuousRun, ContinuousSpec, DEFAULT_MAX_STEPS, DEFAULT_STEPS,
    DiscreteParams, DiscreteSpec, Form, MAX_ROWS, MIN_RTOL, Map, Method, Model, RESERVED_LABEL,
    Scheme, step_dividing,
};

/// Largest state dimension served by a fixed-size `SVector`.
pub const MAX_FIXED_DIM: usize = 16;

/// Evaluates `$body` with `$D` bound to `nalgebra::Const<N>` for `$n = N ≤ 16`, else to
/// `nalgebra::Dyn`.
#[macro_export]
macro_rules! with_dim {
    ($n:expr, $D:ident => $body:expr) => {{
        macro_rules! arm {
            ($k:literal) => {{
                type $D = nalgebra::Const<$k>;
                $body
            }};
        }
        match $n {
            1 => arm!(1),
            2 => arm!(2),
            3 => arm!(3),
            4 => arm!(4),
            5 => arm!(5),
            6 => arm!(6),
            7 => arm!(7),
            8 => arm!(8),
            9 => arm!(9),
            10 => arm!(10),
            11 => arm!(11),
            12 => arm!(12),
            13 => arm!(13),
            14 => arm!(14),
            15 => arm!(15),
            16 => arm!(16),
            _ => {
                type $D = nalgebra::Dyn;
                $body
            }
        }
    }};
}
