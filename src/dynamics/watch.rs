//! The step watcher of a continuous run, and the right-hand side it is watched with.
//!
//! `Watch` follows a run's accepted steps: it holds w, w′, w″ at both ends of every step —
//! enough for a quintic (or septic) Hermite interpolant on which it finds the first
//! crossing of the stop threshold, samples rows at the times observers ask for, feeds the
//! rate meter and tests divergence. The explicit loops and diffsol drivers of `continuous`
//! hand it every step; the lane kernel of `dopri_lanes` only the steps its screen cannot
//! pass over.

use std::cell::Cell;

use ode_solvers::dop_shared::IntegrationError;

use super::interp::Hermite;
use super::settings::{ContinuousRun, ContinuousSpec, Method, Model};
use crate::error::Error;
use crate::observe::{
    ContinuousObserver, CriterionMap, Crossings, Envelope, RATE_DECADES, RateMeter, RateOff,
    RunReport, Status, StopRule, distance2,
};
use crate::potential::Potential;

/// The right-hand side `y' = f(t, y)` with evaluation counting (argmin-style: in the
/// problem wrapper, not in the solvers). State `y = (w, v)`, or `y = w` when m = 0.
pub(super) struct Rhs<'a, P: Potential + ?Sized> {
    potential: &'a P,
    pub(super) n: usize,
    mass: f64,
    friction: f64,
    /// Nesterov's ODE: friction `3m/t` instead of `friction`.
    fading: bool,
    evaluations: Cell<u64>,
}

impl<'a, P: Potential + ?Sized> Rhs<'a, P> {
    /// The heavy-ball right-hand side of `run` on `potential` (its own potential, or the
    /// same surface monomorphised), with no evaluation counted yet.
    pub(super) fn new(run: &ContinuousRun<'_>, potential: &'a P) -> Self {
        Rhs {
            potential,
            n: run.potential.dim(),
            mass: run.mass,
            friction: run.friction,
            fading: run.spec.model == Model::Nesterov,
            evaluations: Cell::new(0),
        }
    }

    /// The particle's damping time m/μ where it is below 1 (a light particle's fast
    /// start), else 1.
    pub(super) fn damping_time(&self) -> f64 {
        if self.mass > 0.0 && self.friction > 0.0 {
            (self.mass / self.friction).min(1.0)
        } else {
            1.0
        }
    }

    /// Evaluations of the right-hand side so far.
    pub(super) fn evaluations(&self) -> u64 {
        self.evaluations.get()
    }

    /// The Jacobian of the right-hand side applied to `v` (for implicit methods): `−H v/μ`
    /// for gradient flow, `(v_v, (−H v_w − μ v_v)/m)` for the particle (constant friction).
    /// Without an exact Hessian the product is a central difference of the gradient: the
    /// integrator spends its two gradients, counted as evaluations (none for a direction
    /// that leaves the position alone, which [`finite_difference_hv`] answers with 0).
    ///
    /// [`finite_difference_hv`]: crate::potential::finite_difference_hv
    pub(super) fn jacobian_apply(&self, _t: f64, y: &[f64], v: &[f64], out: &mut [f64]) {
        let n = self.n;
        if !self.potential.has_hessian() && crate::potential::moves(&v[..n]) {
            self.evaluations.set(self.evaluations.get() + 2);
        }
        if self.mass == 0.0 {
            self.potential.hessian_vector_into(y, v, out);
            let s = -1.0 / self.friction;
            out.iter_mut().for_each(|o| *o *= s);
        } else {
            let (vw, vv) = v.split_at(n);
            let (ow, ov) = out.split_at_mut(n);
            ow.copy_from_slice(vv);
            self.potential.hessian_vector_into(&y[..n], vw, ov);
            let (inv_m, damp) = (1.0 / self.mass, self.friction / self.mass);
            for (o, v) in ov.iter_mut().zip(vv) {
                *o = -*o * inv_m - damp * v;
            }
        }
    }

    #[inline]
    pub(super) fn eval(&self, t: f64, y: &[f64], dy: &mut [f64]) {
        self.evaluations.set(self.evaluations.get() + 1);
        if self.mass == 0.0 {
            // μ w' = −∇E(w): the gradient lands in dy, then is scaled in place.
            self.potential.gradient_into(y, dy);
            let s = -1.0 / self.friction;
            dy.iter_mut().for_each(|d| *d *= s);
        } else {
            let n = self.n;
            let (w, v) = y.split_at(n);
            let (dw, dv) = dy.split_at_mut(n);
            dw.copy_from_slice(v);
            self.potential.gradient_into(w, dv);
            if self.fading && t == 0.0 {
                // From rest, w' ≈ a·t near 0, so a + 3a = −∇E/m: w''(0) = −∇E(w₀)/(4m).
                let s = -0.25 / self.mass;
                dv.iter_mut().for_each(|a| *a *= s);
                return;
            }
            let damp = if self.fading {
                3.0 / t
            } else {
                self.friction / self.mass
            };
            let inv_m = 1.0 / self.mass;
            for (a, v) in dv.iter_mut().zip(v) {
                *a = -*a * inv_m - damp * v;
            }
        }
    }
}

/// Follows a run step by step: interpolant, in-step crossing search, observers, status.
pub(super) struct Watch<'r, O: ContinuousObserver> {
    potential: &'r dyn Potential,
    n: usize,
    massless: bool,
    mass: f64,
    friction: f64,
    /// Nesterov's ODE: friction `3m/t` instead of `friction`.
    fading: bool,
    t_end: f64,
    /// `rk4` hands `solout` the derivative at the step's start: recompute it at the end.
    pub(super) stale_derivative: bool,
    stop: StopRule,
    /// The observer's first error: the run stops there and returns it.
    failure: Option<Error>,
    map: Option<CriterionMap<'r>>,
    /// Without a map, for the loss and gradient of a potential with a known minimum: the
    /// map of its quadratic model at w*, which screens each step for dips
    /// ([`Self::measured_crossing`]).
    screen: Option<CriterionMap<'static>>,
    loose_ball: f64,
    tight_ball: f64,
    crossings: Crossings,
    /// What the measured rate follows, and its meter.
    envelope: Result<Envelope, RateOff>,
    meter: RateMeter,
    /// The note of a crossing made during a swing ([`crate::observe::swing_note`]).
    swing: Option<String>,
    /// Scratch for the envelope's ∇E.
    rate_g: Vec<f64>,
    observer: &'r mut O,
    // The previous step end: time, state, derivative, w''.
    pub(super) t0: f64,
    pub(super) y0: Vec<f64>,
    dy0: Vec<f64>,
    acc0: Vec<f64>,
    jerk0: Vec<f64>,
    // Scratch, allocated once.
    dy1: Vec<f64>,
    acc1: Vec<f64>,
    jerk1: Vec<f64>,
    interp: Hermite,
    crit: Hermite,
    stack: Vec<(f64, f64, u32)>,
    w: Vec<f64>,
    v: Vec<f64>,
    g: Vec<f64>,
    pub(super) steps: u64,
    pub(super) status: Option<Status>,
    end_time: f64,
    final_measure: f64,
}

impl<'r, O: ContinuousObserver> Watch<'r, O> {
    /// The watcher of `run`, telling `observer` the states it asks for; the interpolant's
    /// order follows the run's method (see `interp`).
    pub(super) fn new(run: &ContinuousRun<'r>, observer: &'r mut O) -> Self {
        let n = run.potential.dim();
        let massless = run.mass == 0.0;
        let state_dim = if massless { n } else { 2 * n };
        let (spec, stop) = (run.spec, run.stop);
        let map = CriterionMap::new(run.potential, stop.criterion);
        let screen = match map {
            None => CriterionMap::model(run.potential, stop.criterion),
            Some(_) => None,
        };
        let interp = match spec.method {
            Method::Dop853 => Hermite::septic(n),
            Method::Dopri5 | Method::Rk4 | Method::Bdf | Method::Auto | Method::Baoab => {
                Hermite::quintic(n)
            }
        };
        let mut interp_main = interp.like();
        if let Some(origin) = map.as_ref().and_then(CriterionMap::shift_only) {
            interp_main.set_origin(origin);
        }
        Watch {
            potential: run.potential,
            n,
            massless,
            mass: run.mass,
            friction: run.friction,
            fading: spec.model == Model::Nesterov,
            t_end: spec.t_end,
            // rk4 hands solout its start derivative; BDF's dy is its own formula's, not f(y).
            stale_derivative: matches!(spec.method, Method::Rk4 | Method::Bdf),
            stop,
            failure: None,
            map,
            screen,
            loose_ball: stop.ball(RATE_DECADES * stop.tolerance),
            tight_ball: stop.ball(stop.tolerance),
            crossings: Crossings::default(),
            envelope: Envelope::particle(
                run.potential,
                run.mass,
                run.friction,
                run.noise.is_some(),
            ),
            meter: RateMeter::default(),
            swing: None,
            rate_g: vec![0.0; n],
            observer,
            t0: 0.0,
            y0: vec![0.0; state_dim],
            dy0: vec![0.0; state_dim],
            acc0: vec![0.0; n],
            jerk0: vec![0.0; n],
            dy1: vec![0.0; state_dim],
            acc1: vec![0.0; n],
            jerk1: vec![0.0; n],
            interp: interp_main,
            crit: interp,
            stack: Vec::with_capacity(64),
            w: vec![0.0; n],
            v: vec![0.0; n],
            g: vec![0.0; n],
            steps: 0,
            status: None,
            end_time: 0.0,
            final_measure: f64::NAN,
        }
    }

    /// Takes up the run at an accepted step's end `(t0, y0)` with derivative `dy0`, as if
    /// it had watched every step up to there (`steps` of them): the lane kernel calls it
    /// only at the steps its screen cannot pass over.
    pub(super) fn resume(&mut self, steps: u64, t0: f64, y0: &[f64], dy0: &[f64]) {
        self.steps = steps;
        self.t0 = t0;
        self.y0.copy_from_slice(y0);
        self.dy0.copy_from_slice(dy0);
        let (mut acc, mut jerk) = (
            std::mem::take(&mut self.acc0),
            std::mem::take(&mut self.jerk0),
        );
        self.derivatives(t0, y0, dy0, &mut acc, &mut jerk);
        (self.acc0, self.jerk0) = (acc, jerk);
    }

    /// The crossings found so far.
    pub(super) fn crossings(&self) -> Crossings {
        self.crossings
    }

    /// The squared radii of the loose and the tight ball in the criterion map's space.
    pub(super) fn balls(&self) -> (f64, f64) {
        (self.loose_ball, self.tight_ball)
    }

    /// The L² below which the rate meter keeps its next sample, and the envelope's cross
    /// weight `c` (None: no meter, nothing to feed).
    pub(super) fn rate_screen(&self) -> Option<(f64, f64)> {
        match self.envelope {
            Ok(Envelope::Particle { cross, .. }) => Some((self.meter.next(), cross)),
            _ => None,
        }
    }

    /// The next time the observer asks for (∞ if none).
    pub(super) fn next_observation(&self) -> f64 {
        self.observer.next_time().unwrap_or(f64::INFINITY)
    }

    /// The ended run's report, given its evaluations and solver; the observer's failure
    /// if it failed.
    pub(super) fn report(
        mut self,
        evaluations: u64,
        solver: &'static str,
    ) -> Result<RunReport, Error> {
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        let final_value = self.stop.final_value(self.final_measure);
        let mut notes: Vec<String> = self.swing.take().into_iter().collect();
        let status = self.status.clone().unwrap_or(Status::NotConverged);
        let measured_rate = match self.envelope {
            Ok(_) => self.meter.finish(&status, &mut notes),
            Err(why) => RateMeter::off(why).finish(&status, &mut notes),
        };
        Ok(RunReport {
            status,
            steps: self.steps,
            evaluations,
            final_value,
            crossings: self.crossings,
            measured_rate,
            notes,
            end_time: self.end_time,
            solver: Some(solver),
            noise_floor: None,
        })
    }
}

/// The times of one accepted step and how much of it counts.
#[derive(Clone, Copy)]
struct StepTimes {
    t0: f64,
    t1: f64,
    h: f64,
    /// The step reaches t_end: the run's budget ends inside it, at `s_end`.
    reached: bool,
    /// The fraction of the step up to t_end (1 unless `reached`).
    s_end: f64,
}

impl StepTimes {
    #[inline(always)]
    fn new(t0: f64, t1: f64, t_end: f64) -> Self {
        let h = t1 - t0;
        // A step past t_end (rk4's fixed steps) only counts up to t_end; a sum of fixed steps
        // that lands a few ulp short of t_end has reached it.
        let reached = t1 >= t_end * (1.0 - 4.0 * f64::EPSILON);
        let s_end = if reached {
            ((t_end - t0) / h).min(1.0)
        } else {
            1.0
        };
        StepTimes {
            t0,
            t1,
            h,
            reached,
            s_end,
        }
    }
}

impl<'r, O: ContinuousObserver> Watch<'r, O> {
    /// w″ of a state at time `t` with derivative `dy` (the acceleration, or −H w′/μ when
    /// m = 0) and, for a septic interpolant, w‴ (m > 0: −(H v + μ a)/m, and for Nesterov's
    /// friction 3m/t −H v/m − (3/t) a + (3/t²) v, 0 at t = 0 from rest; m = 0: −H w″/μ).
    /// The third derivative of E along the path is left out: exact for quadratics.
    fn derivatives(&self, t: f64, y: &[f64], dy: &[f64], acc: &mut [f64], jerk: &mut [f64]) {
        let n = self.n;
        if self.massless {
            self.potential.hessian_vector_into(y, dy, acc);
            let s = -1.0 / self.friction;
            acc.iter_mut().for_each(|a| *a *= s);
            if self.interp.uses_jerk() {
                self.potential.hessian_vector_into(y, acc, jerk);
                jerk.iter_mut().for_each(|j| *j *= s);
            }
        } else {
            acc.copy_from_slice(&dy[n..2 * n]);
            if self.interp.uses_jerk() {
                self.potential
                    .hessian_vector_into(&y[..n], &y[n..2 * n], jerk);
                let inv_m = 1.0 / self.mass;
                if !self.fading {
                    let damp = self.friction / self.mass;
                    for (j, a) in jerk.iter_mut().zip(acc.iter()) {
                        *j = -*j * inv_m - damp * a;
                    }
                } else if t == 0.0 {
                    // w = w₀ + c₂t² + c₃t³ + …: the t¹ terms of w″ + (3/t)w′ = −∇E/m give
                    // 15c₃ = −H w′(0)/m = 0.
                    jerk.fill(0.0);
                } else {
                    let (damp, pull) = (3.0 / t, 3.0 / (t * t));
                    let v = &y[n..2 * n];
                    for ((j, a), v) in jerk.iter_mut().zip(acc.iter()).zip(v) {
                        *j = -*j * inv_m - damp * a + pull * v;
                    }
                }
            }
        }
    }

    /// The criterion measure at (w, w') (computing ∇E only when the criterion needs it).
    fn measure(&mut self, w: &[f64], v: &[f64]) -> f64 {
        if self.stop.needs_gradient() {
            self.potential.gradient_into(w, &mut self.g);
        }
        let mass = self.mass;
        let kinetic = || mass * v.iter().map(|x| x * x).sum::<f64>();
        self.stop.measure(self.potential, w, &self.g, kinetic)
    }

    /// The criterion measure at the current `self.w`, `self.v`.
    fn measure_w(&mut self) -> f64 {
        let (w, v) = (std::mem::take(&mut self.w), std::mem::take(&mut self.v));
        let m = self.measure(&w, &v);
        (self.w, self.v) = (w, v);
        m
    }

    /// The measure on the interpolant at `s` of the current step of length `h`.
    fn measure_at(&mut self, s: f64, h: f64) -> f64 {
        self.state_at(s, h);
        self.measure_w()
    }

    /// The first point of `[0, 1]` of the current step where the measure is below
    /// `threshold`, given that it is at the step's end and not at its start: bisection on
    /// the interpolant to round-off (the first crossing for a criterion that never rises,
    /// like the energy).
    fn bisect_below(&mut self, threshold: f64, h: f64) -> f64 {
        self.bisect_between(threshold, h, (0.0, 1.0))
    }

    /// [`Self::bisect_below`] on `[lo, hi]`: the measure is below `threshold` at `hi`, not
    /// at `lo`.
    fn bisect_between(&mut self, threshold: f64, h: f64, (mut lo, mut hi): (f64, f64)) -> f64 {
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if self.measure_at(mid, h) < threshold {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }

    /// The state at `s` of the current step of length `h` into `self.w`, `self.v`.
    fn state_at(&mut self, s: f64, h: f64) {
        self.interp.eval(s, &mut self.w);
        if self.massless {
            // SPEC: for m = 0 the v columns hold w' = −∇E/μ.
            self.potential.gradient_into(&self.w, &mut self.v);
            let k = -1.0 / self.friction;
            self.v.iter_mut().for_each(|x| *x *= k);
        } else {
            self.interp.eval_derivative(s, h, &mut self.v);
        }
    }

    /// The initial state: observers at t = 0, and a start that already meets a threshold.
    pub(super) fn start<P: Potential + ?Sized>(&mut self, rhs: &Rhs<'_, P>, y: &[f64]) -> bool {
        let n = self.n;
        self.y0.copy_from_slice(y);
        let mut dy = std::mem::take(&mut self.dy0);
        rhs.eval(0.0, y, &mut dy);
        self.dy0 = dy;
        let (mut acc, mut jerk) = (
            std::mem::take(&mut self.acc0),
            std::mem::take(&mut self.jerk0),
        );
        self.derivatives(0.0, y, &self.dy0, &mut acc, &mut jerk);
        (self.acc0, self.jerk0) = (acc, jerk);
        self.w.copy_from_slice(&y[..n]);
        if self.massless {
            self.v.copy_from_slice(&self.dy0);
        } else {
            self.v.copy_from_slice(&y[n..2 * n]);
        }
        while self.observer.next_time().is_some_and(|t| t <= 0.0) {
            if let Err(e) = self.observer.observe(0.0, &self.w, &self.v) {
                return self.fail(e, 0.0);
            }
        }
        let m = self.measure_w();
        self.final_measure = m;
        // A non-finite start (or criterion there) is diverged before any criterion is read.
        if StopRule::broken(distance2(self.potential, &self.w), m) {
            return self.end(Status::Diverged, 0.0);
        }
        // A derivative that is not finite at a finite start would only shrink the step
        // until it underflows: say why instead.
        if let Some(why) = self.unusable_start() {
            return self.end(Status::Failed(why), 0.0);
        }
        self.feed_rate(0.0, None);
        let loose = self.stop.threshold(RATE_DECADES * self.stop.tolerance);
        if m < loose {
            self.crossings.loose = Some(0.0);
        }
        if m < self.stop.threshold(self.stop.tolerance) {
            self.crossings.tight = Some(0.0);
            // Met at the start while moving fast: a crossing during a swing, as later.
            self.note_swing();
            return self.end(Status::Converged, 0.0);
        }
        if self.stop.diverged(distance2(self.potential, &self.w)) {
            return self.end(Status::Diverged, 0.0);
        }
        false
    }

    /// Why the derivative at the start is not finite (None when it is): the gradient
    /// there, or −∇E/m overflowing. Rare, so the gradient is evaluated again, uncounted.
    fn unusable_start(&self) -> Option<String> {
        if self.dy0.iter().all(|d| d.is_finite()) {
            return None;
        }
        let mut g = vec![0.0; self.n];
        self.potential.gradient_into(&self.w, &mut g);
        let (w, m, mu) = (&self.w, self.mass, self.friction);
        Some(if g.iter().all(|x| x.is_finite()) {
            format!(
                "the state's derivative overflows at the start: ∇E = {g:?} at w = {w:?}, with m = {m:?}, μ = {mu:?}"
            )
        } else {
            format!("the gradient is not finite at the start: ∇E = {g:?} at w = {w:?}")
        })
    }

    /// Feeds the rate meter the envelope at `t`, of the state `(w, v)` given or else of
    /// `self.w`, `self.v`.
    fn feed_rate(&mut self, t: f64, state: Option<(&[f64], &[f64])>) {
        if let Ok(e) = self.envelope {
            let (w, v) = state.unwrap_or((&self.w, &self.v));
            let q = e.particle_l2(self.potential, w, v, &mut self.rate_g);
            self.meter.feed(t, q);
        }
    }

    /// At a crossing (`self.w`, `self.v`): the note if the particle was still swinging.
    fn note_swing(&mut self) {
        if let Some(e_min) = self.potential.minimum_value() {
            let kinetic = self.mass * self.v.iter().map(|x| x * x).sum::<f64>();
            let e2 = kinetic + 2.0 * (self.potential.value(&self.w) - e_min);
            self.swing = crate::observe::swing_note(&self.stop, self.potential, e2);
        }
    }

    fn end(&mut self, status: Status, t: f64) -> bool {
        if let Err(e) = self.observer.finish(t, &self.w, &self.v) {
            self.failure.get_or_insert(e);
        }
        self.status = Some(status);
        self.end_time = t;
        true
    }

    /// The observer failed at `t`: the run stops without telling it more.
    fn fail(&mut self, e: Error, t: f64) -> bool {
        self.failure = Some(e);
        self.status = Some(Status::Failed("observer failed".into()));
        self.end_time = t;
        true
    }

    /// One accepted step ending at `t1` in state `y1` with derivative `dy1`; true stops.
    ///
    /// Called once per accepted solver step: its phases below are `#[inline(always)]`, so
    /// the split costs no call in the loop (plain `#[inline]` left some out of line).
    pub(super) fn on_step<P: Potential + ?Sized>(
        &mut self,
        rhs: &Rhs<'_, P>,
        t1: f64,
        y1: &[f64],
        dy1: &[f64],
    ) -> bool {
        self.steps += 1;
        let step = StepTimes::new(self.t0, t1, self.t_end);
        let (d1, a1, j1) = self.fit_step(rhs, &step, y1, dy1);
        let finite = y1.iter().chain(&d1).all(|x| x.is_finite());
        let hit = self.first_crossing(&step, finite, y1, &d1);
        let limit = match hit {
            Some(s) => step.t0 + s * step.h,
            None if step.reached => self.t_end,
            None => t1,
        };
        // An observer that fails stops the run at once, told nothing more.
        if finite && self.observe_until(&step, limit) {
            return true;
        }
        let stop = self.decide_end(hit, &step, y1);
        if finite {
            // The rate meter: the step's end, or where the run ended inside the step.
            match (&self.status, stop) {
                (None, _) => {
                    let n = self.n;
                    let v1 = if self.massless {
                        &d1[..n]
                    } else {
                        &y1[n..2 * n]
                    };
                    self.feed_rate(t1, Some((&y1[..n], v1)));
                }
                (Some(Status::Converged | Status::NotConverged), true) => {
                    self.feed_rate(self.end_time, None);
                }
                _ => {}
            }
        }
        self.advance(t1, y1, d1, a1, j1);
        stop
    }

    /// The step's end: w', w″ (and w‴) at `y1`, and the interpolant from the previous end.
    /// Returns the end's buffers, lent by `self` until [`Self::advance`] (no allocation).
    #[inline(always)]
    fn fit_step<P: Potential + ?Sized>(
        &mut self,
        rhs: &Rhs<'_, P>,
        step: &StepTimes,
        y1: &[f64],
        dy1: &[f64],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let n = self.n;
        let mut d1 = std::mem::take(&mut self.dy1);
        if self.stale_derivative {
            rhs.eval(step.t1, y1, &mut d1);
        } else {
            d1.copy_from_slice(dy1);
        }
        let (mut a1, mut j1) = (
            std::mem::take(&mut self.acc1),
            std::mem::take(&mut self.jerk1),
        );
        self.derivatives(step.t1, y1, &d1, &mut a1, &mut j1);
        {
            // w' is v for the particle and dy for gradient flow.
            let (w0, w1) = (&self.y0[..n], &y1[..n]);
            let (v0, v1) = if self.massless {
                (&self.dy0[..n], &d1[..n])
            } else {
                (&self.y0[n..2 * n], &y1[n..2 * n])
            };
            self.interp.set_hermite(
                step.h,
                [w0, v0, &self.acc0, &self.jerk0],
                [w1, v1, &a1, &j1],
            );
        }
        (d1, a1, j1)
    }

    /// The first crossing of the tight threshold inside the step (as a fraction of it, up to
    /// `s_end`), on the interpolant; records the loose crossing on the way.
    #[inline(always)]
    fn first_crossing(
        &mut self,
        step: &StepTimes,
        finite: bool,
        y1: &[f64],
        d1: &[f64],
    ) -> Option<f64> {
        if !finite {
            // Overflow inside the step: nothing to interpolate; the divergence test ends it.
            None
        } else if self.map.is_some() {
            // The tight crossing, once found, is not searched for again.
            if self.crossings.tight.is_none() {
                self.mapped_crossing(step)
            } else {
                None
            }
        } else {
            self.measured_crossing(step, y1, d1)
        }
    }

    /// [`Self::first_crossing`] through the linear criterion map: a screen on the
    /// interpolant's bounds, then its first point below each ball.
    #[inline(always)]
    fn mapped_crossing(&mut self, step: &StepTimes) -> Option<f64> {
        let map = self.map.as_mut()?;
        // A pure shift (the distance) is searched on the interpolant itself, measured
        // from w* (its origin, set at the start); other maps on a mapped copy.
        let crit = if map.shift_only().is_some() {
            &self.interp
        } else {
            self.crit.set_mapped(&self.interp, |w, u| map.apply(w, u));
            &self.crit
        };
        if self.crossings.loose.is_none()
            && crit.may_cross(self.loose_ball)
            && let Some(s) = crit.first_below(self.loose_ball, &mut self.stack)
        {
            self.crossings.loose = Some(step.t0 + s * step.h);
        }
        if self.crossings.loose.is_some() && crit.may_cross(self.tight_ball) {
            crit.first_below(self.tight_ball, &mut self.stack)
                .filter(|&s| s <= step.s_end)
        } else {
            None
        }
    }

    /// [`Self::first_crossing`] with no linear criterion map (the energy, or a potential
    /// without one): test the step end, and where it is below a threshold bisect for the
    /// crossing inside the step.
    #[inline(always)]
    fn measured_crossing(&mut self, step: &StepTimes, y1: &[f64], d1: &[f64]) -> Option<f64> {
        let n = self.n;
        let (t0, h) = (step.t0, step.h);
        let v1 = if self.massless {
            &d1[..n]
        } else {
            &y1[n..2 * n]
        };
        let loose = self.stop.threshold(RATE_DECADES * self.stop.tolerance);
        let tight = self.stop.threshold(self.stop.tolerance);
        if let Some(s) = self.screened_crossing(step, loose, tight) {
            return Some(s);
        }
        let m = self.measure(&y1[..n], v1);
        if self.crossings.loose.is_none() && m < loose {
            self.crossings.loose = Some(t0 + self.bisect_below(loose, h) * h);
        }
        if m < tight {
            Some(self.bisect_below(tight, h)).filter(|&s| s <= step.s_end)
        } else {
            None
        }
    }

    /// [`Self::measured_crossing`]'s screen by the quadratic model's map: where the model's
    /// criterion first enters a threshold's ball inside the step and the measure itself is
    /// below the threshold there, the crossing is bisected for between the step's start and
    /// that point — a dip the step's end would not show (the particle passing near w*).
    /// Sets the loose crossing so found; returns the tight one's point of the step.
    fn screened_crossing(&mut self, step: &StepTimes, loose: f64, tight: f64) -> Option<f64> {
        let screen = self.screen.as_mut()?;
        self.crit
            .set_mapped(&self.interp, |w, u| screen.apply(w, u));
        let first = |ball: f64, crit: &mut Hermite, stack: &mut Vec<_>| {
            crit.may_cross(ball)
                .then(|| crit.first_below(ball, stack))
                .flatten()
        };
        let loose_at = match self.crossings.loose {
            None => first(self.loose_ball, &mut self.crit, &mut self.stack),
            Some(_) => None,
        };
        let tight_at = first(self.tight_ball, &mut self.crit, &mut self.stack);
        let h = step.h;
        if let Some(s) = loose_at {
            let mid = self.dip_middle(s, self.loose_ball);
            if self.measure_at(mid, h) < loose {
                let at = self.bisect_between(loose, h, (0.0, mid));
                self.crossings.loose = Some(step.t0 + at * h);
            }
        }
        let s = tight_at.filter(|&s| s <= step.s_end)?;
        let mid = self.dip_middle(s, self.tight_ball);
        if self.measure_at(mid, h) >= tight {
            return None;
        }
        let at = self.bisect_between(tight, h, (0.0, mid));
        if self.crossings.loose.is_none() {
            // Below the tight threshold is below the loose one: it was crossed before.
            let before = self.bisect_between(loose, h, (0.0, at));
            self.crossings.loose = Some(step.t0 + before * h);
        }
        (at <= step.s_end).then_some(at)
    }

    /// The middle of the model's dip into `ball` that begins at `s` of the step: where the
    /// measure itself is looked at (at `s`, on the ball's edge, round-off decides). Its
    /// end is the first of 64 looks past `s` outside the ball, refined by bisection.
    fn dip_middle(&mut self, s: f64, ball: f64) -> f64 {
        let mut u = std::mem::take(&mut self.g);
        let mut outside = |t: f64, crit: &Hermite| {
            crit.eval(t, &mut u);
            u.iter().map(|x| x * x).sum::<f64>() >= ball
        };
        let (mut lo, mut hi) = (s, 1.0);
        for k in 1..=64 {
            let t = s + (1.0 - s) * f64::from(k) / 64.0;
            if outside(t, &self.crit) {
                hi = t;
                break;
            }
            lo = t;
        }
        if hi < 1.0 {
            for _ in 0..40 {
                let mid = 0.5 * (lo + hi);
                if outside(mid, &self.crit) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
        }
        self.g = u;
        0.5 * (s + lo)
    }

    /// Observers: every requested time up to `limit`, read on the interpolant. True if an
    /// observer failed (the run is then marked failed at that time).
    #[inline(always)]
    fn observe_until(&mut self, step: &StepTimes, limit: f64) -> bool {
        let (t0, h) = (step.t0, step.h);
        while let Some(tq) = self.observer.next_time() {
            if tq > limit {
                break;
            }
            self.state_at((tq - t0) / h, h);
            if let Err(e) = self.observer.observe(tq, &self.w, &self.v) {
                return self.fail(e, tq);
            }
        }
        false
    }

    /// Whether the run ends in this step: converged at the crossing `hit`, diverged at the
    /// step's end, or out of time at t_end; each closes the observer at the ending state.
    #[inline(always)]
    fn decide_end(&mut self, hit: Option<f64>, step: &StepTimes, y1: &[f64]) -> bool {
        let (t0, h) = (step.t0, step.h);
        if let Some(s) = hit {
            let tc = t0 + s * h;
            self.crossings.tight = Some(tc);
            self.state_at(s, h);
            self.final_measure = self.measure_w();
            self.note_swing();
            self.end(Status::Converged, tc)
        } else if self.stop.diverged(distance2(self.potential, &y1[..self.n])) {
            // Also every non-finite end: `hit` needs a finite step, and the divergence
            // distance is at most √f64::MAX, so |w − w*|² = ∞ counts.
            self.state_at(1.0, h);
            self.final_measure = if self.w.iter().all(|x| x.is_finite()) {
                self.measure_w()
            } else {
                f64::NAN
            };
            self.end(Status::Diverged, step.t1)
        } else if step.reached {
            // Budget spent: end exactly at t_end, on the interpolant.
            self.state_at(step.s_end, h);
            self.final_measure = self.measure_w();
            self.end(Status::NotConverged, self.t_end)
        } else {
            false
        }
    }

    /// The step's end is the next step's start: swap buffers rather than copy them.
    #[inline(always)]
    fn advance(&mut self, t1: f64, y1: &[f64], d1: Vec<f64>, a1: Vec<f64>, j1: Vec<f64>) {
        self.t0 = t1;
        self.y0.copy_from_slice(y1);
        self.dy1 = std::mem::replace(&mut self.dy0, d1);
        self.acc1 = std::mem::replace(&mut self.acc0, a1);
        self.jerk1 = std::mem::replace(&mut self.jerk0, j1);
    }

    /// The run ended without `solout` deciding it (solver error or end of its loop): close
    /// at the last accepted step.
    pub(super) fn close(&mut self, status: Status) {
        let n = self.n;
        self.w.copy_from_slice(&self.y0[..n]);
        if self.massless {
            self.v.copy_from_slice(&self.dy0);
        } else {
            self.v.copy_from_slice(&self.y0[n..2 * n]);
        }
        self.final_measure = self.measure_w();
        let t = self.t0;
        self.end(status, t);
    }
}

/// The `failed` note of an `ode_solvers` error.
pub(super) fn failure_note(e: &IntegrationError, spec: &ContinuousSpec) -> String {
    match e {
        IntegrationError::MaxNumStepReached { x, .. } => format!(
            "max_steps = {} solver steps spent at t = {x:e} of t_end = {:?} (steps this short: stiff here?)",
            spec.max_steps, spec.t_end
        ),
        IntegrationError::StepSizeUnderflow { x } => format!("step size underflow at t = {x}"),
        IntegrationError::StiffnessDetected { x } => format!("stiffness detected at t = {x}"),
    }
}
