//! One row of `summary.csv`, and its writer.

use super::{Field, Rows};
use crate::observe::RunReport;

/// Everything one summary row holds (SPEC's required columns plus `note`).
#[derive(Debug, Clone)]
pub struct SummaryRow<'a> {
    /// Grid point index.
    pub point: u64,
    /// `continuous` or the discrete entry's label.
    pub method: &'a str,
    /// Particle mass (None where the row has no particle).
    pub mass: Option<f64>,
    /// Friction.
    pub friction: Option<f64>,
    /// Δt of a discrete entry.
    pub dt: Option<f64>,
    /// Effective ε.
    pub learning_rate: Option<f64>,
    /// Effective p.
    pub momentum: Option<f64>,
    /// The run's report.
    pub report: &'a RunReport,
    /// THEORY rate per unit time.
    pub theory_rate: Option<f64>,
    /// Spectral radius (discrete).
    pub theory_radius: Option<f64>,
    /// Stability verdict.
    pub theory_stable: Option<bool>,
    /// Continuous: speed-up factor of the slowest component.
    pub speedup: Option<f64>,
    /// Continuous: damping regime of the slowest component.
    pub damping: Option<&'static str>,
    /// Discrete: the momentum minimising the spectral radius at this ε.
    pub optimal_momentum: Option<f64>,
    /// The noise floor's closed form (noisy runs on a quadratic).
    pub theory_noise_floor: Option<f64>,
}

impl SummaryRow<'_> {
    /// Formats the row.
    pub fn write(&self, csv: &mut Rows) {
        let r = self.report;
        csv.field(Field::Int(self.point));
        csv.field(Field::Text(self.method));
        csv.field(Field::Opt(self.mass));
        csv.field(Field::Opt(self.friction));
        csv.field(Field::Opt(self.dt));
        csv.field(Field::Opt(self.learning_rate));
        csv.field(Field::Opt(self.momentum));
        csv.field(Field::Text(r.status.as_str()));
        csv.field(Field::Opt(r.crossings.tight));
        csv.field(Field::Int(r.steps));
        csv.field(Field::Int(r.evaluations));
        csv.field(Field::Opt(r.final_value));
        csv.field(Field::Opt(self.theory_rate));
        csv.field(Field::Opt(self.theory_radius));
        csv.field(match self.theory_stable {
            Some(true) => Field::Text("true"),
            Some(false) => Field::Text("false"),
            None => Field::Empty,
        });
        csv.field(Field::Opt(r.crossings.measured_rate()));
        csv.field(Field::Opt(self.speedup));
        csv.field(self.damping.map_or(Field::Empty, Field::Text));
        csv.field(Field::Opt(self.optimal_momentum));
        csv.field(Field::Opt(r.noise_floor));
        csv.field(Field::Opt(self.theory_noise_floor));
        csv.field(r.solver.map_or(Field::Empty, Field::Text));
        csv.field(Field::Text(r.status.note()));
        csv.end_row();
    }
}
