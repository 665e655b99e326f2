//! What listens to a run: the stop rule (one place computes the criterion and the
//! divergence test), the threshold crossings behind the measured rate, the status of a
//! finished run, and the observer traits through which samplers receive states.

use crate::error::Error;
use crate::potential::Potential;
use crate::simd::{LN_BATCH, ln_batch};

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
        let squared = criterion != Criterion::Loss;
        if squared && tolerance > MAX_DIVERGENCE {
            return Some(format!(
                "must be <= {MAX_DIVERGENCE:e} for the {} criterion (it is compared squared, and its square overflows: every run would meet it at once), got {tolerance:e}",
                criterion.as_str()
            ));
        }
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

    /// Why `tolerance` and `divergence` contradict each other, if so: under the distance
    /// criterion both bound |w − w*|, and a tolerance at or above the divergence would
    /// stop every run at once, as converged or as diverged, whichever is tested first.
    pub fn thresholds_problem(
        criterion: Criterion,
        tolerance: f64,
        divergence: f64,
    ) -> Option<String> {
        (criterion == Criterion::Distance && tolerance >= divergence).then(|| {
            format!(
                "tolerance = {tolerance:e} is not below divergence = {divergence:e}: both bound the distance |w − w*|, so every run would stop at once"
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
    /// The quadratic behind a loss or gradient map (looked up once, not per point): the
    /// potential's own, or a model of another potential ([`Self::model`]).
    quadratic: Option<std::borrow::Cow<'a, crate::potential::Quadratic>>,
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
            quadratic: potential.as_quadratic().map(std::borrow::Cow::Borrowed),
            criterion,
            minimum,
            scratch: vec![0.0; n],
        })
    }

    /// The loss or gradient map of the quadratic model of a potential that is not one,
    /// ½(w − w*)ᵀH*(w − w*) with H* its Hessian at the known minimum (n Hessian-vector
    /// products there, symmetrised): near w*, where those criteria cross a small
    /// tolerance, the model's criterion is the potential's to first order, so its map
    /// screens a step for dips as a quadratic's does. None for other criteria, without a
    /// minimum, beyond [`MODEL_MAX_DIM`] coordinates, or where H* is not finite or not
    /// positive semi-definite.
    pub fn model(potential: &dyn Potential, criterion: Criterion) -> Option<CriterionMap<'static>> {
        let n = potential.dim();
        let minimum = potential.minimum()?.to_vec();
        if !matches!(criterion, Criterion::Loss | Criterion::Gradient)
            || potential.as_quadratic().is_some()
            || n > MODEL_MAX_DIM
        {
            return None;
        }
        let mut columns = vec![vec![0.0; n]; n];
        let mut e = vec![0.0; n];
        for (j, column) in columns.iter_mut().enumerate() {
            e[j] = 1.0;
            potential.hessian_vector_into(&minimum, &e, column);
            e[j] = 0.0;
        }
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| 0.5 * (columns[j][i] + columns[i][j]))
                    .collect()
            })
            .collect();
        let spec = crate::potential::HessianSpec::Dense(rows);
        let quadratic = crate::potential::Quadratic::new(&spec, minimum.clone()).ok()?;
        Some(CriterionMap {
            quadratic: Some(std::borrow::Cow::Owned(quadratic)),
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
        if let Some(q) = &self.quadratic {
            match self.criterion {
                Criterion::Distance | Criterion::Energy => {}
                Criterion::Gradient => q.hessian_apply(&self.scratch, u),
                Criterion::Loss => q.factor_apply(&self.scratch, u),
            }
        }
    }
}

/// Most coordinates of a potential for which [`CriterionMap::model`] builds its quadratic
/// model (n Hessian-vector products and an n × n eigen-decomposition a run).
pub const MODEL_MAX_DIM: usize = 64;

/// The share of a noisy run's budget (steps, or time) over which its noise floor is
/// averaged: the last 10%.
pub const FLOOR_SHARE: f64 = 0.1;

/// A noisy run's noise floor: the mean of E − E* over the last [`FLOOR_SHARE`] of its
/// budget, reported only by a run that spent the whole budget.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoiseFloor {
    sum: f64,
    count: u64,
}

impl NoiseFloor {
    /// One more E − E*.
    pub fn add(&mut self, excess: f64) {
        self.sum += excess;
        self.count += 1;
    }

    /// The mean for a run that ended with `status` (None unless the budget was spent).
    pub fn mean(&self, status: &Status) -> Option<f64> {
        (*status == Status::NotConverged && self.count > 0).then(|| self.sum / self.count as f64)
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

/// The factor by which L² falls between kept samples: one every eighth of a decade of L,
/// e^{−2·ln 10/8} (a literal, so that the lanes' inlined keep calls no `exp`).
pub(crate) const KEEP_FACTOR: f64 = 0.562_341_325_190_349_1;

/// Samples the rate meter keeps: four decades at an eighth of a decade (the fit uses three).
const RATE_SAMPLES: usize = 33;

/// Largest deviation (in ln L) of a kept sample from the fitted line for the slope to be
/// reported: a deviation A over the three-decade window moves a least-squares slope by at
/// most ~2A/ln 1000 of itself, so 0.05 keeps the fit within ~1.5%.
const RATE_MAX_RESIDUAL: f64 = 0.05;

// `NoRate::TooShort`'s text names the three decades.
const _: () = assert!(RATE_DECADES == 1000.0);

/// ln [`RATE_DECADES`]: `libm::log(1000.0)`'s bits (a unit test compares them), a literal
/// so that no fit computes it.
const LN_RATE_DECADES: f64 = 6.907_755_278_982_137;

// The first sample's logarithm takes the slot after the ring's in the fit's batch.
const _: () = assert!(RATE_SAMPLES < LN_BATCH);

/// Why a run has no `measured_rate` ([`RateMeter::rate`]); its text goes into the row's
/// `note`.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum NoRate {
    /// The meter measured nothing ([`RateOff`]).
    #[error("no measured_rate: {0}")]
    Off(RateOff),
    /// The envelope fell fewer than the three decades ([`RATE_DECADES`]) the fit needs.
    #[error("no measured_rate: the envelope fell {decades:.1} decades, 3 needed")]
    TooShort {
        /// The decades it fell (base-10 logarithm of its first sample over its last).
        decades: f64,
    },
    /// The envelope fell its last three decades in fewer than three samples (an eighth of a
    /// decade apart at most): too few to test a line.
    #[error(
        "no measured_rate: the envelope fell its last three decades within {samples} samples, 3 needed to test a straight line"
    )]
    TooFewSamples {
        /// The samples in the window.
        samples: usize,
    },
    /// The fitted slope of ln L over the window is not negative (or not finite).
    #[error("no measured_rate: the envelope did not decay over its last three decades")]
    NotDecaying,
    /// A sample in the window is off the fitted line by more than 5% of L.
    #[error(
        "no measured_rate: the envelope is not exponential over its last three decades (off a straight line by {percent:.0}%)"
    )]
    NotExponential {
        /// The largest deviation, in percent of L.
        percent: f64,
    },
}

/// The measured decay rate: the least-squares slope of ln L against t over the last three
/// decades ([`RATE_DECADES`]) of an envelope quantity L that decays like the distance to
/// the minimum (docs/theory.md §8 "Measured rate"). The loops feed it L² at every step
/// ([`Self::feed`]: one comparison); it keeps a sample (t, L²) each time L has fallen by
/// an eighth of a decade since the last kept one, in a fixed ring of the last four
/// decades: no allocation, and no logarithm until the fit.
#[derive(Debug, Clone)]
pub struct RateMeter {
    t: [f64; RATE_SAMPLES],
    /// L² of each sample (ln L is taken by the fit).
    l2: [f64; RATE_SAMPLES],
    /// Samples kept so far (the ring holds the last [`RATE_SAMPLES`]).
    kept: usize,
    /// L² below which the next sample is kept.
    next: f64,
    /// L² of the first sample.
    first: f64,
    /// Why no rate can be measured, decided before the run (noise, no minimum) or on the
    /// way (L² not positive).
    off: Option<RateOff>,
}

impl Default for RateMeter {
    fn default() -> Self {
        RateMeter {
            t: [0.0; RATE_SAMPLES],
            l2: [0.0; RATE_SAMPLES],
            kept: 0,
            next: f64::INFINITY,
            first: f64::NAN,
            off: None,
        }
    }
}

impl RateMeter {
    /// A meter that measures nothing, for the reason given (it goes into the `note`).
    pub fn off(why: RateOff) -> Self {
        Envelope::meter(&Err(why))
    }

    /// Makes this meter the one [`Envelope::meter`] makes for `envelope` (which makes it
    /// so), without clearing its ring: only the `kept` samples are ever read, and a lane
    /// that takes a new run every few hundred steps spent a `memset` on it.
    pub(crate) fn restart(&mut self, envelope: &Result<Envelope, RateOff>) {
        (self.kept, self.first) = (0, f64::NAN);
        (self.next, self.off) = match envelope {
            Ok(_) => (f64::INFINITY, None),
            Err(why) => (f64::NEG_INFINITY, Some(*why)),
        };
    }

    /// The envelope quantity L² at time t.
    #[inline(always)]
    pub fn feed(&mut self, t: f64, l2: f64) {
        if l2 < self.next {
            self.keep(t, l2);
        }
    }

    /// The threshold below which [`Self::feed`] keeps a sample (for loops that test many
    /// runs at once and call [`Self::feed`] only then).
    #[inline(always)]
    pub fn next(&self) -> f64 {
        self.next
    }

    #[inline(never)]
    fn keep(&mut self, t: f64, l2: f64) {
        self.keep_below(t, l2);
    }

    /// [`Self::feed`]'s keeping of a sample `l2` already known to be below the threshold,
    /// inlined (for loops whose state is in vector registers).
    #[inline(always)]
    pub(crate) fn keep_below(&mut self, t: f64, l2: f64) {
        if !(l2 > 0.0 && l2.is_finite()) {
            // At the minimum to the last bit (nothing left to decay) or an indefinite
            // quadratic form: no more samples.
            self.next = f64::NEG_INFINITY;
            if (l2.is_nan() || l2 < 0.0) && self.off.is_none() {
                self.off = Some(RateOff::NotPositive);
            }
            return;
        }
        if self.kept == 0 {
            self.first = l2;
        }
        let i = self.kept % RATE_SAMPLES;
        (self.t[i], self.l2[i]) = (t, l2);
        self.kept += 1;
        self.next = l2 * KEEP_FACTOR;
    }

    /// The rate, or why there is none (for the `note` column).
    pub fn rate(&self) -> Result<f64, NoRate> {
        if let Some(why) = self.off {
            return Err(NoRate::Off(why));
        }
        let n = self.kept.min(RATE_SAMPLES);
        if n == 0 {
            return Err(NoRate::TooShort { decades: 0.0 });
        }
        let last = (self.kept - 1) % RATE_SAMPLES;
        // Each sample's ln L² once (the fit passes over them three times; `libm::log`'s
        // bits, several at a time), and the first sample's in the slot after them (padding
        // the batch computes anyway).
        let mut l2 = [1.0; LN_BATCH];
        l2[..n].copy_from_slice(&self.l2[..n]);
        l2[n] = self.first;
        let ln = ln_batch(&l2, n + 1);
        let y_last = 0.5 * ln[last];
        let fell = 0.5 * ln[n] - y_last;
        // A hair of slack: samples are an eighth of a decade apart to round-off.
        if self.kept < 2 || fell < LN_RATE_DECADES - 1e-9 {
            return Err(NoRate::TooShort {
                decades: fell.max(0.0) / std::f64::consts::LN_10,
            });
        }
        let top = y_last + LN_RATE_DECADES + 1e-9;
        // Newest first, up to the first sample above the window: kept samples fall by an
        // eighth of a decade each, far more than ln's rounding, so all older ones are above
        // it too.
        let mut kept = [(0.0, 0.0); RATE_SAMPLES];
        let mut c = 0;
        for j in (0..n).rev() {
            let i = (self.kept - n + j) % RATE_SAMPLES;
            let y = 0.5 * ln[i];
            if y > top {
                break;
            }
            c += 1;
            kept[RATE_SAMPLES - c] = (self.t[i], y);
        }
        if c < 3 {
            // A line through two points fits them exactly: the residual test would pass
            // whatever they are (an envelope that fell three decades in a step or two, such
            // as a swing through w*).
            return Err(NoRate::TooFewSamples { samples: c });
        }
        line_rate(&kept[RATE_SAMPLES - c..])
    }

    /// The report's `measured_rate` and its note, for a run that ended with `status`: none
    /// for a diverged run, whose envelope may have dipped through three decades on its way
    /// out (its `note` says what happened instead).
    pub fn finish(&self, status: &Status, notes: &mut Vec<String>) -> Option<f64> {
        if *status == Status::Diverged {
            return None;
        }
        self.rate().map_err(|why| notes.push(why.to_string())).ok()
    }
}

/// Minus the least-squares slope of the samples' (t, ln L), or why it is no rate: not
/// decaying, or a sample further than [`RATE_MAX_RESIDUAL`] from the line.
fn line_rate(samples: &[(f64, f64)]) -> Result<f64, NoRate> {
    let (mut st, mut sy) = (0.0, 0.0);
    for &(t, y) in samples {
        st += t;
        sy += y;
    }
    let c = samples.len() as f64;
    let (tm, ym) = (st / c, sy / c);
    let (mut stt, mut sty) = (0.0, 0.0);
    for &(t, y) in samples {
        stt += (t - tm) * (t - tm);
        sty += (t - tm) * (y - ym);
    }
    let slope = sty / stt;
    if !(slope < 0.0 && slope.is_finite()) {
        return Err(NoRate::NotDecaying);
    }
    let worst = samples
        .iter()
        .map(|&(t, y)| (y - ym - slope * (t - tm)).abs())
        .fold(0.0, f64::max);
    if worst > RATE_MAX_RESIDUAL {
        return Err(NoRate::NotExponential {
            percent: 100.0 * libm::expm1(worst),
        });
    }
    Ok(-slope)
}

/// The quantity L whose square feeds a run's [`RateMeter`]: a norm of the state, so that it
/// decays at the distance's asymptotic rate, chosen to carry no oscillation where it can
/// (docs/theory.md §8 "Measured rate").
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Envelope {
    /// The particle: `L² = m|v|² + 2(E − E*) + c·v·(w − w*)`. With `c = 0` the Lyapunov
    /// energy (never rises); with `c = μ`, used where every mode is underdamped, each mode
    /// contributes `m|ẋ + γx|² + (k − mγ²)x²`, exactly `∝ e^{−μt/m}` on a quadratic: the
    /// envelope without its ripple.
    Particle {
        /// m.
        mass: f64,
        /// c.
        cross: f64,
    },
    /// The heavy ball with every root complex: `L² = |x_k|² − x_{k−1}·x_{k+1}` (x = w − w*,
    /// w_{k+1} = w_k − ε∇E(w_k) + p(w_k − w_{k−1})), which is `|x_k|² − (1 + p)x_k·x_{k−1} +
    /// ε∇E(w_k)·x_{k−1} + p|x_{k−1}|²` and which each step multiplies by exactly p = ρ² on a
    /// quadratic.
    HeavyBall {
        /// ε.
        eps: f64,
        /// p.
        p: f64,
    },
    /// Nesterov's scheme with every root complex: `L² = |x_k|² − (1 + p) x_{k−1}·(x_k −
    /// ε∇E(w_k)) + p x_{k−1}·(x_{k−1} − ε∇E(w_{k−1}))`, whose part on each mode of a
    /// quadratic each step multiplies by exactly p(1 − εk) = ρ².
    Nesterov {
        /// ε.
        eps: f64,
        /// p.
        p: f64,
    },
    /// `L² = |x_k|² + |x_{k−1}|²`, the norm of the state (x_k, x_{k−1}): the heavy ball or
    /// Nesterov with real roots of opposite signs (σ² − bσ + c with c < 0 on some mode:
    /// p < 0), where |x_k| alone alternates between the two modes' sum and difference,
    /// and the samples, taken where it first falls below each threshold, land in the
    /// difference's dips (rates up to 60% too fast). The state's norm has no such dips.
    Pair,
    /// `L² = |w − w*|²` (gradient descent, real roots).
    Distance,
}

/// Which recurrence a discrete run follows, for its [`Envelope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recurrence {
    /// The heavy ball, in any of its forms.
    HeavyBall,
    /// Nesterov's look-ahead scheme.
    Nesterov,
    /// Anything else (gradient descent).
    Other,
}

/// Why a run's rate meter measures nothing: decided before the run (noise, no minimum) or
/// on the way (the envelope quantity not positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateOff {
    /// Noise keeps the run at its floor: no asymptotic decay.
    #[error("a noisy run has no asymptotic decay")]
    Noisy,
    /// The decay is measured from w* or E*, and the potential knows neither.
    #[error("no known minimum (w*, E*) to measure the decay from")]
    NoMinimum,
    /// The envelope quantity L² was negative or NaN at some step.
    #[error("the envelope quantity was not positive")]
    NotPositive,
    /// The Hessian at the minimum has an eigenvalue k ≤ 0: the particle's energy does not
    /// bound the distance along it (a flat direction's distance need not decay at all).
    #[error(
        "the Hessian at the minimum has an eigenvalue k ≤ 0, along which the energy does not measure the distance"
    )]
    NotDefinite,
}

impl Envelope {
    /// The continuous particle's envelope (`Err`: why there is none).
    pub fn particle(
        potential: &dyn Potential,
        mass: f64,
        friction: f64,
        noisy: bool,
    ) -> Result<Self, RateOff> {
        if noisy {
            return Err(RateOff::Noisy);
        }
        if potential.minimum().is_none() || potential.minimum_value().is_none() {
            return Err(RateOff::NoMinimum);
        }
        if potential
            .hessian_spectrum()
            .is_some_and(|ks| ks.iter().any(|&k| k <= 0.0))
        {
            return Err(RateOff::NotDefinite);
        }
        let underdamped = mass > 0.0
            && potential.hessian_spectrum().is_some_and(|ks| {
                !ks.is_empty() && ks.iter().all(|&k| friction * friction < 4.0 * mass * k)
            });
        Ok(Envelope::Particle {
            mass,
            cross: if underdamped { friction } else { 0.0 },
        })
    }

    /// A discrete run's envelope, for its recurrence with effective (ε, p).
    pub fn scheme(
        potential: &dyn Potential,
        recurrence: Recurrence,
        eps: f64,
        p: f64,
        noisy: bool,
    ) -> Result<Self, RateOff> {
        if noisy {
            return Err(RateOff::Noisy);
        }
        if potential.minimum().is_none() {
            return Err(RateOff::NoMinimum);
        }
        // Every mode's companion polynomial σ² − bσ + c with complex roots: b² < 4c.
        let companion = |k: f64| match recurrence {
            Recurrence::HeavyBall => (1.0 + p - eps * k, p),
            Recurrence::Nesterov => ((1.0 + p) * (1.0 - eps * k), p * (1.0 - eps * k)),
            Recurrence::Other => (0.0, 0.0),
        };
        let complex = potential.hessian_spectrum().is_some_and(|ks| {
            !ks.is_empty()
                && ks.iter().all(|&k| {
                    let (b, c) = companion(k);
                    b * b < 4.0 * c
                })
        });
        let opposite = match recurrence {
            Recurrence::HeavyBall => p < 0.0,
            Recurrence::Nesterov => potential
                .hessian_spectrum()
                .is_some_and(|ks| ks.iter().any(|&k| companion(k).1 < 0.0)),
            Recurrence::Other => false,
        };
        Ok(match (recurrence, complex) {
            (Recurrence::HeavyBall, true) => Envelope::HeavyBall { eps, p },
            (Recurrence::Nesterov, true) => Envelope::Nesterov { eps, p },
            _ if opposite => Envelope::Pair,
            _ => Envelope::Distance,
        })
    }

    /// The meter for this envelope (off, with its reason, for `Err`).
    pub fn meter(envelope: &Result<Self, RateOff>) -> RateMeter {
        let mut meter = RateMeter::default();
        meter.restart(envelope);
        meter
    }

    /// L² of the particle at (w, v) (for [`Envelope::Particle`]; |w − w*|² otherwise),
    /// with `g` as scratch for ∇E(w). `2(E − E*)` is taken as `(w − w*)·∇E(w)`: equal on a
    /// quadratic and asymptotically elsewhere, and free of the cancellation of E − E* near
    /// the minimum (E − E* ~ 1e-12 beside E* ~ 1 keeps only four digits).
    pub fn particle_l2<P: Potential + ?Sized>(
        &self,
        potential: &P,
        w: &[f64],
        v: &[f64],
        g: &mut [f64],
    ) -> f64 {
        let Envelope::Particle { mass, cross } = *self else {
            return distance2(potential, w);
        };
        potential.gradient_into(w, g);
        let star = potential.minimum().unwrap_or(&[]);
        let (mut kinetic, mut curvature, mut along) = (0.0, 0.0, 0.0);
        for i in 0..w.len() {
            let x = w[i] - star[i];
            kinetic += v[i] * v[i];
            curvature += x * g[i];
            along += v[i] * x;
        }
        mass * kinetic + curvature + cross * along
    }
}

/// One coordinate's term of [`Envelope::HeavyBall`]'s L², with x = w_k − w*,
/// xp = w_{k−1} − w* and xn = w_{k+1} − w*, w_{k+1} from [`heavy_ball_next`] (shared by the
/// scalar loop and the lanes, bit for bit): the step's own next iterate, so that the lanes
/// pay two operations a coordinate for it.
#[inline(always)]
pub fn heavy_ball_term(x: f64, xp: f64, xn: f64) -> f64 {
    x * x - xp * xn
}

/// One coordinate of the Polyak heavy ball's w_{k+1} = w_k − ε g + p (w_k − w_{k−1}),
/// g = ∇E(w_k), in the order of its step.
#[inline(always)]
pub fn heavy_ball_next(w: f64, wp: f64, g: f64, eps: f64, p: f64) -> f64 {
    w - eps * g + p * (w - wp)
}

/// One coordinate's term of [`Envelope::Nesterov`]'s L², with x = w_k − w*,
/// xp = w_{k−1} − w*, g = ∇E(w_k), gp = ∇E(w_{k−1}).
#[inline(always)]
pub fn nesterov_term(x: f64, xp: f64, g: f64, gp: f64, eps: f64, p: f64) -> f64 {
    x * x - (1.0 + p) * xp * (x - eps * g) + p * xp * (xp - eps * gp)
}

/// How far above its value at rest the energy may be at a crossing before the crossing
/// counts as made during a swing: at rest (v = 0) the energy excess E_T − E* is the loss,
/// and a settled overdamped decay carries at most about as much kinetic energy again.
const SWING_FACTOR: f64 = 10.0;

/// The energy criterion's measure `m|v|² + 2(E − E*)` of a discrete state, with
/// v = (w_k − w_{k−1})/Δt and the entry's `energy_mass` (None without E*): one function
/// for the scalar loop and the lanes, so their notes agree bit for bit.
pub fn discrete_energy2(
    potential: &dyn Potential,
    w: &[f64],
    w_prev: &[f64],
    energy_mass: f64,
    dt: f64,
) -> Option<f64> {
    let e_min = potential.minimum_value()?;
    let v2: f64 = w.iter().zip(w_prev).map(|(a, b)| (a - b) * (a - b)).sum();
    Some(energy_mass * v2 / (dt * dt) + 2.0 * (potential.value(w) - e_min))
}

/// The note of a run that met its (non-energy) criterion while the particle was still
/// moving: `energy2` is the energy criterion's measure `m|v|² + 2(E − E*)` at the crossing.
/// The crossing stands (it is what was asked for); the note says the run had not settled.
/// At rest the energy is √(xᵀHx) (x = w − w*): at most √(2·tol) under the loss, √k_max·tol
/// under the distance and tol/√k_min under the gradient (on the Hessian spectrum at the
/// minimum; without one, no note for those two).
pub fn swing_note(stop: &StopRule, potential: &dyn Potential, energy2: f64) -> Option<String> {
    let tol = stop.tolerance;
    let spectrum = || {
        potential
            .hessian_spectrum()
            .filter(|ks| !ks.is_empty() && ks.iter().all(|&k| k > 0.0))
            .map(|ks| {
                ks.iter()
                    .copied()
                    .fold((f64::INFINITY, 0.0f64), |(a, b), k| (a.min(k), b.max(k)))
            })
    };
    // The energy √(m|v|² + 2(E − E*)) that the criterion's tolerance allows at rest.
    let at_rest = match stop.criterion {
        Criterion::Energy => return None,
        Criterion::Loss => (2.0 * tol).sqrt(),
        Criterion::Distance => tol * spectrum()?.1.sqrt(),
        Criterion::Gradient => tol / spectrum()?.0.sqrt(),
    };
    let energy = energy2.max(0.0).sqrt();
    (energy > SWING_FACTOR * at_rest).then(|| {
        format!(
            "crossed during a swing: the energy √(m|v|² + 2(E − E*)) was still {energy:.3e}, above the {at_rest:.3e} the tolerance allows at rest (not yet settled; the energy criterion never swings)"
        )
    })
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
    /// The decay rate of the distance's envelope ([`RateMeter`]), None with a note why.
    pub measured_rate: Option<f64>,
    /// Remarks for the `note` column (why there is no rate).
    pub notes: Vec<String>,
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
            measured_rate: None,
            notes: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The constant the lanes' inline keep uses is the threshold step itself, to the bit.
    #[test]
    fn keep_factor_is_two_sample_spacings() {
        assert_eq!(KEEP_FACTOR, (-2.0 * std::f64::consts::LN_10 / 8.0).exp());
    }

    /// Three decades of L in two samples fit any line: no rate, and none for a diverged run
    /// either, without a note.
    #[test]
    fn two_samples_or_a_divergence_give_no_rate() {
        let mut meter = RateMeter::default();
        // Four decades of L, the last three (L² from 1e-8 up to 1e-2) holding two samples.
        for (t, l2) in [(0.0, 1.0), (1.0, 1e-4), (2.0, 1e-8)] {
            meter.feed(t, l2);
        }
        assert_eq!(meter.rate(), Err(NoRate::TooFewSamples { samples: 2 }));
        let mut notes = Vec::new();
        assert_eq!(meter.finish(&Status::Diverged, &mut notes), None);
        assert!(notes.is_empty());
        // Two more on the same line (L² × 1e-4 a unit of t): three in the window, the slope.
        meter.feed(2.5, 1e-10);
        meter.feed(3.0, 1e-12);
        let rate = meter.rate().unwrap();
        assert!((rate - 0.5 * 1e4f64.ln()).abs() < 1e-12, "{rate}");
    }

    /// A restarted meter measures as a fresh one: after 40 samples of another run in its
    /// ring (more than it holds), the same rate to the bit from the same 12 samples, the same
    /// threshold after each, and an off meter's reason.
    #[test]
    fn a_restarted_meter_is_a_fresh_one() {
        let mut used = RateMeter::default();
        for i in 0..40 {
            used.feed(f64::from(i), 0.3f64.powi(i));
        }
        used.restart(&Ok(Envelope::HeavyBall { eps: 0.1, p: 0.5 }));
        let mut fresh = RateMeter::default();
        assert_eq!(used.next(), fresh.next());
        for i in 0..12 {
            let (t, l2) = (0.5 * f64::from(i), 2.0 * 0.2f64.powi(i));
            used.feed(t, l2);
            fresh.feed(t, l2);
            assert_eq!(used.next().to_bits(), fresh.next().to_bits());
        }
        let (a, b) = (used.rate().unwrap(), fresh.rate().unwrap());
        assert_eq!(a.to_bits(), b.to_bits());
        // L² falls by a factor 0.2 every 0.5 of t: L by √0.2.
        assert!((a + 0.5 * 0.2f64.ln() / 0.5).abs() < 1e-12, "{a}");
        used.restart(&Err(RateOff::NotDefinite));
        used.feed(7.0, 1e-3);
        assert_eq!(used.next(), f64::NEG_INFINITY);
        assert_eq!(used.rate(), Err(NoRate::Off(RateOff::NotDefinite)));
    }

    /// A flat direction at the minimum: the particle's energy does not measure the distance.
    #[test]
    fn a_flat_minimum_has_no_particle_envelope() {
        let flat = crate::potential::Quadratic::from_eigenvalues(&[0.0, 3.0]).unwrap();
        assert_eq!(
            Envelope::particle(&flat, 0.0, 1.0, false),
            Err(RateOff::NotDefinite)
        );
        let round = crate::potential::Quadratic::from_eigenvalues(&[1.0, 3.0]).unwrap();
        assert!(Envelope::particle(&round, 0.0, 1.0, false).is_ok());
    }

    /// The fit's window is `libm::log(1000)` to the bit.
    #[test]
    fn window_is_the_log_of_its_decades() {
        assert_eq!(LN_RATE_DECADES.to_bits(), libm::log(RATE_DECADES).to_bits());
    }
}
