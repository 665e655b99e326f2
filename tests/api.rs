//! The library API's promises: typed errors (never a panic) for every bad setting, a
//! user's own potential run by every integrator and scheme exactly as the built-in one,
//! a sweep in memory giving the command line's `summary.csv` byte for byte, `run_traced`
//! giving its trajectory CSVs number for number, and a builder sweep's rows in grid order
//! with the closed-form decay rate beside each.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use heavyball::potential::{Colorization, ConvexRosenbrock, Rosenbrock};
use heavyball::prelude::*;

// ---------------------------------------------------------------------------------------
// Typed errors
// ---------------------------------------------------------------------------------------

fn quadratic(ks: &[f64]) -> Quadratic {
    Quadratic::from_eigenvalues(ks).unwrap()
}

/// A particle that builds on diag(1, 10): each error test changes one thing.
fn particle() -> ProblemBuilder {
    Problem::builder(quadratic(&[1.0, 10.0]))
        .mass(1.0)
        .friction(2.0)
        .position([1.0, 1.0])
}

fn build_error(b: ProblemBuilder) -> BuildError {
    b.build().expect_err("the builder must refuse this")
}

/// The error's `key` (every variant has one).
fn key(e: &BuildError) -> &str {
    match e {
        BuildError::NotFinite { key, .. }
        | BuildError::OutOfRange { key, .. }
        | BuildError::Dimension { key, .. }
        | BuildError::Missing { key, .. }
        | BuildError::Conflict { key, .. } => key,
        other => panic!("a new BuildError variant: {other:?}"),
    }
}

#[test]
fn the_valid_particle_builds() {
    // The base every error test below changes in one place is itself valid.
    let problem = particle().build().unwrap();
    assert_eq!(problem.points(), 1);
    assert_eq!(problem.particle.position, vec![1.0, 1.0]);
    assert_eq!(problem.particle.velocity, vec![0.0, 0.0]);
}

#[test]
fn a_position_of_the_wrong_dimension_is_a_dimension_error() {
    let e = build_error(particle().position([1.0, 1.0, 1.0]));
    assert_eq!(
        e,
        BuildError::Dimension {
            key: "particle.position".into(),
            expected: 2,
            got: 3,
        }
    );
    assert_eq!(
        e.to_string(),
        "particle.position: has 3 entries, the potential has dimension 2"
    );
    let e = build_error(particle().velocity([0.0]));
    assert_eq!(
        e,
        BuildError::Dimension {
            key: "particle.velocity".into(),
            expected: 2,
            got: 1,
        }
    );
}

#[test]
fn non_finite_numbers_are_not_finite_errors() {
    let e = build_error(particle().mass(f64::NAN));
    assert!(
        matches!(&e, BuildError::NotFinite { key, value } if key == "particle.mass" && value.is_nan()),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "particle.mass: must be finite, got NaN");

    let e = build_error(particle().friction(f64::INFINITY));
    assert_eq!(
        e,
        BuildError::NotFinite {
            key: "particle.friction".into(),
            value: f64::INFINITY,
        }
    );
    assert_eq!(e.to_string(), "particle.friction: must be finite, got inf");

    let e = build_error(particle().position([1.0, f64::NEG_INFINITY]));
    assert_eq!(
        e,
        BuildError::NotFinite {
            key: "particle.position".into(),
            value: f64::NEG_INFINITY,
        }
    );
    assert_eq!(e.to_string(), "particle.position: must be finite, got -inf");
}

#[test]
fn friction_at_most_zero_and_negative_mass_are_out_of_range() {
    for mu in [0.0, -1.0] {
        let e = build_error(particle().friction(mu));
        assert_eq!(
            e,
            BuildError::OutOfRange {
                key: "particle.friction".into(),
                rule: "> 0",
                value: mu,
            }
        );
        assert_eq!(
            e.to_string(),
            format!("particle.friction: must be > 0, got {mu:?}")
        );
    }
    let e = build_error(particle().mass(-0.5));
    assert_eq!(
        e,
        BuildError::OutOfRange {
            key: "particle.mass".into(),
            rule: ">= 0",
            value: -0.5,
        }
    );
    assert_eq!(e.to_string(), "particle.mass: must be >= 0, got -0.5");
    // m = 0 is gradient flow, not an error.
    assert!(particle().mass(0.0).build().is_ok());
    // As in a scenario file: rtol of 100% or more, and a t_end whose default
    // sample_interval (t_end/1000) is below the smallest normal number.
    let e = build_error(particle().continuous(Continuous::new().tolerances(10.0, 1e-10)));
    assert_eq!(e.to_string(), "continuous.rtol: must be < 1, got 10.0");
    let e = build_error(particle().continuous(Continuous::new().t_end(1e-310)));
    assert!(
        matches!(&e, BuildError::OutOfRange { key, value, .. } if key == "continuous.t_end" && *value == 1e-310),
        "{e}"
    );
    // A subnormal σ: σ√Δt would underflow to 0 in the continuous run.
    let e = build_error(particle().noise(5e-324, 0));
    assert_eq!(
        e.to_string(),
        "gradient.noise: must be 0 or >= the smallest normal number, got 5e-324"
    );
    assert!(particle().noise(f64::MIN_POSITIVE, 0).build().is_ok());
    // A logspace axis whose 10^x underflows: the mass 0 would run the massless limit.
    let axis = |start| AxisSpec::Logspace {
        start,
        stop: -300.0,
        count: 3,
    };
    let e = build_error(particle().sweep(AxisKey::Mass, axis(-330.0)));
    assert_eq!(
        e.to_string(),
        "sweep.mass: must be a normal double (10^x for x above -307.65), got 0.0"
    );
    assert!(
        particle()
            .sweep(AxisKey::Mass, axis(-307.0))
            .build()
            .is_ok()
    );
}

#[test]
fn a_missing_position_or_mass_is_a_missing_error() {
    let e = build_error(
        Problem::builder(quadratic(&[1.0, 10.0]))
            .mass(1.0)
            .friction(2.0),
    );
    assert!(
        matches!(&e, BuildError::Missing { key, .. } if key == "particle.position"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "particle.position: missing: the particle needs a starting position"
    );
    let e = build_error(
        Problem::builder(quadratic(&[1.0, 10.0]))
            .friction(2.0)
            .position([1.0, 1.0]),
    );
    assert!(
        matches!(&e, BuildError::Missing { key, .. } if key == "particle.mass"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "particle.mass: missing: the particle needs mass = m >= 0"
    );
    let e = build_error(
        Problem::builder(quadratic(&[1.0, 10.0]))
            .mass(1.0)
            .position([1.0, 1.0]),
    );
    assert!(
        matches!(&e, BuildError::Missing { key, .. } if key == "particle.friction"),
        "{e:?}"
    );
}

#[test]
fn rk4_without_a_step_is_a_missing_step() {
    let e = build_error(particle().continuous(Continuous::new().method(Method::Rk4)));
    assert!(
        matches!(&e, BuildError::Missing { key, .. } if key == "continuous.step"),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("continuous.step: missing: "),
        "{e}"
    );
    // With its step it builds; an adaptive method with a step is a conflict.
    assert!(
        particle()
            .continuous(Continuous::new().method(Method::Rk4).step(0.01))
            .build()
            .is_ok()
    );
    let e = build_error(particle().continuous(Continuous::new().method(Method::Dopri5).step(0.01)));
    assert_eq!(key(&e), "continuous.step");
    assert!(matches!(e, BuildError::Conflict { .. }), "{e:?}");
}

#[test]
fn bdf_on_a_user_potential_without_a_hessian_is_a_conflict() {
    let e = build_error(
        Problem::builder(Bare::new(&[1.0, 10.0]))
            .mass(1.0)
            .friction(2.0)
            .position([1.0, 1.0])
            .stop(Criterion::Gradient, 1e-6)
            .continuous(Continuous::new().method(Method::Bdf)),
    );
    assert!(
        matches!(&e, BuildError::Conflict { key, .. } if key == "continuous.method"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "continuous.method: bdf needs the Hessian-vector product: implement Potential::hessian_vector_into and has_hessian"
    );
    // The same potential with an exact Hessian runs BDF.
    assert!(
        Problem::builder(Full::new(&[1.0, 10.0]))
            .mass(1.0)
            .friction(2.0)
            .position([1.0, 1.0])
            .continuous(Continuous::new().method(Method::Bdf))
            .build()
            .is_ok()
    );
}

#[test]
fn a_distance_criterion_without_a_minimum_is_a_conflict() {
    // The default stop rule is the distance: a potential that does not know w* needs
    // the gradient criterion.
    for (criterion, stop) in [
        (Criterion::Distance, None),
        (Criterion::Distance, Some(1e-6)),
        (Criterion::Loss, Some(1e-6)),
        (Criterion::Energy, Some(1e-6)),
    ] {
        let mut b = Problem::builder(Bare::new(&[1.0, 10.0]))
            .mass(1.0)
            .friction(2.0)
            .position([1.0, 1.0]);
        if let Some(tol) = stop {
            b = b.stop(criterion, tol);
        }
        let e = build_error(b);
        assert!(
            matches!(&e, BuildError::Conflict { key, .. } if key == "stop.criterion"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "stop.criterion: the {} criterion needs the minimum w*: implement Potential::minimum, or use Criterion::Gradient",
                criterion.as_str()
            )
        );
    }
    assert!(
        Problem::builder(Bare::new(&[1.0, 10.0]))
            .mass(1.0)
            .friction(2.0)
            .position([1.0, 1.0])
            .stop(Criterion::Gradient, 1e-6)
            .build()
            .is_ok()
    );
}

#[test]
fn duplicate_labels_and_a_twice_swept_axis_are_conflicts() {
    let e = build_error(
        particle()
            .discrete(Discrete::heavy_ball().label("a"))
            .discrete(Discrete::gradient_descent().label("a")),
    );
    assert_eq!(
        e,
        BuildError::Conflict {
            key: "discrete[2].label".into(),
            why: "\"a\" is used twice".into(),
        }
    );
    assert_eq!(e.to_string(), "discrete[2].label: \"a\" is used twice");
    // The default labels `<scheme>-<i>` never collide.
    assert!(
        particle()
            .discrete(Discrete::heavy_ball())
            .discrete(Discrete::heavy_ball())
            .build()
            .is_ok()
    );

    let masses = AxisSpec::Logspace {
        start: -1.0,
        stop: 1.0,
        count: 3,
    };
    let e = build_error(
        particle()
            .sweep(AxisKey::Mass, masses.clone())
            .sweep(AxisKey::Friction, masses.clone())
            .sweep(AxisKey::Mass, masses),
    );
    assert_eq!(
        e,
        BuildError::Conflict {
            key: "sweep.mass".into(),
            why: "swept twice".into(),
        }
    );
    assert_eq!(e.to_string(), "sweep.mass: swept twice");
}

#[test]
fn bad_built_in_potentials_are_typed_errors() {
    let e = Quadratic::new(&HessianSpec::Diagonal(vec![1.0, 2.0]), vec![0.0]).unwrap_err();
    assert_eq!(
        e,
        PotentialError::Dimension {
            what: "eigenvalues",
            expected: 1,
            got: 2,
        }
    );
    assert_eq!(e.to_string(), "eigenvalues: has 2 entries, expected 1");

    let e = Quadratic::from_eigenvalues(&[1.0, -3.0]).unwrap_err();
    assert!(
        matches!(e, PotentialError::OutOfRange { what: "eigenvalues", value, .. } if value == -3.0),
        "{e:?}"
    );

    let e = Quadratic::new(
        &HessianSpec::Dense(vec![vec![2.0, 1.0], vec![0.5, 2.0]]),
        vec![0.0, 0.0],
    )
    .unwrap_err();
    assert_eq!(
        e,
        PotentialError::Hessian("not symmetric: entry (2, 1) is 0.5 but (1, 2) is 1".into())
    );
    // [[0, 1], [1, 0]] has the eigenvalues ±1.
    let e = Quadratic::new(
        &HessianSpec::Dense(vec![vec![0.0, 1.0], vec![1.0, 0.0]]),
        vec![0.0, 0.0],
    )
    .unwrap_err();
    match &e {
        PotentialError::Hessian(why) => {
            let ev: f64 = why
                .strip_prefix("not positive semi-definite: it has the eigenvalue ")
                .unwrap_or_else(|| panic!("{why}"))
                .parse()
                .unwrap();
            // The eigen-solver's round-off on an exact −1.
            assert!((ev + 1.0).abs() < 1e-14, "{ev}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string()
            .starts_with("hessian: not positive semi-definite")
    );

    // The Hessian at (a, a²) within 1e150, as a scenario file's `check` says.
    let e = Rosenbrock::new(1e200, 100.0).unwrap_err();
    assert!(matches!(e, PotentialError::OutOfRange { what: "a", value, .. } if value == 1e200));
    assert!(
        e.to_string().contains("stays within 1e150, got 1e200"),
        "{e}"
    );
    assert!(Rosenbrock::new(1e30, 100.0).is_ok());
    assert_eq!(
        Rosenbrock::new(1.0, 0.0).unwrap_err(),
        PotentialError::OutOfRange {
            what: "b",
            rule: "> 0",
            value: 0.0,
        }
    );
    assert_eq!(
        ConvexRosenbrock::new(5, 1.0).unwrap_err(),
        PotentialError::OutOfRange {
            what: "kappa",
            rule: "> 1",
            value: 1.0,
        }
    );
    assert_eq!(
        ConvexRosenbrock::new(0, 10.0).unwrap_err(),
        PotentialError::OutOfRange {
            what: "n",
            rule: ">= 1",
            value: 0.0,
        }
    );

    for (pixels, why) in [
        (
            &[(0, 0), (3, 1)][..],
            "pixel 2 = [3, 1] is outside the 3 x 4 grid",
        ),
        (&[(1, 2), (1, 2)][..], "pixel 2 = [1, 2] is listed twice"),
        (
            &[][..],
            "at least one colored pixel is needed (else E has no unique minimum)",
        ),
    ] {
        let e = Colorization::new(3, 4, pixels, 1.0).unwrap_err();
        assert_eq!(e, PotentialError::Pixels(why.into()));
        assert_eq!(e.to_string(), format!("colored: {why}"));
    }
}

// ---------------------------------------------------------------------------------------
// A user's own potential
// ---------------------------------------------------------------------------------------

/// The quadratic ½ Σ kᵢ wᵢ² written by a user who implements only the three required
/// methods. Value and gradient use the built-in diagonal quadratic's arithmetic
/// (`kᵢ (wᵢ − 0)`), so every difference below is the engine's, not the formula's.
struct Bare {
    k: Vec<f64>,
}

impl Bare {
    fn new(k: &[f64]) -> Self {
        Bare { k: k.to_vec() }
    }
}

fn half_sum_of_squares(k: &[f64], w: &[f64]) -> f64 {
    let mut e = 0.0;
    for (k, w) in k.iter().zip(w) {
        let x = w - 0.0;
        e += k * x * x;
    }
    0.5 * e
}

impl Potential for Bare {
    fn dim(&self) -> usize {
        self.k.len()
    }
    fn value(&self, w: &[f64]) -> f64 {
        half_sum_of_squares(&self.k, w)
    }
    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        for ((g, w), k) in g.iter_mut().zip(w).zip(&self.k) {
            *g = k * (w - 0.0);
        }
    }
}

/// The same quadratic, also telling its minimum, exact Hessian-vector product and
/// spectrum.
struct Full {
    k: Vec<f64>,
    zero: Vec<f64>,
    spectrum: Vec<f64>,
}

impl Full {
    fn new(k: &[f64]) -> Self {
        let mut spectrum = k.to_vec();
        spectrum.sort_by(f64::total_cmp);
        Full {
            k: k.to_vec(),
            zero: vec![0.0; k.len()],
            spectrum,
        }
    }
}

impl Potential for Full {
    fn dim(&self) -> usize {
        self.k.len()
    }
    fn value(&self, w: &[f64]) -> f64 {
        half_sum_of_squares(&self.k, w)
    }
    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        for ((g, w), k) in g.iter_mut().zip(w).zip(&self.k) {
            *g = k * (w - 0.0);
        }
    }
    fn hessian_vector_into(&self, _w: &[f64], x: &[f64], out: &mut [f64]) {
        for ((o, x), k) in out.iter_mut().zip(x).zip(&self.k) {
            *o = k * x;
        }
    }
    fn has_hessian(&self) -> bool {
        true
    }
    fn minimum(&self) -> Option<&[f64]> {
        Some(&self.zero)
    }
    fn hessian_spectrum(&self) -> Option<&[f64]> {
        Some(&self.spectrum)
    }
}

/// The settings every comparison shares.
struct Setup {
    m: f64,
    mu: f64,
    w0: Vec<f64>,
    criterion: Criterion,
    tol: f64,
}

fn run_with(
    potential: impl Potential + 'static,
    s: &Setup,
    continuous: Option<Continuous>,
    discrete: &[Discrete],
) -> PointResult {
    let mut b = Problem::builder(potential)
        .mass(s.m)
        .friction(s.mu)
        .position(s.w0.clone())
        .stop(s.criterion, s.tol);
    if let Some(c) = continuous {
        b = b.continuous(c);
    }
    for d in discrete {
        b = b.discrete(d.clone());
    }
    b.build().unwrap().run_point(0).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b { 0.0 } else { (a - b).abs() / b.abs() }
}

/// A user potential's row against the built-in quadratic's. `exact`: the whole report,
/// bit for bit (steps, evaluations, crossings, final value, solver). Otherwise the run is
/// still bit-identical but the in-step crossing may differ, by at most 1e-12 relative:
/// without `hessian_vector_into` the Hermite interpolant of a massless run gets w″ from
/// the default central difference, whose relative error is ~∛ε² ≈ 4e-11 and which enters
/// the crossing only through the interpolant's higher-order terms (measured: no
/// difference at all).
fn assert_same_run(user: &SummaryRow, builtin: &SummaryRow, exact: bool, what: &str) {
    assert_eq!(
        builtin.report.status,
        Status::Converged,
        "{what}: {builtin:?}"
    );
    if exact {
        assert_eq!(user.report, builtin.report, "{what}");
    } else {
        let (u, b) = (&user.report, &builtin.report);
        assert_eq!(u.status, b.status, "{what}");
        assert_eq!((u.steps, u.evaluations), (b.steps, b.evaluations), "{what}");
        assert_eq!(u.solver, b.solver, "{what}");
        for (x, y) in [
            (u.crossings.tight, b.crossings.tight),
            (u.crossings.loose, b.crossings.loose),
            (u.final_value, b.final_value),
        ] {
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!(rel(x, y) <= 1e-12, "{what}: {x:e} vs {y:e}");
        }
    }
    assert_eq!(user.method, builtin.method, "{what}");
}

const CONTINUOUS: [(Method, Option<f64>); 5] = [
    (Method::Dopri5, None),
    (Method::Dop853, None),
    (Method::Rk4, Some(1e-3)),
    (Method::Bdf, None),
    (Method::Auto, None),
];

fn continuous(method: Method, step: Option<f64>) -> Continuous {
    let c = Continuous::new().method(method).t_end(40.0);
    match step {
        Some(h) => c.step(h),
        None => c,
    }
}

fn schemes() -> [Discrete; 3] {
    [
        Discrete::heavy_ball().dt(0.1),
        Discrete::nesterov().dt(0.1),
        Discrete::gradient_descent().dt(0.1),
    ]
}

#[test]
fn a_user_potential_runs_every_integrator_as_the_built_in_quadratic() {
    // m = 1, μ = 2 on diag(1, 10): critical damping for k = 1, underdamped for k = 10.
    // The built-in quadratic runs monomorphised (its gradient inlined, fixed-size
    // vectors, the discrete heavy ball in lanes), the user's through `dyn Potential`: the
    // same arithmetic, so the same bits — measured identical for every method below
    // (dopri5 312 steps, dop853 66, rk4 16 690, bdf 1345, heavy ball 165 on the distance).
    let k = [1.0, 10.0];
    for criterion in [Criterion::Distance, Criterion::Gradient] {
        let s = Setup {
            m: 1.0,
            mu: 2.0,
            w0: vec![1.0, 1.0],
            criterion,
            tol: 1e-6,
        };
        for (method, step) in CONTINUOUS {
            let what = format!("{criterion:?} {method:?}");
            let c = || Some(continuous(method, step));
            let builtin = run_with(quadratic(&k), &s, c(), &[]);
            let full = run_with(Full::new(&k), &s, c(), &[]);
            assert_same_run(&full.rows[0], &builtin.rows[0], true, &what);
            // Without a minimum only the gradient criterion applies; without a Hessian
            // BDF is refused (see `bdf_on_a_user_potential_without_a_hessian_is_a_conflict`).
            if criterion == Criterion::Gradient && method != Method::Bdf {
                let bare = run_with(Bare::new(&k), &s, c(), &[]);
                assert_same_run(&bare.rows[0], &builtin.rows[0], false, &what);
                // `auto` without a spectrum is dopri5 testing its own stiffness: this
                // particle is not stiff, so it never hands over to BDF.
                assert_eq!(bare.rows[0].report.solver, builtin.rows[0].report.solver);
            }
        }
        let builtin = run_with(quadratic(&k), &s, None, &schemes());
        let mut users = vec![run_with(Full::new(&k), &s, None, &schemes())];
        if criterion == Criterion::Gradient {
            users.push(run_with(Bare::new(&k), &s, None, &schemes()));
        }
        for (i, user) in users.iter().enumerate() {
            assert_eq!(user.rows.len(), 3);
            for (u, b) in user.rows.iter().zip(&builtin.rows) {
                let mut u = u.clone();
                if i == 1 {
                    // Without w* there is no distance to measure a decay rate from: the
                    // same run otherwise, its note says so.
                    assert_eq!(u.report.measured_rate, None);
                    assert!(u.note().contains("no known minimum"), "{}", u.note());
                    u.report.measured_rate = b.report.measured_rate;
                    u.report.notes = b.report.notes.clone();
                }
                // The discrete schemes never call the Hessian: bit-identical whatever the
                // potential implements.
                assert_same_run(&u, b, true, &format!("{criterion:?} {}", b.method));
                assert_eq!((u.learning_rate, u.momentum), (b.learning_rate, b.momentum));
            }
        }
    }
}

#[test]
fn a_massless_user_particle_crosses_at_the_closed_form_time() {
    // m = 0, μ = 1, k = 2 from w0 = 1: w(t) = e^{−2t}, so |w| = 1e-6 at ln(1e6)/2 and
    // |∇E| = 2e^{−2t} = 1e-6 at ln(2e6)/2. Measured relative errors of the crossing,
    // identical for the built-in and both user potentials: dopri5 (and auto, which is
    // dopri5 here) 8.7e-7 / 1.7e-6, dop853 4.1e-9 / 1.2e-7, rk4 (h = 1e-3) 2.3e-13 /
    // 2.4e-13, bdf 6.3e-8 / 7.1e-8 (distance / gradient); each bound below is 3–6× that,
    // the integrators' global error at rtol 1e-8 (rk4: O(h⁴) = 1e-12).
    let bounds = |method: Method| match method {
        Method::Dopri5 | Method::Auto => 5e-6,
        Method::Dop853 => 4e-7,
        Method::Rk4 => 1e-12,
        Method::Bdf => 2.5e-7,
        other => unreachable!("{other:?}"),
    };
    for (criterion, exact) in [
        (Criterion::Distance, 1e6f64.ln() / 2.0),
        (Criterion::Gradient, 2e6f64.ln() / 2.0),
    ] {
        let s = Setup {
            m: 0.0,
            mu: 1.0,
            w0: vec![1.0],
            criterion,
            tol: 1e-6,
        };
        for (method, step) in CONTINUOUS {
            let what = format!("massless {criterion:?} {method:?}");
            let c = || Some(continuous(method, step));
            let builtin = run_with(quadratic(&[2.0]), &s, c(), &[]);
            let t = builtin.rows[0].t_converged().unwrap();
            assert!(rel(t, exact) <= bounds(method), "{what}: {t} vs {exact}");
            // The closed-form theory of a massless particle: rate k/μ = 2.
            assert_eq!(builtin.rows[0].theory_rate, Some(2.0));
            let full = run_with(Full::new(&[2.0]), &s, c(), &[]);
            assert_same_run(&full.rows[0], &builtin.rows[0], true, &what);
            assert_eq!(full.rows[0].theory_rate, Some(2.0));
            if criterion == Criterion::Gradient && method != Method::Bdf {
                let bare = run_with(Bare::new(&[2.0]), &s, c(), &[]);
                assert_same_run(&bare.rows[0], &builtin.rows[0], false, &what);
            }
        }
    }
}

#[test]
fn a_potential_without_a_spectrum_has_empty_theory_columns() {
    let empty = |row: &SummaryRow| {
        row.theory_rate.is_none()
            && row.theory_radius.is_none()
            && row.theory_stable.is_none()
            && row.speedup.is_none()
            && row.damping.is_none()
            && row.optimal_momentum.is_none()
            && row.theory_noise_floor.is_none()
    };
    let b = Problem::builder(Bare::new(&[1.0, 10.0]))
        .mass(1.0)
        .friction(2.0)
        .position([1.0, 1.0])
        .stop(Criterion::Gradient, 1e-6)
        .continuous(Continuous::new().t_end(40.0))
        .discrete(Discrete::heavy_ball().dt(0.1))
        .discrete(Discrete::nesterov().dt(0.1))
        .discrete(Discrete::gradient_descent().dt(0.1));
    let result = b.clone().build().unwrap().run_point(0).unwrap();
    assert_eq!(result.rows.len(), 4);
    for row in &result.rows {
        assert!(empty(row), "{row:?}");
        // The runs themselves happen: every row converges.
        assert_eq!(row.report.status, Status::Converged, "{row:?}");
    }
    let sweep = b
        .sweep(
            AxisKey::Mass,
            AxisSpec::Logspace {
                start: -1.0,
                stop: 0.0,
                count: 3,
            },
        )
        .sweep(
            AxisKey::Friction,
            AxisSpec::Logspace {
                start: 0.0,
                stop: 1.0,
                count: 3,
            },
        )
        .build()
        .unwrap();
    let rows: Vec<SummaryRow> = sweep.sweep_rows(2).collect();
    assert_eq!(rows.len(), 9 * 4);
    for row in &rows {
        assert!(empty(row), "{row:?}");
    }
    // The same user potential with its spectrum gets the built-in quadratic's theory.
    let full = Problem::builder(Full::new(&[1.0, 10.0]))
        .mass(1.0)
        .friction(2.0)
        .position([1.0, 1.0])
        .continuous(Continuous::new().t_end(40.0))
        .discrete(Discrete::heavy_ball().dt(0.1))
        .build()
        .unwrap()
        .run_point(0)
        .unwrap();
    assert_eq!(full.rows[0].theory_rate, Some(1.0)); // critical damping: μ/2m
    assert!(full.rows[1].theory_radius.is_some());
}

// ---------------------------------------------------------------------------------------
// Sweeps and trajectories in memory = the command line's files
// ---------------------------------------------------------------------------------------

fn scenario(name: &str) -> std::path::PathBuf {
    common::scenarios_dir().join(name)
}

fn summary_bytes(rows: impl IntoIterator<Item = SummaryRow>) -> Vec<u8> {
    let mut out = Vec::new();
    write_summary(rows, &mut out).unwrap();
    out
}

/// The first line where two files differ, for the failure message.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  memory: {x}\n  file:   {y}", i + 1);
        }
    }
    format!("{} vs {} lines", a.lines().count(), b.lines().count())
}

#[test]
fn a_sweep_in_memory_writes_the_command_lines_summary_byte_for_byte() {
    // W1: 100 × 100 points, continuous (auto: dopri5 and BDF) and Qian's heavy ball.
    let path = scenario("w1-mass-friction.toml");
    let out = tempfile::tempdir().unwrap();
    common::run_ok(&path, out.path());
    let file = std::fs::read(out.path().join("w1-mass-friction/summary.csv")).unwrap();

    let problem = heavyball::scenario::load(&path).unwrap().problem();
    assert_eq!(problem.points(), 10_000);
    let rows: Vec<SummaryRow> = problem.sweep_rows(2).collect();
    assert_eq!(rows.len(), 20_000);
    let memory = summary_bytes(rows.iter().cloned());
    assert!(memory == file, "{}", first_difference(&memory, &file));

    for threads in [1, 3] {
        let other: Vec<SummaryRow> = problem.sweep_rows(threads).collect();
        assert_eq!(other.len(), rows.len());
        if let Some(i) = (0..rows.len()).find(|&i| other[i] != rows[i]) {
            panic!(
                "{threads} threads, row {i}: {:?}\n2 threads: {:?}",
                other[i], rows[i]
            );
        }
    }
}

/// A CSV field as the in-memory table holds it: an empty field is NaN.
fn field(s: &str) -> f64 {
    if s.is_empty() {
        f64::NAN
    } else {
        s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}"))
    }
}

fn same_number(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Checks that `table` holds exactly `file`'s header, rows, labels and numbers.
fn assert_table_is_file(table: &heavyball::output::Table, file: &Path, labelled: bool) {
    let mut reader = csv::Reader::from_path(file).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(table.columns, header, "{}", file.display());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(table.rows.len(), records.len(), "{}", file.display());
    if labelled {
        assert_eq!(table.labels.len(), records.len());
    } else {
        assert!(table.labels.is_empty());
    }
    let skip = usize::from(labelled);
    for (i, (row, rec)) in table.rows.iter().zip(&records).enumerate() {
        if labelled {
            assert_eq!(table.labels[i], &rec[0], "{} row {}", file.display(), i + 1);
        }
        let numbers: Vec<f64> = rec.iter().skip(skip).map(field).collect();
        assert_eq!(row.len(), numbers.len(), "{} row {}", file.display(), i + 1);
        for (j, (&a, &b)) in row.iter().zip(&numbers).enumerate() {
            assert!(
                same_number(a, b),
                "{} row {} column {}: memory {a:?}, file {b:?}",
                file.display(),
                i + 1,
                header[j + skip]
            );
        }
    }
}

#[test]
fn run_traced_holds_the_command_lines_trajectory_files() {
    let path = scenario("kth-poster.toml");
    let out = tempfile::tempdir().unwrap();
    common::run_ok(&path, out.path());
    let dir = out.path().join("kth-poster");

    let problem = heavyball::scenario::load(&path).unwrap().problem();
    let (result, traces) = problem.run_traced(0).unwrap();
    // dopri5 every 0.05 to t = 40 at most (it stops at |w| < 1e-6), two discrete entries.
    assert!(!traces.continuous.rows.is_empty());
    assert_table_is_file(&traces.continuous, &dir.join("continuous.csv"), false);
    assert_table_is_file(&traces.discrete, &dir.join("discrete.csv"), true);
    assert_table_is_file(&traces.comparison, &dir.join("comparison.csv"), true);
    for labels in [&traces.discrete.labels, &traces.comparison.labels] {
        assert!(labels.iter().any(|l| l == "heavy-ball"));
        assert!(labels.iter().any(|l| l == "gradient-descent"));
    }
    // And its summary rows are the file's.
    let file = std::fs::read(dir.join("summary.csv")).unwrap();
    let memory = summary_bytes(result.rows.clone());
    assert!(memory == file, "{}", first_difference(&memory, &file));
    // The traced run is the same run as the untraced one.
    assert_eq!(result, problem.run_point(0).unwrap());
}

// ---------------------------------------------------------------------------------------
// A builder sweep
// ---------------------------------------------------------------------------------------

#[test]
fn a_builder_sweep_returns_grid_order_and_the_closed_form_rate() {
    let (k_min, k_max) = (1.0, 100.0);
    let masses = AxisSpec::Logspace {
        start: -2.0,
        stop: 1.0,
        count: 7,
    };
    let frictions = AxisSpec::Logspace {
        start: -1.0,
        stop: 2.0,
        count: 13,
    };
    let problem = Problem::builder(quadratic(&[k_min, k_max]))
        .mass(1.0)
        .friction(1.0)
        .position([1.0, 1.0])
        .continuous(Continuous::new().t_end(5.0))
        .discrete(Discrete::heavy_ball().dt(0.01).steps(10))
        .sweep(AxisKey::Friction, frictions.clone())
        .sweep(AxisKey::Mass, masses.clone())
        .build()
        .unwrap();
    assert_eq!(problem.points(), 7 * 13);
    let rows: Vec<SummaryRow> = problem.sweep_rows(2).collect();
    assert_eq!(rows.len(), 2 * 7 * 13);
    let mut overdamped = 0;
    for (i, row) in rows.iter().enumerate() {
        // Two rows a point, continuous first; mass outer, friction inner (AxisKey order,
        // whatever order the builder was given the axes in).
        let point = (i / 2) as u64;
        assert_eq!(row.point, point);
        assert_eq!(
            &*row.method,
            if i % 2 == 0 {
                "continuous"
            } else {
                "heavy-ball-1"
            }
        );
        let (m, mu) = (masses.value(point / 13), frictions.value(point % 13));
        assert_eq!((row.mass, row.friction), (Some(m), Some(mu)));
        if i % 2 == 1 {
            continue;
        }
        // The slowest component: overdamped k_min gives μ/2m − sqrt(μ²/4m² − k_min/m),
        // else (under- or critically damped) μ/2m.
        let gamma = mu / (2.0 * m);
        let disc = gamma * gamma - k_min / m;
        let r = if disc > 0.0 {
            gamma - disc.sqrt()
        } else {
            gamma
        };
        let theory = row.theory_rate.unwrap();
        if disc > 0.0 {
            // The textbook form subtracts two numbers of size γ: its own rounding error
            // is a few ulp of γ (the engine's Vieta form has none), ~1e-11 relative to r
            // where μ² ≫ 4mk. Measured at most 0.51·ε·γ.
            assert!(
                (theory - r).abs() <= 4.0 * f64::EPSILON * gamma,
                "m = {m}, μ = {mu}: {theory:e} vs {r:e}"
            );
            overdamped += 1;
        } else {
            assert_eq!(theory, gamma, "m = {m}, μ = {mu}");
        }
    }
    // Both regimes are on the grid.
    assert!(overdamped > 0 && overdamped < 7 * 13, "{overdamped}");
}

// ---------------------------------------------------------------------------------------
// Known defects: settings the scenario file refuses and the builder accepts. Each test
// states the builder's expected answer (the file's key); un-ignore once fixed.
// ---------------------------------------------------------------------------------------

fn masses_from_zero() -> AxisSpec {
    AxisSpec::Values(vec![0.0, 1.0])
}

#[test]
fn a_nesterov_ode_with_a_swept_zero_mass_is_refused() {
    let e = Problem::builder(quadratic(&[1.0, 10.0]))
        .mass(1.0)
        .position([1.0, 1.0])
        .continuous(Continuous::new().model(Model::Nesterov))
        .sweep(AxisKey::Mass, masses_from_zero())
        .build()
        .expect_err("the Nesterov ODE needs m > 0 at every point");
    assert_eq!(key(&e), "sweep.mass");
}

/// As a scenario file's: the Nesterov ODE starts at rest, and BDF is not wired for its
/// friction 3m/t.
#[test]
fn a_nesterov_ode_with_a_velocity_or_on_bdf_is_refused() {
    let nesterov = || {
        Problem::builder(quadratic(&[1.0, 10.0]))
            .mass(1.0)
            .position([1.0, 1.0])
    };
    let e = nesterov()
        .velocity([0.0, -0.5])
        .continuous(Continuous::new().model(Model::Nesterov))
        .build()
        .expect_err("a velocity at t = 0");
    assert_eq!(key(&e), "particle.velocity");
    assert!(e.to_string().contains("starts at rest"), "{e}");
    let e = nesterov()
        .continuous(Continuous::new().model(Model::Nesterov).method(Method::Bdf))
        .build()
        .expect_err("bdf");
    assert_eq!(key(&e), "continuous.method");
    assert!(e.to_string().contains("use dopri5, dop853 or rk4"), "{e}");
    // At rest, on dop853: built.
    let built = nesterov()
        .velocity([0.0, 0.0])
        .continuous(
            Continuous::new()
                .model(Model::Nesterov)
                .method(Method::Dop853),
        )
        .build();
    assert!(built.is_ok(), "{built:?}");
}

#[test]
fn symplectic_euler_with_a_swept_zero_mass_is_refused() {
    let e = particle()
        .discrete(Discrete::heavy_ball().map(Map::SymplecticEuler).dt(0.1))
        .sweep(AxisKey::Mass, masses_from_zero())
        .build()
        .expect_err("symplectic-euler divides by the mass");
    assert_eq!(key(&e), "discrete[1].map");
}

#[test]
fn a_potential_of_dimension_zero_is_refused() {
    assert!(Quadratic::from_eigenvalues(&[]).is_err());
    assert!(
        Problem::builder(Bare::new(&[]))
            .mass(1.0)
            .friction(1.0)
            .position(Vec::<f64>::new())
            .stop(Criterion::Gradient, 1e-6)
            .build()
            .is_err()
    );
}

#[test]
fn a_point_beyond_the_grid_is_an_error_not_a_wrapped_index() {
    let single = particle().discrete(Discrete::heavy_ball()).build().unwrap();
    let e = single.run_point(5).unwrap_err();
    assert_eq!(e.to_string(), "point 5: the grid has 1 point(s), 0 to 0");
    assert_eq!(e.exit_code(), 2);
    let sweep = particle()
        .discrete(Discrete::heavy_ball())
        .sweep(AxisKey::Mass, AxisSpec::Values(vec![0.5, 1.0]))
        .build()
        .unwrap();
    assert!(sweep.run_point(1).is_ok());
    assert!(matches!(
        sweep.run_traced(2),
        Err(heavyball::Error::NoSuchPoint {
            index: 2,
            points: 2
        })
    ));
}

#[test]
fn a_step_budget_beyond_ten_million_rows_is_refused() {
    // t_end/dt = 1e10/1e-300 saturates u64: refused, like the file's 1e7-row cap.
    let e = build_error(
        particle()
            .continuous(Continuous::new().t_end(1e10))
            .discrete(Discrete::heavy_ball().dt(1e-300)),
    );
    assert_eq!(key(&e), "discrete[1].steps");
    let e = build_error(particle().discrete(Discrete::heavy_ball().steps(10_000_001)));
    assert_eq!(key(&e), "discrete[1].steps");
    assert!(
        particle()
            .discrete(Discrete::heavy_ball().steps(10_000_000))
            .build()
            .is_ok()
    );
}

/// A loss surface that panics below |w| = 0.5 (a user's bug, or a library's).
struct Brittle;

impl Potential for Brittle {
    fn dim(&self) -> usize {
        1
    }
    fn value(&self, w: &[f64]) -> f64 {
        0.5 * w[0] * w[0]
    }
    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        assert!(w[0].abs() >= 0.5, "brittle below 0.5");
        g[0] = w[0];
    }
}

/// A panic fails that point's rows, not the sweep: gradient descent (ε = Δt/μ) from w = 1
/// over five steps reaches w = (1 − ε)^k < 0.5 only at μ = 0.12 (ε = 0.83: w₁ = 0.17), whose
/// row is `failed` with the panic's message; the points beside it, in the same chunk, run
/// as usual.
#[test]
fn a_panic_fails_its_point_not_the_sweep() {
    let problem = Problem::builder(Brittle)
        .mass(1.0)
        .friction(1.0)
        .position([1.0])
        .discrete(Discrete::gradient_descent().dt(0.1).steps(5))
        .stop(Criterion::Gradient, 1e-6)
        .sweep(AxisKey::Friction, AxisSpec::Values(vec![0.12, 1.0, 10.0]))
        .build()
        .unwrap();
    let rows: Vec<SummaryRow> = problem.sweep_rows(2).collect();
    assert_eq!(rows.len(), 3);
    match &rows[0].report.status {
        Status::Failed(why) => assert!(why.contains("brittle below 0.5"), "{why}"),
        other => panic!("{other:?}"),
    }
    for row in &rows[1..] {
        assert_eq!(row.report.status, Status::NotConverged, "{row:?}");
        assert_eq!(row.report.steps, 5);
    }
}

/// A user's quadratic with a known minimum, counting its gradient calls and those its
/// Hessian-vector products make away from w* (where the run's Jacobians are taken):
/// `exact` implements the product (and says so), otherwise it is the default central
/// difference.
struct Counted {
    k: Vec<f64>,
    zero: Vec<f64>,
    exact: bool,
    gradients: AtomicU64,
    in_products: AtomicU64,
}

impl Counted {
    fn new(exact: bool) -> &'static Counted {
        // A run takes a 'static potential: the small counter is leaked.
        Box::leak(Box::new(Counted {
            k: vec![1.0, 100.0],
            zero: vec![0.0, 0.0],
            exact,
            gradients: 0.into(),
            in_products: 0.into(),
        }))
    }
}

impl Potential for &Counted {
    fn dim(&self) -> usize {
        self.k.len()
    }
    fn value(&self, w: &[f64]) -> f64 {
        half_sum_of_squares(&self.k, w)
    }
    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        self.gradients.fetch_add(1, Relaxed);
        for ((g, w), k) in g.iter_mut().zip(w).zip(&self.k) {
            *g = k * (w - 0.0);
        }
    }
    fn hessian_vector_into(&self, w: &[f64], x: &[f64], out: &mut [f64]) {
        if self.exact {
            for ((o, x), k) in out.iter_mut().zip(x).zip(&self.k) {
                *o = k * x;
            }
            return;
        }
        let before = self.gradients.load(Relaxed);
        heavyball::potential::finite_difference_hv(self, w, x, out);
        if w != self.zero.as_slice() {
            let spent = self.gradients.load(Relaxed) - before;
            self.in_products.fetch_add(spent, Relaxed);
        }
    }
    fn has_hessian(&self) -> bool {
        self.exact
    }
    fn minimum(&self) -> Option<&[f64]> {
        Some(&self.zero)
    }
}

/// `auto` hands a stiff particle (m = 1e-4, μ = 1 on k = 1, 100) to BDF. Without an exact
/// Hessian, BDF's Jacobian products are central differences of the gradient, two calls
/// each where the direction moves the position (none for the velocity columns), spent by
/// the integrator: `evaluations` counts exactly the calls they make. On a quadratic the
/// difference of a linear gradient is the product up to rounding, so the run is the
/// exact-Hessian run step for step (measured: 40 products, 20 of them moving the position,
/// 7116 → 7156 evaluations).
#[test]
fn central_difference_jacobians_are_counted_as_evaluations() {
    let s = Setup {
        m: 1e-4,
        mu: 1.0,
        w0: vec![1.0, 1.0],
        criterion: Criterion::Distance,
        tol: 1e-6,
    };
    let (fd, exact) = (Counted::new(false), Counted::new(true));
    let run = |p: &'static Counted| {
        let r = run_with(p, &s, Some(continuous(Method::Auto, None)), &[]);
        r.rows[0].report.clone()
    };
    let (a, b) = (run(fd), run(exact));
    assert_eq!(a.solver, Some("dopri5+bdf"));
    assert_eq!(
        (a.status, a.steps, &a.solver),
        (b.status, b.steps, &b.solver)
    );
    let spent = fd.in_products.load(Relaxed);
    assert!(spent > 0);
    assert_eq!(a.evaluations, b.evaluations + spent);
}

#[test]
fn run_scenario_refuses_a_scenario_with_nothing_to_run_before_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bare.toml");
    std::fs::write(
        &file,
        "name = \"bare\"\n[potential]\nkind = \"quadratic\"\neigenvalues = [1.0, 4.0]\n\
         [particle]\nmass = 1.0\nfriction = 1.0\nposition = [1.0, 1.0]\n",
    )
    .unwrap();
    // `theory` reads it; a run has nothing to write but a header.
    let s = heavyball::scenario::load(&file).unwrap();
    let out = dir.path().join("out");
    let options = heavyball::run::RunOptions {
        out: out.clone(),
        threads: 1,
        shard: None,
        progress: false,
        resume: false,
    };
    let e = heavyball::run::run_scenario(&s, &options).unwrap_err();
    assert!(matches!(&e, heavyball::Error::NothingToRun { scenario } if scenario == "bare"));
    assert_eq!(
        e.to_string(),
        "scenario bare: nothing to run: it has no [continuous] table and no [[discrete]] entry"
    );
    assert_eq!(e.exit_code(), 2);
    assert!(!out.exists(), "no folder made");
}

/// As a scenario file's `[stop]`: under the distance criterion a tolerance at or above the
/// divergence (both bound |w − w*|) and a tolerance whose square overflows are refused.
#[test]
fn contradictory_or_overflowing_stop_thresholds_are_refused() {
    let run = || particle().discrete(Discrete::heavy_ball());
    let e = build_error(run().stop(Criterion::Distance, 10.0).divergence(1.0));
    assert_eq!(key(&e), "stop.tolerance");
    assert!(e.to_string().contains("is not below divergence"), "{e}");
    let e = build_error(run().stop(Criterion::Distance, 1e300));
    assert_eq!(key(&e), "stop.tolerance");
    assert!(e.to_string().contains("its square overflows"), "{e}");
    // The loss criterion bounds E − E*, another quantity: both may stand.
    assert!(
        run()
            .stop(Criterion::Loss, 10.0)
            .divergence(1.0)
            .build()
            .is_ok()
    );
    assert!(
        run()
            .stop(Criterion::Distance, 0.5)
            .divergence(1.0)
            .build()
            .is_ok()
    );
}

/// As a scenario file's: an rtol at or below 10·ε (Hairer's DOPRI5 floor) is refused.
#[test]
fn an_rtol_below_a_doubles_rounding_is_refused() {
    let with = |rtol: f64| {
        particle()
            .continuous(Continuous::new().tolerances(rtol, 1e-30))
            .build()
    };
    let e = with(1e-20).unwrap_err();
    assert_eq!(key(&e), "continuous.rtol");
    assert!(matches!(e, BuildError::OutOfRange { value, .. } if value == 1e-20));
    assert!(with(10.0 * f64::EPSILON).is_err());
    assert!(with(1e-14).is_ok());
}

/// `sweep_rows` computes ahead of its reader on threads of its own, within the reorder
/// window: while the reader holds the first row, the workers go on until the window is
/// full — at least `WINDOW` points begun, at most two windows and the chunks handed over
/// (`2·WINDOW + 4·CHUNK`), far fewer than the grid's 10⁵ — and then wait; dropping the
/// iterator stops them, so no gradient is taken after the drop. Every point is 100
/// heavy-ball steps that never converge: 100 gradients each, as `evaluations` says.
#[test]
fn a_sweep_computes_ahead_of_its_reader_within_the_window() {
    let counted = Counted::new(true);
    let problem = Problem::builder(counted)
        .mass(1.0)
        .friction(1.0)
        .position([1.0, 1.0])
        .discrete(Discrete::heavy_ball().dt(0.01).steps(100))
        .stop(Criterion::Distance, 1e-100)
        .sweep(
            AxisKey::Friction,
            AxisSpec::Linspace {
                start: 1.0,
                stop: 2.0,
                count: 100_000,
            },
        )
        .build()
        .unwrap();
    let per_point = problem.run_point(0).unwrap().rows[0].report.evaluations;
    assert_eq!(per_point, 100);
    let before = counted.gradients.load(Relaxed);
    let spent = || counted.gradients.load(Relaxed) - before;
    let mut rows = problem.sweep_rows(2);
    let first = rows.next().unwrap();
    assert_eq!((first.point, first.report.evaluations), (0, 100));
    // Until the workers wait (no gradient in 50 ms), for at most a minute.
    let mut last = spent();
    for _ in 0..1200 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if spent() == last {
            break;
        }
        last = spent();
    }
    assert_eq!(last % per_point, 0, "only whole points");
    let points = last / per_point;
    let (window, chunk) = (heavyball::sweep::WINDOW, heavyball::sweep::CHUNK);
    assert!(
        (window..=2 * window + 4 * chunk).contains(&points),
        "{points} points begun"
    );
    drop(rows);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(spent(), last);
}
