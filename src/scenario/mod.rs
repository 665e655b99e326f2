//! Scenario files: parse (spanned TOML), validate (one [`InputError`] with file, line,
//! column and key), resolve (every default filled) and write back as TOML.
//!
//! A [`Scenario`] is the resolved form: re-reading the text that [`Scenario::to_toml`]
//! writes gives the same scenario, so a result folder's `scenario.toml` reproduces it.

mod parse;
mod reader;
mod sweep;
mod write;

use std::path::{Path, PathBuf};

use crate::error::InputError;

pub use parse::parse_str;
pub use sweep::{Axis, AxisKey, AxisSpec, Sweep, Values, linspace, linspace_at};

/// A resolved scenario: every default filled, every rule of SPEC.md checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Output folder name.
    pub name: String,
    /// Free text saying what the scenario shows.
    pub description: String,
    /// The loss surface.
    pub potential: PotentialSpec,
    /// Mass, friction and initial state.
    pub particle: Particle,
    /// The continuous run, if any.
    pub continuous: Option<ContinuousSpec>,
    /// The discrete runs, in file order.
    pub discrete: Vec<DiscreteSpec>,
    /// When a run has converged or diverged.
    pub stop: StopSpec,
    /// Which trajectory columns to write.
    pub output: OutputSpec,
    /// Gradient noise, if any.
    pub gradient: Option<GradientSpec>,
    /// The grid, if this is a sweep. Keys it replaces hold its first value above;
    /// [`Scenario::point`] gives every point's.
    pub sweep: Option<Sweep>,
}

/// The potential as written in the scenario.
#[derive(Debug, Clone, PartialEq)]
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

/// Where an expression's minimum w* comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpressionMinimum {
    /// `minimum = [...]` in the file.
    Given(Vec<f64>),
    /// Found by Newton's method from `[particle] position`
    /// ([`crate::potential::Expression::find_minimum`]); also a given minimum that is
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

/// Integration method of the continuous run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
pub enum Map {
    /// THEORY §3: ε = Δt²/(m + μΔt), p = m/(m + μΔt).
    Qian,
    /// THEORY §4: ε = Δt²/m, p = 1 − μΔt/m.
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

/// How a heavy-ball entry writes its update (THEORY §4); `learning_rate` and `momentum`
/// are read in the form's own terms, the CSV columns always hold the effective (ε, p).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A discrete entry's step budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// A fixed number of steps.
    Steps(u64),
    /// `ceil(t_end / dt)` of each point (a swept `dt` with no `steps` given).
    Horizon,
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

/// The quantity the stop rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// `|w − w*|`.
    Distance,
    /// `E(w) − E*`.
    Loss,
    /// `|∇E(w)|`.
    Gradient,
    /// `sqrt(m|v|² + 2(E − E*))`: Q9's Lyapunov function, which never rises in the
    /// continuous run and does not vanish when an oscillation passes through `w*`.
    Energy,
}

impl Criterion {
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Criterion::Distance => "distance",
            Criterion::Loss => "loss",
            Criterion::Gradient => "gradient",
            Criterion::Energy => "energy",
        }
    }
}

/// The `[gradient]` table: zero-mean Gaussian noise on every gradient evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientSpec {
    /// σ ≥ 0, the standard deviation added to each coordinate.
    pub noise: f64,
    /// The stream's seed; each run's own stream derives from it, the point and the entry.
    pub seed: u64,
}

/// The `[output]` table, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputSpec {
    /// `coordinates`: the per-coordinate columns to write (1-based, distinct, within n);
    /// None: every coordinate for n ≤ 16, none above.
    pub coordinates: Option<Vec<usize>>,
}

/// The `[stop]` table, resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StopSpec {
    /// What is measured.
    pub criterion: Criterion,
    /// Converged once the criterion is below this.
    pub tolerance: f64,
    /// Diverged once the distance from the minimum exceeds this.
    pub divergence: f64,
}

impl Scenario {
    /// The resolved scenario as TOML (what `scenario.toml` holds).
    pub fn to_toml(&self) -> String {
        write::to_toml(self)
    }

    /// Number of grid points (1 for a single run).
    pub fn points(&self) -> u64 {
        self.sweep.as_ref().map_or(1, Sweep::len)
    }

    /// Whether the scenario is a sweep.
    pub fn is_sweep(&self) -> bool {
        self.sweep.is_some()
    }

    /// Whether `key` is swept.
    pub fn sweeps(&self, key: AxisKey) -> bool {
        self.sweep.as_ref().is_some_and(|s| s.sweeps(key))
    }

    /// Point `index` of the grid (`index < points()`).
    pub fn point(&self, index: u64) -> Point {
        let values = self
            .sweep
            .as_ref()
            .map_or_else(Values::default, |s| s.values(index));
        let particle = match (self.particle.mass, self.particle.friction) {
            (Some(m), Some(mu)) => Some((values.mass.unwrap_or(m), values.friction.unwrap_or(mu))),
            // The Nesterov ODE's friction is 3m/t, not a number (NaN marks it).
            (Some(m), None) => Some((values.mass.unwrap_or(m), f64::NAN)),
            _ => None,
        };
        let discrete = self
            .discrete
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
                            Scheme::HeavyBall | Scheme::Nesterov => {
                                values.momentum.unwrap_or(momentum)
                            }
                            Scheme::GradientDescent => momentum,
                        },
                        dt: values.dt.unwrap_or(dt),
                    },
                };
                let steps = match (d.steps, &self.continuous) {
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
}

/// Reads and resolves one scenario file.
pub fn load(path: &Path) -> Result<Scenario, InputError> {
    let bytes = std::fs::read(path).map_err(|e| InputError {
        file: path.to_path_buf(),
        position: None,
        key: "path".into(),
        message: io_message(&e),
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let src = reader::Source {
                file: path,
                text: &text,
            };
            return Err(src.error(
                Some(valid..valid),
                "file",
                "not a UTF-8 text file (binary?)",
            ));
        }
    };
    parse_str(&text, path)
}

/// A short human message for an I/O error on an input path.
fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ if e.raw_os_error() == Some(21) => "is a directory".into(),
        _ => e.to_string(),
    }
}

/// Expands command-line paths into scenario files: a directory means every `*.toml` in it,
/// in name order. Each path that cannot be used is an error of its own.
pub fn collect_paths(paths: &[PathBuf]) -> Vec<Result<PathBuf, InputError>> {
    let mut out = Vec::new();
    for path in paths {
        let err = |message: String| InputError {
            file: path.clone(),
            position: None,
            key: "path".into(),
            message,
        };
        match std::fs::metadata(path) {
            Err(e) => out.push(Err(err(io_message(&e)))),
            Ok(meta) if meta.is_dir() => match std::fs::read_dir(path) {
                Err(e) => out.push(Err(err(io_message(&e)))),
                Ok(entries) => {
                    let mut files: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
                        .collect();
                    files.sort();
                    if files.is_empty() {
                        out.push(Err(
                            err("no *.toml scenario files in this directory".into()),
                        ));
                    }
                    out.extend(files.into_iter().map(Ok));
                }
            },
            Ok(_) => out.push(Ok(path.clone())),
        }
    }
    out
}
