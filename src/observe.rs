//! What listens to a run: the stop rule (one place computes the criterion and the
//! divergence test), the threshold crossings behind the measured rate, the status of a
//! finished run, and the observer traits through which samplers receive states.

use crate::error::Error;
use crate::potential::Potential;

/// The quantity the stop rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

/// When a run has converged or diverged (a scenario's `[stop]` table).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StopSpec {
    /// What is measured.
    pub criterion: Criterion,
    /// Converged once the criterion is below this.
    pub tolerance: f64,
    /// Diverged once the distance from the minimum exceeds this.
    pub divergence: f64,
}

impl Default for StopSpec {
    /// The defaults of a `[stop]` table: distance below 1e-6, diverged beyond 1e12.
    fn default() -> Self {
        StopSpec {
            criterion: Criterion::Distance,
            tolerance: 1e-6,
            divergence: 1e12,
        }
    }
}

impl StopSpec {
    /// Why `tolerance` can never be tested honestly for `criterion`, if so: the distance,
    /// gradient and energy are compared squared (`|w|² < tol²`, as the peers do), and a
    /// squared norm below `f64::MIN_POSITIVE` loses its digits to underflow (at
    /// tol = 1e-300 no run could ever converge).
    pub fn tolerance_problem(criterion: Criterion, tolerance: f64) -> Option<String> {
        let least = match criterion {
            Criterion::Loss => f64::MIN_POSITIVE,
            Criterion::Distance | Criterion::Gradient | Criterion::Energy => {
                f64::MIN_POSITIVE.sqrt()
            }
        };
        (tolerance < least).then(|| {
            let how = if criterion == Criterion::Loss {
                "E − E* below it is not a normal f64"
            } else {
                "it is compared squared, and its square underflows"
            };
            format!(
                "must be >= {least:e} for the {} criterion ({how}: no run could meet it), got {tolerance:e}",
                criterion.as_str()
            )
        })
    }

    /// Why `divergence` cannot be tested honestly, if so: it is compared squared with
    /// |w − w*|², which overflows beyond [`MAX_DIVERGENCE`].
    pub fn divergence_problem(divergence: f64) -> Option<String> {
        (divergence > MAX_DIVERGENCE).then(|| {
            format!(
                "must be <= {MAX_DIVERGENCE:e} (it is compared squared, and its square overflows), got {divergence:e}"
            )
        })
    }
}

/// The largest divergence distance whose square is a finite f64 (√f64::MAX ≈ 1.34e154,
/// rounded down).
pub const MAX_DIVERGENCE: f64 = 1e154;

/// How a run ended (argmin's `TerminationReason`, for this engine).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Status {
    /// The stop criterion was met.
    Converged,
    /// The budget (`t_end`, `steps`) ran out first.
    NotConverged,
    /// The distance from the minimum passed the divergence threshold (or became non-finite).
    Diverged,
    /// The solver gave up; the reason goes in the `note` column.
    Failed(String),
    /// The point has nothing to run (e.g. no physical twin).
    Skipped(String),
}

impl Status {
    /// The `status` column's word.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Converged => "converged",
            Status::NotConverged => "not-converged",
            Status::Diverged => "diverged",
            Status::Failed(_) => "failed",
            Status::Skipped(_) => "skipped",
        }
    }

    /// The `note` column: why a run failed or was skipped.
    pub fn note(&self) -> &str {
        match self {
            Status::Failed(n) | Status::Skipped(n) => n,
            _ => "",
        }
    }
}

/// Ratio between the two thresholds of the measured rate (SPEC: three decades).
pub const RATE_DECADES: f64 = 1000.0;

/// The stop rule of a scenario, as squared or plain measures that compare exactly as the
/// peers do (`|w|² < tol²`, not `|w| < tol`).
#[derive(Debug, Clone, Copy)]
pub struct StopRule {
    /// What is measured.
    pub criterion: Criterion,
    /// The tolerance as written.
    pub tolerance: f64,
    /// The divergence distance as written.
    pub divergence: f64,
    div2: f64,
}

impl StopRule {
    /// The rule of a scenario's `[stop]` table.
    pub fn new(spec: &StopSpec) -> Self {
        StopRule {
            criterion: spec.criterion,
            tolerance: spec.tolerance,
            divergence: spec.divergence,
            div2: spec.divergence * spec.divergence,
        }
    }

    /// The measure compared with thresholds: |w − w*|², E − E*, |∇E|² (`g` must then
    /// hold ∇E(w)) or m|v|² + 2(E − E*), where `kinetic` gives m|v|² (asked for only by
    /// the energy criterion).
    #[inline]
    pub fn measure<P: Potential + ?Sized>(
        &self,
        potential: &P,
        w: &[f64],
        g: &[f64],
        kinetic: impl FnOnce() -> f64,
    ) -> f64 {
        let excess = || potential.value(w) - potential.minimum_value().unwrap_or(0.0);
        match self.criterion {
            Criterion::Distance => distance2(potential, w),
            Criterion::Loss => excess(),
            Criterion::Gradient => g.iter().map(|x| x * x).sum(),
            Criterion::Energy => kinetic() + 2.0 * excess(),
        }
    }

    /// The measure that corresponds to a threshold on the criterion's value.
    #[inline]
    pub fn threshold(&self, value: f64) -> f64 {
        match self.criterion {
            Criterion::Loss => value,
            Criterion::Distance | Criterion::Gradient | Criterion::Energy => value * value,
        }
    }

    /// The criterion's value from its measure (what `final_value` reports).
    pub fn value(&self, measure: f64) -> f64 {
        match self.criterion {
            Criterion::Loss => measure,
            // Rounding can leave E − E* a hair below zero at the minimum (NaN stays NaN).
            Criterion::Distance | Criterion::Gradient | Criterion::Energy => {
                if measure < 0.0 {
                    0.0
                } else {
                    measure.sqrt()
                }
            }
        }
    }

    /// The `final_value` column: the criterion's value, None when not finite.
    pub fn final_value(&self, measure: f64) -> Option<f64> {
        let v = self.value(measure);
        v.is_finite().then_some(v)
    }

    /// Whether the criterion needs ∇E(w).
    pub fn needs_gradient(&self) -> bool {
        self.criterion == Criterion::Gradient
    }

    /// The divergence distance squared, as [`Self::diverged`] compares it.
    pub fn divergence2(&self) -> f64 {
        self.div2
    }

    /// Whether a state is broken: its |w − w*|² or its criterion's measure is not finite
    /// (NaN, or an overflow). Tested before any criterion: such a run is `diverged`,
    /// whatever the criterion reads there (∇E(∞) can be 0).
    #[inline]
    pub fn broken(distance2: f64, measure: f64) -> bool {
        !(distance2.is_finite() && measure.is_finite())
    }

    /// The divergence test on |w − w*|² (non-finite counts as diverged).
    #[inline]
    // Deliberately `!(a <= b)` rather than `a > b`: it also catches NaN.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn diverged(&self, distance2: f64) -> bool {
        !(distance2 <= self.div2)
    }

    /// Squared radius, in the criterion space of [`CriterionMap`], of the ball inside which
    /// the criterion is below `value`.
    pub fn ball(&self, value: f64) -> f64 {
        match self.criterion {
            // E − E* = ½|L(w − w*)|² < value  ⇔  |u|² < 2·value.
            Criterion::Loss => 2.0 * value,
            Criterion::Distance | Criterion::Gradient | Criterion::Energy => value * value,
        }
    }
}

/// |w − w*| for the output columns: None when the minimum is unknown (the divergence test
/// then measures from the origin, but a column must not pass |w| off as a distance).
pub fn distance_to_minimum<P: Potential + ?Sized>(potential: &P, w: &[f64]) -> Option<f64> {
    potential
        .minimum()
        .is_some()
        .then(|| distance2(potential, w).sqrt())
}

/// |w − w*|² (|w|² when the minimum is unknown), summed left to right like the peers.
#[inline]
pub fn distance2<P: Potential + ?Sized>(potential: &P, w: &[f64]) -> f64 {
    match potential.minimum() {
        Some(m) => w.iter().zip(m).map(|(a, b)| (a - b) * (a - b)).sum(),
        None => w.iter().map(|a| a * a).sum(),
    }
}

/// The linear image u = A(w − w*) whose norm is the criterion: A = I (distance), H
/// (gradient of a quadratic) or L with LᵀL = H (loss of a quadratic). Being affine in w,
/// it maps a step interpolant's control points to the criterion's own.
pub struct CriterionMap<'a> {
    /// The quadratic behind a loss or gradient map (looked up once, not per point).
    quadratic: Option<&'a crate::potential::Quadratic>,
    criterion: Criterion,
    minimum: Vec<f64>,
    scratch: Vec<f64>,
}

impl<'a> CriterionMap<'a> {
    /// The map for a potential and criterion; `None` when the criterion is not a linear
    /// image of w for this potential (only quadratics have loss and gradient maps).
    pub fn new(potential: &'a dyn Potential, criterion: Criterion) -> Option<Self> {
        let n = potential.dim();
        let minimum = potential.minimum().map_or(vec![0.0; n], <[f64]>::to_vec);
        // The energy involves the velocity: it has no map of w alone.
        if criterion == Criterion::Energy
            || (criterion != Criterion::Distance && potential.as_quadratic().is_none())
        {
            return None;
        }
        Some(CriterionMap {
            quadratic: potential.as_quadratic(),
            criterion,
            minimum,
            scratch: vec![0.0; n],
        })
    }

    /// The minimum, when the map is the shift u = w − w* alone (the distance): the step
    /// interpolant can then be searched directly, measured from w*.
    pub fn shift_only(&self) -> Option<&[f64]> {
        (self.criterion == Criterion::Distance).then_some(&self.minimum[..])
    }

    /// Writes u = A(w − w*) into `u`.
    #[inline]
    pub fn apply(&mut self, w: &[f64], u: &mut [f64]) {
        let x: &mut [f64] = match self.criterion {
            Criterion::Distance => u,
            _ => &mut self.scratch,
        };
        for ((x, w), m) in x.iter_mut().zip(w).zip(&self.minimum) {
            *x = w - m;
        }
        // Only quadratics reach the arms below (see `new`).
        if self.criterion == Criterion::Distance {
            return;
        }
        if let Some(q) = self.quadratic {
            match self.criterion {
                Criterion::Distance | Criterion::Energy => {}
                Criterion::Gradient => q.hessian_apply(&self.scratch, u),
                Criterion::Loss => q.factor_apply(&self.scratch, u),
            }
        }
    }
}

/// The first times a run met the loose (1000·tol) and the tight (tol) threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Crossings {
    /// First time the criterion was below 1000·tol.
    pub loose: Option<f64>,
    /// First time it was below tol.
    pub tight: Option<f64>,
}

impl Crossings {
    /// `ln(1000) / (t(tol) − t(1000·tol))`, the decay over the last three decades; `None`
    /// unless both were met (and apart).
    pub fn measured_rate(&self) -> Option<f64> {
        match (self.loose, self.tight) {
            (Some(a), Some(b)) if b > a => Some(RATE_DECADES.ln() / (b - a)),
            _ => None,
        }
    }
}

/// What one run reports for its summary row.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// How it ended.
    pub status: Status,
    /// Continuous: accepted solver steps; discrete: the last step index reached.
    pub steps: u64,
    /// Gradient evaluations spent.
    pub evaluations: u64,
    /// The criterion's value at the end (None when not finite).
    pub final_value: Option<f64>,
    /// Threshold crossings (t_converged is `crossings.tight`).
    pub crossings: Crossings,
    /// Physical time at which the run ended.
    pub end_time: f64,
    /// The continuous method used (`auto` resolved per point); None for discrete runs.
    pub solver: Option<&'static str>,
    /// Mean E − E* over the last 10% of the step budget, for a noisy run that spent it.
    pub noise_floor: Option<f64>,
}

impl RunReport {
    /// The report of a run that did not happen (skipped, or failed before its first step).
    pub fn without_run(status: Status) -> Self {
        RunReport {
            status,
            steps: 0,
            evaluations: 0,
            final_value: None,
            crossings: Crossings::default(),
            end_time: 0.0,
            solver: None,
            noise_floor: None,
        }
    }
}

/// Receives the states of a continuous run at the times it asks for (CSV rows, comparison
/// probes). `()` asks for nothing, which is what a sweep point uses.
///
/// An observer may fail (a full disk, a closed channel): the run stops there and returns
/// that error (argmin's `Observe::observe_iter`).
pub trait ContinuousObserver {
    /// The next time at which this observer wants the state, if any; strictly increasing.
    fn next_time(&self) -> Option<f64>;
    /// The state at the time last returned by `next_time`.
    fn observe(&mut self, t: f64, w: &[f64], v: &[f64]) -> Result<(), Error>;
    /// The run ended at `t` in this state.
    fn finish(&mut self, t: f64, w: &[f64], v: &[f64]) -> Result<(), Error>;
}

impl ContinuousObserver for () {
    fn next_time(&self) -> Option<f64> {
        None
    }
    fn observe(&mut self, _: f64, _: &[f64], _: &[f64]) -> Result<(), Error> {
        Ok(())
    }
    fn finish(&mut self, _: f64, _: &[f64], _: &[f64]) -> Result<(), Error> {
        Ok(())
    }
}

/// Receives every iterate of a discrete run; an error stops the run and is returned.
pub trait DiscreteObserver {
    /// Step `k` at physical time `t`, with the iterate and its predecessor.
    fn step(&mut self, k: u64, t: f64, w: &[f64], w_prev: &[f64]) -> Result<(), Error>;

    /// Whether this observer needs ∇E at every iterate (then, where the scheme takes the
    /// noise-free ∇E(w_k) anyway, it arrives through [`Self::step_with_gradient`] and is
    /// computed once for both).
    fn wants_gradient(&self) -> bool {
        false
    }

    /// As [`Self::step`], with `g` = ∇E(w_k) (noise-free).
    fn step_with_gradient(
        &mut self,
        k: u64,
        t: f64,
        w: &[f64],
        w_prev: &[f64],
        g: &[f64],
    ) -> Result<(), Error> {
        let _ = g;
        self.step(k, t, w, w_prev)
    }
}

impl DiscreteObserver for () {
    fn step(&mut self, _: u64, _: f64, _: &[f64], _: &[f64]) -> Result<(), Error> {
        Ok(())
    }
}
