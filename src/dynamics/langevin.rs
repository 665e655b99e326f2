//! The particle under a noisy gradient: a Langevin stochastic differential equation,
//! integrated with fixed steps by BAOAB (Leimkuhler & Matthews 2013).
//!
//! A gradient with noise of standard deviation σ per evaluation, one evaluation standing
//! for a time Δt, is in the continuous limit a force with white noise of intensity
//! `s = σ√Δt` (the discrete noise's variance per unit time is σ²·Δt):
//!
//! ```text
//! m > 0:  dw = v dt,   m dv = −(μ v + ∇E(w)) dt − s dW
//! m = 0:  μ dw = −∇E(w) dt − s dW
//! ```
//!
//! Its stationary law is Boltzmann's at temperature `kT = s²/(2μ)`: on a quadratic every
//! coordinate carries `E − E* = kT/2` on average, whatever m and the curvature — the noise
//! floor `n·σ²Δt/(4μ)`, which is also the ε → 0 limit of the discrete heavy ball's.
//!
//! BAOAB splits each step into a half kick by −∇E (B), a half drift (A), the exact
//! Ornstein–Uhlenbeck solution of friction plus noise over the whole step (O), a half
//! drift and a half kick: one gradient evaluation per step, weak order 2, and on a
//! quadratic its stationary distribution of positions is exact at any stable step
//! (`h < 2√(m/k_max)`). For m = 0 its limit (Leimkuhler & Matthews 2014) is
//! `w ← w − (h/μ)∇E(w) + (s/μ)√h (ξ_k + ξ_{k+1})/2`, also exact in its stationary
//! position variance on a quadratic. Without noise both are ordinary deterministic
//! schemes: BAOAB is of order 2 (a Strang splitting), its m = 0 limit explicit Euler.
//!
//! The stop criterion is tested at step ends (a Brownian path has no interpolant worth
//! searching); rows fall on step ends (the step divides `sample_interval`); other times
//! asked for (the comparison with discrete iterates) are read off the straight line
//! between the two step ends around them.

use super::settings::{ContinuousRun, ContinuousSpec, Model};
use crate::dynamics::noise::GradientNoise;
use crate::error::Error;
use crate::observe::Criterion;
use crate::observe::{
    ContinuousObserver, Crossings, Envelope, FLOOR_SHARE, NoiseFloor, RATE_DECADES, RateMeter,
    RateOff, RunReport, Status, StopRule, distance2,
};
use crate::potential::Potential;

/// Runs `run` with BAOAB (its m = 0 limit for gradient flow) under `noise` (the force
/// noise of intensity s; None: no noise), telling `observer` the states it asks for.
pub(super) fn integrate<P: Potential + ?Sized, O: ContinuousObserver>(
    run: &ContinuousRun<'_>,
    potential: &P,
    noise: Option<GradientNoise>,
    observer: &mut O,
) -> Result<RunReport, Error> {
    let spec = run.spec;
    let h = spec
        .baoab_step()
        .expect("baoab has a step (validated when the scenario was read)");
    let mut scheme = Baoab::new(run, potential, noise, h);
    let mut judge = Judge::new(run, potential, scheme.noisy());
    // The start: rows at t = 0, and a start that already meets the criterion.
    while observer.next_time().is_some_and(|t| t <= 0.0) {
        observer.observe(0.0, &scheme.w, scheme.velocity())?;
    }
    let mut status = judge.start(&scheme);
    let total = steps_to(spec, h);
    let (mut k, mut t) = (0u64, 0.0);
    while status.is_none() {
        if k == spec.max_steps {
            let why = format!(
                "max_steps = {} baoab steps spent before t_end = {:?}",
                spec.max_steps, spec.t_end
            );
            status = Some((Status::Failed(why), t));
            break;
        }
        k += 1;
        // Times as k·h (not a running sum), the last step ending exactly at t_end.
        let t1 = if k >= total { spec.t_end } else { k as f64 * h };
        step_with_rows(&mut scheme, observer, t, t1)?;
        t = t1;
        status = judge.step_end(&scheme, t1, k >= total);
    }
    let (status, end_time) = status.expect("the loop ends with a status");
    observer.finish(end_time, &scheme.w, scheme.velocity())?;
    Ok(judge.report(run, &scheme, status, end_time, k))
}

/// One step from `t` to `t1`, and the rows `observer` asks for up to its end: those on the
/// step end (all of them, by construction) and any in between, read off the straight line;
/// none from a state that overflowed (the divergence test after the step ends the run).
fn step_with_rows<P: Potential + ?Sized, O: ContinuousObserver>(
    scheme: &mut Baoab<'_, P>,
    observer: &mut O,
    t: f64,
    t1: f64,
) -> Result<(), Error> {
    // Times k·h and the observer's j·interval agree to a few ulps of t: within the
    // slack a requested time is the step end.
    let slack = ROW_SLACK * scheme.h + 8.0 * f64::EPSILON * t1;
    // Keep the step's start only when an observer wants a time inside the step.
    let between = observer.next_time().is_some_and(|tq| tq < t1 - slack);
    if between {
        scheme.keep_start();
    }
    scheme.step(t, t1 - t);
    let mut finite = None;
    while let Some(tq) = observer.next_time() {
        if tq > t1 + slack || !*finite.get_or_insert_with(|| scheme.finite()) {
            break;
        }
        if tq < t1 - slack && between {
            let s = (tq - t) / (t1 - t);
            scheme.observe_between(s, tq, observer)?;
        } else {
            observer.observe(tq, &scheme.w, scheme.velocity())?;
        }
    }
    Ok(())
}

/// What the loop judges at the start and after each step: the stop rule's thresholds, the
/// crossings, the rate meter, and the noise floor's running mean over the budget's last
/// [`FLOOR_SHARE`].
struct Judge<'p, P: Potential + ?Sized> {
    potential: &'p P,
    stop: StopRule,
    tight: f64,
    loose: f64,
    e_min: Option<f64>,
    floor_from: f64,
    floor: NoiseFloor,
    crossings: Crossings,
    envelope: Result<Envelope, RateOff>,
    meter: RateMeter,
    /// Scratch for the envelope's ∇E.
    rate_g: Vec<f64>,
    /// The stop rule's measure at the last state judged.
    measure: f64,
}

impl<'p, P: Potential + ?Sized> Judge<'p, P> {
    fn new(run: &ContinuousRun<'_>, potential: &'p P, noisy: bool) -> Self {
        let stop = run.stop;
        let envelope = Envelope::particle(run.potential, run.mass, run.friction, noisy);
        Judge {
            potential,
            tight: stop.threshold(stop.tolerance),
            loose: stop.threshold(RATE_DECADES * stop.tolerance),
            stop,
            e_min: potential.minimum_value(),
            floor_from: (1.0 - FLOOR_SHARE) * run.spec.t_end,
            floor: NoiseFloor::default(),
            crossings: Crossings::default(),
            meter: Envelope::meter(&envelope),
            envelope,
            rate_g: vec![0.0; potential.dim()],
            measure: f64::NAN,
        }
    }

    /// The start: met already, or diverged (a non-finite start, or criterion there, is
    /// diverged before any criterion is read).
    fn start(&mut self, scheme: &Baoab<'_, P>) -> Option<(Status, f64)> {
        let d2;
        (self.measure, d2) = scheme.measure(&self.stop);
        if self.measure < self.loose {
            self.crossings.loose = Some(0.0);
        }
        if StopRule::broken(d2, self.measure) {
            self.crossings.loose = None;
            return Some((Status::Diverged, 0.0));
        }
        self.feed(scheme, 0.0);
        if self.measure < self.tight {
            self.crossings.tight = Some(0.0);
            Some((Status::Converged, 0.0))
        } else {
            self.stop.diverged(d2).then_some((Status::Diverged, 0.0))
        }
    }

    /// The state at a step's end `t1` (`last`: the step to t_end).
    fn step_end(&mut self, scheme: &Baoab<'_, P>, t1: f64, last: bool) -> Option<(Status, f64)> {
        let d2;
        (self.measure, d2) = scheme.measure(&self.stop);
        if t1 >= self.floor_from
            && let Some(e_min) = self.e_min
        {
            self.floor.add(self.potential.value(&scheme.w) - e_min);
        }
        // A non-finite state is diverged before any criterion is read (∇E(∞) can be 0).
        if !scheme.finite() || StopRule::broken(d2, self.measure) {
            return Some((Status::Diverged, t1));
        }
        self.feed(scheme, t1);
        if self.crossings.loose.is_none() && self.measure < self.loose {
            self.crossings.loose = Some(t1);
        }
        if self.measure < self.tight {
            self.crossings.tight = Some(t1);
            Some((Status::Converged, t1))
        } else if self.stop.diverged(d2) {
            Some((Status::Diverged, t1))
        } else {
            last.then_some((Status::NotConverged, t1))
        }
    }

    /// The rate meter's envelope at time `t`.
    fn feed(&mut self, scheme: &Baoab<'_, P>, t: f64) {
        if let Ok(e) = self.envelope {
            let l2 = e.particle_l2(
                self.potential,
                &scheme.w,
                scheme.velocity(),
                &mut self.rate_g,
            );
            self.meter.feed(t, l2);
        }
    }

    /// The run's report after `steps` steps, ended with `status` at `end_time`.
    fn report(
        self,
        run: &ContinuousRun<'_>,
        scheme: &Baoab<'_, P>,
        status: Status,
        end_time: f64,
        steps: u64,
    ) -> RunReport {
        let noise_floor = self.floor.mean(&status).filter(|_| scheme.noisy());
        let mut notes = Vec::new();
        if status == Status::Converged
            && let Some(e_min) = run.potential.minimum_value()
        {
            let kinetic = run.mass * scheme.velocity().iter().map(|x| x * x).sum::<f64>();
            let e2 = kinetic + 2.0 * (run.potential.value(&scheme.w) - e_min);
            notes.extend(crate::observe::swing_note(&self.stop, run.potential, e2));
        }
        let measured_rate = self.meter.finish(&status, &mut notes);
        RunReport {
            status,
            steps,
            evaluations: scheme.evaluations,
            final_value: self.stop.final_value(self.measure),
            crossings: self.crossings,
            measured_rate,
            notes,
            end_time,
            solver: Some("baoab"),
            noise_floor,
        }
    }
}

/// How close (in steps, beside the round-off of t) a requested time must be to a step end
/// to be read there.
const ROW_SLACK: f64 = 1e-9;

/// The number of steps of length `h` to `t_end` (the last one possibly shorter).
fn steps_to(spec: &ContinuousSpec, h: f64) -> u64 {
    ((spec.t_end / h) * (1.0 - 1e-12)).ceil().max(1.0) as u64
}

/// The scheme's state and scratch (allocated once; nothing is allocated per step).
struct Baoab<'p, P: Potential + ?Sized> {
    potential: &'p P,
    mass: f64,
    friction: f64,
    /// Nesterov's friction 3m/t instead of μ.
    fading: bool,
    noise: Option<GradientNoise>,
    /// The force noise's intensity s.
    intensity: f64,
    /// The regular step and its O-step coefficients (the last step recomputes them).
    h: f64,
    regular: (f64, f64),
    w: Vec<f64>,
    /// m > 0: the velocity; m = 0: the drift −∇E(w)/μ (what the v columns hold).
    v: Vec<f64>,
    /// ∇E(w), noise-free.
    g: Vec<f64>,
    /// This step's normals, and for m = 0 the previous step's (the limit method's pair).
    xi: Vec<f64>,
    xi_prev: Vec<f64>,
    /// The step's start, kept when a time inside the step is observed.
    w_start: Vec<f64>,
    v_start: Vec<f64>,
    w_at: Vec<f64>,
    v_at: Vec<f64>,
    evaluations: u64,
}

impl<'p, P: Potential + ?Sized> Baoab<'p, P> {
    fn new(
        run: &ContinuousRun<'_>,
        potential: &'p P,
        mut noise: Option<GradientNoise>,
        h: f64,
    ) -> Self {
        let n = potential.dim();
        let intensity = noise.as_ref().map_or(0.0, GradientNoise::sigma);
        let mut s = Baoab {
            potential,
            mass: run.mass,
            friction: run.friction,
            fading: run.spec.model == Model::Nesterov,
            intensity,
            h,
            regular: (0.0, 0.0),
            w: run.position.to_vec(),
            v: if run.mass > 0.0 {
                run.velocity.to_vec()
            } else {
                vec![0.0; n]
            },
            g: vec![0.0; n],
            xi: vec![0.0; n],
            xi_prev: vec![0.0; n],
            w_start: vec![0.0; n],
            v_start: vec![0.0; n],
            w_at: vec![0.0; n],
            v_at: vec![0.0; n],
            evaluations: 1,
            noise: None,
        };
        s.regular = s.ou(0.0, h);
        potential.gradient_into(&s.w, &mut s.g);
        if run.mass == 0.0 {
            s.set_drift();
            // The limit method pairs each step's normals with the next step's.
            if let Some(noise) = noise.as_mut() {
                noise.standard_normals(&mut s.xi_prev);
            }
        }
        s.noise = noise;
        s
    }

    fn noisy(&self) -> bool {
        self.noise.is_some() && self.intensity > 0.0
    }

    /// The v columns: the velocity, or the drift for m = 0.
    fn velocity(&self) -> &[f64] {
        &self.v
    }

    /// Whether w and v are all finite.
    fn finite(&self) -> bool {
        self.w.iter().chain(&self.v).all(|x| x.is_finite())
    }

    /// For m = 0: v = −∇E(w)/μ.
    fn set_drift(&mut self) {
        let k = -1.0 / self.friction;
        for (v, g) in self.v.iter_mut().zip(&self.g) {
            *v = k * g;
        }
    }

    /// The exact Ornstein–Uhlenbeck step `v ← c₁v + c₃ξ` of `m dv = −γ(t)m v dt − s dW`
    /// over `[t, t + h]`: γ = μ/m gives `c₁ = e^{−γh}`, `c₃² = (s/m)²(1 − c₁²)/(2γ)`;
    /// Nesterov's γ = 3/t gives `c₁ = (t/(t+h))³`, `c₃² = (s/m)²((t+h)⁷ − t⁷)/(7(t+h)⁶)`.
    fn ou(&self, t: f64, h: f64) -> (f64, f64) {
        if self.mass == 0.0 {
            return (0.0, 0.0);
        }
        let q = self.intensity / self.mass;
        if self.fading {
            let t1 = t + h;
            let c1 = (t / t1).powi(3);
            let var = q * q * (t1 - t * (t / t1).powi(6)) / 7.0;
            (c1, var.max(0.0).sqrt())
        } else {
            let gamma = self.friction / self.mass;
            let c1 = libm::exp(-gamma * h);
            // 1 − e^{−2γh} without cancellation for small γh.
            let var = q * q * (-libm::expm1(-2.0 * gamma * h)) / (2.0 * gamma);
            (c1, var.sqrt())
        }
    }

    /// One step from `t` of length `h`.
    fn step(&mut self, t: f64, h: f64) {
        if self.mass == 0.0 {
            self.step_overdamped(h);
            return;
        }
        let (c1, c3) = if h == self.h && !self.fading {
            self.regular
        } else {
            self.ou(t, h)
        };
        let kick = -0.5 * h / self.mass;
        let half = 0.5 * h;
        // B, A
        for ((w, v), g) in self.w.iter_mut().zip(self.v.iter_mut()).zip(&self.g) {
            *v += kick * g;
            *w += half * *v;
        }
        // O
        if let Some(noise) = self.noise.as_mut()
            && c3 > 0.0
        {
            noise.standard_normals(&mut self.xi);
            for (v, xi) in self.v.iter_mut().zip(&self.xi) {
                *v = c1 * *v + c3 * xi;
            }
        } else {
            self.v.iter_mut().for_each(|v| *v *= c1);
        }
        // A
        for (w, v) in self.w.iter_mut().zip(&self.v) {
            *w += half * v;
        }
        // B
        self.potential.gradient_into(&self.w, &mut self.g);
        self.evaluations += 1;
        for (v, g) in self.v.iter_mut().zip(&self.g) {
            *v += kick * g;
        }
    }

    /// The m = 0 limit: `w ← w − (h/μ)∇E(w) + (s/μ)√h (ξ_k + ξ_{k+1})/2`.
    fn step_overdamped(&mut self, h: f64) {
        let drift = h / self.friction;
        for (w, g) in self.w.iter_mut().zip(&self.g) {
            *w -= drift * g;
        }
        if let Some(noise) = self.noise.as_mut()
            && self.intensity > 0.0
        {
            let c = 0.5 * self.intensity / self.friction * h.sqrt();
            noise.standard_normals(&mut self.xi);
            for ((w, a), b) in self.w.iter_mut().zip(&self.xi).zip(&self.xi_prev) {
                *w += c * (a + b);
            }
            std::mem::swap(&mut self.xi, &mut self.xi_prev);
        }
        self.potential.gradient_into(&self.w, &mut self.g);
        self.evaluations += 1;
        self.set_drift();
    }

    /// The criterion's measure and |w − w*|² (the divergence test's) at the current state
    /// (∇E is at hand, noise-free); the distance criterion's measure is that same number.
    fn measure(&self, stop: &StopRule) -> (f64, f64) {
        let d2 = distance2(self.potential, &self.w);
        if stop.criterion == Criterion::Distance {
            return (d2, d2);
        }
        let mass = self.mass;
        let kinetic = || mass * self.v.iter().map(|x| x * x).sum::<f64>();
        (stop.measure(self.potential, &self.w, &self.g, kinetic), d2)
    }

    fn keep_start(&mut self) {
        self.w_start.copy_from_slice(&self.w);
        self.v_start.copy_from_slice(&self.v);
    }

    /// Tells `observer` the state at fraction `s` of the step just taken (time `tq`), on
    /// the straight line between its ends.
    fn observe_between<O: ContinuousObserver>(
        &mut self,
        s: f64,
        tq: f64,
        observer: &mut O,
    ) -> Result<(), Error> {
        let lerp = |out: &mut [f64], a: &[f64], b: &[f64]| {
            for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
                *o = a + s * (b - a);
            }
        };
        lerp(&mut self.w_at, &self.w_start, &self.w);
        if self.mass == 0.0 {
            // The v columns of gradient flow hold the drift −∇E/μ at the row's own w.
            self.potential.gradient_into(&self.w_at, &mut self.v_at);
            let k = -1.0 / self.friction;
            self.v_at.iter_mut().for_each(|v| *v *= k);
        } else {
            lerp(&mut self.v_at, &self.v_start, &self.v);
        }
        observer.observe(tq, &self.w_at, &self.v_at)
    }
}
