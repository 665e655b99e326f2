//! Driving scenarios: a batch of files, each validated then run into its own atomic result
//! folder. A single run writes the summary, the continuous and discrete trajectories, and
//! their comparison.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use nalgebra::Dyn;

use crate::dynamics::continuous::ContinuousRun;
use crate::dynamics::discrete::{DiscreteRun, Iterates};
use crate::dynamics::lanes;
use crate::dynamics::maps::{self, Coefficients};
use crate::dynamics::noise::{CONTINUOUS_STREAM, GradientNoise};
use crate::error::{Error, InputError};
use crate::observe::{
    ContinuousObserver, DiscreteObserver, RunReport, Status, StopRule, distance_to_minimum,
};
use crate::output::columns::{self, Column, StateLayout};
use crate::output::{CsvFile, Field, ResultDir, Rows, RunFacts, SummaryRow, scenario_hash};
use crate::potential::{self, Potential};
use crate::scenario::{self, Point, Scenario, Scheme};
use crate::sweep::{self, Shard};
use crate::theory;

/// Options of `heavyball run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output root (`OUT/<name>/` per scenario).
    pub out: PathBuf,
    /// Worker threads of a sweep.
    pub threads: usize,
    /// Run only this slice of each grid, into `OUT/<name>/shards/I-of-N/`.
    pub shard: Option<Shard>,
    /// Show a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// What happened to one input of a batch.
#[derive(Debug)]
pub struct Outcome {
    /// The scenario file (or path) as given.
    pub input: PathBuf,
    /// The result folder, or why there is none.
    pub result: Result<PathBuf, Error>,
}

/// Loads every scenario under `paths` (directories: their `*.toml`, in name order),
/// reporting each file's outcome to `report` as soon as it is known. Bad files do not stop
/// the others; two files writing the same result folder are an error for the second.
pub fn load_all(paths: &[PathBuf], mut report: impl FnMut(Outcome)) -> Vec<(PathBuf, Scenario)> {
    let mut loaded: Vec<(PathBuf, Scenario)> = Vec::new();
    for item in scenario::collect_paths(paths) {
        match item {
            Err(e) => report(Outcome {
                input: e.file.clone(),
                result: Err(e.into()),
            }),
            Ok(path) => match scenario::load(&path) {
                Err(e) => report(Outcome {
                    input: path,
                    result: Err(e.into()),
                }),
                Ok(s) => {
                    if let Some((first, _)) = loaded.iter().find(|(_, o)| o.name == s.name) {
                        let e = InputError {
                            file: path.clone(),
                            position: None,
                            key: "name".into(),
                            message: format!(
                                "\"{}\" is also the name of {}; each scenario of a batch needs its own result folder",
                                s.name,
                                first.display()
                            ),
                        };
                        report(Outcome {
                            input: path,
                            result: Err(e.into()),
                        });
                    } else {
                        loaded.push((path, s));
                    }
                }
            },
        }
    }
    loaded
}

/// Validates and runs every scenario under `paths`, reporting each outcome as it happens.
pub fn run_paths(paths: &[PathBuf], options: &RunOptions, mut report: impl FnMut(Outcome)) {
    for (path, scenario) in load_all(paths, &mut report) {
        let result = run_scenario(&scenario, options);
        report(Outcome {
            input: path,
            result,
        });
    }
}

/// Runs one scenario into `OUT/<name>/` (or its shard folder), atomically.
pub fn run_scenario(s: &Scenario, options: &RunOptions) -> Result<PathBuf, Error> {
    let started = SystemTime::now();
    let clock = Instant::now();
    let potential = potential::build(&s.potential);
    let setup = Setup::new(s, potential.as_ref());
    let points = s.points();
    let (root, folder, range) = match options.shard {
        Some(shard) => (
            options.out.join(&s.name).join("shards"),
            shard.folder(),
            shard.range(points),
        ),
        None => (options.out.clone(), s.name.clone(), 0..points),
    };
    let dir = ResultDir::begin(&root, &folder)?;
    let resolved = s.to_toml();
    let path = dir.path().join("scenario.toml");
    std::fs::write(&path, &resolved).map_err(|e| Error::io(&path, e))?;

    let mut files = vec![("summary.csv".to_string(), columns::summary())];
    let mut summary = CsvFile::create(
        &dir.path().join("summary.csv"),
        &columns::names(&columns::summary()),
    )?;
    let mut threads = 1;
    if s.is_sweep() {
        threads = options
            .threads
            .clamp(1, (range.end - range.start).max(1) as usize);
        let bar = sweep::progress_bar(&s.name, range.end - range.start, options.progress);
        sweep::stream(
            range.clone(),
            threads,
            &bar,
            |points, rows| setup.sweep_points(points, rows),
            &mut summary,
        )?;
    } else if range.contains(&0) {
        // A single run: the grid of one point, with its trajectories.
        let rows = setup.single_run(dir.path(), &mut files)?;
        summary.write_rows(rows.bytes())?;
    }
    summary.finish()?;

    RunFacts {
        started,
        wall_seconds: clock.elapsed().as_secs_f64(),
        threads,
        shard: options.shard.map(|s| s.to_string()),
        scenario_hash: scenario_hash(&resolved),
        points: range,
        grid_points: points,
        files,
    }
    .write(dir.path())?;
    dir.commit()
}

/// What every point of one scenario shares.
struct Setup<'a> {
    s: &'a Scenario,
    potential: &'a dyn Potential,
    spectrum: Option<&'a [f64]>,
    stop: StopRule,
}

impl<'a> Setup<'a> {
    fn new(s: &'a Scenario, potential: &'a dyn Potential) -> Self {
        Setup {
            s,
            potential,
            spectrum: potential.hessian_spectrum(),
            stop: StopRule::new(&s.stop),
        }
    }

    /// Each discrete entry's effective (ε, p) at a point.
    /// The gradient noise of discrete entry `entry` at grid point `point` (its own stream).
    fn noise(&self, point: u64, entry: usize) -> Option<GradientNoise> {
        self.s
            .gradient
            .filter(|g| g.noise > 0.0)
            .map(|g| GradientNoise::new(g.noise, g.seed, point, entry as u64))
    }

    /// The continuous run's Langevin noise at a point (its own stream), if the gradient
    /// is noisy: σ per evaluation, one evaluation standing for Δt (see [`Self::noise_dt`]),
    /// is a force noise of intensity σ√Δt (`dynamics::langevin`).
    fn continuous_noise(&self, point: u64, coefficients: &[Coefficients]) -> Option<GradientNoise> {
        let dt = self.noise_dt(coefficients);
        self.s
            .gradient
            .filter(|g| g.noise > 0.0)
            .map(|g| GradientNoise::new(g.noise * dt.sqrt(), g.seed, point, CONTINUOUS_STREAM))
    }

    /// The time one noisy gradient evaluation stands for in the continuous run.
    fn noise_dt(&self, coefficients: &[Coefficients]) -> f64 {
        crate::dynamics::noise::langevin_dt(coefficients.first())
    }

    /// σ of a noisy gradient.
    fn sigma(&self) -> Option<f64> {
        self.s.gradient.map(|g| g.noise).filter(|&s| s > 0.0)
    }

    /// The state columns of the trajectory CSVs.
    fn layout(&self) -> StateLayout {
        StateLayout::new(self.potential.dim(), self.s.output.coordinates.as_deref())
    }

    fn coefficients(&self, point: &Point) -> Vec<Coefficients> {
        self.s
            .discrete
            .iter()
            .zip(&point.discrete)
            .map(|(d, (params, _))| maps::coefficients(d.scheme, d.form, *params, point.particle))
            .collect()
    }

    /// The continuous particle at a point, or why it has none (SPEC: the twin of a
    /// learning-rate × momentum sweep exists for 0 ≤ p < 1, ε > 0).
    fn particle(&self, point: &Point, coefficients: &[Coefficients]) -> Result<(f64, f64), String> {
        if let Some(particle) = point.particle {
            return Ok(particle);
        }
        let c = coefficients
            .first()
            .expect("a learning-rate/momentum sweep has a discrete entry (validated)");
        let scheme = self.s.discrete[0].scheme;
        c.particle
            .ok_or_else(|| maps::no_twin_reason(scheme, c.learning_rate, c.momentum))
    }

    /// Runs every method of sweep point `index` and formats its summary rows. A panic
    /// (an engine bug) fails this point's rows, not the sweep.
    fn sweep_point(&self, index: u64, rows: &mut Rows) {
        let run = catch_unwind(AssertUnwindSafe(|| self.run_point(index, rows)));
        if let Err(panic) = run {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            let failed = RunReport::without_run(Status::Failed(format!("internal error: {why}")));
            let point = self.s.point(index);
            let coefficients = self.coefficients(&point);
            let continuous = self.s.continuous.as_ref().map(|_| failed.clone());
            let discrete = vec![failed.clone(); self.s.discrete.len()];
            rows.clear();
            self.write_rows(&point, &coefficients, continuous.as_ref(), &discrete, rows);
        }
    }

    /// Runs the consecutive points `points` into `rows` (one per point). Their discrete
    /// runs that can share lanes run together (`dynamics::lanes`); a panic reruns the
    /// points one by one, so that it fails only its own point's rows.
    pub(crate) fn sweep_points(&self, points: std::ops::Range<u64>, rows: &mut [Rows]) {
        let together = catch_unwind(AssertUnwindSafe(|| self.run_points(points.clone(), rows)));
        if together.is_err() {
            for (index, rows) in points.zip(rows.iter_mut()) {
                rows.clear();
                self.sweep_point(index, rows);
            }
        }
    }

    fn run_point(&self, index: u64, rows: &mut Rows) {
        self.run_points(index..index + 1, std::slice::from_mut(rows));
    }

    fn run_points(&self, indices: std::ops::Range<u64>, rows: &mut [Rows]) {
        let s = self.s;
        let points: Vec<(Point, Vec<Coefficients>)> = indices
            .map(|i| {
                let point = s.point(i);
                let coefficients = self.coefficients(&point);
                (point, coefficients)
            })
            .collect();
        let continuous: Vec<Option<RunReport>> = points
            .iter()
            .map(|(point, coefficients)| {
                s.continuous
                    .as_ref()
                    .map(|spec| match self.particle(point, coefficients) {
                        Ok((mass, friction)) => ContinuousRun {
                            potential: self.potential,
                            mass,
                            friction,
                            position: &s.particle.position,
                            velocity: &s.particle.velocity,
                            spec,
                            stop: self.stop,
                            noise: self.continuous_noise(point.index, coefficients).as_ref(),
                        }
                        .run(&mut ()),
                        Err(note) => RunReport::without_run(Status::Skipped(note)),
                    })
            })
            .collect();
        // Every discrete run of the chunk, point-major; those that can share lanes run
        // together, the rest one by one. Each report is the same either way.
        let runs: Vec<DiscreteRun<'_>> = points
            .iter()
            .flat_map(|(point, coefficients)| {
                s.discrete
                    .iter()
                    .zip(&point.discrete)
                    .zip(coefficients)
                    .enumerate()
                    .map(|(entry, ((d, (_, steps)), c))| DiscreteRun {
                        potential: self.potential,
                        scheme: d.scheme,
                        coefficients: *c,
                        position: &s.particle.position,
                        velocity: &s.particle.velocity,
                        steps: *steps,
                        stop: self.stop,
                        noise: self.noise(point.index, entry),
                    })
            })
            .collect();
        let (laned, single): (Vec<usize>, Vec<usize>) =
            (0..runs.len()).partition(|&j| lanes::lane_ready(&runs[j]));
        let mut reports: Vec<Option<RunReport>> = vec![None; runs.len()];
        let batch: Vec<DiscreteRun<'_>> = laned.iter().map(|&j| runs[j].clone()).collect();
        for (j, report) in laned.into_iter().zip(lanes::run_in_lanes(&batch)) {
            reports[j] = Some(report);
        }
        for j in single {
            reports[j] = Some(runs[j].run(&mut ()));
        }
        let reports: Vec<RunReport> = reports
            .into_iter()
            .map(|r| r.expect("every run reported"))
            .collect();
        let entries = s.discrete.len();
        for (k, (((point, coefficients), continuous), rows)) in
            points.iter().zip(&continuous).zip(rows).enumerate()
        {
            let discrete = &reports[k * entries..(k + 1) * entries];
            self.write_rows(point, coefficients, continuous.as_ref(), discrete, rows);
        }
    }

    /// The summary rows of one point: continuous first, then the discrete entries.
    fn write_rows(
        &self,
        point: &Point,
        coefficients: &[Coefficients],
        continuous: Option<&RunReport>,
        discrete: &[RunReport],
        rows: &mut Rows,
    ) {
        if let Some(report) = continuous {
            // The Nesterov ODE (NaN friction, 3m/t) has no constant-coefficient theory.
            let particle = self.particle(point, coefficients).ok();
            let theory = particle.filter(|p| !p.1.is_nan()).zip(self.spectrum);
            let slowest = theory
                .and_then(|((m, mu), ks)| theory::slowest_component(m, mu, ks).map(|k| (m, mu, k)));
            // The row carries the point's swept values; a twin carries its entry's (ε, p, Δt).
            let (dt, learning_rate, momentum) = match (point.particle, coefficients.first()) {
                (None, Some(c)) => (Some(c.dt), Some(c.learning_rate), Some(c.momentum)),
                // A noisy particle's Δt scales its noise (`continuous_noise`): show it.
                _ if self.s.gradient.is_some_and(|g| g.noise > 0.0) => {
                    (Some(self.noise_dt(coefficients)), None, None)
                }
                _ => (point.values.dt, None, None),
            };
            SummaryRow {
                point: point.index,
                method: "continuous",
                mass: particle.map(|p| p.0),
                friction: particle.map(|p| p.1).filter(|mu| !mu.is_nan()),
                dt,
                learning_rate,
                momentum,
                report,
                theory_rate: theory.map(|((m, mu), ks)| theory::continuous_rate(m, mu, ks)),
                theory_radius: None,
                theory_stable: particle.zip(self.spectrum).map(|_| true),
                speedup: slowest.and_then(|(m, mu, k)| theory::speedup(m, mu, k)),
                damping: slowest.map(|(m, mu, k)| theory::damping(m, mu, k).as_str()),
                optimal_momentum: None,
                theory_noise_floor: particle.and_then(|(m, mu)| {
                    let sigma = self.sigma()?;
                    let dt = self.noise_dt(coefficients);
                    (!mu.is_nan()).then_some(())?;
                    // Beyond BAOAB's stability edge the run diverges: no floor to predict.
                    let step = self.s.continuous.as_ref().and_then(|c| c.baoab_step());
                    let k_max = self.spectrum.and_then(|ks| ks.last().copied());
                    if let (Some(h), Some(k_max)) = (step, k_max) {
                        theory::baoab_stable(m, mu, h, k_max).then_some(())?;
                    }
                    let curved = crate::potential::curved_directions(self.potential)?;
                    Some(theory::continuous_noise_floor(
                        curved,
                        sigma * sigma * dt,
                        mu,
                    ))
                }),
            }
            .write(rows);
        }
        for ((d, c), report) in self.s.discrete.iter().zip(coefficients).zip(discrete) {
            let radius = self.spectrum.map(|ks| discrete_radius(d.scheme, c, ks));
            let optimal_momentum = self.spectrum.and_then(|ks| match d.scheme {
                Scheme::HeavyBall => theory::optimal_momentum_for(c.learning_rate, ks),
                Scheme::Nesterov => theory::nesterov_optimal_momentum_for(c.learning_rate, ks),
                Scheme::GradientDescent => None,
            });
            SummaryRow {
                point: point.index,
                method: &d.label,
                mass: c.particle.map(|p| p.0),
                friction: c.particle.map(|p| p.1),
                dt: Some(c.dt),
                learning_rate: Some(c.learning_rate),
                momentum: Some(c.momentum),
                report,
                theory_rate: radius.map(|rho| theory::rate_per_time(rho, c.dt)),
                theory_radius: radius,
                theory_stable: radius.map(|rho| rho < 1.0),
                speedup: None,
                damping: None,
                optimal_momentum,
                theory_noise_floor: self
                    .sigma()
                    .zip(crate::potential::full_spectrum(self.potential))
                    .and_then(|(sigma, ks)| {
                        let nesterov = d.scheme == Scheme::Nesterov;
                        theory::discrete_noise_floor(
                            nesterov,
                            c.learning_rate,
                            c.momentum,
                            sigma,
                            ks,
                        )
                    }),
            }
            .write(rows);
        }
    }

    /// A single run: the trajectories (`discrete.csv`, `continuous.csv`, `comparison.csv`)
    /// into `dir`, and the summary rows returned.
    fn single_run(
        &self,
        dir: &Path,
        files: &mut Vec<(String, Vec<Column>)>,
    ) -> Result<Rows, Error> {
        let s = self.s;
        let potential = self.potential;
        let n = potential.dim();
        let point = s.point(0);
        let coefficients = self.coefficients(&point);
        let (position, velocity) = (&s.particle.position[..], &s.particle.velocity[..]);

        // Discrete runs first: their step counts bound the comparison probes.
        let mut discrete = Vec::new();
        if !s.discrete.is_empty() {
            let cols = columns::discrete(&self.layout());
            let mut csv = CsvFile::create(&dir.join("discrete.csv"), &columns::names(&cols))?;
            files.push(("discrete.csv".into(), cols));
            for (entry, ((d, (_, steps)), c)) in s
                .discrete
                .iter()
                .zip(&point.discrete)
                .zip(&coefficients)
                .enumerate()
            {
                let run = DiscreteRun {
                    potential,
                    scheme: d.scheme,
                    coefficients: *c,
                    position,
                    velocity,
                    steps: *steps,
                    stop: self.stop,
                    noise: self.noise(point.index, entry),
                };
                let mut rows = DiscreteRows::new(&mut csv, &d.label, potential, c, self.layout());
                let report = run.run(&mut rows);
                rows.result?;
                discrete.push(report);
            }
            csv.finish()?;
        }

        let mut continuous = None;
        if let Some(spec) = &s.continuous {
            let report = match self.particle(&point, &coefficients) {
                Err(note) => RunReport::without_run(Status::Skipped(note)),
                Ok((mass, friction)) => {
                    let cols = columns::continuous(&self.layout());
                    let csv = CsvFile::create(&dir.join("continuous.csv"), &columns::names(&cols))?;
                    files.push(("continuous.csv".into(), cols));
                    let probes = s
                        .discrete
                        .iter()
                        .zip(&coefficients)
                        .zip(&discrete)
                        .map(|((d, c), r)| {
                            Probe::new(
                                potential, d.scheme, &d.label, c, r.steps, position, velocity,
                            )
                        })
                        .collect();
                    let mut observer = SingleRun {
                        potential,
                        mass,
                        samples: Samples {
                            csv,
                            interval: spec.sample_interval,
                            next: 0,
                            last: None,
                            row: Vec::with_capacity(5 + 2 * n),
                            tail: StateTail::new(self.layout(), n),
                        },
                        probes,
                        result: Ok(()),
                    };
                    let noise = self.continuous_noise(point.index, &coefficients);
                    let run = ContinuousRun {
                        potential,
                        mass,
                        friction,
                        position,
                        velocity,
                        spec,
                        stop: self.stop,
                        noise: noise.as_ref(),
                    };
                    let report = run.run(&mut observer);
                    observer.result?;
                    observer.samples.csv.finish()?;
                    if !observer.probes.is_empty() {
                        let cols = columns::comparison();
                        let mut csv =
                            CsvFile::create(&dir.join("comparison.csv"), &columns::names(&cols))?;
                        files.push(("comparison.csv".into(), cols));
                        for probe in &mut observer.probes {
                            probe.write(&mut csv)?;
                        }
                        csv.finish()?;
                    }
                    report
                }
            };
            continuous = Some(report);
        }

        let mut rows = Rows::new();
        self.write_rows(
            &point,
            &coefficients,
            continuous.as_ref(),
            &discrete,
            &mut rows,
        );
        Ok(rows)
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

/// Writes `discrete.csv` rows of one entry.
struct DiscreteRows<'a> {
    csv: &'a mut CsvFile,
    label: &'a str,
    potential: &'a dyn Potential,
    energy_mass: f64,
    dt: f64,
    tail: StateTail,
    v: Vec<f64>,
    row: Vec<f64>,
    result: Result<(), Error>,
}

impl<'a> DiscreteRows<'a> {
    fn new(
        csv: &'a mut CsvFile,
        label: &'a str,
        potential: &'a dyn Potential,
        c: &Coefficients,
        layout: StateLayout,
    ) -> Self {
        let n = potential.dim();
        DiscreteRows {
            csv,
            label,
            potential,
            energy_mass: c.energy_mass,
            dt: c.dt,
            tail: StateTail::new(layout, n),
            v: vec![0.0; n],
            row: Vec::new(),
            result: Ok(()),
        }
    }

    fn write(
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
        let csv = &mut *self.csv;
        csv.field(Field::Text(self.label))?;
        csv.field(Field::Int(k))?;
        self.row.clear();
        self.row.extend_from_slice(&state_columns(
            self.potential,
            self.energy_mass,
            t,
            w,
            &self.v,
        ));
        self.tail.push(self.potential, w, &self.v, g, &mut self.row);
        csv.nums(&self.row)?;
        csv.end_row()
    }
}

impl DiscreteObserver for DiscreteRows<'_> {
    fn step(&mut self, k: u64, t: f64, w: &[f64], w_prev: &[f64]) {
        if self.result.is_ok() {
            self.result = self.write(k, t, w, w_prev, None);
        }
    }

    fn wants_gradient(&self) -> bool {
        self.tail.layout.gradient_norm
    }

    fn step_with_gradient(&mut self, k: u64, t: f64, w: &[f64], w_prev: &[f64], g: &[f64]) {
        if self.result.is_ok() {
            self.result = self.write(k, t, w, w_prev, Some(g));
        }
    }
}

/// The rows of `continuous.csv`, every `interval` plus the final time.
struct Samples {
    csv: CsvFile,
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
    rows: Vec<[Option<f64>; 5]>,
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
        let row = [
            w.map(|w| potential.value(w)),
            Some(potential.value(wk)),
            w.and_then(|w| distance_to_minimum(potential, w)),
            distance_to_minimum(potential, wk),
            w.map(|w| {
                w.iter()
                    .zip(wk)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt()
            }),
        ];
        self.rows.push(row);
        self.next += 1;
    }

    fn write(&mut self, csv: &mut CsvFile) -> Result<(), Error> {
        for (k, row) in self.rows.iter().enumerate() {
            csv.field(Field::Text(self.label))?;
            csv.field(Field::Int(k as u64))?;
            csv.field(Field::Num(k as f64 * self.dt))?;
            let [cl, dl, cd, dd, gap] = *row;
            for f in [cl, dl, cd, dd, gap] {
                csv.field(Field::Opt(f))?;
            }
            csv.end_row()?;
        }
        Ok(())
    }
}

/// The observer of a single run's continuous solution: CSV rows and comparison probes.
struct SingleRun<'a> {
    potential: &'a dyn Potential,
    mass: f64,
    samples: Samples,
    probes: Vec<Probe<'a>>,
    result: Result<(), Error>,
}

impl SingleRun<'_> {
    fn write_row(&mut self, t: f64, w: &[f64], v: &[f64]) -> Result<(), Error> {
        let s = &mut self.samples;
        s.row.clear();
        s.row
            .extend_from_slice(&state_columns(self.potential, self.mass, t, w, v));
        s.tail.push(self.potential, w, v, None, &mut s.row);
        s.csv.nums(&s.row)?;
        s.csv.end_row()?;
        s.last = Some(t);
        Ok(())
    }
}

impl ContinuousObserver for SingleRun<'_> {
    fn next_time(&self) -> Option<f64> {
        let first = self
            .probes
            .iter()
            .filter_map(Probe::next_time)
            .fold(self.samples.next_time(), f64::min);
        Some(first)
    }

    fn observe(&mut self, t: f64, w: &[f64], v: &[f64]) {
        if self.samples.next_time() == t {
            if self.result.is_ok() {
                self.result = self.write_row(t, w, v);
            }
            self.samples.next += 1;
        }
        for probe in &mut self.probes {
            if probe.next_time() == Some(t) {
                probe.record(self.potential, Some(w));
            }
        }
    }

    fn finish(&mut self, t: f64, w: &[f64], v: &[f64]) {
        if self.samples.last != Some(t) && self.result.is_ok() {
            self.result = self.write_row(t, w, v);
        }
        // Discrete steps past the continuous run's end have no continuous partner.
        for probe in &mut self.probes {
            while probe.next_time().is_some() {
                probe.record(self.potential, None);
            }
        }
    }
}
