//! `heavyball theory`: the closed-form analysis of one grid point of a scenario
//! (docs/theory.md §2–§5), as a readable report or a tidy CSV.
//!
//! Every number comes from [`crate::theory`]; this module only picks the inputs (the
//! point's particle, each discrete entry's effective `(ε, p, Δt)` from
//! [`maps::coefficients`], the Hessian spectrum of the potential) and lays the results out.
//!
//! # CSV format
//!
//! Header `section,entry,component,quantity,value`, one number a row. `section` is
//! `continuous`, `discrete` or `optimum`; `entry` is `continuous`, the discrete entry's
//! label, or `optimum`; `component` is the 1-based index of the Hessian eigenvalue (in
//! ascending order) or empty for a whole-spectrum quantity; `value` is a number in Rust's
//! shortest round-trip form, or empty where the quantity is undefined (never `NaN` or
//! `inf`). Yes/no quantities are `1.0` / `0.0`. Rows come in the order listed below.
//!
//! Section `continuous`, entry `continuous` (the particle `m x'' + μ x' + k x = 0`):
//!
//! * whole spectrum: `skipped` (1 when the section has no constant-coefficient analysis:
//!   the Nesterov ODE, whose friction is `3m/t`, or a sweep point with no physical twin;
//!   then `mass` is the only other row, empty when there is no particle), `mass` (m),
//!   `friction` (μ), `rate` (`r = min_i r_i`), `slowest_component` (the index `i` of the
//!   slowest component), `slowest_k` (its eigenvalue);
//! * per component: `k`, `lambda1_re`, `lambda1_im`, `lambda2_re`, `lambda2_im` (the
//!   roots of Q20: λ1 the slower real root or `re + i·im`, λ2 the faster real root or
//!   `re − i·im`; for `m = 0` λ1 = `−k/μ` and λ2 is empty), `decay_rate` (`r_i`),
//!   `speedup` (`α_i = r_i/(k_i/μ)`, empty for `k = 0`), `damping_under`,
//!   `damping_critical`, `damping_over`, `damping_massless` (one-hot: 1 for the regime,
//!   0 for the others), `critical_friction` (`2√(m k_i)`).
//!
//! Section `discrete`, entry = the label of each `[[discrete]]` entry, in file order:
//!
//! * whole spectrum: `scheme_heavy_ball`, `scheme_nesterov`, `scheme_gradient_descent`
//!   (one-hot), `learning_rate` (effective ε of the heavy-ball form), `momentum` (p), `dt`
//!   (Δt), `mass`, `friction` (the particle the entry stands for; empty when none),
//!   `radius` (`ρ = max_i ρ_i`), `stable` (`ρ < 1`), `result3_stable` (heavy ball: Result
//!   3's verdict; empty for the other schemes), `rate_per_step` (`−ln ρ`), `rate_per_time`
//!   (`−ln ρ / Δt`; both negative when `ρ > 1`), `max_stable_learning_rate` (for this p:
//!   heavy ball `(2 + 2p)/k_max`, Nesterov `(2 + 2p)/((1 + 2p) k_max)` (for `p ≤ −1/3`:
//!   `(1 − 1/p)/k_max`), gradient descent `2/k_max`; empty when no learning rate is
//!   stable: a heavy-ball `|p| ≥ 1`, a Nesterov `|p| > 1`, or an eigenvalue `≤ 0`), `optimal_momentum` (the momentum
//!   minimising ρ for the spectrum at this ε; empty for gradient descent or when none
//!   exists), `optimal_radius` (ρ at that momentum);
//! * per component: `k`, `sigma1_re`, `sigma1_im`, `sigma2_re`, `sigma2_im` (the roots of
//!   the companion matrix, the `+` root first; gradient descent has the single root
//!   `1 − εk` and an empty σ2), `radius` (`ρ_i`), `optimal_momentum` (`p*_i`: heavy ball
//!   `(1 − √(εk))²` for `εk ≥ 0`, Nesterov `(1 − √(εk))/(1 + √(εk))` for `0 < εk < 1`,
//!   else empty; empty for gradient descent), `optimal_radius` (`|1 − √(εk)|`, the double
//!   root at `p*_i`).
//!
//! Section `optimum`, entry `optimum` (Goh's global optimum, docs/theory.md §5): `lambda_min`
//! (λ1), `lambda_max` (λn), `condition_number` (`κ = λn/λ1`), `momentum_alpha`,
//! `momentum_beta`, `momentum_rate` (`(√κ − 1)/(√κ + 1)` per step), `gd_alpha`
//! (`2/(λ1 + λn)`), `gd_rate` (`(κ − 1)/(κ + 1)` per step). All but `lambda_min` and
//! `lambda_max` are empty when `λ1 ≤ 0` (a flat or negative direction: no optimum).
//!
//! Section `noise`, only for a scenario with `[gradient] noise > 0`: entry `noise` with
//! `sigma` (σ per evaluation), `dt` (the Δt that scales the continuous run's force noise)
//! and `intensity` (σ√Δt); entry `continuous` with `noise_floor` (equipartition,
//! `curved·σ²Δt/(4μ)`, on a quadratic); one entry per discrete label with `noise_floor`
//! (each eigen-component's AR(2) stationary variance, on a quadratic with every eigenvalue
//! known; empty beyond the stability edge) — the summary's `theory_noise_floor`.

use std::fmt::Write as _;
use std::path::Path;

use crate::dynamics::maps::{self, Coefficients, NoTwin};
use crate::dynamics::{Model, Scheme};
use crate::error::InputError;
use crate::grid::AxisKey;
use crate::output::{Field, Rows, push_num};
use crate::potential;
use crate::potential::{ExpressionMinimum, PotentialSpec};
use crate::scenario::Scenario;
use crate::theory::{self, Damping, Roots};

/// The header of `heavyball theory --format csv`.
pub const CSV_HEADER: [&str; 5] = ["section", "entry", "component", "quantity", "value"];

/// The analysis of one grid point of a scenario.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario's name.
    pub name: String,
    /// The grid point analysed, from 0.
    pub point: u64,
    /// Number of grid points (1 for a single run).
    pub points: u64,
    /// The swept keys' values at this point, in grid order.
    pub swept: Vec<(AxisKey, f64)>,
    /// Hessian eigenvalues at the minimum, ascending.
    pub eigenvalues: Vec<f64>,
    /// Where the continuous particle comes from.
    pub particle: ParticleSource,
    /// Section `continuous`.
    pub continuous: Continuous,
    /// Section `discrete`, one per `[[discrete]]` entry in file order.
    pub discrete: Vec<Discrete>,
    /// Section `optimum`.
    pub optimum: Optimum,
    /// Section `noise`, for a scenario with gradient noise.
    pub noise: Option<Noise>,
}

/// Section `noise`: the noise floors' closed forms (README "Stochastic gradients").
#[derive(Debug, Clone)]
pub struct Noise {
    /// σ per gradient evaluation.
    pub sigma: f64,
    /// The Δt that scales the continuous run's force noise to σ√Δt.
    pub dt: f64,
    /// The continuous particle's floor, equipartition's `curved·σ²Δt/(4μ)` (quadratics).
    pub continuous: Option<f64>,
    /// Each discrete entry's floor (label, AR(2) closed form; quadratics with every
    /// eigenvalue known, stable entries).
    pub discrete: Vec<(String, Option<f64>)>,
}

/// The continuous particle of a point.
#[derive(Debug, Clone, PartialEq)]
pub enum ParticleSource {
    /// `(m, μ)` as given (or swept).
    Given(f64, f64),
    /// The Nesterov ODE: mass m, friction `3m/t`.
    NesterovOde(f64),
    /// A learning-rate × momentum sweep: the twin `m = pΔt²/ε`, `μ = (1 − p)Δt/ε` of the
    /// first discrete entry (label), or why it has none.
    Twin(String, Result<(f64, f64), NoTwin>),
}

/// Section `continuous`.
#[derive(Debug, Clone)]
pub enum Continuous {
    /// No constant-coefficient analysis, and why.
    Skipped {
        /// The mass, where there is one.
        mass: Option<f64>,
        /// One line saying why.
        note: String,
    },
    /// The damped oscillators of a particle.
    Particle {
        /// m.
        mass: f64,
        /// μ.
        friction: f64,
        /// Per eigenvalue.
        components: Vec<ContinuousComponent>,
        /// `r = min_i r_i`.
        rate: f64,
        /// 0-based index of the slowest component.
        slowest: Option<usize>,
    },
}

/// One eigen-component of the continuous particle (docs/theory.md §2).
#[derive(Debug, Clone)]
pub struct ContinuousComponent {
    /// Spring constant `k_i`.
    pub k: f64,
    /// Characteristic roots (Q18, Q20).
    pub roots: Roots,
    /// `r_i`.
    pub decay_rate: f64,
    /// `α_i = r_i/(k_i/μ)` (None for `k = 0`).
    pub speedup: Option<f64>,
    /// Damping regime.
    pub damping: Damping,
    /// `2√(m k_i)`.
    pub critical_friction: f64,
}

/// Section `discrete`, one entry (docs/theory.md §3–§4).
#[derive(Debug, Clone)]
pub struct Discrete {
    /// The entry's label.
    pub label: String,
    /// Its scheme.
    pub scheme: Scheme,
    /// Effective ε, p, Δt and the particle it stands for.
    pub coefficients: Coefficients,
    /// Per eigenvalue.
    pub components: Vec<DiscreteComponent>,
    /// `ρ = max_i ρ_i` (0 for an empty spectrum).
    pub radius: f64,
    /// Result 3's verdict (heavy ball only).
    pub result3_stable: Option<bool>,
    /// Largest stable learning rate for this p, where one exists.
    pub max_stable_learning_rate: Option<f64>,
    /// `(p, ρ)` at the momentum minimising ρ for the spectrum at this ε (heavy ball and
    /// Nesterov, where it exists).
    pub optimal: Option<(f64, f64)>,
}

impl Discrete {
    /// `ρ < 1`.
    pub fn stable(&self) -> bool {
        self.radius < 1.0
    }
}

/// One eigen-component of a discrete entry.
#[derive(Debug, Clone)]
pub struct DiscreteComponent {
    /// `k_i`.
    pub k: f64,
    /// The roots σ as `(re, im)`: two for the momentum schemes, one for gradient descent.
    pub roots: Vec<(f64, f64)>,
    /// `ρ_i`.
    pub radius: f64,
    /// `p*_i`, where defined for the scheme.
    pub optimal_momentum: Option<f64>,
    /// `|1 − √(εk_i)|`, the radius at `p*_i`.
    pub optimal_radius: Option<f64>,
}

/// Section `optimum`: Goh's global optimum (docs/theory.md §5).
#[derive(Debug, Clone)]
pub enum Optimum {
    /// `λ1 > 0`.
    Defined {
        /// Smallest eigenvalue λ1.
        lambda_min: f64,
        /// Largest eigenvalue λn.
        lambda_max: f64,
        /// κ = λn/λ1.
        condition_number: f64,
        /// α, β and the rates.
        optimum: theory::Optimum,
    },
    /// No optimum, and why.
    Undefined {
        /// λ1, λn where there are eigenvalues.
        range: Option<(f64, f64)>,
        /// One line saying why.
        note: String,
    },
}

/// Analyses grid point `point` of scenario `s` (read from `file`).
///
/// Errors (bad input, exit code 2): `point` outside the grid, a potential whose Hessian
/// spectrum at the minimum is not known, or one whose set-up fails.
pub fn analyse(file: &Path, s: &Scenario, point: u64) -> Result<Report, InputError> {
    // The point first: building the potential may take a while (a large colorization).
    check_point(file, s, point)?;
    // Validated when the scenario was read; what can still fail is set-up (a memory limit,
    // a Lanczos spectrum out of budget), said under the potential's key.
    let potential = potential::build(&s.potential)
        .map_err(|e| input_error(file, "potential", e.to_string()))?;
    if potential.hessian_spectrum().is_none() {
        // Said of the scenario's [potential], with what its set-up found.
        return Err(unknown_spectrum(file, Some(&s.potential)));
    }
    analyse_with(file, s, point, &*potential)
}

/// A bad-input error about `file` under `key`, with no position.
fn input_error(file: &Path, key: &str, message: String) -> InputError {
    InputError {
        file: file.to_path_buf(),
        position: None,
        key: key.into(),
        message,
    }
}

/// `point` inside the scenario's grid.
fn check_point(file: &Path, s: &Scenario, point: u64) -> Result<(), InputError> {
    let points = s.points();
    match point < points {
        true => Ok(()),
        false => Err(input_error(
            file,
            "--point",
            point_out_of_range(point, points),
        )),
    }
}

/// [`analyse`] on `potential` in place of the scenario's `[potential]` (a potential of the
/// library's user, or the Python package's): the report its runs' theory columns match.
pub fn analyse_with(
    file: &Path,
    s: &Scenario,
    point: u64,
    potential: &dyn potential::Potential,
) -> Result<Report, InputError> {
    check_point(file, s, point)?;
    let points = s.points();
    let Some(spectrum) = potential.hessian_spectrum() else {
        return Err(unknown_spectrum(file, None));
    };
    let ks = spectrum.to_vec();
    let pt = s.point(point);
    let swept = AxisKey::ALL
        .iter()
        .filter_map(|&key| pt.values.get(key).map(|v| (key, v)))
        .collect();
    let coefficients: Vec<Coefficients> = s
        .discrete
        .iter()
        .zip(&pt.discrete)
        .map(|(d, (params, _))| maps::coefficients(d.scheme, d.form, *params, pt.particle))
        .collect();
    let particle = particle_source(s, pt.particle, &coefficients);
    let continuous = continuous_of(&particle, &ks);
    let discrete = s
        .discrete
        .iter()
        .zip(&coefficients)
        .map(|(d, c)| discrete_section(&d.label, d.scheme, *c, &ks))
        .collect();
    let sigma = s.gradient.map(|g| g.noise).filter(|&x| x > 0.0);
    let noise =
        sigma.map(|sigma| noise_section(s, potential, &ks, &coefficients, &continuous, sigma));
    Ok(Report {
        name: s.name.clone(),
        point,
        points,
        swept,
        eigenvalues: ks.clone(),
        particle,
        continuous,
        discrete,
        optimum: optimum_section(&ks),
        noise,
    })
}

fn point_out_of_range(point: u64, points: u64) -> String {
    if points == 1 {
        format!("point {point} is out of range: this scenario is a single run, its only point is 0")
    } else {
        format!(
            "point {point} is out of range: the grid has {points} points, 0 to {}",
            points - 1
        )
    }
}

/// The closed forms' error for a potential without a known spectrum: the scenario's
/// `[potential]` (`spec`: an expression says why Newton's method found no minimum) or one
/// the caller gave (None).
fn unknown_spectrum(file: &Path, spec: Option<&PotentialSpec>) -> InputError {
    let why = match spec {
        Some(PotentialSpec::Expression {
            minimum: ExpressionMinimum::Unknown(why),
            ..
        }) => format!(
            ": no minimum is given, and Newton's method from [particle] position {why}; give [potential] minimum = [...]"
        ),
        _ => String::new(),
    };
    let message = format!(
        "the Hessian spectrum at the minimum of this potential is not known, and the closed forms (docs/theory.md §2-§5) need it{why}"
    );
    input_error(file, "potential", message)
}

/// The point's continuous particle: as given, the Nesterov ODE's, or (a learning-rate ×
/// momentum sweep, `particle` None) the first discrete entry's twin.
fn particle_source(
    s: &Scenario,
    particle: Option<(f64, f64)>,
    coefficients: &[Coefficients],
) -> ParticleSource {
    let nesterov_ode = s
        .continuous
        .as_ref()
        .is_some_and(|c| c.model == Model::Nesterov);
    match particle {
        Some((m, _)) if nesterov_ode => ParticleSource::NesterovOde(m),
        Some((m, mu)) => ParticleSource::Given(m, mu),
        None => {
            let d = s
                .discrete
                .first()
                .expect("a learning-rate/momentum sweep has a discrete entry (validated)");
            let c = coefficients[0];
            ParticleSource::Twin(
                d.label.clone(),
                c.particle
                    .ok_or_else(|| NoTwin::of(d.scheme, c.learning_rate, c.momentum)),
            )
        }
    }
}

/// Section `continuous` for the point's particle, or why it is skipped.
fn continuous_of(particle: &ParticleSource, ks: &[f64]) -> Continuous {
    match particle {
        ParticleSource::NesterovOde(m) => Continuous::Skipped {
            mass: Some(*m),
            note: "the Nesterov ODE's friction 3m/t fades with time: no constant-coefficient roots (its exact solution is a Bessel function, docs/theory.md §4)".into(),
        },
        ParticleSource::Twin(label, Err(why)) => Continuous::Skipped {
            mass: None,
            note: format!("the first discrete entry ({label}) has {why}"),
        },
        ParticleSource::Given(m, mu) | ParticleSource::Twin(_, Ok((m, mu))) => {
            continuous_section(*m, *mu, ks)
        }
    }
}

/// Section `noise` for gradient noise σ > 0.
fn noise_section(
    s: &Scenario,
    potential: &dyn potential::Potential,
    ks: &[f64],
    coefficients: &[Coefficients],
    continuous: &Continuous,
    sigma: f64,
) -> Noise {
    let dt = crate::dynamics::maps::langevin_dt(coefficients.first());
    // Beyond BAOAB's stability edge (the scenario's step) the run diverges: no floor.
    let step = s.continuous.as_ref().and_then(|c| c.baoab_step());
    let k_max = ks.last().copied();
    let continuous = match continuous {
        Continuous::Particle { mass, friction, .. }
            if step
                .zip(k_max)
                .is_none_or(|(h, k)| theory::baoab_stable(*mass, *friction, h, k)) =>
        {
            potential::curved_directions(potential)
                .map(|c| theory::continuous_noise_floor(c, sigma * sigma * dt, *friction))
        }
        _ => None,
    };
    let full = potential::full_spectrum(potential);
    let discrete = s
        .discrete
        .iter()
        .zip(coefficients)
        .map(|(d, c)| {
            let nesterov = d.scheme == Scheme::Nesterov;
            let floor = full.and_then(|ks| {
                theory::discrete_noise_floor(nesterov, c.learning_rate, c.momentum, sigma, ks)
            });
            (d.label.clone(), floor)
        })
        .collect();
    Noise {
        sigma,
        dt,
        continuous,
        discrete,
    }
}

fn continuous_section(m: f64, mu: f64, ks: &[f64]) -> Continuous {
    let components = ks
        .iter()
        .map(|&k| ContinuousComponent {
            k,
            roots: theory::continuous_roots(m, mu, k),
            decay_rate: theory::decay_rate(m, mu, k),
            speedup: theory::speedup(m, mu, k),
            damping: theory::damping(m, mu, k),
            critical_friction: theory::critical_friction(m, k),
        })
        .collect();
    let slowest = theory::slowest_component(m, mu, ks).and_then(|k| {
        ks.iter()
            .position(|&x| x == k || (x.is_nan() && k.is_nan()))
    });
    Continuous::Particle {
        mass: m,
        friction: mu,
        components,
        rate: theory::continuous_rate(m, mu, ks),
        slowest,
    }
}

/// `ρ_i` of one component under a scheme (the same functions as the summary's
/// `theory_radius`).
fn component_radius(scheme: Scheme, eps: f64, p: f64, k: f64) -> f64 {
    match scheme {
        Scheme::HeavyBall => theory::heavy_ball_radius(eps, p, k),
        Scheme::Nesterov => theory::nesterov_radius(eps, p, k),
        Scheme::GradientDescent => theory::gradient_descent_radius(eps, k),
    }
}

/// `p*_i` of one component, where the scheme has one.
fn component_optimal_momentum(scheme: Scheme, eps: f64, k: f64) -> Option<f64> {
    let ek = eps * k;
    match scheme {
        Scheme::HeavyBall if ek >= 0.0 => Some(theory::optimal_momentum(eps, k)),
        Scheme::Nesterov if ek > 0.0 && ek < 1.0 => Some(theory::nesterov_optimal_momentum(eps, k)),
        _ => None,
    }
}

fn discrete_section(label: &str, scheme: Scheme, c: Coefficients, ks: &[f64]) -> Discrete {
    let (eps, p) = (c.learning_rate, c.momentum);
    let components: Vec<DiscreteComponent> = ks
        .iter()
        .map(|&k| {
            let roots = match scheme {
                Scheme::HeavyBall => theory::heavy_ball_roots(eps, p, k).to_vec(),
                Scheme::Nesterov => theory::nesterov_roots(eps, p, k).to_vec(),
                Scheme::GradientDescent => vec![(1.0 - eps * k, 0.0)],
            };
            let optimal_momentum = component_optimal_momentum(scheme, eps, k);
            DiscreteComponent {
                k,
                roots,
                radius: component_radius(scheme, eps, p, k),
                optimal_momentum,
                optimal_radius: optimal_momentum.map(|_| (1.0 - (eps * k).sqrt()).abs()),
            }
        })
        .collect();
    let radius = components.iter().map(|x| x.radius).fold(0.0, f64::max);
    let k_min = ks.first().copied();
    let k_max = ks.last().copied();
    let max_stable_learning_rate = match (k_min, k_max) {
        (Some(lo), Some(hi)) if lo > 0.0 => match scheme {
            Scheme::HeavyBall => (p.abs() < 1.0).then(|| theory::max_stable_learning_rate(p, hi)),
            Scheme::Nesterov => theory::nesterov_max_stable_learning_rate(p, hi),
            Scheme::GradientDescent => Some(theory::max_stable_learning_rate(0.0, hi)),
        },
        _ => None,
    };
    let optimal_p = match scheme {
        Scheme::HeavyBall => theory::optimal_momentum_for(eps, ks),
        Scheme::Nesterov => theory::nesterov_optimal_momentum_for(eps, ks),
        Scheme::GradientDescent => None,
    };
    // ρ at that momentum. The component whose own p* it is sits at a double root, where
    // the companion-matrix radius carries ~1e-8 of rounding; its exact value there is
    // |1 − √(εk)| (Q36; the same for Nesterov), so use that for it.
    let optimal = optimal_p.map(|q| {
        let rho = components
            .iter()
            .map(|x| match x.optimal_momentum {
                Some(own) if own == q => (1.0 - (eps * x.k).sqrt()).abs(),
                _ => component_radius(scheme, eps, q, x.k),
            })
            .fold(0.0, f64::max);
        (q, rho)
    });
    Discrete {
        label: label.to_string(),
        scheme,
        coefficients: c,
        components,
        radius,
        result3_stable: (scheme == Scheme::HeavyBall).then(|| theory::result3_stable(eps, p, ks)),
        max_stable_learning_rate,
        optimal,
    }
}

fn optimum_section(ks: &[f64]) -> Optimum {
    let (Some(&l1), Some(&ln)) = (ks.first(), ks.last()) else {
        return Optimum::Undefined {
            range: None,
            note: "no optimum: the Hessian has no eigenvalues".into(),
        };
    };
    if l1 <= 0.0 {
        return Optimum::Undefined {
            range: Some((l1, ln)),
            note: format!(
                "no optimum: the smallest eigenvalue {} is not positive (a flat or negative direction never converges)",
                num(l1)
            ),
        };
    }
    Optimum::Defined {
        lambda_min: l1,
        lambda_max: ln,
        condition_number: ln / l1,
        optimum: theory::goh_optimum(l1, ln),
    }
}

// ---------------------------------------------------------------------------------------
// rendering

/// One rendering of a report, a method per section. [`Report::render`] calls them in the
/// report's order, so that the text and the CSV walk the sections alike.
trait Sections {
    fn continuous(&mut self, c: &Continuous);
    fn discrete(&mut self, d: &Discrete);
    fn optimum(&mut self, o: &Optimum);
    fn noise(&mut self, n: &Noise);
}

impl Report {
    fn render(&self, out: &mut impl Sections) {
        out.continuous(&self.continuous);
        for d in &self.discrete {
            out.discrete(d);
        }
        out.optimum(&self.optimum);
        if let Some(n) = &self.noise {
            out.noise(n);
        }
    }

    /// The report as CSV (see the module documentation for the quantities).
    pub fn to_csv(&self) -> Vec<u8> {
        let mut out = CsvOut { rows: Rows::new() };
        out.rows
            .header(&CSV_HEADER.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        self.render(&mut out);
        out.rows.bytes().to_vec()
    }

    /// The report as readable text: a header, then the sections `continuous`, `discrete`
    /// (one block per entry) and `optimum`, each with an aligned table per component.
    pub fn to_text(&self, file: &Path) -> String {
        let mut out = Text {
            t: String::new(),
            eigenvalues: &self.eigenvalues,
        };
        self.text_header(&mut out.t, file);
        self.render(&mut out);
        out.t
    }

    /// The text's header: name, file, grid point, spectrum and particle.
    fn text_header(&self, t: &mut String, file: &Path) {
        let _ = writeln!(
            t,
            "{}: closed-form theory (docs/theory.md §2-§5)",
            self.name
        );
        let _ = writeln!(t, "  file:        {}", file.display());
        if self.points > 1 || !self.swept.is_empty() {
            let values: Vec<String> = self
                .swept
                .iter()
                .map(|(k, v)| format!("{} = {}", k.as_str(), num(*v)))
                .collect();
            let _ = writeln!(
                t,
                "  point:       {} of {} (0 to {}): {}",
                self.point,
                self.points,
                self.points - 1,
                values.join(", ")
            );
        }
        let ks: Vec<String> = self.eigenvalues.iter().map(|&k| num(k)).collect();
        let _ = writeln!(t, "  Hessian k:   {}", ks.join(", "));
        let particle = match &self.particle {
            ParticleSource::Given(m, mu) => format!("m = {}, μ = {}", num(*m), num(*mu)),
            ParticleSource::NesterovOde(m) => {
                format!("m = {}, Nesterov ODE, friction 3m/t", num(*m))
            }
            ParticleSource::Twin(label, Ok((m, mu))) => format!(
                "m = {}, μ = {} (twin of the first discrete entry, {label}: m = pΔt²/ε, μ = (1 − p)Δt/ε)",
                num(*m),
                num(*mu)
            ),
            ParticleSource::Twin(label, Err(why)) => {
                format!("none: the first discrete entry ({label}) has {why}")
            }
        };
        let _ = writeln!(t, "  particle:    {particle}");
    }
}

// ---------------------------------------------------------------------------------------
// CSV

/// The CSV rendering: `section,entry,component,quantity,value` rows.
struct CsvOut {
    rows: Rows,
}

impl CsvOut {
    /// The rows of one section and entry.
    fn entry<'a>(&'a mut self, section: &'a str, entry: &'a str) -> CsvEntry<'a> {
        CsvEntry {
            rows: &mut self.rows,
            section,
            entry,
        }
    }
}

/// Writes the rows of one section and entry.
struct CsvEntry<'a> {
    rows: &'a mut Rows,
    section: &'a str,
    entry: &'a str,
}

impl CsvEntry<'_> {
    /// One row: `component` is the 0-based eigen-component, None for the whole spectrum;
    /// counts and flags are written as integers, everything else as numbers.
    fn row(&mut self, component: Option<usize>, quantity: &str, value: impl Into<CsvValue>) {
        self.rows.field(Field::Text(self.section));
        self.rows.field(Field::Text(self.entry));
        match component {
            Some(i) => self.rows.field(Field::Int(i as u64 + 1)),
            None => self.rows.field(Field::Empty),
        }
        self.rows.field(Field::Text(quantity));
        // Field::Opt writes non-finite numbers as empty fields.
        self.rows.field(match value.into() {
            CsvValue::Num(x) => Field::Opt(x),
            CsvValue::Int(Some(i)) => Field::Int(i),
            CsvValue::Int(None) => Field::Empty,
        });
        self.rows.end_row();
    }

    /// A whole-spectrum row.
    fn whole(&mut self, quantity: &str, value: impl Into<CsvValue>) {
        self.row(None, quantity, value);
    }

    fn continuous_component(&mut self, i: usize, c: &ContinuousComponent) {
        let ((l1r, l1i), l2) = match c.roots {
            Roots::Massless(l) => ((l, 0.0), None),
            Roots::Real(slow, fast) => ((slow, 0.0), Some((fast, 0.0))),
            Roots::Repeated(l) => ((l, 0.0), Some((l, 0.0))),
            Roots::Complex { re, im } => ((re, im), Some((re, -im))),
        };
        let i = Some(i);
        self.row(i, "k", Some(c.k));
        self.row(i, "lambda1_re", Some(l1r));
        self.row(i, "lambda1_im", Some(l1i));
        self.row(i, "lambda2_re", l2.map(|l| l.0));
        self.row(i, "lambda2_im", l2.map(|l| l.1));
        self.row(i, "decay_rate", Some(c.decay_rate));
        self.row(i, "speedup", c.speedup);
        for d in [
            Damping::Under,
            Damping::Critical,
            Damping::Over,
            Damping::Massless,
        ] {
            let q = format!("damping_{}", d.as_str());
            self.row(i, &q, flag(c.damping == d));
        }
        self.row(i, "critical_friction", Some(c.critical_friction));
    }

    fn discrete_component(&mut self, i: usize, x: &DiscreteComponent) {
        let i = Some(i);
        let s1 = x.roots.first().copied();
        let s2 = x.roots.get(1).copied();
        self.row(i, "k", Some(x.k));
        self.row(i, "sigma1_re", s1.map(|s| s.0));
        self.row(i, "sigma1_im", s1.map(|s| s.1));
        self.row(i, "sigma2_re", s2.map(|s| s.0));
        self.row(i, "sigma2_im", s2.map(|s| s.1));
        self.row(i, "radius", Some(x.radius));
        self.row(i, "optimal_momentum", x.optimal_momentum);
        self.row(i, "optimal_radius", x.optimal_radius);
    }
}

/// A value of the theory CSV: a number, or a count or flag (written as an integer).
enum CsvValue {
    Num(Option<f64>),
    Int(Option<u64>),
}

impl From<Option<f64>> for CsvValue {
    fn from(x: Option<f64>) -> Self {
        CsvValue::Num(x)
    }
}

impl From<Option<u64>> for CsvValue {
    fn from(i: Option<u64>) -> Self {
        CsvValue::Int(i)
    }
}

/// A flag: 1 or 0.
fn flag(b: bool) -> Option<u64> {
    Some(u64::from(b))
}

impl Sections for CsvOut {
    fn continuous(&mut self, c: &Continuous) {
        let mut e = self.entry("continuous", "continuous");
        match c {
            Continuous::Skipped { mass, .. } => {
                e.whole("skipped", flag(true));
                e.whole("mass", *mass);
            }
            Continuous::Particle {
                mass,
                friction,
                components,
                rate,
                slowest,
            } => {
                e.whole("skipped", flag(false));
                e.whole("mass", Some(*mass));
                e.whole("friction", Some(*friction));
                e.whole("rate", Some(*rate));
                e.whole("slowest_component", slowest.map(|i| i as u64 + 1));
                e.whole("slowest_k", slowest.map(|i| components[i].k));
                for (i, x) in components.iter().enumerate() {
                    e.continuous_component(i, x);
                }
            }
        }
    }

    fn discrete(&mut self, d: &Discrete) {
        let c = &d.coefficients;
        let mut e = self.entry("discrete", &d.label);
        e.whole("scheme_heavy_ball", flag(d.scheme == Scheme::HeavyBall));
        e.whole("scheme_nesterov", flag(d.scheme == Scheme::Nesterov));
        e.whole(
            "scheme_gradient_descent",
            flag(d.scheme == Scheme::GradientDescent),
        );
        e.whole("learning_rate", Some(c.learning_rate));
        e.whole("momentum", Some(c.momentum));
        e.whole("dt", Some(c.dt));
        e.whole("mass", c.particle.map(|p| p.0));
        e.whole("friction", c.particle.map(|p| p.1));
        e.whole("radius", Some(d.radius));
        e.whole("stable", flag(d.stable()));
        e.whole("result3_stable", d.result3_stable.map(u64::from));
        e.whole("rate_per_step", Some(theory::rate_per_time(d.radius, 1.0)));
        e.whole("rate_per_time", Some(theory::rate_per_time(d.radius, c.dt)));
        e.whole("max_stable_learning_rate", d.max_stable_learning_rate);
        e.whole("optimal_momentum", d.optimal.map(|o| o.0));
        e.whole("optimal_radius", d.optimal.map(|o| o.1));
        for (i, x) in d.components.iter().enumerate() {
            e.discrete_component(i, x);
        }
    }

    fn optimum(&mut self, o: &Optimum) {
        let (range, kappa, o) = match o {
            Optimum::Defined {
                lambda_min,
                lambda_max,
                condition_number,
                optimum,
            } => (
                Some((*lambda_min, *lambda_max)),
                Some(*condition_number),
                Some(*optimum),
            ),
            Optimum::Undefined { range, .. } => (*range, None, None),
        };
        let mut e = self.entry("optimum", "optimum");
        e.whole("lambda_min", range.map(|r| r.0));
        e.whole("lambda_max", range.map(|r| r.1));
        e.whole("condition_number", kappa);
        e.whole("momentum_alpha", o.map(|o| o.momentum_alpha));
        e.whole("momentum_beta", o.map(|o| o.momentum_beta));
        e.whole("momentum_rate", o.map(|o| o.momentum_rate));
        e.whole("gd_alpha", o.map(|o| o.gd_alpha));
        e.whole("gd_rate", o.map(|o| o.gd_rate));
    }

    fn noise(&mut self, n: &Noise) {
        let mut e = self.entry("noise", "noise");
        e.whole("sigma", Some(n.sigma));
        e.whole("dt", Some(n.dt));
        e.whole("intensity", Some(n.sigma * n.dt.sqrt()));
        self.entry("noise", "continuous")
            .whole("noise_floor", n.continuous);
        for (label, floor) in &n.discrete {
            self.entry("noise", label).whole("noise_floor", *floor);
        }
    }
}

// ---------------------------------------------------------------------------------------
// text

/// The text rendering, and the spectrum its notes refer to.
struct Text<'a> {
    t: String,
    eigenvalues: &'a [f64],
}

impl Sections for Text<'_> {
    fn continuous(&mut self, c: &Continuous) {
        let t = &mut self.t;
        t.push('\n');
        let (mass, friction, components, rate, slowest) = match c {
            Continuous::Skipped { note, .. } => {
                let _ = writeln!(t, "continuous: skipped: {note}");
                return;
            }
            Continuous::Particle {
                mass,
                friction,
                components,
                rate,
                slowest,
            } => (mass, friction, components, rate, slowest),
        };
        let _ = writeln!(
            t,
            "continuous: m x'' + μ x' + k x = 0 per eigen-component, m = {}, μ = {} (Q18-Q25)",
            num(*mass),
            num(*friction)
        );
        table(t, &continuous_rows(components));
        match slowest {
            Some(i) => {
                let _ = writeln!(
                    t,
                    "  overall rate r = min r_i = {} (slowest: component {}, k = {}); |w − w*| ~ e^(−r t)",
                    num(*rate),
                    i + 1,
                    num(components[*i].k)
                );
            }
            None => {
                let _ = writeln!(t, "  overall rate: none (no eigenvalues)");
            }
        }
    }

    fn discrete(&mut self, d: &Discrete) {
        let t = &mut self.t;
        t.push('\n');
        let c = &d.coefficients;
        let twin = c.particle.map_or_else(String::new, |(m, mu)| {
            format!("; particle m = {}, μ = {}", num(m), num(mu))
        });
        let _ = writeln!(
            t,
            "discrete {}: {}, ε = {}, p = {}, Δt = {}{twin}",
            d.label,
            d.scheme.as_str(),
            num(c.learning_rate),
            num(c.momentum),
            num(c.dt)
        );
        table(t, &discrete_rows(d));
        discrete_stability(t, d);
        discrete_learning_rate(t, d, self.eigenvalues);
    }

    fn optimum(&mut self, o: &Optimum) {
        let t = &mut self.t;
        t.push('\n');
        match o {
            Optimum::Undefined { note, .. } => {
                let _ = writeln!(t, "optimum: {note}");
            }
            Optimum::Defined {
                lambda_min,
                lambda_max,
                condition_number,
                optimum,
            } => {
                let _ = writeln!(
                    t,
                    "optimum: Goh's global optimum for eigenvalues in [λ1, λn] = [{}, {}], κ = {} (docs/theory.md §5)",
                    num(*lambda_min),
                    num(*lambda_max),
                    num(*condition_number)
                );
                table(t, &optimum_rows(optimum));
            }
        }
    }

    fn noise(&mut self, n: &Noise) {
        let t = &mut self.t;
        let _ = writeln!(
            t,
            "\nnoise: σ = {} per gradient evaluation; the continuous run's force noise σ√Δt = {} (Δt = {})",
            num(n.sigma),
            num(n.sigma * n.dt.sqrt()),
            num(n.dt)
        );
        let mut rows = vec![vec![
            "run".to_string(),
            "noise floor E − E*".into(),
            "closed form".into(),
        ]];
        rows.push(vec![
            "continuous".into(),
            opt(n.continuous),
            "equipartition: n·σ²Δt/(4μ), n the curved directions".into(),
        ]);
        for (label, floor) in &n.discrete {
            rows.push(vec![
                label.clone(),
                opt(*floor),
                "Σ ½k·Var of each eigen-component's AR(2) recursion".into(),
            ]);
        }
        table(t, &rows);
    }
}

/// The continuous section's table, a row per eigen-component.
fn continuous_rows(components: &[ContinuousComponent]) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "i".to_string(),
        "k".into(),
        "roots λ".into(),
        "decay rate r".into(),
        "speed-up α = r/(k/μ)".into(),
        "damping".into(),
        "critical μ = 2√(mk)".into(),
    ]];
    for (i, c) in components.iter().enumerate() {
        rows.push(vec![
            (i + 1).to_string(),
            num(c.k),
            continuous_roots_text(c.roots),
            num(c.decay_rate),
            c.speedup.map_or_else(|| "— (k = 0)".into(), num),
            c.damping.as_str().into(),
            num(c.critical_friction),
        ]);
    }
    rows
}

/// A discrete entry's table, a row per eigen-component (the momentum schemes add p*_i).
fn discrete_rows(d: &Discrete) -> Vec<Vec<String>> {
    let momentum = d.scheme != Scheme::GradientDescent;
    let mut head = vec![
        "i".to_string(),
        "k".into(),
        "roots σ".into(),
        "radius ρ_i".into(),
    ];
    if momentum {
        head.push(match d.scheme {
            Scheme::Nesterov => "p*_i = (1 − √(εk))/(1 + √(εk))".into(),
            _ => "p*_i = (1 − √(εk))²".into(),
        });
        head.push("ρ at p*_i = |1 − √(εk)|".into());
    }
    let mut rows = vec![head];
    for (i, x) in d.components.iter().enumerate() {
        let mut row = vec![
            (i + 1).to_string(),
            num(x.k),
            discrete_roots_text(&x.roots),
            num(x.radius),
        ];
        if momentum {
            row.push(opt(x.optimal_momentum));
            row.push(opt(x.optimal_radius));
        }
        rows.push(row);
    }
    rows
}

/// A discrete entry's radius, verdicts and rates.
fn discrete_stability(t: &mut String, d: &Discrete) {
    if let Some(why) = d.coefficients.not_finite() {
        let _ = writeln!(t, "  no radius, no rate: {why}");
        return;
    }
    let verdict = if d.stable() {
        "stable (ρ < 1)"
    } else {
        "unstable (ρ ≥ 1)"
    };
    let result3 = match d.result3_stable {
        Some(true) => "; Result 3: stable (|p| < 1 and 0 < εk_i < 2 + 2p)",
        Some(false) => "; Result 3: unstable (needs |p| < 1 and 0 < εk_i < 2 + 2p)",
        None => "",
    };
    let _ = writeln!(t, "  ρ = max ρ_i = {}: {verdict}{result3}", num(d.radius));
    let _ = writeln!(
        t,
        "  rate −ln ρ = {} per step, −ln ρ/Δt = {} per unit time",
        num(theory::rate_per_time(d.radius, 1.0)),
        num(theory::rate_per_time(d.radius, d.coefficients.dt))
    );
}

/// A discrete entry's largest stable learning rate and (momentum schemes) optimal
/// momentum; `eigenvalues` tells a flat spectrum from a momentum with no stable rate.
fn discrete_learning_rate(t: &mut String, d: &Discrete, eigenvalues: &[f64]) {
    let bound = match d.scheme {
        Scheme::HeavyBall => "(2 + 2p)/k_max",
        // The bound that binds below p = −1/3 (theory::nesterov_max_stable_learning_rate).
        Scheme::Nesterov if d.coefficients.momentum <= -1.0 / 3.0 => "(1 − 1/p)/k_max",
        Scheme::Nesterov => "(2 + 2p)/((1 + 2p) k_max)",
        Scheme::GradientDescent => "2/k_max",
    };
    let lr = match d.max_stable_learning_rate {
        Some(x) => format!("{bound} = {}", num(x)),
        None if eigenvalues.first().is_none_or(|&k| k <= 0.0) => {
            "none (a flat or negative direction never contracts)".into()
        }
        None => "none for this p".into(),
    };
    if d.scheme == Scheme::GradientDescent {
        let _ = writeln!(t, "  largest stable learning rate: {lr}");
        return;
    }
    let _ = writeln!(
        t,
        "  largest stable learning rate at p = {}: {lr}",
        num(d.coefficients.momentum)
    );
    let optimal = match d.optimal {
        Some((p, rho)) => format!("p = {}, ρ = {}", num(p), num(rho)),
        None => match d.scheme {
            Scheme::Nesterov => "no closed form (it needs 0 < εk_i < 1 for every i)",
            _ => "none below 1 (some εk_i ≥ 4, ε ≤ 0, or no positive eigenvalue)",
        }
        .into(),
    };
    let _ = writeln!(
        t,
        "  optimal momentum for the spectrum at this ε: {optimal}"
    );
}

/// Goh's optimum as a table: momentum against gradient descent.
fn optimum_rows(o: &theory::Optimum) -> Vec<Vec<String>> {
    vec![
        vec![
            "method".to_string(),
            "learning rate α".into(),
            "momentum β".into(),
            "rate per step".into(),
        ],
        vec![
            "momentum".into(),
            num(o.momentum_alpha),
            num(o.momentum_beta),
            format!("{} = (√κ − 1)/(√κ + 1)", num(o.momentum_rate)),
        ],
        vec![
            "gradient descent".into(),
            format!("{} = 2/(λ1 + λn)", num(o.gd_alpha)),
            "0.0".into(),
            format!("{} = (κ − 1)/(κ + 1)", num(o.gd_rate)),
        ],
    ]
}

// ---------------------------------------------------------------------------------------
// text helpers

/// A number in shortest round-trip form (`0.0` for ±0); `∞`, `−∞`, `—` where not finite.
fn num(x: f64) -> String {
    if x.is_nan() {
        "—".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        }
    } else {
        let mut s = String::new();
        push_num(&mut s, x);
        s
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), num)
}

fn continuous_roots_text(r: Roots) -> String {
    match r {
        Roots::Massless(l) => format!("{} (massless, −k/μ)", num(l)),
        Roots::Real(slow, fast) => format!("{}, {}", num(slow), num(fast)),
        Roots::Repeated(l) => format!("{} (double)", num(l)),
        Roots::Complex { re, im } => format!("{} ± {}i", num(re), num(im)),
    }
}

fn discrete_roots_text(roots: &[(f64, f64)]) -> String {
    match roots {
        [(re, _)] => num(*re),
        [(re, im), _] if *im != 0.0 => format!("{} ± {}i", num(*re), num(im.abs())),
        [(a, _), (b, _)] if a == b => format!("{} (double)", num(*a)),
        [(a, _), (b, _)] => format!("{}, {}", num(*a), num(*b)),
        _ => roots
            .iter()
            .map(|(re, im)| format!("{} + {}i", num(*re), num(*im)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Appends `rows` as a table indented by two spaces, columns padded to their widest cell.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|j| {
            rows.iter()
                .filter_map(|r| r.get(j))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::from("  ");
        for (j, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if j + 1 < r.len() {
                let pad = widths[j] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}
