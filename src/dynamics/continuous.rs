//! The continuous particle `m w'' + μ w' = −∇E(w)` (docs/theory.md §1) integrated by `ode_solvers`,
//! with the stop criterion located inside each step on the step's quintic interpolant.
//!
//! `ode_solvers` has no step API: its `solout` hook sees each accepted step's end state and
//! derivative. `Watch` keeps the previous end, so it holds w, w', w'' at both ends of
//! every step — enough for a quintic Hermite interpolant on which it finds the first
//! crossing, samples rows at the times observers ask for, and tests divergence.

use std::cell::Cell;

use nalgebra::{DefaultAllocator, Dim, OVector, U1, allocator::Allocator};
use ode_solvers::dop_shared::{IntegrationError, System};
use ode_solvers::{Dop853, Dopri5, OutputType, Rk4};

use super::interp::Hermite;
use super::settings::{ContinuousRun, ContinuousSpec, Method, Model};
use crate::error::Error;
use crate::observe::{
    ContinuousObserver, CriterionMap, Crossings, Envelope, RATE_DECADES, RateMeter, RunReport,
    Status, StopRule, distance2,
};
use crate::potential::Potential;

/// The right-hand side `y' = f(t, y)` with evaluation counting (argmin-style: in the
/// problem wrapper, not in the solvers). State `y = (w, v)`, or `y = w` when m = 0.
struct Rhs<'a, P: Potential + ?Sized> {
    potential: &'a P,
    n: usize,
    mass: f64,
    friction: f64,
    /// Nesterov's ODE: friction `3m/t` instead of `friction`.
    fading: bool,
    evaluations: Cell<u64>,
}

impl<P: Potential + ?Sized> Rhs<'_, P> {
    /// The Jacobian of the right-hand side applied to `v` (for implicit methods): `−H v/μ`
    /// for gradient flow, `(v_v, (−H v_w − μ v_v)/m)` for the particle (constant friction).
    fn jacobian_apply(&self, _t: f64, y: &[f64], v: &[f64], out: &mut [f64]) {
        let n = self.n;
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
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64]) {
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

/// The `ode_solvers` system: the right-hand side plus the step watcher in `solout`.
struct Particle<'r, 'w, O: ContinuousObserver, P: Potential + ?Sized> {
    rhs: &'r Rhs<'r, P>,
    watch: &'w mut Watch<'r, O>,
}

impl<D: Dim, O: ContinuousObserver, P: Potential + ?Sized> System<f64, OVector<f64, D>>
    for Particle<'_, '_, O, P>
where
    DefaultAllocator: Allocator<D>,
{
    #[inline]
    fn system(&self, t: f64, y: &OVector<f64, D>, dy: &mut OVector<f64, D>) {
        self.rhs.eval(t, y.as_slice(), dy.as_mut_slice());
    }

    fn solout(&mut self, t: f64, y: &OVector<f64, D>, dy: &OVector<f64, D>) -> bool {
        self.watch.on_step(self.rhs, t, y.as_slice(), dy.as_slice())
    }
}

/// Follows a run step by step: interpolant, in-step crossing search, observers, status.
struct Watch<'r, O: ContinuousObserver> {
    potential: &'r dyn Potential,
    n: usize,
    massless: bool,
    mass: f64,
    friction: f64,
    t_end: f64,
    /// `rk4` hands `solout` the derivative at the step's start: recompute it at the end.
    stale_derivative: bool,
    stop: StopRule,
    /// The observer's first error: the run stops there and returns it.
    failure: Option<Error>,
    map: Option<CriterionMap<'r>>,
    loose_ball: f64,
    tight_ball: f64,
    crossings: Crossings,
    /// What the measured rate follows, and its meter.
    envelope: Result<Envelope, &'static str>,
    meter: RateMeter,
    /// The note of a crossing made during a swing ([`crate::observe::swing_note`]).
    swing: Option<String>,
    /// Scratch for the envelope's ∇E.
    rate_g: Vec<f64>,
    observer: &'r mut O,
    // The previous step end: time, state, derivative, w''.
    t0: f64,
    y0: Vec<f64>,
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
    steps: u64,
    status: Option<Status>,
    end_time: f64,
    final_measure: f64,
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
    /// w″ of a state with derivative `dy` (the acceleration, or −H w′/μ when m = 0) and,
    /// for a septic interpolant, w‴ (m > 0: −(H v + μ a)/m; m = 0: −H w″/μ). The third
    /// derivative of E along the path is left out: exact for quadratics.
    fn derivatives(&self, y: &[f64], dy: &[f64], acc: &mut [f64], jerk: &mut [f64]) {
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
                let (inv_m, damp) = (1.0 / self.mass, self.friction / self.mass);
                for (j, a) in jerk.iter_mut().zip(acc.iter()) {
                    *j = -*j * inv_m - damp * a;
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
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
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
    fn start<P: Potential + ?Sized>(&mut self, rhs: &Rhs<'_, P>, y: &[f64]) -> bool {
        let n = self.n;
        self.y0.copy_from_slice(y);
        let mut dy = std::mem::take(&mut self.dy0);
        rhs.eval(0.0, y, &mut dy);
        self.dy0 = dy;
        let (mut acc, mut jerk) = (
            std::mem::take(&mut self.acc0),
            std::mem::take(&mut self.jerk0),
        );
        self.derivatives(y, &self.dy0, &mut acc, &mut jerk);
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
        self.feed_rate(0.0, None);
        let loose = self.stop.threshold(RATE_DECADES * self.stop.tolerance);
        if m < loose {
            self.crossings.loose = Some(0.0);
        }
        if m < self.stop.threshold(self.stop.tolerance) {
            self.crossings.tight = Some(0.0);
            return self.end(Status::Converged, 0.0);
        }
        if self.stop.diverged(distance2(self.potential, &self.w)) {
            return self.end(Status::Diverged, 0.0);
        }
        false
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
    fn on_step<P: Potential + ?Sized>(
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
        self.derivatives(y1, &d1, &mut a1, &mut j1);
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
        let m = self.measure(&y1[..n], v1);
        let loose = self.stop.threshold(RATE_DECADES * self.stop.tolerance);
        if self.crossings.loose.is_none() && m < loose {
            self.crossings.loose = Some(t0 + self.bisect_below(loose, h) * h);
        }
        let tight = self.stop.threshold(self.stop.tolerance);
        if m < tight {
            Some(self.bisect_below(tight, h)).filter(|&s| s <= step.s_end)
        } else {
            None
        }
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
    fn close(&mut self, status: Status) {
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

impl ContinuousRun<'_> {
    /// Integrates the run, telling `observer` the states it asks for.
    pub fn run<O: ContinuousObserver>(&self, observer: &mut O) -> Result<RunReport, Error> {
        let n = self.potential.dim();
        let state_dim = if self.mass == 0.0 { n } else { 2 * n };
        let mut spec = *self.spec;
        spec.method = self.solver();
        // `auto` without a spectrum to judge stiffness by: dopri5 watching its own stiffness
        // estimate, handing over to BDF where it finds the run stiff (ode_solvers' path).
        let fallback = self.spec.method == Method::Auto
            && spec.method == Method::Dopri5
            && self.spec.model == Model::HeavyBall
            && self.potential.hessian_spectrum().is_none()
            && !large_dopri5(&spec, state_dim);
        let run = ContinuousRun {
            spec: &spec,
            ..*self
        };
        // A noisy particle obeys an SDE: BAOAB, monomorphised for the quadratic.
        if spec.method == Method::Baoab {
            let noise = self.noise.cloned();
            return match self.potential.as_quadratic() {
                Some(q) => super::langevin::integrate(&run, q, noise, observer),
                None => super::langevin::integrate(&run, self.potential, noise, observer),
            };
        }
        // diffsol's BDF works on its own dynamic vectors: no fixed-size dispatch (large
        // states, where dopri5 also goes through diffsol, are dynamic anyway).
        if spec.method == Method::Bdf {
            return match self.potential.as_quadratic() {
                Some(q) => run.run_in::<nalgebra::Dyn, _, O>(q, observer, false),
                None => run.run_in::<nalgebra::Dyn, _, O>(self.potential, observer, false),
            };
        }
        // The right-hand side is monomorphised for the quadratic, so its gradient inlines.
        match self.potential.as_quadratic() {
            Some(q) => {
                crate::with_dim!(state_dim, D => run.run_in::<D, _, O>(q, observer, fallback))
            }
            None => {
                crate::with_dim!(state_dim, D => run.run_in::<D, _, O>(self.potential, observer, fallback))
            }
        }
    }

    /// The method this run uses: the scenario's, or for `auto` BAOAB under noise, BDF
    /// where the particle is stiff on the Hessian's spectrum (see [`stiffness`]) and dopri5
    /// otherwise (also for the Nesterov ODE). Without a spectrum it is dopri5 too, which
    /// then tests its own stiffness and hands a stiff run over to BDF (`dopri5+bdf`).
    /// Beyond [`MAX_BDF_DIM`] coordinates it is always dopri5: BDF's dense Jacobian would
    /// not fit.
    pub fn solver(&self) -> Method {
        match self.spec.method {
            Method::Auto if self.noise.is_some() => Method::Baoab,
            Method::Auto => {
                let stiff = self.spec.model == Model::HeavyBall
                    && self.potential.dim() <= MAX_BDF_DIM
                    && self
                        .potential
                        .hessian_spectrum()
                        .is_some_and(|ks| stiffness(self.mass, self.friction, ks) > STIFF);
                if stiff { Method::Bdf } else { Method::Dopri5 }
            }
            m => m,
        }
    }

    /// `fallback`: dopri5 with its stiffness detection on, continuing with BDF from the
    /// last accepted step where it finds the run stiff.
    fn run_in<D: Dim, P: Potential + ?Sized, O: ContinuousObserver>(
        &self,
        potential: &P,
        observer: &mut O,
        fallback: bool,
    ) -> Result<RunReport, Error>
    where
        DefaultAllocator: Allocator<D>,
    {
        let n = self.potential.dim();
        let massless = self.mass == 0.0;
        let state_dim = if massless { n } else { 2 * n };
        let rhs = Rhs {
            potential,
            n,
            mass: self.mass,
            friction: self.friction,
            fading: self.spec.model == Model::Nesterov,
            evaluations: Cell::new(0),
        };
        let spec = self.spec;
        let map = CriterionMap::new(self.potential, self.stop.criterion);
        // The interpolant's order follows the solver's (see `interp`).
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
        let mut watch = Watch {
            potential: self.potential,
            n,
            massless,
            mass: self.mass,
            friction: self.friction,
            t_end: spec.t_end,
            // rk4 hands solout its start derivative; BDF's dy is its own formula's, not f(y).
            stale_derivative: matches!(spec.method, Method::Rk4 | Method::Bdf),
            stop: self.stop,
            failure: None,
            map,
            loose_ball: self.stop.ball(RATE_DECADES * self.stop.tolerance),
            tight_ball: self.stop.ball(self.stop.tolerance),
            crossings: Crossings::default(),
            envelope: Envelope::particle(
                self.potential,
                self.mass,
                self.friction,
                self.noise.is_some(),
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
        };
        let y0 = OVector::<f64, D>::from_iterator_generic(
            D::from_usize(state_dim),
            U1,
            self.position
                .iter()
                .chain(self.velocity.iter())
                .copied()
                .take(state_dim),
        );
        let mut solver = spec.method.as_str();
        if !watch.start(&rhs, y0.as_slice()) {
            let result = if spec.method == Method::Bdf {
                integrate_bdf(&rhs, &mut watch, y0.as_slice(), 0.0, spec).map_err(|e| e.to_string())
            } else if large_dopri5(spec, state_dim) {
                integrate_dopri5_large(&rhs, &mut watch, y0.as_slice(), spec)
                    .map_err(|e| e.to_string())
            } else {
                let system = Particle {
                    rhs: &rhs,
                    watch: &mut watch,
                };
                // Hairer's test (every 1000 accepted steps, 15 in a row with h·λ > 3.25).
                let n_stiff = if fallback {
                    STIFFNESS_TEST_EVERY
                } else {
                    u32::MAX
                };
                match integrate(system, y0, spec, n_stiff) {
                    Ok(()) => Ok(()),
                    Err(IntegrationError::StiffnessDetected { .. }) if fallback => {
                        // The step that raised it was not handed to the watcher: go on
                        // from the last one that was, with BDF (whose dy is not f(y)).
                        solver = "dopri5+bdf";
                        watch.stale_derivative = true;
                        let (t0, y0) = (watch.t0, watch.y0.clone());
                        // BDF gets what is left of the step budget.
                        let rest = ContinuousSpec {
                            max_steps: spec.max_steps.saturating_sub(watch.steps).max(1),
                            ..*spec
                        };
                        integrate_bdf(&rhs, &mut watch, &y0, t0, &rest).map_err(|e| e.to_string())
                    }
                    Err(e) => Err(failure_note(&e, spec)),
                }
            };
            match result {
                Ok(()) if watch.status.is_none() => watch.close(Status::NotConverged),
                Ok(()) => {}
                Err(note) => watch.close(Status::Failed(note)),
            }
        }
        if let Some(e) = watch.failure.take() {
            return Err(e);
        }
        let final_value = watch.stop.final_value(watch.final_measure);
        let mut notes: Vec<String> = watch.swing.take().into_iter().collect();
        let measured_rate = match watch.envelope {
            Ok(_) => watch.meter.finish(&mut notes),
            Err(why) => RateMeter::off(why).finish(&mut notes),
        };
        Ok(RunReport {
            status: watch.status.clone().unwrap_or(Status::NotConverged),
            steps: watch.steps,
            evaluations: rhs.evaluations.get(),
            final_value,
            crossings: watch.crossings,
            measured_rate,
            notes,
            end_time: watch.end_time,
            solver: Some(solver),
            noise_floor: None,
        })
    }
}

/// Whether this run's dopri5 goes through diffsol's explicit Runge–Kutta driver: for
/// states beyond the fixed-size ones. `ode_solvers` keeps every accepted step in memory
/// and allocates ~45 state vectors a step on dynamic vectors (at n = 262 144: ~200 MB of
/// allocations and 4 MB kept per step); diffsol's driver allocates nothing per step.
fn large_dopri5(spec: &ContinuousSpec, state_dim: usize) -> bool {
    spec.method == Method::Dopri5 && state_dim > super::MAX_FIXED_DIM
}

/// The Dormand–Prince 5(4) tableau ([`super::dormand_prince`]) for diffsol's explicit RK
/// driver: `d` is b − b̂ (the error estimate's weights), FSAL (the last row of `a` is `b`).
fn dormand_prince_tableau() -> diffsol::Tableau<f64> {
    use super::dormand_prince::{A, B, C, error_weights};
    use diffsol::{TableauMat, TableauVec};
    let mut a = TableauMat::zeros(7, 7);
    for (i, row) in A.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            a[(i, j)] = *v;
        }
    }
    diffsol::Tableau::new(
        a,
        TableauVec::from_slice(&B),
        TableauVec::from_slice(&C),
        TableauVec::from_slice(&error_weights()),
        4,
        None,
    )
}

/// Why a run on diffsol's solvers stopped short of `t_end`; its Display is the run's
/// `failed` note.
#[derive(Debug, thiserror::Error)]
enum DiffsolFailure {
    /// diffsol refused the problem or failed a step (its error says where, e.g.
    /// `StepSizeTooSmall { time }`).
    #[error("{solver}: {error}")]
    Solver {
        /// `"dopri5"` or `"BDF"`.
        solver: &'static str,
        /// diffsol's error.
        error: diffsol::error::DiffsolError,
    },
    /// `max_steps` accepted steps did not reach `t_end`.
    #[error("max_steps = {max_steps} {solver} steps spent before t_end = {t_end:?}")]
    MaxSteps {
        /// `"dopri5"` or `"BDF"`.
        solver: &'static str,
        /// The step budget.
        max_steps: u64,
        /// The end time not reached.
        t_end: f64,
    },
}

impl DiffsolFailure {
    /// `map_err` of a diffsol call by `solver`.
    fn of(solver: &'static str) -> impl Fn(diffsol::error::DiffsolError) -> Self + Copy {
        move |error| DiffsolFailure::Solver { solver, error }
    }
}

/// Runs Dormand–Prince 5(4) through diffsol's allocation-free explicit RK step loop (large
/// states), handing each accepted step's end to the watcher, as [`integrate_bdf`] does.
/// Steps run past `t_end` at most once; the watcher ends the run at `t_end` on its step
/// interpolant.
fn integrate_dopri5_large<P: Potential + ?Sized, O: ContinuousObserver>(
    rhs: &Rhs<'_, P>,
    watch: &mut Watch<'_, O>,
    y0: &[f64],
    spec: &ContinuousSpec,
) -> Result<(), DiffsolFailure> {
    use diffsol::{NalgebraMat, OdeBuilder};
    let fail = DiffsolFailure::of("dopri5");
    let start = y0.to_vec();
    let problem = OdeBuilder::<NalgebraMat<f64>>::new()
        .rtol(spec.rtol)
        .atol(vec![spec.atol; y0.len()])
        .rhs(|x: &[f64], _p: &[f64], t: f64, y: &mut [f64]| rhs.eval(t, x, y))
        .init(
            move |_p: &[f64], _t: f64, y: &mut [f64]| y.copy_from_slice(&start),
            y0.len(),
        )
        .build()
        .map_err(fail)?;
    let tableau = dormand_prince_tableau();
    let state = problem.rk_state(&tableau).map_err(fail)?;
    let mut solver = problem
        .explicit_rk_solver::<NalgebraMat<f64>>(state, tableau)
        .map_err(fail)?;
    // FSAL: the last stage is f at the step's end (checked: equal to f(y) bit for bit).
    drive(&mut solver, rhs, watch, spec, "dopri5", true)
}

/// The step loop shared by diffsol's solvers: each accepted step's end goes to the watcher
/// (with diffsol's f at the end when `fsal`, else the watcher recomputes it), until the
/// watcher stops the run, `t_end` is reached, or `max_steps` are spent.
fn drive<'a, Eqn, S, P, O>(
    solver: &mut S,
    rhs: &Rhs<'_, P>,
    watch: &mut Watch<'_, O>,
    spec: &ContinuousSpec,
    name: &'static str,
    fsal: bool,
) -> Result<(), DiffsolFailure>
where
    Eqn: diffsol::OdeEquations<T = f64, V = diffsol::NalgebraVec<f64>> + 'a,
    S: diffsol::OdeSolverMethod<'a, Eqn>,
    P: Potential + ?Sized,
    O: ContinuousObserver,
{
    for _ in 0..spec.max_steps {
        let reason = solver.step().map_err(DiffsolFailure::of(name))?;
        let state = solver.state();
        let y = state.y.batch_as_slice(0);
        let dy = if fsal { state.dy.batch_as_slice(0) } else { y };
        if watch.on_step(rhs, state.t, y, dy)
            || matches!(reason, diffsol::OdeSolverStopReason::TstopReached)
            || state.t >= spec.t_end
        {
            return Ok(());
        }
    }
    Err(DiffsolFailure::MaxSteps {
        solver: name,
        max_steps: spec.max_steps,
        t_end: spec.t_end,
    })
}

/// Runs diffsol's BDF step by step, handing each accepted step's end to the watcher (which
/// builds the same step interpolant and crossing search as for the explicit methods), until
/// it stops the run, `t_end` is reached, or `max_steps` are spent.
fn integrate_bdf<P: Potential + ?Sized, O: ContinuousObserver>(
    rhs: &Rhs<'_, P>,
    watch: &mut Watch<'_, O>,
    y0: &[f64],
    t0: f64,
    spec: &ContinuousSpec,
) -> Result<(), DiffsolFailure> {
    use diffsol::{NalgebraLU, NalgebraMat, OdeBuilder, OdeSolverMethod};
    let fail = DiffsolFailure::of("BDF");
    let start = y0.to_vec();
    // BDF's global error at a given local tolerance runs ~100× above Dopri5's on these
    // problems (measured on W1: 1e-5 vs 1e-7 relative in the crossing time at rtol 1e-8):
    // tighten its tolerances so both paths deliver the same accuracy. The velocity keeps the
    // given atol: tightened too, BDF's start on a very stiff particle (m = 1e-7) fails
    // with a step-size underflow while the fast transient settles.
    let n = rhs.n;
    let atol: Vec<f64> = (0..y0.len())
        .map(|i| {
            if i < n {
                spec.atol * BDF_TIGHTER
            } else {
                spec.atol
            }
        })
        .collect();
    let problem = OdeBuilder::<NalgebraMat<f64>>::new()
        .t0(t0)
        .rtol(spec.rtol * BDF_TIGHTER)
        .atol(atol)
        .rhs_implicit(
            |x: &[f64], _p: &[f64], t: f64, y: &mut [f64]| rhs.eval(t, x, y),
            |x: &[f64], _p: &[f64], t: f64, v: &[f64], y: &mut [f64]| {
                rhs.jacobian_apply(t, x, v, y)
            },
        )
        .init(
            move |_p: &[f64], _t: f64, y: &mut [f64]| y.copy_from_slice(&start),
            y0.len(),
        )
        .build()
        .map_err(fail)?;
    let mut solver = problem.bdf::<NalgebraLU<f64>>().map_err(fail)?;
    solver.set_stop_time(spec.t_end).map_err(fail)?;
    // BDF's dy is its own formula's, not f(y): the watcher recomputes f (stale_derivative).
    drive(&mut solver, rhs, watch, spec, "BDF", false)
}

/// Stiffness ratio above which `auto` integrates with BDF: an explicit method needs about
/// `ratio × 4` steps (its stability bound holds h·|λ_max| ≲ 3.3 while the run lasts
/// ~ln(1e6)/r_min), BDF several hundred to a few thousand at ~1.2× the cost per step; on W1
/// the break-even, measured, lies near 1000 (benches/peers/run.sh, README "Speed").
pub const STIFF: f64 = 1000.0;

/// How often (in accepted steps) dopri5 tests its own stiffness estimate when `auto` has
/// no spectrum to judge by (Hairer's default).
const STIFFNESS_TEST_EVERY: u32 = 1000;

/// Most coordinates BDF takes on: it factorises a dense Jacobian of the state (2n)², 8 MB
/// and ~10⁹ flops per factorisation at n = 512; at n = 262 144 it would need 2 TB.
pub const MAX_BDF_DIM: usize = 512;

/// Factor applied to rtol, and to the position's atol, for BDF (see `integrate_bdf`).
const BDF_TIGHTER: f64 = 0.01;

/// Stiffness of the particle on a Hessian spectrum: the fastest root's modulus over the
/// slowest decay rate, `max_i max|λ_i| / min_i r_i` (docs/theory.md §2); 1 when nothing decays.
pub fn stiffness(m: f64, mu: f64, ks: &[f64]) -> f64 {
    use crate::theory::{Roots, continuous_roots};
    let fastest = ks
        .iter()
        .map(|&k| match continuous_roots(m, mu, k) {
            Roots::Massless(l) | Roots::Repeated(l) => l.abs(),
            Roots::Real(_, fast) => fast.abs(),
            Roots::Complex { re, im } => re.hypot(im),
        })
        .fold(0.0, f64::max);
    let slowest = crate::theory::continuous_rate(m, mu, ks);
    if slowest > 0.0 && slowest.is_finite() {
        fastest / slowest
    } else {
        1.0
    }
}

fn failure_note(e: &IntegrationError, spec: &ContinuousSpec) -> String {
    match e {
        IntegrationError::MaxNumStepReached { x, .. } => format!(
            "max_steps = {} solver steps spent at t = {x:e} of t_end = {:?} (steps this short: stiff here?)",
            spec.max_steps, spec.t_end
        ),
        IntegrationError::StepSizeUnderflow { x } => format!("step size underflow at t = {x}"),
        IntegrationError::StiffnessDetected { x } => format!("stiffness detected at t = {x}"),
    }
}

/// Runs the chosen `ode_solvers` method to `t_end` (or until `solout` stops it), testing
/// stiffness every `n_stiff` accepted steps (`u32::MAX`: never — stiff points are the
/// solver choice's business, not an abort, unless `auto` asks dopri5 to judge) and with
/// sparse output (its dense output is wrong at `x_end`, and rows come from our
/// interpolant anyway).
fn integrate<D: Dim, S>(
    system: S,
    y0: OVector<f64, D>,
    spec: &ContinuousSpec,
    n_stiff: u32,
) -> Result<(), IntegrationError>
where
    S: System<f64, OVector<f64, D>>,
    DefaultAllocator: Allocator<D>,
{
    let max_steps = u32::try_from(spec.max_steps).unwrap_or(u32::MAX);
    let t_end = spec.t_end;
    match spec.method {
        Method::Dopri5 => {
            let mut s = Dopri5::from_param(
                system,
                0.0,
                t_end,
                t_end,
                y0,
                spec.rtol,
                spec.atol,
                0.9,
                0.04,
                0.2,
                10.0,
                t_end,
                0.0,
                max_steps,
                n_stiff,
                OutputType::Sparse,
            );
            s.integrate().map(|_| ())
        }
        Method::Dop853 => {
            let mut s = Dop853::from_param(
                system,
                0.0,
                t_end,
                t_end,
                y0,
                spec.rtol,
                spec.atol,
                0.9,
                0.0,
                0.333,
                6.0,
                t_end,
                0.0,
                max_steps,
                u32::MAX,
                OutputType::Sparse,
            );
            s.integrate().map(|_| ())
        }
        Method::Rk4 => {
            let step = spec.step.unwrap_or(t_end);
            let mut s = Rk4::new(system, 0.0, y0, t_end, step);
            s.integrate().map(|_| ())
        }
        Method::Bdf | Method::Auto | Method::Baoab => {
            unreachable!("resolved before: BDF and BAOAB run on their own loops")
        }
    }
}
