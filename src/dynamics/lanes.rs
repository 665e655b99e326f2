//! Many heavy-ball runs on one small diagonal quadratic, advanced in lockstep lanes.
//!
//! One run's step is a chain of dependent floating-point operations: at n = 2 it waits on
//! its own latency (~6 ns a step) while most of the core idles. A sweep has thousands of
//! independent runs of the same update on the same surface, so [`run_in_lanes`] interleaves
//! [`LANES`] of them, stored lane-minor (`w[component][lane]`) so that every operation
//! of a step runs across the lanes at once. Each lane performs exactly the operations of
//! [`super::discrete::DiscreteRun::run`] in the same order — its iterates, step counts and
//! crossing steps are bit for bit the scalar loop's — and a lane whose run ends takes the
//! next waiting run.

// Lane loops index several lane arrays by the same `l`: that is what vectorises.
#![allow(clippy::needless_range_loop)]

use super::discrete::DiscreteRun;
use super::settings::{Form, Scheme};
use super::simd::Isa;
use crate::observe::Criterion;
use crate::observe::{
    Crossings, Envelope, RATE_DECADES, RATE_SPACING, RateMeter, RunReport, Status,
};
use crate::observe::{discrete_energy2, heavy_ball_term, swing_note};

/// Runs advanced together.
pub const LANES: usize = 8;

/// Largest dimension served by lanes (larger ones are not latency-bound).
pub const MAX_LANE_DIM: usize = 4;

/// Whether `run` can join lanes: a Polyak-form heavy ball (or a `map`-derived one) on a
/// diagonal quadratic of dimension ≤ [`MAX_LANE_DIM`], stopping on the distance.
pub fn lane_ready(run: &DiscreteRun<'_>) -> bool {
    run.scheme == Scheme::HeavyBall
        && run.coefficients.form == Form::Polyak
        && run.stop.criterion == Criterion::Distance
        && run.noise.is_none()
        && run.position.len() <= MAX_LANE_DIM
        && run
            .potential
            .as_quadratic()
            .is_some_and(|q| q.diagonal().is_some())
}

/// Runs every run of `runs` (all [`lane_ready`], all on the same potential and stop rule)
/// and returns their reports in order, identical to each run's own
/// [`DiscreteRun::run`] without an observer.
pub fn run_in_lanes(runs: &[DiscreteRun<'_>]) -> Vec<RunReport> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    match first.position.len() {
        1 => on_isa::<1>(runs),
        2 => on_isa::<2>(runs),
        3 => on_isa::<3>(runs),
        4 => on_isa::<4>(runs),
        n => unreachable!("lane_ready admits n ≤ {MAX_LANE_DIM}, not {n}"),
    }
}

/// [`Lanes::run`] compiled for each vector extension and run on [`Isa::current`]: with
/// AVX-512 one instruction covers all [`LANES`]. The same operations in the same order on
/// every extension (no fused multiply-add: Rust never contracts), so the same bits.
fn on_isa<const N: usize>(runs: &[DiscreteRun<'_>]) -> Vec<RunReport> {
    super::simd::on_isa!(
        Isa::current(),
        [const N: usize],
        [N],
        fn(runs: &[DiscreteRun<'_>]) -> Vec<RunReport> {
            Lanes::<N>::run(runs)
        }
    )
}

/// The lanes' state for dimension `N`.
struct Lanes<const N: usize> {
    /// Hessian diagonal and minimum.
    d: [f64; N],
    m: [f64; N],
    /// w_k and w_{k−1}, lane-minor.
    w: [[f64; LANES]; N],
    wp: [[f64; LANES]; N],
    eps: [f64; LANES],
    p: [f64; LANES],
    /// The measure below which a lane needs attention: the loose threshold until it is
    /// met, then the tight one; −∞ for an idle lane.
    alarm: [f64; LANES],
    /// The global step at which each lane's run started, and its budget's last step.
    start: [u64; LANES],
    last: [u64; LANES],
    /// The run each lane holds.
    job: [Option<usize>; LANES],
    loose_at: [Option<f64>; LANES],
    /// Each run's rate meter; for a distance envelope the d² below which it keeps its next
    /// sample (−∞ when idle or when the envelope is the heavy ball's).
    meters: [RateMeter; LANES],
    next: [f64; LANES],
    /// Whether a lane's envelope is the heavy ball's, and the global step at which its
    /// L² must next be evaluated ([`Self::schedule`]; `u64::MAX` when never).
    hb: [bool; LANES],
    due: [u64; LANES],
    /// Steps a heavy-ball envelope can wait after a kept sample ([`Self::schedule`]), and
    /// each run's Δt.
    wait: [u64; LANES],
    dt: [f64; LANES],
}

/// Relative margin of [`Lanes::schedule`]'s prediction: the heavy ball's L² is evaluated
/// exactly from the step at which p^j·L² is within this factor of the meter's threshold.
/// Rounding moves a computed L² by ~1e-15 of the form's terms, far inside it.
const DUE_MARGIN: f64 = 1e-3;

impl<const N: usize> Lanes<N> {
    // `!(d2 <= div2)` as `StopRule::diverged`: NaN counts as diverged.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    // Inlined into each extension's copy in `on_isa`, so that its lane loops use it.
    #[inline(always)]
    fn run(runs: &[DiscreteRun<'_>]) -> Vec<RunReport> {
        let first = &runs[0];
        let q = first
            .potential
            .as_quadratic()
            .expect("lane_ready: a quadratic");
        let (d, m) = (
            q.diagonal().expect("lane_ready: diagonal"),
            first
                .potential
                .minimum()
                .expect("a quadratic has its minimum"),
        );
        let stop = first.stop;
        let tight = stop.threshold(stop.tolerance);
        let loose = stop.threshold(RATE_DECADES * stop.tolerance);
        let mut lanes = Lanes::<N> {
            d: d.try_into().expect("dimension N"),
            m: m.try_into().expect("dimension N"),
            w: [[0.0; LANES]; N],
            wp: [[0.0; LANES]; N],
            eps: [0.0; LANES],
            p: [0.0; LANES],
            alarm: [f64::NEG_INFINITY; LANES],
            start: [0; LANES],
            last: [u64::MAX; LANES],
            job: [None; LANES],
            loose_at: [None; LANES],
            meters: std::array::from_fn(|_| RateMeter::default()),
            next: [f64::NEG_INFINITY; LANES],
            hb: [false; LANES],
            due: [u64::MAX; LANES],
            wait: [1; LANES],
            dt: [0.0; LANES],
        };
        for l in 0..LANES {
            lanes.idle(l);
        }
        let mut reports: Vec<Option<RunReport>> = vec![None; runs.len()];
        let mut waiting = 0..runs.len();
        let mut busy = 0;
        for l in 0..LANES {
            if let Some(j) = waiting.next() {
                lanes.load(l, j, &runs[j], 0, loose);
                busy += 1;
            }
        }
        let div2 = stop.divergence2();
        let mut k = 0u64;
        // The first step at which some lane's budget ends, and at which some lane's
        // heavy-ball envelope is due.
        let mut deadline = lanes.deadline();
        let mut due = lanes.first_due();
        while busy > 0 {
            // The check before step k: the scalar loop's, across the lanes. A rate sample
            // alone takes the short way ([`Self::sample`]); a crossing, a divergence or a
            // budget's end the long one, which samples too.
            let d2 = lanes.distance2();
            let mut alarm = k == deadline;
            let mut sample = k == due;
            for l in 0..LANES {
                alarm |= d2[l] < lanes.alarm[l] || !(d2[l] <= div2);
                sample |= d2[l] < lanes.next[l];
            }
            if sample && !alarm {
                lanes.sample(k, &d2);
                due = lanes.first_due();
            }
            if alarm {
                for l in 0..LANES {
                    let Some(j) = lanes.job[l] else { continue };
                    let run = &runs[j];
                    let local = k - lanes.start[l];
                    let t = local as f64 * run.coefficients.dt;
                    let m = d2[l];
                    // Non-finite first, as the scalar loop's `StopRule::broken`; then the
                    // rate meter and the crossings, in the scalar loop's order.
                    let status = if !m.is_finite() {
                        Status::Diverged
                    } else {
                        lanes.feed(l, k, m);
                        if lanes.loose_at[l].is_none() && m < loose {
                            lanes.loose_at[l] = Some(t);
                            lanes.alarm[l] = tight;
                        }
                        if m < tight {
                            Status::Converged
                        } else if stop.diverged(m) {
                            Status::Diverged
                        } else if local >= run.steps {
                            Status::NotConverged
                        } else {
                            continue;
                        }
                    };
                    let tight_at = (status == Status::Converged).then_some(t);
                    let mut notes = Vec::new();
                    if status == Status::Converged {
                        // The scalar loop's swing note, on the same potential and state.
                        let w: Vec<f64> = (0..N).map(|i| lanes.w[i][l]).collect();
                        let wp: Vec<f64> = (0..N).map(|i| lanes.wp[i][l]).collect();
                        let c = &run.coefficients;
                        if let Some(e2) =
                            discrete_energy2(run.potential, &w, &wp, c.energy_mass, c.dt)
                        {
                            notes.extend(swing_note(&stop, run.potential, e2));
                        }
                    }
                    let measured_rate = lanes.meters[l].finish(&mut notes);
                    reports[j] = Some(RunReport {
                        status,
                        steps: local,
                        evaluations: local,
                        final_value: stop.final_value(m),
                        crossings: Crossings {
                            loose: lanes.loose_at[l],
                            tight: tight_at,
                        },
                        measured_rate,
                        notes,
                        end_time: t,
                        solver: None,
                        noise_floor: None,
                    });
                    match waiting.next() {
                        Some(next) => {
                            lanes.load(l, next, &runs[next], k, loose);
                            // The new run's own check at its step 0 comes round again.
                        }
                        None => {
                            lanes.idle(l);
                            busy -= 1;
                        }
                    }
                }
                deadline = lanes.deadline();
                due = lanes.first_due();
                // A freshly loaded lane must be checked before it steps.
                continue;
            }
            lanes.step();
            k += 1;
        }
        reports
            .into_iter()
            .map(|r| r.expect("every run reported"))
            .collect()
    }

    /// Puts run `j` into lane `l` at global step `k`: `w_{−1} = w_0 − Δt·v_0`, as the scalar
    /// loop starts.
    fn load(&mut self, l: usize, j: usize, run: &DiscreteRun<'_>, k: u64, loose: f64) {
        let c = &run.coefficients;
        for i in 0..N {
            self.w[i][l] = run.position[i];
            self.wp[i][l] = run.position[i] - c.dt * run.velocity[i];
        }
        self.eps[l] = c.learning_rate;
        self.p[l] = c.momentum;
        self.alarm[l] = loose;
        self.start[l] = k;
        self.last[l] = k.saturating_add(run.steps);
        self.job[l] = Some(j);
        self.loose_at[l] = None;
        let envelope = run.envelope();
        self.hb[l] = matches!(envelope, Ok(Envelope::HeavyBall { .. }));
        self.meters[l] = Envelope::meter(&envelope);
        self.next[l] = if self.hb[l] {
            f64::NEG_INFINITY
        } else {
            self.meters[l].next()
        };
        self.due[l] = if self.hb[l] { k } else { u64::MAX };
        // p^j falls below the threshold's factor e^{−2·RATE_SPACING} (with the margin)
        // at j = s: the lane can wait ⌈s⌉ − 1 steps after a kept sample.
        let s = ((1.0 + DUE_MARGIN).ln() - 2.0 * RATE_SPACING) / c.momentum.ln();
        self.wait[l] = if s.is_finite() && s >= 2.0 {
            s.ceil() as u64 - 1
        } else {
            1
        };
        self.dt[l] = c.dt;
    }

    /// The first global step at which some lane's budget ends.
    fn deadline(&self) -> u64 {
        self.last.iter().copied().min().unwrap_or(u64::MAX)
    }

    /// The first global step at which some lane's heavy-ball envelope is due.
    fn first_due(&self) -> u64 {
        self.due.iter().copied().min().unwrap_or(u64::MAX)
    }

    /// Feeds lane `l`'s rate meter at global step `k`, where its distance² is `d2`: the
    /// heavy ball's envelope when it is due, else d² (a no-op unless below the threshold).
    #[inline(always)]
    fn feed(&mut self, l: usize, k: u64, d2: f64) {
        let t = (k - self.start[l]) as f64 * self.dt[l];
        if !self.hb[l] {
            self.meters[l].feed(t, d2);
            self.next[l] = self.meters[l].next();
        } else if k >= self.due[l] {
            let before = self.meters[l].next();
            self.meters[l].feed(t, self.envelope2(l));
            self.schedule(l, k, before);
        }
    }

    /// The short way of a check that only takes rate samples: every lane fed.
    #[inline(never)]
    fn sample(&mut self, k: u64, d2: &[f64; LANES]) {
        for l in 0..LANES {
            if self.job[l].is_some() {
                self.feed(l, k, d2[l]);
            }
        }
    }

    /// When lane `l`'s heavy-ball L², just fed at global step `k` to a meter whose
    /// threshold was `before`, must be evaluated next. L² falls by exactly p a step on a
    /// quadratic: after a kept sample it stays above the new threshold for its
    /// steps (its `wait`, with [`DUE_MARGIN`]); otherwise it is evaluated every step until a sample is
    /// kept. The kept samples are the scalar loop's: only work is skipped.
    fn schedule(&mut self, l: usize, k: u64, before: f64) {
        let threshold = self.meters[l].next();
        self.due[l] = if threshold == f64::NEG_INFINITY {
            u64::MAX
        } else if threshold != before {
            k.saturating_add(self.wait[l])
        } else {
            k + 1
        };
    }

    /// Parks lane `l` at the minimum with no motion: it never raises an alarm again.
    fn idle(&mut self, l: usize) {
        for i in 0..N {
            self.w[i][l] = self.m[i];
            self.wp[i][l] = self.m[i];
        }
        self.eps[l] = 0.0;
        self.p[l] = 0.0;
        self.alarm[l] = f64::NEG_INFINITY;
        self.last[l] = u64::MAX;
        self.job[l] = None;
        self.next[l] = f64::NEG_INFINITY;
        self.hb[l] = false;
        self.due[l] = u64::MAX;
    }

    /// Lane `l`'s heavy-ball envelope L² ([`DiscreteRun::envelope`]): the scalar loop's
    /// [`heavy_ball_term`] sum, with ∇E = d(w − m) as `Diagonal` computes it.
    fn envelope2(&self, l: usize) -> f64 {
        let mut q = 0.0;
        for i in 0..N {
            let (d, m) = (self.d[i], self.m[i]);
            let (x, xp) = (self.w[i][l] - m, self.wp[i][l] - m);
            q += heavy_ball_term(x, xp, d * x, self.eps[l], self.p[l]);
        }
        q
    }

    /// |w − w*|² per lane, summed over components in order (as `observe::distance2`).
    #[inline(always)]
    fn distance2(&self) -> [f64; LANES] {
        let mut d2 = [0.0; LANES];
        for i in 0..N {
            for l in 0..LANES {
                let x = self.w[i][l] - self.m[i];
                d2[l] += x * x;
            }
        }
        d2
    }

    /// One Polyak step in every lane: the scalar loop's `g = d(w − m)` and
    /// `w − εg + p(w − w_prev)`, operation for operation.
    #[inline(always)]
    fn step(&mut self) {
        for i in 0..N {
            let (d, m) = (self.d[i], self.m[i]);
            for l in 0..LANES {
                let w = self.w[i][l];
                let g = d * (w - m);
                let next = w - self.eps[l] * g + self.p[l] * (w - self.wp[i][l]);
                self.wp[i][l] = w;
                self.w[i][l] = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamics::maps::Coefficients;
    use crate::observe::StopRule;
    use crate::observe::StopSpec;
    use crate::potential::HessianSpec;
    use crate::potential::Quadratic;

    /// Lanes against the scalar loop, run by run, bit for bit: converging, diverging,
    /// out-of-budget, zero-budget and already-converged runs mixed, so lanes are refilled
    /// in every way, for every lane dimension.
    #[test]
    fn lanes_reproduce_the_scalar_loop_bit_for_bit() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let stop = StopRule::new(&StopSpec {
            criterion: Criterion::Distance,
            tolerance: 1e-6,
            divergence: 1e6,
        });
        for n in 1..=MAX_LANE_DIM {
            let d = [6.0, 60.0, 0.5, 13.0][..n].to_vec();
            let k_max = d.iter().copied().fold(0.0, f64::max);
            let minimum = [0.3, -1.0, 0.0, 2.0][..n].to_vec();
            let q = Quadratic::new(&HessianSpec::Diagonal(d), minimum.clone()).unwrap();
            let starts: Vec<(Vec<f64>, Vec<f64>)> = (0..80)
                .map(|j| {
                    let w = if j == 7 {
                        minimum.clone()
                    } else {
                        (0..n).map(|_| 2.0 * uniform() - 1.0).collect()
                    };
                    (w, (0..n).map(|_| uniform() - 0.5).collect())
                })
                .collect();
            let runs: Vec<DiscreteRun<'_>> = starts
                .iter()
                .enumerate()
                .map(|(j, (w, v))| {
                    // ε up to 1.3× the stability edge (2 + 2p)/k_max: some runs diverge.
                    let p = 0.99 * uniform();
                    let eps = 1.3 * (2.0 + 2.0 * p) / k_max * uniform();
                    DiscreteRun {
                        potential: &q,
                        scheme: Scheme::HeavyBall,
                        coefficients: Coefficients {
                            learning_rate: eps,
                            momentum: p,
                            dt: 0.1,
                            energy_mass: 0.0,
                            particle: None,
                            form: Form::Polyak,
                            native: (eps, p),
                        },
                        position: w,
                        velocity: v,
                        steps: [0, 3, 500, 5000][j % 4],
                        stop,
                        noise: None,
                    }
                })
                .collect();
            assert!(runs.iter().all(lane_ready));
            let laned = run_in_lanes(&runs);
            let statuses: Vec<&Status> = laned.iter().map(|r| &r.status).collect();
            for (j, (run, report)) in runs.iter().zip(&laned).enumerate() {
                assert_eq!(report, &run.run(&mut ()).unwrap(), "n = {n}, run {j}");
            }
            // The mix really holds every ending, and rates measured on the heavy ball's
            // envelope (evaluated only when due) as well as on the distance.
            for s in [Status::Converged, Status::Diverged, Status::NotConverged] {
                assert!(statuses.contains(&&s), "n = {n}: no {s:?}");
            }
            let rated = |hb: bool| {
                runs.iter().zip(&laned).filter(move |(run, r)| {
                    r.measured_rate.is_some()
                        && matches!(run.envelope(), Ok(Envelope::HeavyBall { .. })) == hb
                })
            };
            assert!(rated(true).count() >= 2, "n = {n}: heavy-ball envelopes");
            assert!(rated(false).count() >= 3, "n = {n}: distance envelopes");
        }
    }
}
