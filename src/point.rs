//! One grid point of a [`Problem`], run in memory: the twin particle, the noise streams,
//! the continuous run and the discrete entries (in lanes where a chunk of points can share
//! them), and the summary rows with the closed-form theory beside each measured number.
//!
//! Nothing here touches a file: [`PointRunner::run`] returns a [`PointResult`];
//! [`PointRunner::run_traced`] also hands every trajectory row to a [`TrajectorySink`]
//! (in memory, or a CSV writer), whose failure stops the run and is returned.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use nalgebra::Dyn;

use crate::dynamics::discrete::{DiscreteRun, Iterates};
use crate::dynamics::maps::{self, Coefficients, NoTwin};
use crate::dynamics::noise::{CONTINUOUS_STREAM, GradientNoise};
use crate::dynamics::{Budget, ContinuousRun, ContinuousSpec, Scheme};
use crate::dynamics::{dopri_lanes, lanes};
use crate::error::Error;
use crate::number;
use crate::observe::{
    ContinuousObserver, Criterion, DiscreteObserver, RunReport, Status, StopRule,
    distance_to_minimum,
};
use crate::potential::{self, Potential};
use crate::problem::{Point, Problem, StateLayout};
use crate::theory::{self, Damping};

/// One row of `summary.csv`, as typed values: a run's report with the point's parameters
/// and the closed forms beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// Grid point index.
    pub point: u64,
    /// `continuous` or the discrete entry's label.
    pub method: Arc<str>,
    /// Particle mass (None where the row has no particle).
    pub mass: Option<f64>,
    /// Friction.
    pub friction: Option<f64>,
    /// Δt of a discrete entry (a noisy continuous run: the Δt that scales its noise).
    pub dt: Option<f64>,
    /// Effective ε.
    pub learning_rate: Option<f64>,
    /// Effective p.
    pub momentum: Option<f64>,
    /// The run's report: status, steps, evaluations, crossings, final value, noise floor.
    pub report: RunReport,
    /// The closed-form decay rate per unit time.
    pub theory_rate: Option<f64>,
    /// Spectral radius (discrete).
    pub theory_radius: Option<f64>,
    /// Stability verdict.
    pub theory_stable: Option<bool>,
    /// Continuous: speed-up factor of the slowest component.
    pub speedup: Option<f64>,
    /// Continuous: damping regime of the slowest component.
    pub damping: Option<Damping>,
    /// ζ = μ/(2√(m k_min)) of the row's particle (continuous, or the particle a discrete
    /// entry stands for) on the smallest Hessian eigenvalue k_min > 0; None for m = 0
    /// (ζ = ∞), the Nesterov ODE, or without a known k_min > 0.
    pub damping_ratio: Option<f64>,
    /// Discrete: the momentum minimising the spectral radius at this ε.
    pub optimal_momentum: Option<f64>,
    /// The noise floor's closed form (noisy runs on a quadratic).
    pub theory_noise_floor: Option<f64>,
    /// Remarks beyond the status's own (why a run stopped where it did, why a rate is
    /// missing): the `note` column joins the status's note and these with "; ".
    pub notes: Vec<String>,
}

impl SummaryRow {
    /// The `note` column's text.
    pub fn note(&self) -> String {
        self.note_parts().collect::<Vec<_>>().join(NOTE_SEPARATOR)
    }

    /// The `note` column's parts, in order, none empty: [`Self::note`] joins them with
    /// [`NOTE_SEPARATOR`].
    pub fn note_parts(&self) -> impl Iterator<Item = &str> + Clone {
        // A diverged run's report carries no rate note (`RateMeter::finish`): its own
        // remark says what happened.
        let own = self.report.status.note();
        std::iter::once(own)
            .chain(self.report.notes.iter().map(String::as_str))
            .chain(self.notes.iter().map(String::as_str))
            .filter(|s| !s.is_empty())
    }

    /// The measured decay rate of the distance's envelope over its last three decades.
    pub fn measured_rate(&self) -> Option<f64> {
        self.report.measured_rate
    }

    /// The time the criterion first met the tolerance.
    pub fn t_converged(&self) -> Option<f64> {
        self.report.crossings.tight
    }
}

/// What joins the parts of the `note` column ([`SummaryRow::note_parts`]).
pub const NOTE_SEPARATOR: &str = "; ";

/// What one grid point produced: its summary rows, continuous first, then the discrete
/// entries in order.
#[derive(Debug, Clone, PartialEq)]
pub struct PointResult {
    /// The grid point's index.
    pub index: u64,
    /// One row per run.
    pub rows: Vec<SummaryRow>,
}

/// The trajectory tables of a single run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trajectory {
    /// The continuous run's states every `sample_interval` (and at its end).
    Continuous,
    /// Every iterate of every discrete entry.
    Discrete,
    /// Each discrete step beside the continuous state at the same time.
    Comparison,
}

/// A discrete step beside the continuous state at its time (`comparison.csv`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComparisonRow {
    /// Step index k.
    pub step: u64,
    /// Its time k·Δt.
    pub t: f64,
    /// E of the continuous state (None past the continuous run's end).
    pub continuous_loss: Option<f64>,
    /// E of the iterate.
    pub discrete_loss: Option<f64>,
    /// |w − w*| of the continuous state.
    pub continuous_distance: Option<f64>,
    /// |w − w*| of the iterate.
    pub discrete_distance: Option<f64>,
    /// |w(t) − w_k|.
    pub gap: Option<f64>,
}

/// Receives a single run's trajectory rows as they happen. A row holds `t, loss, distance,
/// energy`, then (see [`StateLayout`]) the gradient norm and the chosen coordinates of w
/// and v. An error stops the run and is returned by [`PointRunner::run_traced`].
pub trait TrajectorySink {
    /// A table begins (each at most once, before its rows).
    fn begin(&mut self, table: Trajectory, layout: &StateLayout) -> Result<(), Error>;
    /// A row of the continuous run.
    fn continuous(&mut self, row: &[f64]) -> Result<(), Error>;
    /// A row of discrete entry `label` at step `k`.
    fn discrete(&mut self, label: &str, k: u64, row: &[f64]) -> Result<(), Error>;
    /// A comparison row of entry `label`.
    fn comparison(&mut self, label: &str, row: &ComparisonRow) -> Result<(), Error>;
    /// The table is complete.
    fn end(&mut self, table: Trajectory) -> Result<(), Error>;
}

/// Runs the points of one problem; what every point shares is computed once.
pub struct PointRunner<'a> {
    problem: &'a Problem,
    potential: &'a dyn Potential,
    spectrum: Option<&'a [f64]>,
    stop: StopRule,
    /// The `method` column of each run, `continuous` first: shared, not allocated per row.
    labels: Vec<Arc<str>>,
    /// The grid's axis values, computed once, when a chunk of points first needs them
    /// ([`crate::grid::Sweep::tables`]).
    axes: std::sync::OnceLock<Vec<Option<Vec<f64>>>>,
}

impl<'a> PointRunner<'a> {
    /// A runner for `problem`'s points.
    pub fn new(problem: &'a Problem) -> Self {
        let potential: &dyn Potential = problem.potential.as_ref();
        let labels = std::iter::once(crate::dynamics::CONTINUOUS_LABEL)
            .chain(problem.discrete.iter().map(|d| d.label.as_str()))
            .map(Arc::from)
            .collect();
        PointRunner {
            problem,
            potential,
            spectrum: potential.hessian_spectrum(),
            stop: StopRule::new(&problem.stop),
            labels,
            axes: std::sync::OnceLock::new(),
        }
    }

    /// The problem being run.
    pub fn problem(&self) -> &'a Problem {
        self.problem
    }

    /// The `method` of each of a point's rows, in row order: `continuous` (if the problem
    /// has a continuous run), then each discrete entry's label.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        let skip = usize::from(self.problem.continuous.is_none());
        self.labels.iter().skip(skip).map(|l| &**l)
    }

    /// Runs every method of grid point `index`. A panic (an engine bug, or a user's
    /// potential that panics) fails this point's rows with the panic's message.
    pub fn run(&self, index: u64) -> PointResult {
        self.run_chunk(index..index + 1)
            .pop()
            .expect("one point, one result")
    }

    /// Runs the consecutive points `indices`, one result each, in order. Their discrete
    /// runs that can share lanes run together (`dynamics::lanes`); a panic reruns the
    /// points one by one, so that it fails only its own point's rows.
    /// The chunk runs inside the potential's [`Potential::on_this_thread`].
    pub fn run_chunk(&self, indices: std::ops::Range<u64>) -> Vec<PointResult> {
        let mut results = Vec::new();
        self.problem.potential.on_this_thread(&mut || {
            let together = catch_unwind(AssertUnwindSafe(|| self.run_points(indices.clone())));
            results = match together {
                Ok(results) => results,
                Err(_) => indices.clone().map(|i| self.run_isolated(i)).collect(),
            };
        });
        results
    }

    /// One point alone; a panic becomes `failed` rows.
    fn run_isolated(&self, index: u64) -> PointResult {
        match catch_unwind(AssertUnwindSafe(|| self.run_points(index..index + 1))) {
            Ok(mut results) => results.pop().expect("one point, one result"),
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown".into());
                // `unreachable!` and friends already say "internal error".
                let why = match why.strip_prefix("internal error: ") {
                    Some(rest) => rest.to_string(),
                    None => why,
                };
                let failed =
                    RunReport::without_run(Status::Failed(format!("internal error: {why}")));
                let point = self.problem.point(index);
                let coefficients = self.coefficients(&point);
                let continuous = self.problem.continuous.as_ref().map(|_| failed.clone());
                let discrete = vec![failed; self.problem.discrete.len()];
                self.result(&point, &coefficients, continuous, discrete)
            }
        }
    }

    fn run_points(&self, indices: std::ops::Range<u64>) -> Vec<PointResult> {
        // A chunk looks its axis values up (a logspace value is a `pow`); a lone point, as a
        // single run or the API's `run_point`, computes its own rather than every table.
        let tables: &[Option<Vec<f64>>] = if indices.end - indices.start > 1 {
            let grid = self.problem.grid.as_ref();
            self.axes
                .get_or_init(|| grid.map_or_else(Vec::new, |g| g.tables()))
        } else {
            &[]
        };
        let points: Vec<(Point, Vec<Coefficients>)> = indices
            .map(|i| {
                let point = self.problem.point_in(i, tables);
                let coefficients = self.coefficients(&point);
                (point, coefficients)
            })
            .collect();
        let continuous = self.continuous_in_lanes(&points);
        let mut discrete = self.discrete_in_lanes(&points).into_iter();
        let entries = self.problem.discrete.len();
        points
            .iter()
            .zip(continuous)
            .map(|((point, coefficients), continuous)| {
                let reports = discrete.by_ref().take(entries);
                self.result(point, coefficients, continuous, reports)
            })
            .collect()
    }

    /// The points' continuous runs without observers (None without a `[continuous]` run):
    /// those the dopri5 lane kernel takes run together (`dynamics::dopri_lanes`), the rest
    /// one by one. Each report is the same either way.
    fn continuous_in_lanes(&self, points: &[(Point, Vec<Coefficients>)]) -> Vec<Option<RunReport>> {
        let Some(spec) = self.problem.continuous.as_ref() else {
            return vec![None; points.len()];
        };
        let mut reports: Vec<Option<RunReport>> = vec![None; points.len()];
        let (mut batch, mut slots) = (Vec::new(), Vec::new());
        for (k, (point, coefficients)) in points.iter().enumerate() {
            if let Ok((mass, friction)) = self.particle(point, coefficients)
                && self.continuous_noise(point.index, coefficients).is_none()
            {
                let run = self.continuous_run(mass, friction, None, spec);
                if dopri_lanes::lane_ready(&run) {
                    batch.push(run);
                    slots.push(k);
                    continue;
                }
            }
            reports[k] = self.continuous_alone(point, coefficients);
        }
        for (k, report) in slots.into_iter().zip(dopri_lanes::run_in_lanes(&batch)) {
            reports[k] = Some(report);
        }
        reports
    }

    /// A point's continuous run without observers (None without a `[continuous]` run).
    fn continuous_alone(&self, point: &Point, coefficients: &[Coefficients]) -> Option<RunReport> {
        let spec = self.problem.continuous.as_ref()?;
        Some(match self.particle(point, coefficients) {
            Ok((mass, friction)) => {
                let noise = self.continuous_noise(point.index, coefficients);
                let run = self.continuous_run(mass, friction, noise.as_ref(), spec);
                run.run(&mut ()).expect("() never fails")
            }
            Err(why) => RunReport::without_run(Status::Skipped(why.to_string())),
        })
    }

    fn continuous_run<'r>(
        &'r self,
        mass: f64,
        friction: f64,
        noise: Option<&'r GradientNoise>,
        spec: &'r crate::dynamics::ContinuousSpec,
    ) -> ContinuousRun<'r> {
        ContinuousRun {
            potential: self.potential,
            mass,
            friction,
            position: &self.problem.particle.position,
            velocity: &self.problem.particle.velocity,
            spec,
            stop: self.stop,
            noise,
        }
    }

    fn discrete_run(&self, point: &Point, entry: usize, c: &Coefficients) -> DiscreteRun<'a> {
        let problem = self.problem;
        DiscreteRun {
            potential: self.potential,
            scheme: problem.discrete[entry].scheme,
            coefficients: *c,
            position: &problem.particle.position,
            velocity: &problem.particle.velocity,
            steps: point.discrete[entry].1,
            stop: self.stop,
            noise: self.noise(point.index, entry),
        }
    }

    /// Every discrete run of the points, point-major; those that can share lanes run
    /// together, the rest one by one. Each report is the same either way.
    fn discrete_in_lanes(&self, points: &[(Point, Vec<Coefficients>)]) -> Vec<RunReport> {
        // Sized first: a flat map's collect grows (and copies) the vector as it goes.
        let mut runs: Vec<DiscreteRun<'_>> =
            Vec::with_capacity(points.len() * self.problem.discrete.len());
        runs.extend(points.iter().flat_map(|(point, coefficients)| {
            coefficients
                .iter()
                .enumerate()
                .map(|(entry, c)| self.discrete_run(point, entry, c))
        }));
        if runs.iter().all(lanes::lane_ready) {
            // A sweep's usual case: every run in lanes, no copy of the runs.
            return lanes::run_in_lanes(&runs);
        }
        let (laned, single): (Vec<usize>, Vec<usize>) =
            (0..runs.len()).partition(|&j| lanes::lane_ready(&runs[j]));
        let mut reports: Vec<Option<RunReport>> = vec![None; runs.len()];
        let batch: Vec<DiscreteRun<'_>> = laned.iter().map(|&j| runs[j].clone()).collect();
        for (j, report) in laned.into_iter().zip(lanes::run_in_lanes(&batch)) {
            reports[j] = Some(report);
        }
        for j in single {
            reports[j] = Some(runs[j].run(&mut ()).expect("() never fails"));
        }
        reports
            .into_iter()
            .map(|r| r.expect("every run reported"))
            .collect()
    }

    /// Runs grid point `index` with its trajectories: every discrete iterate, the
    /// continuous states every `sample_interval` and the comparison of the two go to
    /// `sink` as they happen. The sink's first error stops the run and is returned.
    pub fn run_traced(
        &self,
        index: u64,
        sink: &mut dyn TrajectorySink,
    ) -> Result<PointResult, Error> {
        let point = self.problem.point(index);
        let coefficients = self.coefficients(&point);
        // Discrete runs first: their step counts bound the comparison probes.
        let discrete = self.traced_discrete(&point, &coefficients, sink)?;
        let continuous = match &self.problem.continuous {
            None => None,
            Some(spec) => Some(match self.particle(&point, &coefficients) {
                Err(why) => RunReport::without_run(Status::Skipped(why.to_string())),
                Ok((mass, friction)) => {
                    let particle = (mass, friction);
                    self.traced_continuous(&point, &coefficients, particle, spec, &discrete, sink)?
                }
            }),
        };
        Ok(self.result(&point, &coefficients, continuous, discrete))
    }

    fn traced_discrete(
        &self,
        point: &Point,
        coefficients: &[Coefficients],
        sink: &mut dyn TrajectorySink,
    ) -> Result<Vec<RunReport>, Error> {
        if coefficients.is_empty() {
            return Ok(Vec::new());
        }
        let layout = self.problem.layout();
        sink.begin(Trajectory::Discrete, &layout)?;
        let mut reports = Vec::with_capacity(coefficients.len());
        for (entry, c) in coefficients.iter().enumerate() {
            let label = &self.problem.discrete[entry].label;
            let mut rows = DiscreteRows::new(&mut *sink, label, self.potential, c, layout.clone());
            reports.push(self.discrete_run(point, entry, c).run(&mut rows)?);
        }
        sink.end(Trajectory::Discrete)?;
        Ok(reports)
    }

    fn traced_continuous(
        &self,
        point: &Point,
        coefficients: &[Coefficients],
        (mass, friction): (f64, f64),
        spec: &crate::dynamics::ContinuousSpec,
        discrete: &[RunReport],
        sink: &mut dyn TrajectorySink,
    ) -> Result<RunReport, Error> {
        let problem = self.problem;
        let potential = self.potential;
        let (position, velocity) = (
            &problem.particle.position[..],
            &problem.particle.velocity[..],
        );
        let layout = problem.layout();
        sink.begin(Trajectory::Continuous, &layout)?;
        let probes = problem
            .discrete
            .iter()
            .zip(coefficients)
            .zip(discrete)
            .map(|((d, c), r)| {
                Probe::new(
                    potential, d.scheme, &d.label, c, r.steps, position, velocity,
                )
            })
            .collect();
        let n = potential.dim();
        let mut observer = SingleRun {
            potential,
            mass,
            samples: Samples {
                interval: spec.sample_interval,
                next: 0,
                last: None,
                row: Vec::with_capacity(5 + 2 * n),
                tail: StateTail::new(layout.clone(), n),
            },
            probes,
            sink: &mut *sink,
        };
        let noise = self.continuous_noise(point.index, coefficients);
        let report = self
            .continuous_run(mass, friction, noise.as_ref(), spec)
            .run(&mut observer)?;
        let probes = std::mem::take(&mut observer.probes);
        sink.end(Trajectory::Continuous)?;
        if !probes.is_empty() {
            sink.begin(Trajectory::Comparison, &layout)?;
            for probe in &probes {
                probe.send(sink)?;
            }
            sink.end(Trajectory::Comparison)?;
        }
        Ok(report)
    }

    /// The gradient noise of discrete entry `entry` at grid point `point` (its own stream).
    fn noise(&self, point: u64, entry: usize) -> Option<GradientNoise> {
        self.problem
            .gradient
            .filter(|g| g.noise > 0.0)
            .map(|g| GradientNoise::new(g.noise, g.seed, point, entry as u64))
    }

    /// The continuous run's Langevin noise at a point (its own stream), if the gradient
    /// is noisy: σ per evaluation, one evaluation standing for Δt (see [`Self::noise_dt`]),
    /// is a force noise of intensity σ√Δt (`dynamics::langevin`).
    fn continuous_noise(&self, point: u64, coefficients: &[Coefficients]) -> Option<GradientNoise> {
        let dt = self.noise_dt(coefficients);
        self.problem
            .gradient
            .filter(|g| g.noise > 0.0)
            .map(|g| GradientNoise::new(g.noise * dt.sqrt(), g.seed, point, CONTINUOUS_STREAM))
    }

    /// The time one noisy gradient evaluation stands for in the continuous run.
    fn noise_dt(&self, coefficients: &[Coefficients]) -> f64 {
        maps::langevin_dt(coefficients.first())
    }

    /// σ of a noisy gradient.
    fn sigma(&self) -> Option<f64> {
        self.problem.gradient.map(|g| g.noise).filter(|&s| s > 0.0)
    }

    /// Each discrete entry's effective (ε, p) at a point.
    pub fn coefficients(&self, point: &Point) -> Vec<Coefficients> {
        self.problem
            .discrete
            .iter()
            .zip(&point.discrete)
            .map(|(d, (params, _))| maps::coefficients(d.scheme, d.form, *params, point.particle))
            .collect()
    }

    /// The continuous particle at a point, or why it has none (SPEC: the twin of a
    /// learning-rate × momentum sweep exists for 0 ≤ p < 1, ε > 0).
    fn particle(&self, point: &Point, coefficients: &[Coefficients]) -> Result<(f64, f64), NoTwin> {
        if let Some(particle) = point.particle {
            return Ok(particle);
        }
        let c = coefficients
            .first()
            .expect("a particle without mass has a twin entry (validated)");
        let scheme = self.problem.discrete[0].scheme;
        c.particle
            .ok_or_else(|| NoTwin::of(scheme, c.learning_rate, c.momentum))
    }

    /// The summary rows of one point: continuous first, then the discrete entries.
    fn result(
        &self,
        point: &Point,
        coefficients: &[Coefficients],
        continuous: Option<RunReport>,
        discrete: impl IntoIterator<Item = RunReport>,
    ) -> PointResult {
        let mut rows = Vec::with_capacity(1 + self.problem.discrete.len());
        if let Some(report) = continuous {
            rows.push(self.continuous_row(point, coefficients, report));
        }
        for (entry, (c, report)) in coefficients.iter().zip(discrete).enumerate() {
            rows.push(self.discrete_row(point, entry, c, report));
        }
        PointResult {
            index: point.index,
            rows,
        }
    }

    fn continuous_row(
        &self,
        point: &Point,
        coefficients: &[Coefficients],
        report: RunReport,
    ) -> SummaryRow {
        // The Nesterov ODE (NaN friction, 3m/t) has no constant-coefficient theory.
        let particle = self.particle(point, coefficients).ok();
        let theory = particle.filter(|p| !p.1.is_nan()).zip(self.spectrum);
        let slowest = theory
            .and_then(|((m, mu), ks)| theory::slowest_component(m, mu, ks).map(|k| (m, mu, k)));
        // The row carries the point's swept values; a twin carries its entry's (ε, p, Δt).
        let (dt, learning_rate, momentum) = match (point.particle, coefficients.first()) {
            (None, Some(c)) => (Some(c.dt), Some(c.learning_rate), Some(c.momentum)),
            // A noisy particle's Δt scales its noise (`continuous_noise`): show it.
            _ if self.sigma().is_some() => (Some(self.noise_dt(coefficients)), None, None),
            _ => (point.values.dt, None, None),
        };
        SummaryRow {
            point: point.index,
            method: self.labels[0].clone(),
            mass: particle.map(|p| p.0),
            friction: particle.map(|p| p.1).filter(|mu| !mu.is_nan()),
            dt,
            learning_rate,
            momentum,
            theory_rate: theory.map(|((m, mu), ks)| theory::continuous_rate(m, mu, ks)),
            theory_radius: None,
            theory_stable: particle.zip(self.spectrum).map(|_| true),
            speedup: slowest.and_then(|(m, mu, k)| theory::speedup(m, mu, k)),
            damping: slowest.map(|(m, mu, k)| theory::damping(m, mu, k)),
            damping_ratio: particle.and_then(|p| self.damping_ratio(p)),
            optimal_momentum: None,
            theory_noise_floor: particle
                .and_then(|(m, mu)| self.continuous_noise_floor(m, mu, coefficients)),
            notes: self.continuous_notes(&report),
            report,
        }
    }

    /// Why a continuous run stopped where it did: the time it spent, or how it diverged.
    fn continuous_notes(&self, report: &RunReport) -> Vec<String> {
        let t_end = self.problem.continuous.as_ref().map(|c| c.t_end);
        match (&report.status, t_end) {
            (Status::NotConverged, Some(t_end)) => {
                // Equal to the default whether written or not: a resolved scenario.toml
                // (which writes it) says the same when run again.
                let origin = if t_end == ContinuousSpec::default().t_end {
                    "the default"
                } else {
                    "given"
                };
                vec![format!(
                    "budget spent: t_end = {t_end} ({origin}) reached without meeting the criterion"
                )]
            }
            (Status::Diverged, _) => {
                vec![self.divergence_note(report, format_args!("t = {}", report.end_time))]
            }
            _ => Vec::new(),
        }
    }

    /// Why a discrete run stopped where it did: the step budget it spent and where that
    /// budget came from, or how it diverged.
    fn discrete_notes(&self, entry: usize, dt: f64, steps: u64, report: &RunReport) -> Vec<String> {
        match report.status {
            Status::NotConverged => {
                let origin = match self.problem.discrete[entry].steps {
                    Budget::Steps(_) => "(given)".to_string(),
                    Budget::Default => "(default without [continuous])".to_string(),
                    Budget::Horizon => {
                        let t_end = self
                            .problem
                            .continuous
                            .as_ref()
                            .map_or(f64::NAN, |c| c.t_end);
                        format!("= ceil(t_end/dt) = ceil({t_end}/{dt})")
                    }
                };
                vec![format!("budget spent: steps = {steps} {origin}")]
            }
            Status::Diverged => {
                vec![self.divergence_note(report, format_args!("step {}", report.steps))]
            }
            _ => Vec::new(),
        }
    }

    /// How a run diverged: the distance that passed the threshold, or the value that
    /// stopped being finite, and where (`at`: "step 9", "t = 1.5").
    fn divergence_note(&self, report: &RunReport, at: std::fmt::Arguments<'_>) -> String {
        use std::io::Write as _;
        let divergence = self.stop.divergence;
        let known = self.potential.minimum().is_some();
        let distance = if known { "|w - w*|" } else { "|w|" };
        let mut note = Vec::with_capacity(96);
        // `{:e}` by `number::push_exp`: a fifth of W1's points diverge, and the standard
        // library's formatting of these two numbers was 2% of its sweep.
        // Writing into a `Vec` cannot fail.
        let write = |note: &mut Vec<u8>| -> std::io::Result<()> {
            match (self.stop.criterion, report.final_value) {
                (Criterion::Distance, Some(d)) => {
                    note.extend_from_slice(distance.as_bytes());
                    note.extend_from_slice(b" = ");
                    number::push_exp(note, d);
                    note.extend_from_slice(b" passed divergence = ");
                    number::push_exp(note, divergence);
                    write!(note, " at {at}")
                }
                // The distance's square overflowed (|w - w*| beyond ~1.3e154: a finite
                // start can be there) or the state stopped being finite.
                (Criterion::Distance, None) => {
                    write!(note, "{distance} beyond 1e154 or not finite at {at}")
                }
                (c, Some(v)) => {
                    write!(note, "{distance} passed divergence = ")?;
                    number::push_exp(note, divergence);
                    write!(note, " at {at} ({} = ", c.as_str())?;
                    number::push_exp(note, v);
                    write!(note, " there)")
                }
                (c, None) => {
                    write!(note, "{distance} passed divergence = ")?;
                    number::push_exp(note, divergence);
                    write!(
                        note,
                        " or the state stopped being finite at {at} ({} not finite there)",
                        c.as_str()
                    )
                }
            }
        };
        let _ = write(&mut note);
        String::from_utf8(note).expect("the note is UTF-8")
    }

    /// Equipartition's floor for the continuous particle under noise, where BAOAB is
    /// stable (beyond its edge the run diverges: no floor to predict).
    fn continuous_noise_floor(
        &self,
        m: f64,
        mu: f64,
        coefficients: &[Coefficients],
    ) -> Option<f64> {
        let sigma = self.sigma()?;
        let dt = self.noise_dt(coefficients);
        (!mu.is_nan()).then_some(())?;
        let step = self
            .problem
            .continuous
            .as_ref()
            .and_then(|c| c.baoab_step());
        let k_max = self.spectrum.and_then(|ks| ks.last().copied());
        if let (Some(h), Some(k_max)) = (step, k_max) {
            theory::baoab_stable(m, mu, h, k_max).then_some(())?;
        }
        let curved = potential::curved_directions(self.potential)?;
        Some(theory::continuous_noise_floor(
            curved,
            sigma * sigma * dt,
            mu,
        ))
    }

    /// ζ = μ/(2√(m k_min)) of a particle on the spectrum's smallest eigenvalue (the
    /// critical line is ζ = 1); None for m = 0, NaN friction (Nesterov's ODE), or
    /// without a known k_min > 0.
    fn damping_ratio(&self, (m, mu): (f64, f64)) -> Option<f64> {
        let k_min = self.spectrum?.first().copied()?;
        (m > 0.0 && k_min > 0.0 && !mu.is_nan()).then(|| theory::damping_ratio(m, mu, k_min))
    }

    fn discrete_row(
        &self,
        point: &Point,
        entry: usize,
        c: &Coefficients,
        report: RunReport,
    ) -> SummaryRow {
        let d = &self.problem.discrete[entry];
        // No theory for (ε, p) that are not numbers (the run is skipped): NaN would take the
        // complex-root branch of the radius and read "stable".
        let finite = c.not_finite().is_none();
        let spectrum = self.spectrum.filter(|_| finite);
        let radius = spectrum.map(|ks| discrete_radius(d.scheme, c, ks));
        let optimal_momentum = spectrum.and_then(|ks| match d.scheme {
            Scheme::HeavyBall => theory::optimal_momentum_for(c.learning_rate, ks),
            Scheme::Nesterov => theory::nesterov_optimal_momentum_for(c.learning_rate, ks),
            Scheme::GradientDescent => None,
        });
        let theory_noise_floor = self
            .sigma()
            .filter(|_| finite)
            .zip(potential::full_spectrum(self.potential))
            .and_then(|(sigma, ks)| {
                let nesterov = d.scheme == Scheme::Nesterov;
                theory::discrete_noise_floor(nesterov, c.learning_rate, c.momentum, sigma, ks)
            });
        SummaryRow {
            point: point.index,
            method: self.labels[entry + 1].clone(),
            mass: c.particle.map(|p| p.0),
            friction: c.particle.map(|p| p.1),
            dt: Some(c.dt),
            learning_rate: Some(c.learning_rate),
            momentum: Some(c.momentum),
            theory_rate: radius.map(|rho| theory::rate_per_time(rho, c.dt)),
            theory_radius: radius,
            theory_stable: radius.map(|rho| rho < 1.0),
            speedup: None,
            damping: None,
            damping_ratio: c.particle.and_then(|p| self.damping_ratio(p)),
            optimal_momentum,
            theory_noise_floor,
            notes: self.discrete_notes(entry, c.dt, point.discrete[entry].1, &report),
            report,
        }
    }
}

/// Spectral radius of a discrete scheme on a Hessian spectrum (SPEC: theory columns by scheme).
pub fn discrete_radius(scheme: Scheme, c: &Coefficients, ks: &[f64]) -> f64 {
    ks.iter()
        .map(|&k| match scheme {
            Scheme::HeavyBall => theory::heavy_ball_radius(c.learning_rate, c.momentum, k),
            Scheme::Nesterov => theory::nesterov_radius(c.learning_rate, c.momentum, k),
            Scheme::GradientDescent => theory::gradient_descent_radius(c.learning_rate, k),
        })
        .fold(0.0, f64::max)
}

/// The state columns after `t, loss, distance, energy` (see [`StateLayout`]), with the
/// gradient buffer the gradient norm needs.
struct StateTail {
    layout: StateLayout,
    g: Vec<f64>,
}

impl StateTail {
    fn new(layout: StateLayout, n: usize) -> Self {
        let g = vec![0.0; if layout.gradient_norm { n } else { 0 }];
        StateTail { layout, g }
    }

    /// Appends |∇E(w)| (large n; `g` when the caller has ∇E(w) at hand) and the chosen
    /// coordinates of w and v to `row`.
    fn push(
        &mut self,
        p: &dyn Potential,
        w: &[f64],
        v: &[f64],
        g: Option<&[f64]>,
        row: &mut Vec<f64>,
    ) {
        if self.layout.gradient_norm {
            let g = match g {
                Some(g) => g,
                None => {
                    p.gradient_into(w, &mut self.g);
                    &self.g
                }
            };
            row.push(g.iter().map(|x| x * x).sum::<f64>().sqrt());
        }
        row.extend(self.layout.coordinates.iter().map(|&i| w[i]));
        row.extend(self.layout.coordinates.iter().map(|&i| v[i]));
    }
}

/// `t, loss, distance, energy` of a state (energy = ½m|v|² + E).
fn state_columns(p: &dyn Potential, mass: f64, t: f64, w: &[f64], v: &[f64]) -> [f64; 4] {
    let loss = p.value(w);
    let kinetic = 0.5 * mass * v.iter().map(|x| x * x).sum::<f64>();
    let distance = distance_to_minimum(p, w).unwrap_or(f64::NAN);
    [t, loss, distance, kinetic + loss]
}

/// Sends one discrete entry's rows to the sink.
struct DiscreteRows<'s, 'a> {
    sink: &'s mut dyn TrajectorySink,
    label: &'a str,
    potential: &'a dyn Potential,
    energy_mass: f64,
    dt: f64,
    tail: StateTail,
    v: Vec<f64>,
    row: Vec<f64>,
}

impl<'s, 'a> DiscreteRows<'s, 'a> {
    fn new(
        sink: &'s mut dyn TrajectorySink,
        label: &'a str,
        potential: &'a dyn Potential,
        c: &Coefficients,
        layout: StateLayout,
    ) -> Self {
        let n = potential.dim();
        DiscreteRows {
            sink,
            label,
            potential,
            energy_mass: c.energy_mass,
            dt: c.dt,
            tail: StateTail::new(layout, n),
            v: vec![0.0; n],
            row: Vec::new(),
        }
    }

    fn send(
        &mut self,
        k: u64,
        t: f64,
        w: &[f64],
        w_prev: &[f64],
        g: Option<&[f64]>,
    ) -> Result<(), Error> {
        for ((v, a), b) in self.v.iter_mut().zip(w).zip(w_prev) {
            *v = (a - b) / self.dt;
        }
        self.row.clear();
        let state = state_columns(self.potential, self.energy_mass, t, w, &self.v);
        self.row.extend_from_slice(&state);
        self.tail.push(self.potential, w, &self.v, g, &mut self.row);
        self.sink.discrete(self.label, k, &self.row)
    }
}

impl DiscreteObserver for DiscreteRows<'_, '_> {
    fn step(&mut self, k: u64, t: f64, w: &[f64], w_prev: &[f64]) -> Result<(), Error> {
        self.send(k, t, w, w_prev, None)
    }

    fn wants_gradient(&self) -> bool {
        self.tail.layout.gradient_norm
    }

    fn step_with_gradient(
        &mut self,
        k: u64,
        t: f64,
        w: &[f64],
        w_prev: &[f64],
        g: &[f64],
    ) -> Result<(), Error> {
        self.send(k, t, w, w_prev, Some(g))
    }
}

/// The continuous rows, every `interval` plus the final time.
struct Samples {
    interval: f64,
    next: u64,
    last: Option<f64>,
    row: Vec<f64>,
    tail: StateTail,
}

impl Samples {
    fn next_time(&self) -> f64 {
        // j/N rather than j·Δ when Δ = 1/N, so that 289 × 0.05 reads 14.45, not 14.450000000000001.
        let per_unit = 1.0 / self.interval;
        if per_unit.is_finite() && per_unit == per_unit.round() {
            self.next as f64 / per_unit
        } else {
            self.next as f64 * self.interval
        }
    }
}

/// A discrete entry re-run beside the continuous solution, read at each step's time.
struct Probe<'a> {
    label: &'a str,
    dt: f64,
    last_step: u64,
    next: u64,
    iterates: Iterates<'a, Dyn, dyn Potential + 'a>,
    at: u64,
    rows: Vec<ComparisonRow>,
}

impl<'a> Probe<'a> {
    fn new(
        potential: &'a dyn Potential,
        scheme: Scheme,
        label: &'a str,
        c: &Coefficients,
        last_step: u64,
        position: &'a [f64],
        velocity: &'a [f64],
    ) -> Self {
        Probe {
            label,
            dt: c.dt,
            last_step,
            next: 0,
            iterates: Iterates::new(potential, scheme, c, position, velocity),
            at: 0,
            rows: Vec::with_capacity(last_step as usize + 1),
        }
    }

    fn next_time(&self) -> Option<f64> {
        (self.next <= self.last_step).then_some(self.next as f64 * self.dt)
    }

    /// Records step `next` against the continuous state `w` (None past its end).
    fn record(&mut self, potential: &dyn Potential, w: Option<&[f64]>) {
        while self.at < self.next {
            self.iterates.step();
            self.at += 1;
        }
        let wk = self.iterates.w();
        let gap = |w: &[f64]| {
            w.iter()
                .zip(wk)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt()
        };
        self.rows.push(ComparisonRow {
            step: self.next,
            t: self.next as f64 * self.dt,
            continuous_loss: w.map(|w| potential.value(w)),
            discrete_loss: Some(potential.value(wk)),
            continuous_distance: w.and_then(|w| distance_to_minimum(potential, w)),
            discrete_distance: distance_to_minimum(potential, wk),
            gap: w.map(gap),
        });
        self.next += 1;
    }

    fn send(&self, sink: &mut dyn TrajectorySink) -> Result<(), Error> {
        self.rows
            .iter()
            .try_for_each(|row| sink.comparison(self.label, row))
    }
}

/// The observer of a single run's continuous solution: rows and comparison probes.
struct SingleRun<'s, 'a> {
    potential: &'a dyn Potential,
    mass: f64,
    samples: Samples,
    probes: Vec<Probe<'a>>,
    sink: &'s mut dyn TrajectorySink,
}

impl SingleRun<'_, '_> {
    fn send_row(&mut self, t: f64, w: &[f64], v: &[f64]) -> Result<(), Error> {
        let s = &mut self.samples;
        s.row.clear();
        s.row
            .extend_from_slice(&state_columns(self.potential, self.mass, t, w, v));
        s.tail.push(self.potential, w, v, None, &mut s.row);
        s.last = Some(t);
        self.sink.continuous(&s.row)
    }
}

impl ContinuousObserver for SingleRun<'_, '_> {
    fn next_time(&self) -> Option<f64> {
        let first = self
            .probes
            .iter()
            .filter_map(Probe::next_time)
            .fold(self.samples.next_time(), f64::min);
        Some(first)
    }

    fn observe(&mut self, t: f64, w: &[f64], v: &[f64]) -> Result<(), Error> {
        if self.samples.next_time() == t {
            self.samples.next += 1;
            self.send_row(t, w, v)?;
        }
        for probe in &mut self.probes {
            if probe.next_time() == Some(t) {
                probe.record(self.potential, Some(w));
            }
        }
        Ok(())
    }

    fn finish(&mut self, t: f64, w: &[f64], v: &[f64]) -> Result<(), Error> {
        if self.samples.last != Some(t) {
            self.send_row(t, w, v)?;
        }
        // Discrete steps past the continuous run's end have no continuous partner.
        for probe in &mut self.probes {
            while probe.next_time().is_some() {
                probe.record(self.potential, None);
            }
        }
        Ok(())
    }
}
