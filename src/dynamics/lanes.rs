//! Many heavy-ball runs on one small diagonal quadratic, advanced in lockstep lanes.
//!
//! One run's step is a chain of dependent floating-point operations: at n = 2 it waits on
//! its own latency (~6 ns a step) while most of the core idles. A sweep has thousands of
//! independent runs of the same update on the same surface, so [`run_in_lanes`] interleaves
//! [`LANES`] of them (four on AVX2), stored lane-minor (`w[component][lane]`) so that every
//! operation of a step runs across the lanes at once. Each lane performs exactly the operations of
//! [`super::discrete::DiscreteRun::run`] in the same order — its reports (step counts,
//! crossing steps, final values, rates) are bit for bit the scalar loop's — and a lane whose
//! run ends takes the next waiting run. The one departure, invisible in the reports: a
//! component provably at rest (below 2⁻⁶⁰⁰) is parked at the minimum rather than run on into
//! subnormal numbers. Between the steps at which some lane ends or crosses a threshold, the
//! lanes run in a cruise loop, their state in vector registers (`simd::Vector`), their
//! rate samples kept on the way.

// Lane loops index several lane arrays by the same `l`: that is what vectorises.
#![allow(clippy::needless_range_loop)]

use super::discrete::DiscreteRun;
use super::settings::{Form, Scheme};
use crate::observe::Criterion;
use crate::observe::{Crossings, Envelope, RATE_DECADES, RateMeter, RunReport, Status, StopRule};
use crate::observe::{KEEP_FACTOR, discrete_energy2, swing_note};
use crate::observe::{heavy_ball_next, heavy_ball_term};
use crate::simd::{Isa, Vector};

/// Most runs advanced together (AVX2 uses four of them: see `used`).
pub const LANES: usize = 8;

/// Largest dimension served by lanes (larger ones are not latency-bound).
pub const MAX_LANE_DIM: usize = 4;

/// Whether `run` can join lanes: a Polyak-form heavy ball (or a `map`-derived one) with
/// momentum p ≥ 0 on a diagonal quadratic of dimension ≤ [`MAX_LANE_DIM`], stopping on the
/// distance. (p < 0 rates its runs by [`Envelope::Pair`], which the lanes do not keep.)
pub fn lane_ready(run: &DiscreteRun<'_>) -> bool {
    run.scheme == Scheme::HeavyBall
        && run.coefficients.form == Form::Polyak
        && run.coefficients.not_finite().is_none()
        && run.coefficients.momentum >= 0.0
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
    crate::simd::on_isa!(
        Isa::current(),
        [const N: usize],
        [N],
        V,
        fn(runs: &[DiscreteRun<'_>]) -> Vec<RunReport> {
            Lanes::<N>::run::<V>(runs)
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
    /// Each run's rate meter, and the L² below which it keeps its next sample (−∞ when
    /// idle or measuring nothing).
    meters: [RateMeter; LANES],
    next: [f64; LANES],
    /// Whether a lane's envelope is the heavy ball's L² (else the distance's square), as a
    /// bit per lane, and each run's Δt.
    hb: u32,
    dt: [f64; LANES],
    /// Per component and lane, the size below which both w and w_prev send the component
    /// to rest ([`Self::cruise`]): [`REST`] where that is exact, else 0 (never).
    floor: [[f64; LANES]; N],
    /// The stop rule's thresholds on the distance's square: the tight and loose crossings,
    /// and divergence.
    tight: f64,
    loose: f64,
    div2: f64,
}

/// A lane's component settles exactly at the minimum once |w − w*| and |w_prev − w*| are
/// both below this (2⁻⁶⁰⁰), if [`settles`] holds: from there on, every square or product
/// the reports are made of underflows to +0 either way. Without this a decaying component
/// runs on into subnormal numbers, which cost x86 a microcode assist per operation (a
/// sweep's slowest runs took 8× longer).
const REST: f64 = f64::from_bits((1023 - 600) << 52);

/// Steps between [`Lanes::cruise`]'s looks for components at rest, which are off the step's
/// dependency chain: at worst a component spends this many steps subnormal.
const REST_EVERY: u64 = 32;

/// Whether a component with curvature `d` and minimum `m` may settle ([`REST`]) under
/// learning rate `eps` and momentum `p`. Its recurrence x' = a·x − p·x_prev (a = 1 + p − εd)
/// must have both roots within r = 1 − 2⁻²⁰ of 0 (Jury's test on the roots scaled by r), so
/// that ‖Aᵏ‖ ≤ 2²³ for every k (Aᵏ = aₖA − p·aₖ₋₁I, |aₖ| ≤ k·rᵏ⁻¹): the computed
/// trajectory, roundings and subnormal steps included, then stays below 2²³·2⁻⁶⁰⁰ = 2⁻⁵⁷⁷,
/// where x², (1 + p)·x·x_prev, εd·x·x_prev, p·x_prev² and d·x² (d ≤ 2⁶⁴) are all +0. With
/// m = 0 exactly, w itself is x, so parking it at 0 changes no bit of any report.
fn settles(d: f64, m: f64, eps: f64, p: f64) -> bool {
    const R: f64 = 1.0 - 1.0 / (1u64 << 20) as f64;
    const SLACK: f64 = 1e-12;
    let a = 1.0 + p - eps * d;
    m == 0.0
        && d.abs() <= (1u128 << 64) as f64
        && p.abs() < R * R - SLACK
        && a.abs() < R + p / R - SLACK
}

impl<const N: usize> Lanes<N> {
    /// Idle lanes for runs on `first`'s surface under its stop rule.
    // Inlined like `run`: called out of line it cost the W1 N = 300 sweep 10% of its CPU.
    #[inline(always)]
    fn new(first: &DiscreteRun<'_>) -> Self {
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
            hb: 0,
            dt: [0.0; LANES],
            floor: [[0.0; LANES]; N],
            tight: stop.threshold(stop.tolerance),
            loose: stop.threshold(RATE_DECADES * stop.tolerance),
            div2: stop.divergence2(),
        };
        for l in 0..LANES {
            lanes.idle(l);
        }
        lanes
    }

    /// Lane `l`'s check at global step `k` (`spent`: its run's budget is used up), the
    /// scalar loop's in its order: non-finite first, as its `StopRule::broken`; then the
    /// rate meter and the crossings. The run's end (status, distance²), None while it
    /// goes on.
    #[inline(always)]
    fn check(&mut self, l: usize, k: u64, spent: bool, stop: &StopRule) -> Option<(Status, f64)> {
        let m = self.distance2(l);
        if !m.is_finite() {
            return Some((Status::Diverged, m));
        }
        self.feed(l, k, m);
        self.cross_loose(l, k, m);
        let status = if m < self.tight {
            Status::Converged
        } else if stop.diverged(m) {
            Status::Diverged
        } else if spent {
            Status::NotConverged
        } else {
            return None;
        };
        Some((status, m))
    }

    // Inlined into each extension's copy in `on_isa`, so that its lane loops use it.
    #[inline(always)]
    fn run<V: Vector>(runs: &[DiscreteRun<'_>]) -> Vec<RunReport> {
        let stop = runs[0].stop;
        let mut lanes = Lanes::<N>::new(&runs[0]);
        let mut reports: Vec<Option<RunReport>> = vec![None; runs.len()];
        let mut waiting = 0..runs.len();
        let mut busy = 0;
        for l in 0..used::<V>() {
            if let Some(j) = waiting.next() {
                lanes.load(l, j, &runs[j], 0);
                busy += 1;
            }
        }
        // At a minimum of +0 in every coordinate w − w* is w itself (w − (+0) = w, bit for
        // bit), and the cruise skips the subtraction that sits on the step's critical path.
        let centred = lanes.m.iter().all(|m| m.to_bits() == 0);
        let mut k = 0u64;
        // The first step at which some lane's budget ends.
        let mut deadline = lanes.deadline();
        // The cruise's batch of samples for the meters, empty between cruises.
        let mut pending = Pending::new();
        while busy > 0 {
            // Up to the first step at which some lane needs more than a step and a rate
            // sample; those lanes' check, the scalar loop's, is made here.
            let (at, flagged) = if centred {
                lanes.cruise::<V, true>(k, deadline, &mut pending)
            } else {
                lanes.cruise::<V, false>(k, deadline, &mut pending)
            };
            k = at;
            let mut flagged = flagged | lanes.due(k);
            while flagged != 0 {
                let l = flagged.trailing_zeros() as usize;
                flagged &= flagged - 1;
                let Some(j) = lanes.job[l] else { continue };
                let run = &runs[j];
                let local = k - lanes.start[l];
                let Some((status, m)) = lanes.check(l, k, local >= run.steps, &stop) else {
                    continue;
                };
                reports[j] = Some(lanes.report(l, run, status, local, m));
                match waiting.next() {
                    Some(next) => {
                        lanes.load(l, next, &runs[next], k);
                        // The new run's own check at its step 0 comes round again.
                    }
                    None => {
                        lanes.idle(l);
                        busy -= 1;
                    }
                }
            }
            deadline = lanes.deadline();
            // A freshly loaded lane is checked (the others again, a no-op) before it steps.
        }
        reports
            .into_iter()
            .map(|r| r.expect("every run reported"))
            .collect()
    }

    /// The report of lane `l`'s run, ended with `status` at its step `local`, where its
    /// distance² is `d2`: the scalar loop's, swing note included.
    fn report(
        &self,
        l: usize,
        run: &DiscreteRun<'_>,
        status: Status,
        local: u64,
        d2: f64,
    ) -> RunReport {
        let c = &run.coefficients;
        let t = local as f64 * c.dt;
        let mut notes = Vec::new();
        if status == Status::Converged {
            // The scalar loop's swing note, on the same potential and state.
            let w: [f64; N] = std::array::from_fn(|i| self.w[i][l]);
            let wp: [f64; N] = std::array::from_fn(|i| self.wp[i][l]);
            if let Some(e2) = discrete_energy2(run.potential, &w, &wp, c.energy_mass, c.dt) {
                notes.extend(swing_note(&run.stop, run.potential, e2));
            }
        }
        let measured_rate = self.meters[l].finish(&status, &mut notes);
        let tight = (status == Status::Converged).then_some(t);
        RunReport {
            status,
            steps: local,
            evaluations: local,
            final_value: run.stop.final_value(d2),
            crossings: Crossings {
                loose: self.loose_at[l],
                tight,
            },
            measured_rate,
            notes,
            end_time: t,
            solver: None,
            noise_floor: None,
        }
    }

    /// Puts run `j` into lane `l` at global step `k`: `w_{−1} = w_0 − Δt·v_0`, as the scalar
    /// loop starts.
    fn load(&mut self, l: usize, j: usize, run: &DiscreteRun<'_>, k: u64) {
        let c = &run.coefficients;
        for i in 0..N {
            self.w[i][l] = run.position[i];
            self.wp[i][l] = run.position[i] - c.dt * run.velocity[i];
        }
        self.eps[l] = c.learning_rate;
        self.p[l] = c.momentum;
        self.alarm[l] = self.loose;
        self.start[l] = k;
        self.last[l] = k.saturating_add(run.steps);
        self.job[l] = Some(j);
        self.loose_at[l] = None;
        let envelope = run.envelope();
        let hb = matches!(envelope, Ok(Envelope::HeavyBall { .. }));
        self.hb = (self.hb & !(1 << l)) | (u32::from(hb) << l);
        self.meters[l].restart(&envelope);
        self.next[l] = self.meters[l].next();
        self.dt[l] = c.dt;
        for i in 0..N {
            let ok = settles(self.d[i], self.m[i], c.learning_rate, c.momentum);
            self.floor[i][l] = if ok { REST } else { 0.0 };
        }
    }

    /// The lanes whose budget ends at step `k`, as bits.
    fn due(&self, k: u64) -> u32 {
        (0..LANES).fold(0, |bits, l| bits | (u32::from(self.last[l] == k) << l))
    }

    /// The first global step at which some lane's budget ends.
    fn deadline(&self) -> u64 {
        self.last.iter().copied().min().unwrap_or(u64::MAX)
    }

    /// Feeds lane `l`'s rate meter at global step `k`, where its distance² is `d2`: the
    /// heavy ball's L² or d² (a no-op unless below the threshold).
    #[inline(always)]
    fn feed(&mut self, l: usize, k: u64, d2: f64) {
        let t = (k - self.start[l]) as f64 * self.dt[l];
        let l2 = if self.hb & (1 << l) != 0 {
            self.envelope2(l)
        } else {
            d2
        };
        self.meters[l].feed(t, l2);
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
        self.hb &= !(1 << l);
        for i in 0..N {
            self.floor[i][l] = 0.0;
        }
    }

    /// Lane `l`'s heavy-ball envelope L² ([`DiscreteRun::envelope`]): the scalar loop's
    /// [`heavy_ball_term`] sum, with ∇E = d(w − m) as `Diagonal` computes it.
    fn envelope2(&self, l: usize) -> f64 {
        let mut q = 0.0;
        for i in 0..N {
            let (d, m, w, wp) = (self.d[i], self.m[i], self.w[i][l], self.wp[i][l]);
            let next = heavy_ball_next(w, wp, d * (w - m), self.eps[l], self.p[l]);
            q += heavy_ball_term(w - m, wp - m, next - m);
        }
        q
    }

    /// Checks and steps every lane from global step `k` on, in registers of `V`, until
    /// step `until` or an alarm in some lane (a crossing threshold, a divergence, a
    /// non-finite distance, a rate sample that is not a positive finite number), and
    /// returns that step and the lanes whose check at it is left to the caller (none at
    /// `until`). Components at rest go to the minimum on the way. Each lane's rate samples are
    /// taken on the way, as [`Self::feed`] takes them: the check, L² and the step are
    /// [`Self::distance2`]'s, [`Self::envelope2`]'s and the scalar loop's operations, in
    /// their order. A kept sample lowers the lane's threshold at once, in the registers;
    /// its (t, L²) waits in a [`Pending`] batch for the meters, so that no branch depends
    /// on whether a sample was kept. `CENTRED`: every coordinate of the minimum is +0.
    #[inline(always)]
    fn cruise<V: Vector, const CENTRED: bool>(
        &mut self,
        mut k: u64,
        until: u64,
        pending: &mut Pending,
    ) -> (u64, u32) {
        let mut stop = 0u32;
        // SAFETY: `V` is the vector type of the `on_isa!` copy this is inlined into.
        unsafe {
            let mut r = Cruising::<V, N>::load(self);
            // The batch's count in a local, which stays in a register (through `pending`
            // it went to memory and back every step).
            let mut len = pending.len;
            while k < until {
                if k.is_multiple_of(REST_EVERY) {
                    // Off the step's dependency chain on all other steps.
                    r.park(&mut self.floor);
                }
                let probe = r.probe::<CENTRED>(&self.alarm);
                stop = probe.stop;
                if stop != 0 {
                    let (sample, dist2, value) = (probe.sample, &probe.dist2, &probe.value);
                    stop &= !self.loose_crossings::<V>(k, stop, sample, dist2, value);
                    if stop != 0 {
                        // The other lanes' samples of this step are taken here; the
                        // flagged lanes' check is the caller's.
                        len = pending.put(len, k, sample & !stop, value);
                        break;
                    }
                }
                len = pending.put(len, k, probe.sample, &probe.value);
                if len == PENDING {
                    pending.len = len;
                    self.take(pending);
                    len = 0;
                }
                r.advance(&probe.moved);
                k += 1;
            }
            pending.len = len;
            r.store(self);
        }
        self.take(pending);
        (k, stop)
    }

    /// Of the lanes `flagged` at global step `k`, those whose one alarm is their loose
    /// crossing — a distance² (`dist2`) below the loose threshold but not the tight one, no
    /// divergence, no rate sample (`sample`, `value`) left to the caller: their crossing
    /// time is noted and their alarm lowered to the tight threshold here, as the caller's
    /// check would, so that [`Self::cruise`] goes on (half the exits of a sweep). Returns
    /// them.
    ///
    /// # Safety
    /// As [`Vector`]'s methods.
    #[inline(always)]
    unsafe fn loose_crossings<V: Vector>(
        &mut self,
        k: u64,
        flagged: u32,
        sample: u32,
        dist2: &[V; LANES],
        value: &[V; LANES],
    ) -> u32 {
        let (mut d2, mut v) = ([0.0; LANES], [0.0; LANES]);
        for j in 0..LANES / V::WIDTH {
            // SAFETY: the caller's.
            unsafe {
                dist2[j].store(&mut d2[j * V::WIDTH..]);
                value[j].store(&mut v[j * V::WIDTH..]);
            }
        }
        let (mut quiet, mut bits) = (0, flagged);
        while bits != 0 {
            let l = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let m = d2[l];
            // The cruise's own tests, lane by lane (`odd`, the divergence's `not_le`).
            let odd = sample & (1 << l) != 0 && v[l] < f64::MIN_POSITIVE;
            if m >= self.tight && m <= self.div2 && !odd && self.cross_loose(l, k, m) {
                quiet |= 1 << l;
            }
        }
        quiet
    }

    /// Lane `l`'s loose crossing at global step `k`, where its distance² is `d2`, if this is
    /// its first step below the loose threshold: the time noted, the alarm lowered to the
    /// tight threshold. Returns whether it crossed.
    fn cross_loose(&mut self, l: usize, k: u64, d2: f64) -> bool {
        let crossed = self.loose_at[l].is_none() && d2 < self.loose;
        if crossed {
            self.loose_at[l] = Some((k - self.start[l]) as f64 * self.dt[l]);
            self.alarm[l] = self.tight;
        }
        crossed
    }

    /// Hands [`Self::cruise`]'s pending samples to the meters, in step order: each keeps
    /// it exactly as [`RateMeter::feed`] would have (the cruise let through only positive
    /// finite samples below the threshold) and lowers its threshold as the cruise did.
    #[inline(always)]
    fn take(&mut self, pending: &mut Pending) {
        for e in 0..pending.len {
            let (k, mut sample) = (pending.k[e], pending.sample[e]);
            while sample != 0 {
                let l = sample.trailing_zeros() as usize;
                sample &= sample - 1;
                let t = (k - self.start[l]) as f64 * self.dt[l];
                self.meters[l].keep_below(t, pending.value[e][l]);
                self.next[l] = self.meters[l].next();
            }
        }
        pending.len = 0;
    }

    /// Lane `l`'s |w − w*|², summed over components in order (as `observe::distance2`).
    fn distance2(&self, l: usize) -> f64 {
        let mut d2 = 0.0;
        for i in 0..N {
            let x = self.w[i][l] - self.m[i];
            d2 += x * x;
        }
        d2
    }
}

/// [`Lanes::cruise`]'s registers: the lanes' state (w, w_prev), the rate samples'
/// thresholds, and what every step reads, as vectors of `V` (group j: lanes j·WIDTH on,
/// for j below `used::<V>() / V::WIDTH`).
struct Cruising<V: Vector, const N: usize> {
    w: [[V; LANES]; N],
    wp: [[V; LANES]; N],
    /// Carried from step to step as masks, not bits (a trip through bits and a table of
    /// masks lengthened every step); the meters' own thresholds stay in [`Lanes::next`].
    next: [V; LANES],
    d: [V; N],
    m: [V; N],
    eps: [V; LANES],
    p: [V; LANES],
    /// Each group's lanes measuring the heavy ball's L², as a bit field.
    hb: [u32; LANES],
    div2: V,
}

/// One step of every group, taken before the check (which its L² needs) and kept only if
/// no lane stops there: the moved state, each lane's rate-meter value and distance², and
/// as bits the lanes left to the caller (`stop`) and those that took a sample.
struct Probe<V: Vector, const N: usize> {
    moved: [[V; LANES]; N],
    value: [V; LANES],
    dist2: [V; LANES],
    stop: u32,
    sample: u32,
}

impl<V: Vector, const N: usize> Cruising<V, N> {
    const GROUPS: usize = used::<V>() / V::WIDTH;

    /// The registers of `lanes`.
    ///
    /// # Safety
    /// As [`Vector`]'s methods.
    #[inline(always)]
    unsafe fn load(lanes: &Lanes<N>) -> Self {
        // SAFETY: the caller's. Loops, not closures: a closure would not inherit the
        // extension of the `on_isa!` copy.
        unsafe {
            let zero = V::splat(0.0);
            let (mut w, mut wp) = ([[zero; LANES]; N], [[zero; LANES]; N]);
            let (mut d, mut m) = ([zero; N], [zero; N]);
            for i in 0..N {
                (w[i], wp[i]) = (load::<V>(&lanes.w[i]), load::<V>(&lanes.wp[i]));
                (d[i], m[i]) = (V::splat(lanes.d[i]), V::splat(lanes.m[i]));
            }
            let mut hb = [0u32; LANES];
            for j in 0..Self::GROUPS {
                hb[j] = (lanes.hb >> (j * V::WIDTH)) & ((1 << V::WIDTH) - 1);
            }
            Cruising {
                w,
                wp,
                next: load::<V>(&lanes.next),
                d,
                m,
                eps: load::<V>(&lanes.eps),
                p: load::<V>(&lanes.p),
                hb,
                div2: V::splat(lanes.div2),
            }
        }
    }

    /// Puts the state back into `lanes`.
    ///
    /// # Safety
    /// As [`Vector`]'s methods.
    #[inline(always)]
    unsafe fn store(&self, lanes: &mut Lanes<N>) {
        for i in 0..N {
            for j in 0..Self::GROUPS {
                // SAFETY: the caller's.
                unsafe {
                    self.w[i][j].store(&mut lanes.w[i][j * V::WIDTH..]);
                    self.wp[i][j].store(&mut lanes.wp[i][j * V::WIDTH..]);
                }
            }
        }
    }

    /// Components at rest (both |w| and |w_prev| below the lane's `floor`) go to the
    /// minimum, where they stay; their floor becomes 0 (`m` = 0 here, so x is w).
    ///
    /// # Safety
    /// As [`Vector`]'s methods.
    #[inline(always)]
    unsafe fn park(&mut self, floor: &mut [[f64; LANES]; N]) {
        for i in 0..N {
            for j in 0..Self::GROUPS {
                // SAFETY: the caller's.
                unsafe {
                    let at = &mut floor[i][j * V::WIDTH..];
                    let low = V::load(at);
                    let (w, wp) = (self.w[i][j], self.wp[i][j]);
                    let rest = V::and(w.abs().lt_mask(low), wp.abs().lt_mask(low));
                    self.w[i][j] = V::blend(rest, self.m[i], w);
                    self.wp[i][j] = V::blend(rest, self.m[i], wp);
                    V::blend(rest, V::splat(0.0), low).store(at);
                }
            }
        }
    }

    /// The step from the current state and its check against each lane's `alarm` (a
    /// crossing threshold), the divergence and the rate samples' thresholds, which a
    /// sample lowers at once. `CENTRED`: every coordinate of the minimum is +0.
    ///
    /// # Safety
    /// As [`Vector`]'s methods.
    #[inline(always)]
    unsafe fn probe<const CENTRED: bool>(&mut self, alarm: &[f64; LANES]) -> Probe<V, N> {
        // SAFETY: the caller's.
        unsafe {
            let zero = V::splat(0.0);
            let (keep, tiny) = (V::splat(KEEP_FACTOR), V::splat(f64::MIN_POSITIVE));
            let all = (1u32 << V::WIDTH) - 1;
            let mut probe = Probe {
                moved: [[zero; LANES]; N],
                value: [zero; LANES],
                dist2: [zero; LANES],
                stop: 0,
                sample: 0,
            };
            for j in 0..Self::GROUPS {
                let (d2, l2) = self.step::<CENTRED>(j, &mut probe.moved);
                let value = match self.hb[j] {
                    0 => d2,
                    hb if hb == all => l2,
                    hb => V::blend(V::mask_of(hb), l2, d2),
                };
                let below = value.lt_mask(self.next[j]);
                self.next[j] = V::blend(below, value.mul(keep), self.next[j]);
                // A sample below the threshold is neither NaN nor +∞: only one that is not
                // positive, or subnormal, is left to the caller. The alarm is read from
                // memory, so that `next` can stay in a register.
                let odd = V::and(below, value.lt_mask(tiny));
                let alarm = V::load(&alarm[j * V::WIDTH..]);
                let alarmed = V::or(d2.lt_mask(alarm), d2.nle_mask(self.div2));
                probe.stop |= V::bits_of(V::or(alarmed, odd)) << (j * V::WIDTH);
                probe.sample |= V::bits_of(below) << (j * V::WIDTH);
                (probe.value[j], probe.dist2[j]) = (value, d2);
            }
            probe
        }
    }

    /// Group `j`'s step into `moved`, with its distance² and (if some lane measures it)
    /// the heavy ball's L²: [`Lanes::distance2`]'s, the scalar loop's and
    /// [`Lanes::envelope2`]'s operations, in their order.
    ///
    /// # Safety
    /// As [`Vector`]'s methods.
    #[inline(always)]
    unsafe fn step<const CENTRED: bool>(&self, j: usize, moved: &mut [[V; LANES]; N]) -> (V, V) {
        // SAFETY: the caller's.
        unsafe {
            let (mut d2, mut l2) = (V::splat(0.0), V::splat(0.0));
            for i in 0..N {
                let (wi, x) = (self.w[i][j], centre::<V, CENTRED>(self.w[i][j], self.m[i]));
                d2 = d2.add(x.mul(x));
                let eg = self.eps[j].mul(self.d[i].mul(x));
                moved[i][j] = wi.sub(eg).add(self.p[j].mul(wi.sub(self.wp[i][j])));
                if self.hb[j] != 0 {
                    let xp = centre::<V, CENTRED>(self.wp[i][j], self.m[i]);
                    let xn = centre::<V, CENTRED>(moved[i][j], self.m[i]);
                    l2 = l2.add(x.mul(x).sub(xp.mul(xn)));
                }
            }
            (d2, l2)
        }
    }

    /// Moves every group to its probed step.
    #[inline(always)]
    fn advance(&mut self, moved: &[[V; LANES]; N]) {
        for i in 0..N {
            for j in 0..Self::GROUPS {
                (self.wp[i][j], self.w[i][j]) = (self.w[i][j], moved[i][j]);
            }
        }
    }
}

/// Steps with rate samples that [`Lanes::cruise`] took and the meters have not yet kept:
/// written at every step, advanced only past a step that took one (no branch).
struct Pending {
    k: [u64; PENDING],
    sample: [u32; PENDING],
    value: [[f64; LANES]; PENDING],
    len: usize,
}

/// Steps with samples a [`Pending`] batch holds.
const PENDING: usize = 32;

impl Pending {
    fn new() -> Self {
        Pending {
            k: [0; PENDING],
            sample: [0; PENDING],
            value: [[0.0; LANES]; PENDING],
            len: 0,
        }
    }

    /// Step `k`'s samples (lanes `sample`, values `value`) into slot `e`, the first free
    /// one; returns the first free one after it (`e` again if there are none). The caller
    /// keeps the count and sets `len` before the batch is taken.
    ///
    /// # Safety
    /// As [`Vector`]'s methods.
    #[inline(always)]
    unsafe fn put<V: Vector>(
        &mut self,
        e: usize,
        k: u64,
        sample: u32,
        value: &[V; LANES],
    ) -> usize {
        (self.k[e], self.sample[e]) = (k, sample);
        // Only the groups in use: no lane beyond them takes a sample.
        for j in 0..used::<V>() / V::WIDTH {
            // SAFETY: the caller's.
            unsafe { value[j].store(&mut self.value[e][j * V::WIDTH..]) };
        }
        e + usize::from(sample != 0)
    }
}

/// w − w* as the scalar loop computes it; w itself where w* = +0 (`CENTRED`), which is the
/// same bits.
///
/// # Safety
/// As [`Vector`]'s methods.
#[inline(always)]
unsafe fn centre<V: Vector, const CENTRED: bool>(w: V, m: V) -> V {
    // SAFETY: the caller's.
    if CENTRED { w } else { unsafe { w.sub(m) } }
}

/// The lanes a run on `V` uses: one register's worth on AVX2, [`LANES`] elsewhere; the
/// others stay idle. AVX2's 16 registers do not hold two groups' state and constants: with
/// two, the compiler kept the state (w, w_prev, the sample thresholds) on the stack and
/// each step waited on it (docs/speed.md, "The discrete cruise on AVX2").
const fn used<V: Vector>() -> usize {
    if V::WIDTH == 4 { 4 } else { LANES }
}

/// A lane array as vectors of `V` (the first `LANES / V::WIDTH` entries).
///
/// # Safety
/// As [`Vector`]'s methods.
#[inline(always)]
unsafe fn load<V: Vector>(x: &[f64; LANES]) -> [V; LANES] {
    // SAFETY: the caller's.
    unsafe {
        let mut v = [V::splat(0.0); LANES];
        for j in 0..LANES / V::WIDTH {
            v[j] = V::load(&x[j * V::WIDTH..]);
        }
        v
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
        let mut uniform = uniform(0x2545_f491_4f6c_dd1d);
        let stop = distance_stop(1e-6, 1e6);
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
                    let mut run = heavy_ball(&q, w, eps, p, stop);
                    (run.velocity, run.steps) = (v, [0, 3, 500, 5000][j % 4]);
                    run
                })
                .collect();
            assert!(runs.iter().all(lane_ready));
            let laned = run_in_lanes(&runs);
            let statuses: Vec<&Status> = laned.iter().map(|r| &r.status).collect();
            for (j, (run, report)) in runs.iter().zip(&laned).enumerate() {
                assert_eq!(report, &run.run(&mut ()).unwrap(), "n = {n}, run {j}");
            }
            // The mix really holds every ending, and rates measured on the heavy ball's
            // envelope (evaluated in the cruise loop's registers) as well as on the distance.
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

    /// Stop at |w − w*| < `tolerance`, diverged beyond `divergence`.
    fn distance_stop(tolerance: f64, divergence: f64) -> StopRule {
        StopRule::new(&StopSpec {
            criterion: Criterion::Distance,
            tolerance,
            divergence,
        })
    }

    /// Uniform numbers in [0, 1) from a xorshift generator.
    fn uniform(mut seed: u64) -> impl FnMut() -> f64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// The smallest |wᵢ| a run's scalar loop passes through.
    struct Smallest(f64);

    impl crate::observe::DiscreteObserver for Smallest {
        fn step(&mut self, _: u64, _: f64, w: &[f64], _: &[f64]) -> Result<(), crate::Error> {
            self.0 = w.iter().fold(self.0, |s, x| s.min(x.abs()));
            Ok(())
        }
    }

    /// A heavy-ball run from rest at `w`, 40 000 steps at most.
    fn heavy_ball<'a>(
        q: &'a Quadratic,
        w: &'a [f64],
        eps: f64,
        p: f64,
        stop: StopRule,
    ) -> DiscreteRun<'a> {
        DiscreteRun {
            potential: q,
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
            velocity: &[0.0; MAX_LANE_DIM][..w.len()],
            steps: 40_000,
            stop,
            noise: None,
        }
    }

    /// On H = diag(0.06, 60) the stiff component decays far faster than the run converges:
    /// it passes 2⁻⁶⁰⁰, where the lanes park it at the minimum ([`REST`]), and on into
    /// subnormal numbers in the scalar loop. Every report is still the scalar loop's, bit
    /// for bit. A component too small to matter but in an unstable mode is never parked:
    /// from 1e-250 it grows until the run diverges, in the lanes as in the scalar loop.
    #[test]
    fn components_at_rest_change_no_report() {
        let q = Quadratic::new(&HessianSpec::Diagonal(vec![0.06, 60.0]), vec![0.0; 2]).unwrap();
        let stop = distance_stop(1e-6, 1e12);
        let mut runs = Vec::new();
        for p in [0.1, 0.3, 0.5] {
            // εd₁ = (1 − √p)²·(1 + 2j/20): near the fastest the stiff mode can decay.
            for j in 0..20 {
                let eps = (1.0 - f64::sqrt(p)).powi(2) * (1.0 + 0.1 * j as f64) / 60.0;
                runs.push(heavy_ball(&q, &[1.0, 1.0], eps, p, stop));
            }
        }
        // Unstable in the stiff component (εd₁ > 2(1 + p)), which starts at 1e-250.
        runs.push(heavy_ball(&q, &[1.0, 1e-250], 2.5 * 2.0 / 60.0, 0.0, stop));
        assert!(!settles(60.0, 0.0, 2.5 * 2.0 / 60.0, 0.0));
        let laned = run_in_lanes(&runs);
        let mut parked = 0;
        for (j, (run, report)) in runs.iter().zip(&laned).enumerate() {
            let mut smallest = Smallest(f64::INFINITY);
            assert_eq!(report, &run.run(&mut smallest).unwrap(), "run {j}");
            if smallest.0 < f64::MIN_POSITIVE && report.status == Status::Converged {
                parked += 1;
            }
        }
        assert!(parked >= 40, "{parked} runs went subnormal and converged");
        assert_eq!(laned.last().unwrap().status, Status::Diverged);
    }

    /// Random runs with the minimum at 0, curvatures 0.02 … 60, components from 1 down to
    /// 1e-300, mostly near the stiff component's fastest decay, some up to 1.3× the stability
    /// edge: many components go subnormal in the scalar loop, parked or not (unstable, too
    /// slow) in the lanes, and every report is the scalar loop's, bit for bit, in every lane
    /// dimension.
    #[test]
    fn random_runs_through_subnormals_are_the_scalar_loops() {
        let mut uniform = uniform(0x9e37_79b9_7f4a_7c15);
        let stop = distance_stop(1e-9, 1e6);
        for n in 1..=MAX_LANE_DIM {
            let d: Vec<f64> = (0..n).map(|i| 60.0 * 3000f64.powi(-(i as i32))).collect();
            let q = Quadratic::new(&HessianSpec::Diagonal(d), vec![0.0; n]).unwrap();
            let starts: Vec<Vec<f64>> = (0..120)
                .map(|_| {
                    let size = |u: f64| 10f64.powf(-300.0 * u * u * u);
                    (0..n)
                        .map(|_| (uniform() - 0.5) * size(uniform()))
                        .collect()
                })
                .collect();
            let runs: Vec<DiscreteRun<'_>> = starts
                .iter()
                .map(|w| {
                    let p = 0.9 * uniform();
                    let eps = if uniform() < 0.8 {
                        (1.0 - p.sqrt()).powi(2) * (0.5 + uniform()) / 60.0
                    } else {
                        1.3 * (2.0 + 2.0 * p) * uniform() / 60.0
                    };
                    heavy_ball(&q, w, eps, p, stop)
                })
                .collect();
            let laned = run_in_lanes(&runs);
            let mut subnormal = 0;
            for (j, (run, report)) in runs.iter().zip(&laned).enumerate() {
                let mut smallest = Smallest(f64::INFINITY);
                assert_eq!(report, &run.run(&mut smallest).unwrap(), "n = {n}, run {j}");
                subnormal += usize::from(smallest.0 < f64::MIN_POSITIVE);
            }
            // One component alone converges long before it could go subnormal.
            assert!(
                n == 1 || subnormal >= 20,
                "n = {n}: {subnormal} runs went subnormal"
            );
        }
    }

    /// [`settles`] on the edges of the stable region: the roots of x² − a·x + p must lie
    /// within 1 − 2⁻²⁰ of 0.
    #[test]
    fn only_contracting_components_settle() {
        // a = 1 + p − εd; d = 1, m = 0.
        let a_is = |a: f64, p: f64| settles(1.0, 0.0, 1.0 + p - a, p);
        assert!(a_is(0.0, 0.5)); // |roots| = √0.5
        assert!(!a_is(1.5, 0.5)); // roots 1 and 0.5
        assert!(a_is(1.49, 0.5)); // roots ≈ 0.98 and 0.51
        assert!(!a_is(1.0, 0.0)); // root 1: neutral
        assert!(!a_is(-1.0, 0.0)); // root −1
        assert!(!a_is(0.0, 1.0)); // |roots| = 1
        assert!(a_is(0.0, 0.999)); // |roots| = √0.999
        assert!(!a_is(0.0, 1.0 - 1e-7)); // |roots| within 2⁻²⁰ of 1
        assert!(!settles(1.0, 0.5, 0.5, 0.0)); // m ≠ 0
        assert!(!settles(1e30, 0.0, 1e-30, 0.0)); // d > 2⁶⁴
    }
}
