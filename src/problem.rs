//! One problem as the engine sees it, independent of any file: the particle, and the
//! resolution of a grid point (the swept values put wherever their keys appear).

use crate::dynamics::{Budget, ContinuousSpec, DiscreteParams, DiscreteSpec, Scheme};
use crate::grid::{Sweep, Values};

/// The particle: `m w'' + μ w' = −∇E(w)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Particle {
    /// Mass m ≥ 0 (0 is gradient flow); None when a learning-rate × momentum sweep makes
    /// the continuous particle the twin of the first discrete entry.
    pub mass: Option<f64>,
    /// Friction μ > 0; None exactly when `mass` is.
    pub friction: Option<f64>,
    /// w(0).
    pub position: Vec<f64>,
    /// v(0).
    pub velocity: Vec<f64>,
}

/// One grid point, resolved: the values of the swept keys put wherever their keys appear.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The index in the grid, from 0.
    pub index: u64,
    /// The values of the swept keys.
    pub values: Values,
    /// The continuous particle (m, μ); None when it is the twin of the first discrete
    /// entry (a learning-rate × momentum sweep); μ is NaN for the Nesterov ODE (3m/t).
    pub particle: Option<(f64, f64)>,
    /// Each discrete entry's parameters and step budget.
    pub discrete: Vec<(DiscreteParams, u64)>,
}

/// The `[output]` table, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputSpec {
    /// `coordinates`: the per-coordinate columns to write (1-based, distinct, within n);
    /// None: every coordinate for n ≤ 16, none above.
    pub coordinates: Option<Vec<usize>>,
}

/// Point `index` of a grid (`None`: the one point of a single run): the swept values put
/// wherever their keys appear, each discrete entry's step budget resolved.
pub fn resolve_point(
    index: u64,
    grid: Option<&Sweep>,
    particle: &Particle,
    discrete: &[DiscreteSpec],
    continuous: Option<&ContinuousSpec>,
) -> Point {
    let values = grid.map_or_else(Values::default, |s| s.values(index));
    let particle = match (particle.mass, particle.friction) {
        (Some(m), Some(mu)) => Some((values.mass.unwrap_or(m), values.friction.unwrap_or(mu))),
        // The Nesterov ODE's friction is 3m/t, not a number (NaN marks it).
        (Some(m), None) => Some((values.mass.unwrap_or(m), f64::NAN)),
        _ => None,
    };
    let discrete = discrete
        .iter()
        .map(|d| {
            let params = match d.params {
                DiscreteParams::FromParticle { dt, map } => DiscreteParams::FromParticle {
                    dt: values.dt.unwrap_or(dt),
                    map,
                },
                DiscreteParams::Explicit {
                    learning_rate,
                    momentum,
                    dt,
                } => DiscreteParams::Explicit {
                    learning_rate: values.learning_rate.unwrap_or(learning_rate),
                    // Gradient descent has no momentum for a sweep to replace.
                    momentum: match d.scheme {
                        Scheme::HeavyBall | Scheme::Nesterov => values.momentum.unwrap_or(momentum),
                        Scheme::GradientDescent => momentum,
                    },
                    dt: values.dt.unwrap_or(dt),
                },
            };
            let steps = match (d.steps, continuous) {
                (Budget::Steps(n), _) => n,
                (Budget::Horizon, Some(c)) => ((c.t_end / params.dt()).ceil() as u64).max(1),
                (Budget::Horizon, None) => unreachable!("Horizon budgets need a t_end"),
            };
            (params, steps)
        })
        .collect();
    Point {
        index,
        values,
        particle,
        discrete,
    }
}
