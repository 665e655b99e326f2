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
use crate::observe::Criterion;
use crate::observe::{Crossings, Envelope, RATE_DECADES, RateMeter, RunReport, Status};
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
        1 => Lanes::<1>::run(runs),
        2 => Lanes::<2>::run(runs),
        3 => Lanes::<3>::run(runs),
        4 => Lanes::<4>::run(runs),
        n => unreachable!("lane_ready admits n ≤ {MAX_LANE_DIM}, not {n}"),
    }
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
    /// Each run's rate meter, the L² below which it keeps its next sample (−∞ when
    /// idle), and whether its envelope is the heavy ball's (else the distance).
    meters: [RateMeter; LANES],
    next: [f64; LANES],
    hb: [bool; LANES],
}

impl<const N: usize> Lanes<N> {
    // `!(d2 <= div2)` as `StopRule::diverged`: NaN counts as diverged.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
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
        // The first step at which some lane's budget ends.
        let mut deadline = lanes.last.iter().copied().min().unwrap_or(u64::MAX);
        while busy > 0 {
            // The check before step k: the scalar loop's, across the lanes.
            let d2 = lanes.distance2();
            let q = if lanes.hb.iter().any(|&b| b) {
                lanes.envelope2(&d2)
            } else {
                d2
            };
            let mut alarm = k == deadline;
            for l in 0..LANES {
                alarm |= d2[l] < lanes.alarm[l] || !(d2[l] <= div2) || q[l] < lanes.next[l];
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
                        lanes.meters[l].feed(t, q[l]);
                        lanes.next[l] = lanes.meters[l].next();
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
                deadline = lanes.last.iter().copied().min().unwrap_or(u64::MAX);
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
        self.next[l] = self.meters[l].next();
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
    }

    /// Each lane's envelope L² ([`DiscreteRun::envelope`]): the heavy ball's quadratic form
    /// (the scalar loop's [`heavy_ball_term`] sum, with ∇E = d(w − m) as `Diagonal`
    /// computes it) where `hb`, else the distance `d2`.
    #[inline(always)]
    fn envelope2(&self, d2: &[f64; LANES]) -> [f64; LANES] {
        let mut q = [0.0; LANES];
        for i in 0..N {
            let (d, m) = (self.d[i], self.m[i]);
            for l in 0..LANES {
                let (x, xp) = (self.w[i][l] - m, self.wp[i][l] - m);
                q[l] += heavy_ball_term(x, xp, d * x, self.eps[l], self.p[l]);
            }
        }
        for l in 0..LANES {
            if !self.hb[l] {
                q[l] = d2[l];
            }
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
            let starts: Vec<(Vec<f64>, Vec<f64>)> = (0..40)
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
            // The mix really holds every ending.
            for s in [Status::Converged, Status::Diverged, Status::NotConverged] {
                assert!(statuses.contains(&&s), "n = {n}: no {s:?}");
            }
        }
    }
}
