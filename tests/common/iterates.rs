//! Running one discrete entry of a scenario and recording its iterates.

use heavyball::dynamics::discrete::DiscreteRun;
use heavyball::dynamics::maps;
use heavyball::observe::{DiscreteObserver, RunReport, StopRule};
use heavyball::potential;
use heavyball::scenario::Scenario;

/// Every iterate of a discrete run.
#[derive(Default)]
pub struct Iterates(pub Vec<Vec<f64>>);

impl DiscreteObserver for Iterates {
    fn step(&mut self, _: u64, _: f64, w: &[f64], _: &[f64]) -> Result<(), heavyball::Error> {
        self.0.push(w.to_vec());
        Ok(())
    }
}

/// Runs discrete entry `i` of a scenario (at grid point 0), recording every iterate.
pub fn run_entry(s: &Scenario, i: usize) -> (RunReport, Vec<Vec<f64>>) {
    let p = potential::build(&s.potential).unwrap();
    let d = &s.discrete[i];
    let point = s.point(0);
    let (params, steps) = point.discrete[i];
    let mut it = Iterates::default();
    let report = DiscreteRun {
        potential: p.as_ref(),
        scheme: d.scheme,
        coefficients: maps::coefficients(d.scheme, d.form, params, point.particle),
        position: &s.particle.position,
        velocity: &s.particle.velocity,
        steps,
        stop: StopRule::new(&s.stop),
        noise: None,
    }
    .run(&mut it)
    .expect("recording never fails");
    (report, it.0)
}

/// max_k |a_k − b_k| / max_k |b_k| over every coordinate.
pub fn relative_gap(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    let gap = a
        .iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0f64, f64::max);
    gap / scale
}
