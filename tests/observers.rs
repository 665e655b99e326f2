//! Observers may fail: the run stops at the failure and returns it (argmin's
//! `Observe::observe_iter` returning `Result`), for discrete runs, continuous runs and a
//! single run's trajectory sink alike.

use heavyball::dynamics::ContinuousRun;
use heavyball::dynamics::discrete::DiscreteRun;
use heavyball::dynamics::maps;
use heavyball::observe::{ContinuousObserver, DiscreteObserver, StopRule};
use heavyball::output::Trajectories;
use heavyball::point::{ComparisonRow, PointRunner, Trajectory, TrajectorySink};
use heavyball::prelude::*;
use heavyball::problem::StateLayout;
use heavyball::{Error, dynamics};

#[derive(Debug)]
struct Full;

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "disk full")
    }
}

impl std::error::Error for Full {}

/// Fails on the call numbered `fail_at` (from 0), counting every call.
struct Failing {
    calls: u64,
    fail_at: u64,
}

impl Failing {
    fn call(&mut self) -> Result<(), Error> {
        let k = self.calls;
        self.calls += 1;
        if k == self.fail_at {
            Err(Error::Observer(Box::new(Full)))
        } else {
            Ok(())
        }
    }
}

impl DiscreteObserver for Failing {
    fn step(&mut self, _: u64, _: f64, _: &[f64], _: &[f64]) -> Result<(), Error> {
        self.call()
    }
}

impl ContinuousObserver for Failing {
    fn next_time(&self) -> Option<f64> {
        Some(self.calls as f64 * 0.5)
    }
    fn observe(&mut self, _: f64, _: &[f64], _: &[f64]) -> Result<(), Error> {
        self.call()
    }
    fn finish(&mut self, _: f64, _: &[f64], _: &[f64]) -> Result<(), Error> {
        self.call()
    }
}

fn quadratic() -> Quadratic {
    Quadratic::from_eigenvalues(&[1.0, 10.0]).unwrap()
}

#[test]
fn a_failing_discrete_observer_stops_the_run_at_its_step() {
    let q = quadratic();
    let c = maps::coefficients(
        Scheme::HeavyBall,
        Form::Polyak,
        dynamics::DiscreteParams::FromParticle {
            dt: 0.1,
            map: Map::Qian,
        },
        Some((1.0, 2.0)),
    );
    let mut observer = Failing {
        calls: 0,
        fail_at: 5,
    };
    let run = DiscreteRun {
        potential: &q,
        scheme: Scheme::HeavyBall,
        coefficients: c,
        position: &[1.0, 1.0],
        velocity: &[0.0, 0.0],
        steps: 1000,
        stop: StopRule::new(&Default::default()),
        noise: None,
    };
    let err = run.run(&mut observer).unwrap_err();
    assert_eq!(err.to_string(), "observer: disk full");
    // Steps 0..=5 were shown; nothing after the failing one.
    assert_eq!(observer.calls, 6);
}

#[test]
fn a_failing_continuous_observer_stops_the_run_at_its_time() {
    let q = quadratic();
    let fixed = Some(0.01);
    for (method, step) in [
        (Method::Dopri5, None),
        (Method::Dop853, None),
        (Method::Bdf, None),
        (Method::Rk4, fixed),
        (Method::Baoab, fixed),
    ] {
        let spec = dynamics::ContinuousSpec {
            method,
            t_end: 40.0,
            step,
            ..Default::default()
        };
        let mut observer = Failing {
            calls: 0,
            fail_at: 3,
        };
        let run = ContinuousRun {
            potential: &q,
            mass: 1.0,
            friction: 2.0,
            position: &[1.0, 1.0],
            velocity: &[0.0, 0.0],
            spec: &spec,
            stop: StopRule::new(&Default::default()),
            noise: None,
        };
        let err = run.run(&mut observer).unwrap_err();
        assert!(matches!(err, Error::Observer(_)), "{method:?}");
        // t = 0, 0.5, 1.0 succeeded, 1.5 failed: four calls, no `finish`.
        assert_eq!(observer.calls, 4, "{method:?}");
    }
}

/// Collects in memory, failing on the discrete row numbered `fail_at`.
struct FailingSink {
    inner: Trajectories,
    discrete_rows: u64,
    fail_at: u64,
}

impl TrajectorySink for FailingSink {
    fn begin(&mut self, table: Trajectory, layout: &StateLayout) -> Result<(), Error> {
        self.inner.begin(table, layout)
    }
    fn continuous(&mut self, row: &[f64]) -> Result<(), Error> {
        self.inner.continuous(row)
    }
    fn discrete(&mut self, label: &str, k: u64, row: &[f64]) -> Result<(), Error> {
        self.discrete_rows += 1;
        if self.discrete_rows > self.fail_at {
            return Err(Error::Observer(Box::new(Full)));
        }
        self.inner.discrete(label, k, row)
    }
    fn comparison(&mut self, label: &str, row: &ComparisonRow) -> Result<(), Error> {
        self.inner.comparison(label, row)
    }
    fn end(&mut self, table: Trajectory) -> Result<(), Error> {
        self.inner.end(table)
    }
}

#[test]
fn a_failing_sink_ends_the_single_run_with_its_error() {
    let problem = Problem::builder(quadratic())
        .mass(1.0)
        .friction(2.0)
        .position([1.0, 1.0])
        .continuous(Continuous::new().t_end(40.0))
        .discrete(Discrete::heavy_ball().dt(0.1))
        .build()
        .unwrap();
    let mut sink = FailingSink {
        inner: Trajectories::default(),
        discrete_rows: 0,
        fail_at: 7,
    };
    let err = PointRunner::new(&problem)
        .run_traced(0, &mut sink)
        .unwrap_err();
    assert_eq!(err.to_string(), "observer: disk full");
    // Seven rows kept, the continuous run never started.
    assert_eq!(sink.inner.discrete.rows.len(), 7);
    assert!(sink.inner.continuous.rows.is_empty());
    // Without the failure the same point writes all 165 steps (0..=165 → 166 rows) of
    // the heavy ball at Δt = 0.1 (ρ = √(5/6): |w_k| < 1e-6 first at k = 165).
    let (result, full) = problem.run_traced(0).unwrap();
    assert_eq!(result.rows[1].report.steps, 165);
    assert_eq!(full.discrete.rows.len(), 166);
}
