//! One problem as the engine sees it, independent of any file: the particle, and the
//! resolution of a grid point (the swept values put wherever their keys appear).

use std::sync::Arc;

use crate::dynamics::{Budget, ContinuousSpec, DiscreteParams, DiscreteSpec, GradientSpec, Scheme};
use crate::grid::{Sweep, Values};
use crate::observe::StopSpec;
use crate::potential::Potential;

/// The particle: `m w'' + μ w' = −∇E(w)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Particle {
    /// Mass m ≥ 0 (0 is gradient flow); None when the continuous particle is the twin of
    /// the first discrete entry: a learning-rate × momentum sweep, or a heavy-ball
    /// `[continuous]` run with neither mass nor friction beside an explicit first entry.
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
    /// entry (see [`Particle::mass`]); μ is NaN for the Nesterov ODE (3m/t).
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
    /// `plot = true`: draw the figures and `index.html` at the end of the run
    /// (`heavyball plot`).
    pub plot: bool,
}

/// The state columns of a trajectory CSV beyond `t, loss, distance, energy` (SPEC
/// "Outputs"): the gradient norm for n > 16, and per-coordinate w and v columns for every
/// coordinate when n ≤ 16 or for those `[output] coordinates` lists.
#[derive(Debug, Clone, PartialEq)]
pub struct StateLayout {
    /// The coordinates written, 0-based, in the listed order.
    pub coordinates: Vec<usize>,
    /// Whether a `gradient_norm` column follows `energy`.
    pub gradient_norm: bool,
}

impl StateLayout {
    /// The layout for dimension n and the scenario's `[output] coordinates` (1-based).
    pub fn new(n: usize, listed: Option<&[usize]>) -> Self {
        let coordinates = match listed {
            Some(l) => l.iter().map(|i| i - 1).collect(),
            None if n <= 16 => (0..n).collect(),
            None => Vec::new(),
        };
        StateLayout {
            coordinates,
            gradient_norm: n > 16,
        }
    }
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
    point_at(index, values, particle, discrete, continuous)
}

/// [`resolve_point`] with the swept values at `index` already known.
fn point_at(
    index: u64,
    values: Values,
    particle: &Particle,
    discrete: &[DiscreteSpec],
    continuous: Option<&ContinuousSpec>,
) -> Point {
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
                (Budget::Default, _) => crate::dynamics::DEFAULT_STEPS,
                (Budget::Horizon, Some(c)) => horizon_steps(c.t_end, params.dt()),
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

/// The continuous twin of the first discrete entry (scheme, effective (ε, p, Δt)) as every
/// twin-related message says it: `m = pΔt²/ε` and `μ = (1 − p)Δt/ε` with their numbers, or
/// why there is none.
pub(crate) fn twin_description(scheme: Scheme, c: &crate::dynamics::maps::Coefficients) -> String {
    let entry = format!(
        "discrete[1] (eps = {}, p = {}, dt = {})",
        c.learning_rate, c.momentum, c.dt
    );
    match c.particle.filter(|_| scheme != Scheme::Nesterov) {
        Some((m, mu)) => format!(
            "the continuous particle is the twin of {entry}: m = p dt^2/eps = {m}, mu = (1 - p) dt/eps = {mu}"
        ),
        None => {
            let why = crate::dynamics::maps::NoTwin::of(scheme, c.learning_rate, c.momentum);
            format!("the continuous particle would be the twin of {entry}, which has {why}")
        }
    }
}

/// A step budget of `ceil(t_end/dt)` (at least 1).
pub fn horizon_steps(t_end: f64, dt: f64) -> u64 {
    ((t_end / dt).ceil() as u64).max(1)
}

/// Everything a run or a sweep needs, in the engine's own types: the loss surface, the
/// particle, the continuous run and discrete entries, the stop rule, gradient noise, the
/// trajectory columns and the grid. A scenario file converts into one
/// (`Scenario::problem`); the builders (`Problem::builder`) make one from code.
#[derive(Clone)]
pub struct Problem {
    /// The loss surface (a built-in one, or the user's own).
    pub potential: Arc<dyn Potential>,
    /// Mass, friction and initial state.
    pub particle: Particle,
    /// The continuous run, if any.
    pub continuous: Option<ContinuousSpec>,
    /// The discrete runs, in order.
    pub discrete: Vec<DiscreteSpec>,
    /// When a run has converged or diverged.
    pub stop: StopSpec,
    /// Gradient noise, if any.
    pub gradient: Option<GradientSpec>,
    /// The per-coordinate trajectory columns (1-based); None: all for n ≤ 16, none above.
    pub coordinates: Option<Vec<usize>>,
    /// The grid, if this is a sweep.
    pub grid: Option<Sweep>,
}

impl std::fmt::Debug for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Problem")
            .field("dim", &self.potential.dim())
            .field("particle", &self.particle)
            .field("continuous", &self.continuous)
            .field("discrete", &self.discrete)
            .field("stop", &self.stop)
            .field("gradient", &self.gradient)
            .field("coordinates", &self.coordinates)
            .field("grid", &self.grid)
            .finish()
    }
}

impl Problem {
    /// Number of grid points (1 without a grid).
    pub fn points(&self) -> u64 {
        self.grid.as_ref().map_or(1, Sweep::len)
    }

    /// Point `index` of the grid (`index < points()`).
    pub fn point(&self, index: u64) -> Point {
        self.point_in(index, &[])
    }

    /// [`Self::point`] with the grid's axis values looked up in `tables`
    /// ([`Sweep::tables`], from this problem's grid): the same point.
    pub(crate) fn point_in(&self, index: u64, tables: &[Option<Vec<f64>>]) -> Point {
        let values = self
            .grid
            .as_ref()
            .map_or_else(Values::default, |s| s.values_in(index, tables));
        point_at(
            index,
            values,
            &self.particle,
            &self.discrete,
            self.continuous.as_ref(),
        )
    }

    /// The state columns of the trajectories.
    pub fn layout(&self) -> StateLayout {
        StateLayout::new(self.potential.dim(), self.coordinates.as_deref())
    }
}
