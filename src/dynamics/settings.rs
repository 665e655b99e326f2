//! The parameters of one run, as the engine's own types: the continuous run's method,
//! model and settings, a discrete entry's scheme, form and (ε, p) source. Each has the
//! defaults of scenario files in one place (`Default`).

use super::noise::GradientNoise;
use crate::observe::StopRule;
use crate::potential::Potential;

/// Integration method of the continuous run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// Dormand–Prince 5(4), adaptive.
    Dopri5,
    /// Dormand–Prince 8(5,3), adaptive.
    Dop853,
    /// Classical Runge–Kutta 4 with a fixed step.
    Rk4,
    /// diffsol's variable-order BDF (implicit, for stiff points).
    Bdf,
    /// Per point: BDF where the Hessian spectrum shows the particle stiff, else dopri5;
    /// BAOAB when the gradient is noisy.
    Auto,
    /// BAOAB (Leimkuhler–Matthews): the fixed-step splitting for the Langevin SDE that a
    /// noisy gradient makes of the particle (its overdamped limit for m = 0).
    Baoab,
}

impl Method {
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Dopri5 => "dopri5",
            Method::Dop853 => "dop853",
            Method::Rk4 => "rk4",
            Method::Bdf => "bdf",
            Method::Auto => "auto",
            Method::Baoab => "baoab",
        }
    }
}

/// The `[continuous]` table, resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContinuousSpec {
    /// Integrator.
    pub method: Method,
    /// Relative tolerance (adaptive methods).
    pub rtol: f64,
    /// Absolute tolerance (adaptive methods).
    pub atol: f64,
    /// End of the time budget.
    pub t_end: f64,
    /// Spacing of the rows of `continuous.csv`.
    pub sample_interval: f64,
    /// Fixed step of `rk4` and `baoab`.
    pub step: Option<f64>,
    /// Most solver steps before the run counts as failed.
    pub max_steps: u64,
    /// The equation integrated.
    pub model: Model,
}

/// The `method` column's label of the continuous run's rows, which no discrete entry may
/// take.
pub const CONTINUOUS_LABEL: &str = "continuous";

/// Why a discrete entry may not be labelled [`CONTINUOUS_LABEL`].
pub const RESERVED_LABEL: &str =
    "\"continuous\" is the continuous run's label in the method column; give this entry another";

/// The least `rtol` above what a double can control: 10·ε, the floor Hairer's DOPRI5 sets.
pub const MIN_RTOL: f64 = 10.0 * f64::EPSILON;
/// Solver steps a continuous run may take by default.
pub const DEFAULT_MAX_STEPS: u64 = 1_000_000;
/// Most steps a discrete entry may take, and most rows a trajectory file may hold (one
/// row per step: a typo in an interval must not fill the disk).
pub const MAX_ROWS: u64 = 10_000_000;
/// A discrete entry's step budget without a continuous run to take `t_end` from.
pub const DEFAULT_STEPS: u64 = 100_000;

impl Default for ContinuousSpec {
    /// The defaults of a `[continuous]` table: `auto`, rtol 1e-8, atol 1e-10, t_end 100,
    /// sample_interval t_end/1000, no fixed step, 10⁶ steps, the heavy-ball model.
    fn default() -> Self {
        let t_end = 100.0;
        ContinuousSpec {
            method: Method::Auto,
            rtol: 1e-8,
            atol: 1e-10,
            t_end,
            sample_interval: t_end / 1000.0,
            step: None,
            max_steps: DEFAULT_MAX_STEPS,
            model: Model::HeavyBall,
        }
    }
}

impl ContinuousSpec {
    /// BAOAB's step: the largest `h ≤ step` that divides `sample_interval`, so that every
    /// row falls on a step end; None without a step.
    pub fn baoab_step(&self) -> Option<f64> {
        self.step
            .map(|step| step_dividing(step, self.sample_interval))
    }
}

/// The largest `h ≤ step` that divides `interval` a whole number of times.
pub fn step_dividing(step: f64, interval: f64) -> f64 {
    // A ratio a few ulp above an integer (0.3/0.1) counts as that integer.
    let per_interval = ((interval / step) * (1.0 - 1e-12)).ceil().max(1.0);
    interval / per_interval
}

/// The continuous equation of motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Model {
    /// Q4: `m w'' + μ w' = −∇E(w)`.
    HeavyBall,
    /// Su–Boyd–Candès: `m w'' + (3m/t) w' = −∇E(w)`, friction fading as `3m/t`.
    Nesterov,
}

impl Model {
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::HeavyBall => "heavy-ball",
            Model::Nesterov => "nesterov",
        }
    }
}

/// Discrete scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// `w ← w − ε∇E + p(w − w_prev)`.
    HeavyBall,
    /// `w ← w − ε∇E`.
    GradientDescent,
    /// Nesterov: `y = w + p(w − w_prev); w ← y − ε∇E(y)`.
    Nesterov,
}

impl Scheme {
    /// The name used in scenario files and default labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::HeavyBall => "heavy-ball",
            Scheme::GradientDescent => "gradient-descent",
            Scheme::Nesterov => "nesterov",
        }
    }
}

/// How (ε, p) follow from the particle and Δt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Map {
    /// docs/theory.md §3: ε = Δt²/(m + μΔt), p = m/(m + μΔt).
    Qian,
    /// docs/theory.md §4: ε = Δt²/m, p = 1 − μΔt/m.
    SymplecticEuler,
}

impl Map {
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Map::Qian => "qian",
            Map::SymplecticEuler => "symplectic-euler",
        }
    }
}

/// Where a discrete entry's (ε, p) come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiscreteParams {
    /// Derived from the particle's (m, μ) and Δt by a map (gradient descent: Qian at m = 0).
    FromParticle {
        /// Physical time of one step.
        dt: f64,
        /// The map (always Qian for gradient descent).
        map: Map,
    },
    /// Given directly, PyTorch style.
    Explicit {
        /// ε.
        learning_rate: f64,
        /// p.
        momentum: f64,
        /// Physical time of one step.
        dt: f64,
    },
}

impl DiscreteParams {
    /// Physical time of one step.
    pub fn dt(&self) -> f64 {
        match *self {
            DiscreteParams::FromParticle { dt, .. } | DiscreteParams::Explicit { dt, .. } => dt,
        }
    }
}

/// How a heavy-ball entry writes its update (docs/theory.md §4); `learning_rate` and `momentum`
/// are read in the form's own terms, the CSV columns always hold the effective (ε, p).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Form {
    /// Polyak / Qian: `w ← w − ε∇E + p(w − w_prev)` (ε, p as written).
    Polyak,
    /// Goh / PyTorch `SGD(lr, momentum)`: `z ← βz + ∇E; w ← w − αz` (ε = α, p = β).
    PyTorch,
    /// Exponential moving average: `v ← βv + (1 − β)∇E; w ← w − αv` (ε = α(1 − β), p = β).
    Ema,
}

impl Form {
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Polyak => "polyak",
            Form::PyTorch => "pytorch",
            Form::Ema => "ema",
        }
    }
}

/// One `[[discrete]]` entry, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscreteSpec {
    /// The `method` column's label.
    pub label: String,
    /// The scheme.
    pub scheme: Scheme,
    /// How the update is written (heavy-ball; the other schemes have one form, `PyTorch`'s
    /// reading of `learning_rate` = ε, `momentum` = p).
    pub form: Form,
    /// Where (ε, p) come from.
    pub params: DiscreteParams,
    /// Step budget.
    pub steps: Budget,
}

/// A discrete entry's step budget, and where it came from (the `note` of a run that
/// spends it says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// A number of steps the entry gives (`steps = n`).
    Steps(u64),
    /// `ceil(t_end / dt)` of each point: no `steps` given, a `[continuous]` run's `t_end`.
    Horizon,
    /// [`DEFAULT_STEPS`]: no `steps` given and no `[continuous]` run to take `t_end` from.
    Default,
}

/// One continuous run: the particle, where it starts, and how to integrate.
#[derive(Clone, Copy)]
pub struct ContinuousRun<'a> {
    /// The loss surface.
    pub potential: &'a dyn Potential,
    /// m ≥ 0 (0: gradient flow on w alone).
    pub mass: f64,
    /// μ > 0.
    pub friction: f64,
    /// w(0).
    pub position: &'a [f64],
    /// v(0) (ignored when m = 0).
    pub velocity: &'a [f64],
    /// Method, tolerances, time budget.
    pub spec: &'a ContinuousSpec,
    /// When the run has converged or diverged.
    pub stop: StopRule,
    /// The Langevin force noise (intensity s = σ√Δt, see `dynamics::langevin`) and its
    /// stream; None for a noise-free particle.
    pub noise: Option<&'a GradientNoise>,
}
