//! Problems from code: builders with the defaults of scenario files, validation into a
//! typed [`BuildError`], and the ways to run a [`Problem`] in memory — one point
//! ([`Problem::run_point`], [`Problem::run_traced`]) or a whole sweep as an iterator of
//! summary rows in grid order ([`Problem::sweep_rows`]).
//!
//! Every default is the scenario file's (see `docs/scenarios.md`), stated once here:
//!
//! | setting | default |
//! |---|---|
//! | mass, friction | none needed for explicit (ε, p) entries alone; with a heavy-ball [`Continuous`] run and a first entry with a learning rate, neither given means the particle is that entry's twin m = pΔt²/ε, μ = (1 − p)Δt/ε (one alone is an error) |
//! | velocity | zero |
//! | [`Continuous`] | `auto`, rtol 1e-8, atol 1e-10, t_end 100, sample_interval t_end/1000, max_steps 10⁶, model heavy-ball |
//! | [`Discrete`] | dt 1, map qian (from the particle), form polyak for a map and pytorch for an explicit (ε, p); steps ceil(t_end/dt) with a continuous run, else 100 000; label `<scheme>-<i>` |
//! | stop | distance below 1e-6, diverged beyond 1e12 ([`StopSpec::default`]) |
//! | noise | none; seed 0 |

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use crate::dynamics::{
    Budget, ContinuousSpec, DiscreteParams, DiscreteSpec, Form, GradientSpec, Map, Method, Model,
    Scheme,
};
use crate::error::Error;
use crate::grid::{Axis, AxisKey, AxisSpec, Sweep};
use crate::observe::{Criterion, StopSpec};
use crate::output::Trajectories;
use crate::point::{PointResult, PointRunner, SummaryRow};
use crate::potential::Potential;
use crate::problem::{Particle, Problem};

/// Most steps a discrete entry may take (a scenario file's limit too: one trajectory row
/// each).
pub const MAX_STEPS: u64 = crate::dynamics::MAX_ROWS;

/// Why a problem cannot be built; `key` is the scenario file's key for the same setting
/// (`particle.friction`, `discrete[2].dt`, …), so messages read like the file's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A number that must be finite is not.
    #[error("{key}: must be finite, got {value:?}")]
    NotFinite {
        /// The setting.
        key: String,
        /// Its value.
        value: f64,
    },
    /// A number outside its range.
    #[error("{key}: must be {rule}, got {value:?}")]
    OutOfRange {
        /// The setting.
        key: String,
        /// The range, in words.
        rule: &'static str,
        /// Its value.
        value: f64,
    },
    /// A vector of the wrong dimension.
    #[error("{key}: has {got} entries, the potential has dimension {expected}")]
    Dimension {
        /// The setting.
        key: String,
        /// The potential's dimension.
        expected: usize,
        /// The vector's.
        got: usize,
    },
    /// A required setting is missing.
    #[error("{key}: missing: {why}")]
    Missing {
        /// The setting.
        key: String,
        /// What it is for.
        why: &'static str,
    },
    /// Settings that do not go together.
    #[error("{key}: {why}")]
    Conflict {
        /// The setting.
        key: String,
        /// Why.
        why: String,
    },
}

type Result<T> = std::result::Result<T, BuildError>;

fn finite(key: &str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(BuildError::NotFinite {
            key: key.into(),
            value,
        })
    }
}

fn positive(key: &str, value: f64) -> Result<f64> {
    if finite(key, value)? > 0.0 {
        Ok(value)
    } else {
        Err(BuildError::OutOfRange {
            key: key.into(),
            rule: "> 0",
            value,
        })
    }
}

fn vector(key: &str, v: &[f64], n: usize) -> Result<()> {
    if v.len() != n {
        return Err(BuildError::Dimension {
            key: key.into(),
            expected: n,
            got: v.len(),
        });
    }
    v.iter().try_for_each(|&x| finite(key, x).map(|_| ()))
}

fn conflict(key: impl Into<String>, why: impl Into<String>) -> BuildError {
    BuildError::Conflict {
        key: key.into(),
        why: why.into(),
    }
}

/// The continuous run's settings, with the defaults of a `[continuous]` table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Continuous {
    method: Method,
    rtol: f64,
    atol: f64,
    t_end: f64,
    sample_interval: Option<f64>,
    step: Option<f64>,
    max_steps: u64,
    model: Model,
}

impl Default for Continuous {
    /// [`ContinuousSpec::default`]'s settings, `sample_interval` following `t_end`.
    fn default() -> Self {
        let d = ContinuousSpec::default();
        Continuous {
            method: d.method,
            rtol: d.rtol,
            atol: d.atol,
            t_end: d.t_end,
            sample_interval: None,
            step: d.step,
            max_steps: d.max_steps,
            model: d.model,
        }
    }
}

impl Continuous {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// The integrator.
    pub fn method(self, method: Method) -> Self {
        Continuous { method, ..self }
    }
    /// Relative and absolute tolerances of the adaptive methods.
    pub fn tolerances(self, rtol: f64, atol: f64) -> Self {
        Continuous { rtol, atol, ..self }
    }
    /// End of the time budget.
    pub fn t_end(self, t_end: f64) -> Self {
        Continuous { t_end, ..self }
    }
    /// Spacing of the trajectory rows (default t_end/1000).
    pub fn sample_interval(self, dt: f64) -> Self {
        Continuous {
            sample_interval: Some(dt),
            ..self
        }
    }
    /// The fixed step of `rk4` and `baoab`.
    pub fn step(self, h: f64) -> Self {
        Continuous {
            step: Some(h),
            ..self
        }
    }
    /// The solver's step budget.
    pub fn max_steps(self, max_steps: u64) -> Self {
        Continuous { max_steps, ..self }
    }
    /// The equation: the heavy ball's constant friction, or Nesterov's 3m/t.
    pub fn model(self, model: Model) -> Self {
        Continuous { model, ..self }
    }

    fn spec(&self, noisy: bool, potential: &dyn Potential) -> Result<ContinuousSpec> {
        let key = |k: &str| format!("continuous.{k}");
        positive(&key("rtol"), self.rtol)?;
        if self.rtol >= 1.0 {
            // As a scenario file's: a relative error of 100% or more controls nothing.
            return Err(BuildError::OutOfRange {
                key: key("rtol"),
                rule: "< 1",
                value: self.rtol,
            });
        }
        if self.rtol <= crate::dynamics::MIN_RTOL {
            // As a scenario file's: below a double's rounding no error can be controlled.
            return Err(BuildError::OutOfRange {
                key: key("rtol"),
                rule: "> 10·ε (2.2e-15)",
                value: self.rtol,
            });
        }
        positive(&key("atol"), self.atol)?;
        positive(&key("t_end"), self.t_end)?;
        if self.sample_interval.is_none() && self.t_end / 1000.0 < f64::MIN_POSITIVE {
            // Its default sample_interval, t_end/1000, would be below the smallest normal.
            return Err(BuildError::OutOfRange {
                key: key("t_end"),
                rule: ">= 1000 times the smallest normal number (its default sample_interval is t_end/1000), or give a sample_interval",
                value: self.t_end,
            });
        }
        let sample_interval = self.sample_interval.unwrap_or(self.t_end / 1000.0);
        positive(&key("sample_interval"), sample_interval)?;
        if self.method == Method::Bdf && self.model == Model::Nesterov {
            // As a scenario file's, and at its place among the checks: BDF is not wired for
            // a time-dependent friction.
            let why = "bdf is not wired for the Nesterov ODE's friction 3m/t (its Jacobian is singular at t = 0); use dopri5, dop853 or rk4";
            return Err(conflict(key("method"), why));
        }
        if let Some(h) = self.step {
            positive(&key("step"), h)?;
        }
        if self.max_steps == 0 {
            return Err(BuildError::OutOfRange {
                key: key("max_steps"),
                rule: ">= 1",
                value: 0.0,
            });
        }
        self.check_method(noisy, potential)?;
        Ok(ContinuousSpec {
            method: self.method,
            rtol: self.rtol,
            atol: self.atol,
            t_end: self.t_end,
            sample_interval,
            step: self.step,
            max_steps: self.max_steps,
            model: self.model,
        })
    }

    /// The method against the fixed step, the noise and the potential: the method that
    /// runs (`auto` under noise is BAOAB) must suit all three.
    fn check_method(&self, noisy: bool, potential: &dyn Potential) -> Result<()> {
        let key = |k: &str| format!("continuous.{k}");
        let method = match self.method {
            Method::Auto if noisy => Method::Baoab,
            m => m,
        };
        match (method, self.step) {
            (Method::Rk4 | Method::Baoab, None) => {
                return Err(BuildError::Missing {
                    key: key("step"),
                    why: "rk4 and baoab (the method under gradient noise) take a fixed step",
                });
            }
            (Method::Rk4 | Method::Baoab, Some(_)) | (_, None) => {}
            (m, Some(_)) => {
                let why = format!(
                    "a fixed step is for rk4 and baoab; {} chooses its own",
                    m.as_str()
                );
                return Err(conflict(key("step"), why));
            }
        }
        if noisy && !matches!(method, Method::Baoab) {
            let why = "under gradient noise the particle obeys an SDE: use baoab (or auto)";
            return Err(conflict(key("method"), why));
        }
        if method == Method::Bdf && !potential.has_hessian() {
            let why = "bdf needs the Hessian-vector product: implement Potential::hessian_vector_into and has_hessian";
            return Err(conflict(key("method"), why));
        }
        Ok(())
    }
}

/// One discrete run, with the defaults of a `[[discrete]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Discrete {
    scheme: Scheme,
    label: Option<String>,
    dt: Option<f64>,
    map: Option<Map>,
    learning_rate: Option<f64>,
    momentum: Option<f64>,
    form: Option<Form>,
    steps: Option<u64>,
}

impl Discrete {
    fn new(scheme: Scheme) -> Self {
        Discrete {
            scheme,
            label: None,
            dt: None,
            map: None,
            learning_rate: None,
            momentum: None,
            form: None,
            steps: None,
        }
    }
    /// Polyak's heavy ball `w ← w − ε∇E + p(w − w_prev)`.
    pub fn heavy_ball() -> Self {
        Self::new(Scheme::HeavyBall)
    }
    /// Nesterov's scheme `y = w + p(w − w_prev); w ← y − ε∇E(y)`.
    pub fn nesterov() -> Self {
        Self::new(Scheme::Nesterov)
    }
    /// Gradient descent `w ← w − ε∇E`.
    pub fn gradient_descent() -> Self {
        Self::new(Scheme::GradientDescent)
    }
    /// The `method` column's label (default `<scheme>-<i>`, i from 1).
    pub fn label(self, label: impl Into<String>) -> Self {
        Discrete {
            label: Some(label.into()),
            ..self
        }
    }
    /// Physical time of one step (default 1).
    pub fn dt(self, dt: f64) -> Self {
        Discrete {
            dt: Some(dt),
            ..self
        }
    }
    /// How (ε, p) follow from the particle and Δt (default Qian's).
    pub fn map(self, map: Map) -> Self {
        Discrete {
            map: Some(map),
            ..self
        }
    }
    /// An explicit learning rate (ε, or the form's α) instead of a map.
    pub fn learning_rate(self, learning_rate: f64) -> Self {
        Discrete {
            learning_rate: Some(learning_rate),
            ..self
        }
    }
    /// An explicit momentum (p, or the form's β).
    pub fn momentum(self, momentum: f64) -> Self {
        Discrete {
            momentum: Some(momentum),
            ..self
        }
    }
    /// How a heavy-ball update is written (see [`Form`]).
    pub fn form(self, form: Form) -> Self {
        Discrete {
            form: Some(form),
            ..self
        }
    }
    /// The step budget.
    pub fn steps(self, steps: u64) -> Self {
        Discrete {
            steps: Some(steps),
            ..self
        }
    }

    fn spec(&self, i: usize, t_end: Option<f64>, dt_swept: bool) -> Result<DiscreteSpec> {
        let key = |k: &str| format!("discrete[{}].{k}", i + 1);
        let dt = positive(&key("dt"), self.dt.unwrap_or(1.0))?;
        let params = self.params(&key, dt)?;
        Ok(DiscreteSpec {
            label: self
                .label
                .clone()
                .unwrap_or_else(|| format!("{}-{}", self.scheme.as_str(), i + 1)),
            scheme: self.scheme,
            form: self.written_form(&key, params)?,
            params,
            steps: self.budget(&key, t_end, dt, dt_swept)?,
        })
    }

    /// (ε, p): from the particle by a map (Qian's by default), or given.
    fn params(&self, key: &dyn Fn(&str) -> String, dt: f64) -> Result<DiscreteParams> {
        Ok(match (self.scheme, self.learning_rate, self.momentum) {
            (_, None, None) => {
                let map = self.map.unwrap_or(Map::Qian);
                if self.scheme == Scheme::GradientDescent && map != Map::Qian {
                    return Err(conflict(
                        key("map"),
                        "gradient descent comes from Qian's map at m = 0",
                    ));
                }
                DiscreteParams::FromParticle { dt, map }
            }
            (_, Some(_), _) if self.map.is_some() => {
                return Err(conflict(
                    key("map"),
                    "a map derives (ε, p): not with learning_rate",
                ));
            }
            (Scheme::GradientDescent, _, Some(_)) => {
                return Err(conflict(
                    key("momentum"),
                    "gradient descent has no momentum",
                ));
            }
            (Scheme::GradientDescent, Some(lr), None) => DiscreteParams::Explicit {
                learning_rate: finite(&key("learning_rate"), lr)?,
                momentum: 0.0,
                dt,
            },
            (_, Some(lr), Some(p)) => DiscreteParams::Explicit {
                learning_rate: finite(&key("learning_rate"), lr)?,
                momentum: finite(&key("momentum"), p)?,
                dt,
            },
            (_, None, Some(_)) => {
                return Err(BuildError::Missing {
                    key: key("learning_rate"),
                    why: "an explicit momentum needs its learning rate",
                });
            }
            (_, Some(_), None) => {
                return Err(BuildError::Missing {
                    key: key("momentum"),
                    why: "an explicit learning rate of a momentum scheme needs its momentum",
                });
            }
        })
    }

    /// How the update is written: any form for the heavy ball (Polyak's for a mapped one
    /// by default, else PyTorch's); the others have one.
    fn written_form(&self, key: &dyn Fn(&str) -> String, params: DiscreteParams) -> Result<Form> {
        match (self.scheme, self.form) {
            (Scheme::HeavyBall, Some(f)) => Ok(f),
            (_, Some(Form::PyTorch) | None) => Ok(match (self.scheme, params) {
                (Scheme::HeavyBall, DiscreteParams::FromParticle { .. }) => Form::Polyak,
                _ => Form::PyTorch,
            }),
            (_, Some(f)) => {
                let why = format!(
                    "{} is written one way; form {} is for heavy-ball",
                    self.scheme.as_str(),
                    f.as_str()
                );
                Err(conflict(key("form"), why))
            }
        }
    }

    /// The step budget: given, the continuous run's horizon t_end/dt (at most
    /// [`MAX_STEPS`] unless dt is swept), or the default.
    fn budget(
        &self,
        key: &dyn Fn(&str) -> String,
        t_end: Option<f64>,
        dt: f64,
        dt_swept: bool,
    ) -> Result<Budget> {
        match (self.steps, t_end) {
            (Some(0), _) => Err(BuildError::OutOfRange {
                key: key("steps"),
                rule: ">= 1",
                value: 0.0,
            }),
            (Some(s), _) => Ok(Budget::Steps(s)),
            (None, Some(t)) => {
                // As a float: ceil(t_end/dt) may be far past u64 (dt = 1e-300).
                let steps = (t / dt).ceil();
                if !dt_swept && steps > MAX_STEPS as f64 {
                    let why = format!(
                        "t_end/dt = {steps:e} steps (one trajectory row each) by default, more than {MAX_STEPS}; give steps or a larger dt"
                    );
                    return Err(conflict(key("steps"), why));
                }
                Ok(Budget::Horizon)
            }
            (None, None) => Ok(Budget::Default),
        }
    }
}

/// Builds a [`Problem`]: a potential, a particle, a continuous run and discrete entries,
/// a stop rule, noise, and optionally a grid. See the module's table for the defaults.
#[derive(Clone)]
pub struct ProblemBuilder {
    potential: Arc<dyn Potential>,
    mass: Option<f64>,
    friction: Option<f64>,
    position: Option<Vec<f64>>,
    velocity: Option<Vec<f64>>,
    continuous: Option<Continuous>,
    discrete: Vec<Discrete>,
    stop: StopSpec,
    gradient: Option<GradientSpec>,
    coordinates: Option<Vec<usize>>,
    axes: Vec<Axis>,
}

impl Problem {
    /// A builder on `potential` (a built-in one, or your own [`Potential`]).
    pub fn builder(potential: impl Potential + 'static) -> ProblemBuilder {
        Self::builder_shared(Arc::new(potential))
    }

    /// A builder on a shared potential.
    pub fn builder_shared(potential: Arc<dyn Potential>) -> ProblemBuilder {
        ProblemBuilder {
            potential,
            mass: None,
            friction: None,
            position: None,
            velocity: None,
            continuous: None,
            discrete: Vec::new(),
            stop: StopSpec::default(),
            gradient: None,
            coordinates: None,
            axes: Vec::new(),
        }
    }

    /// Runs every method of grid point `index` (0 for a single run) in memory.
    pub fn run_point(&self, index: u64) -> std::result::Result<PointResult, Error> {
        self.check_index(index)?;
        Ok(PointRunner::new(self).run(index))
    }

    /// Runs grid point `index` and keeps its trajectories (the tables of
    /// `continuous.csv`, `discrete.csv` and `comparison.csv`).
    pub fn run_traced(
        &self,
        index: u64,
    ) -> std::result::Result<(PointResult, Trajectories), Error> {
        self.check_index(index)?;
        let mut trajectories = Trajectories::default();
        let result = PointRunner::new(self).run_traced(index, &mut trajectories)?;
        Ok((result, trajectories))
    }

    fn check_index(&self, index: u64) -> std::result::Result<(), Error> {
        let points = self.points();
        if index < points {
            Ok(())
        } else {
            Err(Error::NoSuchPoint { index, points })
        }
    }

    /// Every summary row of the grid, in grid order (the rows of `summary.csv`), computed
    /// on `threads` workers of a thread of its own (with a copy of the problem) while the
    /// reader takes them: the first rows come once the first chunk (up to 256 points) is
    /// done, and the workers go on at most two reorder windows
    /// (2·[`crate::sweep::WINDOW`] points) ahead of the reader, so memory stays bounded
    /// whatever the grid's size. Dropping the iterator
    /// stops the workers after the points in hand and waits for them. The same rows, in the
    /// same order, for any `threads`.
    pub fn sweep_rows(&self, threads: usize) -> SweepRows {
        let problem = self.clone();
        let points = 0..self.points();
        // Two chunks in the channel whatever `threads` (4096 would hold as many chunks
        // beyond the window).
        let (tx, rx) = sync_channel::<Vec<PointResult>>(2);
        let producer = std::thread::Builder::new()
            .name("heavyball-sweep".into())
            .spawn(move || {
                let runner = PointRunner::new(&problem);
                // An error is the reader gone: the workers stop, nothing else to do.
                let _ = crate::sweep::in_order(
                    threads,
                    points,
                    &indicatif::ProgressBar::hidden(),
                    |chunk, results| *results = runner.run_chunk(chunk),
                    |results| tx.send(std::mem::take(results)),
                );
            })
            .expect("a thread for the sweep");
        SweepRows {
            batches: Some(rx),
            producer: Some(producer),
            ready: Vec::new().into_iter(),
        }
    }
}

/// The summary rows of a sweep in grid order; see [`Problem::sweep_rows`].
pub struct SweepRows {
    /// The points' results chunk by chunk, in grid order (None once they ended).
    batches: Option<Receiver<Vec<PointResult>>>,
    producer: Option<JoinHandle<()>>,
    ready: std::vec::IntoIter<SummaryRow>,
}

impl SweepRows {
    /// Waits for the producer; a panic of its own (the engine contains those of the
    /// points) goes on in the reader's thread.
    fn finish(&mut self) {
        self.batches = None;
        if let Some(Err(panic)) = self.producer.take().map(JoinHandle::join) {
            std::panic::resume_unwind(panic);
        }
    }
}

impl Iterator for SweepRows {
    type Item = SummaryRow;

    fn next(&mut self) -> Option<SummaryRow> {
        loop {
            if let Some(row) = self.ready.next() {
                return Some(row);
            }
            match self.batches.as_ref()?.recv() {
                Ok(results) => {
                    let rows: Vec<SummaryRow> = results.into_iter().flat_map(|p| p.rows).collect();
                    self.ready = rows.into_iter();
                }
                Err(_) => {
                    self.finish();
                    return None;
                }
            }
        }
    }
}

impl Drop for SweepRows {
    fn drop(&mut self) {
        // Without a reader the producer's next hand-over fails and its workers stop.
        self.batches = None;
        if let Some(producer) = self.producer.take() {
            let _ = producer.join();
        }
    }
}

impl ProblemBuilder {
    /// Mass m ≥ 0 (0: gradient flow).
    pub fn mass(mut self, m: f64) -> Self {
        self.mass = Some(m);
        self
    }
    /// Friction μ > 0.
    pub fn friction(mut self, mu: f64) -> Self {
        self.friction = Some(mu);
        self
    }
    /// w(0) (required).
    pub fn position(mut self, w: impl Into<Vec<f64>>) -> Self {
        self.position = Some(w.into());
        self
    }
    /// v(0) (default zero).
    pub fn velocity(mut self, v: impl Into<Vec<f64>>) -> Self {
        self.velocity = Some(v.into());
        self
    }
    /// The continuous run.
    pub fn continuous(mut self, c: Continuous) -> Self {
        self.continuous = Some(c);
        self
    }
    /// A discrete run (appended).
    pub fn discrete(mut self, d: Discrete) -> Self {
        self.discrete.push(d);
        self
    }
    /// The stop rule.
    pub fn stop(mut self, criterion: Criterion, tolerance: f64) -> Self {
        self.stop = StopSpec {
            criterion,
            tolerance,
            ..self.stop
        };
        self
    }
    /// The divergence distance (default 1e12).
    pub fn divergence(mut self, distance: f64) -> Self {
        self.stop.divergence = distance;
        self
    }
    /// Gaussian noise of standard deviation σ on every gradient coordinate, from `seed`:
    /// σ = 0 (no noise) or a normal number (at least 2.2e-308), else [`BuildError::OutOfRange`].
    pub fn noise(mut self, sigma: f64, seed: u64) -> Self {
        self.gradient = Some(GradientSpec { noise: sigma, seed });
        self
    }
    /// The per-coordinate trajectory columns (1-based).
    pub fn coordinates(mut self, coordinates: impl Into<Vec<usize>>) -> Self {
        self.coordinates = Some(coordinates.into());
        self
    }
    /// Sweeps `key` over `values` (see [`AxisSpec`]: logspace, linspace or a list); the
    /// grid is the product of the axes, the last key (in [`AxisKey::ALL`]'s order)
    /// varying fastest.
    pub fn sweep(mut self, key: AxisKey, values: AxisSpec) -> Self {
        self.axes.push(Axis { key, spec: values });
        self
    }

    /// Checks everything and makes the problem.
    pub fn build(self) -> Result<Problem> {
        let n = self.potential.dim();
        if n == 0 {
            return Err(BuildError::OutOfRange {
                key: "potential".into(),
                rule: "of dimension >= 1",
                value: 0.0,
            });
        }
        let grid = self.grid()?;
        let swept = |k| grid.as_ref().is_some_and(|g: &Sweep| g.sweeps(k));
        let particle = self.particle(n, &swept)?;
        let noisy = self.gradient.is_some_and(|g| g.noise > 0.0);
        if let Some(g) = self.gradient {
            let sigma = finite("gradient.noise", g.noise)?;
            if sigma < 0.0 {
                return Err(BuildError::OutOfRange {
                    key: "gradient.noise".into(),
                    rule: ">= 0",
                    value: sigma,
                });
            }
            if sigma > 0.0 && sigma < f64::MIN_POSITIVE {
                // As a scenario file's: σ√Δt would underflow to 0.
                return Err(BuildError::OutOfRange {
                    key: "gradient.noise".into(),
                    rule: "0 or >= the smallest normal number",
                    value: sigma,
                });
            }
        }
        let continuous = self
            .continuous
            .map(|c| c.spec(noisy, self.potential.as_ref()))
            .transpose()?;
        let t_end = continuous.map(|c| c.t_end);
        let discrete = self
            .discrete
            .iter()
            .enumerate()
            .map(|(i, d)| d.spec(i, t_end, swept(AxisKey::Dt)))
            .collect::<Result<Vec<_>>>()?;
        // The smallest mass any point has (a swept one included).
        let least_mass = grid
            .as_ref()
            .and_then(|g| g.axis(AxisKey::Mass))
            .map(|a| a.spec.values().fold(f64::INFINITY, f64::min))
            .or(particle.mass);
        if least_mass == Some(0.0) && self.continuous.is_some_and(|c| c.model == Model::Nesterov) {
            let why = "the Nesterov ODE w'' + (3/t) w' = -grad E / m needs m > 0 at every point";
            return Err(conflict("sweep.mass", why));
        }
        self.check_discrete(&discrete, &particle, least_mass)?;
        if let (Some(t_end), Some(axis)) = (t_end, grid.as_ref().and_then(|g| g.axis(AxisKey::Dt)))
        {
            let smallest = axis.spec.values().fold(f64::INFINITY, f64::min);
            let most = (t_end / smallest).ceil();
            if discrete.iter().any(|d| d.steps == Budget::Horizon) && most > MAX_STEPS as f64 {
                let why = format!(
                    "t_end/dt = {most:e} steps by default at dt = {smallest:?}, more than {MAX_STEPS}; give the entries steps"
                );
                return Err(conflict("sweep.dt", why));
            }
        }
        self.check_stop()?;
        self.check_coordinates(n)?;
        Ok(Problem {
            potential: self.potential,
            particle,
            continuous,
            discrete,
            stop: self.stop,
            gradient: self.gradient,
            coordinates: self.coordinates,
            grid,
        })
    }

    fn grid(&self) -> Result<Option<Sweep>> {
        if self.axes.is_empty() {
            return Ok(None);
        }
        let mut axes = self.axes.clone();
        axes.sort_by_key(|a| a.key);
        for (j, a) in axes.iter().enumerate() {
            let key = format!("sweep.{}", a.key.as_str());
            if j > 0 && axes[j - 1].key == a.key {
                return Err(conflict(key, "swept twice"));
            }
            if a.spec.is_empty() {
                return Err(conflict(key, "has no values"));
            }
            let logspace = matches!(a.spec, AxisSpec::Logspace { .. });
            for x in a.spec.values() {
                if logspace && x < f64::MIN_POSITIVE {
                    // A mass of 0 would run the massless limit; a subnormal, few digits.
                    return Err(BuildError::OutOfRange {
                        key,
                        rule: "a normal double (10^x for x above -307.65)",
                        value: x,
                    });
                }
                match a.key {
                    AxisKey::Mass if finite(&key, x)? < 0.0 => {
                        return Err(BuildError::OutOfRange {
                            key,
                            rule: ">= 0",
                            value: x,
                        });
                    }
                    AxisKey::Friction | AxisKey::Dt => {
                        positive(&key, x)?;
                    }
                    _ => {
                        finite(&key, x)?;
                    }
                }
            }
        }
        Ok(Some(Sweep { axes }))
    }

    fn particle(&self, n: usize, swept: &dyn Fn(AxisKey) -> bool) -> Result<Particle> {
        let position = self.position.clone().ok_or(BuildError::Missing {
            key: "particle.position".into(),
            why: "the particle needs a starting position",
        })?;
        vector("particle.position", &position, n)?;
        let velocity = self.velocity.clone().unwrap_or_else(|| vec![0.0; n]);
        vector("particle.velocity", &velocity, n)?;
        let nesterov = self.continuous.is_some_and(|c| c.model == Model::Nesterov);
        // Without a particle: a learning-rate × momentum sweep's twin, or explicit (ε, p)
        // entries alone.
        let explicit =
            !self.discrete.is_empty() && self.discrete.iter().all(|d| d.learning_rate.is_some());
        let twin = swept(AxisKey::LearningRate) || swept(AxisKey::Momentum);
        // A heavy-ball continuous run without mass and friction takes the twin of a first
        // entry with an explicit learning rate, as the file's [continuous] does.
        let single_twin = self.continuous.is_some()
            && !nesterov
            && !swept(AxisKey::Mass)
            && !swept(AxisKey::Friction)
            && self
                .discrete
                .first()
                .is_some_and(|d| d.learning_rate.is_some());
        let no_particle = twin || single_twin || (explicit && self.continuous.is_none());
        let (mass, friction) = self.mass_friction(nesterov, no_particle, single_twin)?;
        // After the friction and the mass, as a scenario file's checks run.
        if nesterov && velocity.iter().any(|&v| v != 0.0) {
            let why = "the Nesterov ODE starts at rest: its friction 3m/t is infinite at t = 0";
            return Err(conflict("particle.velocity", why));
        }
        Ok(Particle {
            mass,
            friction,
            position,
            velocity,
        })
    }

    /// The particle's (m, μ): none where it may be left out (`no_particle`: a twin, or
    /// explicit entries alone), m alone for Nesterov's ODE, else both.
    fn mass_friction(
        &self,
        nesterov: bool,
        no_particle: bool,
        single_twin: bool,
    ) -> Result<(Option<f64>, Option<f64>)> {
        Ok(match (self.mass, self.friction) {
            (None, None) if no_particle => (None, None),
            (Some(_), None) | (None, Some(_)) if single_twin => {
                let (given, other) = match self.mass {
                    Some(_) => ("mass", "friction"),
                    None => ("friction", "mass"),
                };
                let why = format!(
                    "{given} without {other}: a particle of your own needs both, and without both {}; give {other} too, or neither to take the twin",
                    self.first_twin()?
                );
                return Err(conflict(format!("particle.{given}"), why));
            }
            (Some(_), Some(_)) if nesterov => {
                let why = "the Nesterov ODE's friction is 3m/t: give no friction";
                return Err(conflict("particle.friction", why));
            }
            (Some(m), _) if nesterov => {
                if positive("particle.mass", m).is_err() {
                    let why = "the Nesterov ODE w'' + (3/t) w' = -grad E / m needs m > 0";
                    return Err(conflict("particle.mass", why));
                }
                (Some(m), None)
            }
            (Some(m), Some(mu)) => {
                if finite("particle.mass", m)? < 0.0 {
                    return Err(BuildError::OutOfRange {
                        key: "particle.mass".into(),
                        rule: ">= 0",
                        value: m,
                    });
                }
                (Some(m), Some(positive("particle.friction", mu)?))
            }
            (None, _) => {
                return Err(BuildError::Missing {
                    key: "particle.mass".into(),
                    why: "the particle needs mass = m >= 0",
                });
            }
            (Some(_), None) => {
                return Err(BuildError::Missing {
                    key: "particle.friction".into(),
                    why: "the particle needs friction = mu > 0",
                });
            }
        })
    }

    /// The twin of the first discrete entry, as messages say it.
    fn first_twin(&self) -> Result<String> {
        let d = self.discrete[0].spec(0, None, false)?;
        let c = crate::dynamics::maps::coefficients(d.scheme, d.form, d.params, None);
        Ok(crate::problem::twin_description(d.scheme, &c))
    }

    fn check_discrete(
        &self,
        discrete: &[DiscreteSpec],
        particle: &Particle,
        least_mass: Option<f64>,
    ) -> Result<()> {
        for (i, d) in discrete.iter().enumerate() {
            let key = |k: &str| format!("discrete[{}].{k}", i + 1);
            if discrete[..i].iter().any(|e| e.label == d.label) {
                return Err(conflict(
                    key("label"),
                    format!("\"{}\" is used twice", d.label),
                ));
            }
            if d.label == crate::dynamics::CONTINUOUS_LABEL {
                return Err(conflict(
                    key("label"),
                    crate::dynamics::RESERVED_LABEL.to_string(),
                ));
            }
            let from_particle = matches!(d.params, DiscreteParams::FromParticle { .. });
            if from_particle && particle.friction.is_none() {
                let mut why = "a map derives (ε, p) from the particle's mass and friction, which this problem does not give".to_string();
                if particle.mass.is_none() && !discrete.is_empty() && i > 0 {
                    why = format!("{why}: {}", self.first_twin()?);
                }
                return Err(conflict(key("map"), why));
            }
            if let DiscreteParams::FromParticle {
                map: Map::SymplecticEuler,
                ..
            } = d.params
                && least_mass == Some(0.0)
            {
                let why = "symplectic-euler divides by the mass: m > 0 at every point";
                return Err(conflict(key("map"), why));
            }
            if let Budget::Steps(steps) = d.steps
                && steps > MAX_STEPS
            {
                let why = format!(
                    "{steps} steps (one trajectory row each) is more than {MAX_STEPS}; give steps or a larger dt"
                );
                return Err(conflict(key("steps"), why));
            }
        }
        let twin = particle.mass.is_none();
        if twin
            && !discrete
                .first()
                .is_some_and(|d| !matches!(d.params, DiscreteParams::FromParticle { .. }))
        {
            let why = "a learning-rate or momentum sweep needs an explicit (learning_rate, momentum) first entry";
            return Err(conflict("sweep", why));
        }
        Ok(())
    }

    fn check_stop(&self) -> Result<()> {
        positive("stop.tolerance", self.stop.tolerance)?;
        positive("stop.divergence", self.stop.divergence)?;
        if let Some(why) = StopSpec::tolerance_problem(self.stop.criterion, self.stop.tolerance) {
            return Err(conflict("stop.tolerance", why));
        }
        if let Some(why) = StopSpec::divergence_problem(self.stop.divergence) {
            return Err(conflict("stop.divergence", why));
        }
        let (tolerance, divergence) = (self.stop.tolerance, self.stop.divergence);
        if let Some(why) = StopSpec::thresholds_problem(self.stop.criterion, tolerance, divergence)
        {
            return Err(conflict("stop.tolerance", why));
        }
        let needs_minimum = matches!(
            self.stop.criterion,
            Criterion::Distance | Criterion::Loss | Criterion::Energy
        );
        if needs_minimum && self.potential.minimum().is_none() {
            let why = format!(
                "the {} criterion needs the minimum w*: implement Potential::minimum, or use Criterion::Gradient",
                self.stop.criterion.as_str()
            );
            return Err(conflict("stop.criterion", why));
        }
        Ok(())
    }

    fn check_coordinates(&self, n: usize) -> Result<()> {
        let Some(list) = &self.coordinates else {
            return Ok(());
        };
        for (j, &i) in list.iter().enumerate() {
            if i == 0 || i > n {
                let why = format!("coordinate {i} is outside 1..={n}");
                return Err(conflict("output.coordinates", why));
            }
            if list[..j].contains(&i) {
                return Err(conflict(
                    "output.coordinates",
                    format!("coordinate {i} is listed twice"),
                ));
            }
        }
        Ok(())
    }
}
