//! The discrete schemes (docs/theory.md §3–§4), each written the way its users write it: the heavy
//! ball in Polyak's form `w_{k+1} = w_k − ε∇E(w_k) + p(w_k − w_{k−1})`, in PyTorch's
//! (`z ← βz + ∇E; w ← w − αz`) and as an exponential moving average
//! (`v ← βv + (1 − β)∇E; w ← w − αv`); Nesterov's `y = w + p(w − w_prev); w ← y − ε∇E(y)`;
//! gradient descent. All start from `w_{−1} = w_0 − Δt·v_0` (the buffers from the same
//! `w_0 − w_{−1}`), and step k stands at physical time k·Δt.

use nalgebra::{DefaultAllocator, Dim, OVector, U1, allocator::Allocator};

use super::maps::Coefficients;
use super::noise::GradientNoise;
use super::settings::{Form, Scheme};
use crate::error::Error;
use crate::observe::{
    Crossings, DiscreteObserver, Envelope, FLOOR_SHARE, NoiseFloor, RATE_DECADES, RateMeter,
    RateOff, Recurrence, RunReport, Status, StopRule, discrete_energy2, distance2, heavy_ball_next,
    heavy_ball_term, nesterov_term, swing_note,
};
use crate::potential::Potential;

/// The update a run performs, with its own parameters.
#[derive(Debug, Clone, Copy)]
enum Update {
    /// `w ← w − ε g + p(w − w_prev)`.
    Polyak { eps: f64, p: f64 },
    /// `z ← β z + g; w ← w − α z`.
    PyTorch { alpha: f64, beta: f64 },
    /// `v ← β v + (1 − β) g; w ← w − α v`.
    Ema { alpha: f64, beta: f64 },
    /// `y = w + p(w − w_prev); w ← y − ε∇E(y)`.
    Nesterov { eps: f64, p: f64 },
    /// `w ← w − ε g`.
    GradientDescent { eps: f64 },
}

/// The iterates of one discrete entry, advanced one step at a time. `D` is the vector
/// storage: fixed-size for small n, so a step allocates nothing.
pub struct Iterates<'a, D: Dim, P: Potential + ?Sized = dyn Potential>
where
    DefaultAllocator: Allocator<D>,
{
    potential: &'a P,
    update: Update,
    w: OVector<f64, D>,
    w_prev: OVector<f64, D>,
    /// ∇E at w (or at Nesterov's look-ahead y during a step).
    g: OVector<f64, D>,
    /// PyTorch's and the EMA's momentum buffer; Nesterov's look-ahead point.
    buffer: OVector<f64, D>,
    /// Whether `g` holds ∇E(w_k).
    fresh: bool,
    /// Whether that ∇E(w_k) was taken for an observer and not counted yet (it counts when
    /// a step uses it).
    uncounted: bool,
    evaluations: u64,
    /// Noise added to every gradient evaluation.
    noise: Option<GradientNoise>,
}

impl<'a, D: Dim, P: Potential + ?Sized> Iterates<'a, D, P>
where
    DefaultAllocator: Allocator<D>,
{
    /// Starts at `w_0 = position` with `w_{−1} = w_0 − Δt·v_0`; a momentum buffer starts
    /// where it reproduces that `w_{−1}` (`z_0 = −(w_0 − w_{−1})/α`, zero from rest).
    pub fn new(
        potential: &'a P,
        scheme: Scheme,
        c: &Coefficients,
        position: &[f64],
        velocity: &[f64],
    ) -> Self {
        let n = position.len();
        let dim = D::from_usize(n);
        let w = OVector::<f64, D>::from_iterator_generic(dim, U1, position.iter().copied());
        let w_prev = OVector::<f64, D>::from_iterator_generic(
            dim,
            U1,
            position.iter().zip(velocity).map(|(w, v)| w - c.dt * v),
        );
        let (alpha, beta) = c.native;
        let update = match (scheme, c.form) {
            (Scheme::GradientDescent, _) => Update::GradientDescent {
                eps: c.learning_rate,
            },
            (Scheme::Nesterov, _) => Update::Nesterov {
                eps: c.learning_rate,
                p: c.momentum,
            },
            (Scheme::HeavyBall, Form::Polyak) => Update::Polyak {
                eps: c.learning_rate,
                p: c.momentum,
            },
            (Scheme::HeavyBall, Form::PyTorch) => Update::PyTorch { alpha, beta },
            (Scheme::HeavyBall, Form::Ema) => Update::Ema { alpha, beta },
        };
        let buffer = OVector::<f64, D>::from_iterator_generic(
            dim,
            U1,
            w.iter().zip(w_prev.iter()).map(|(a, b)| {
                if alpha == 0.0 || (a - b) == 0.0 {
                    0.0
                } else {
                    -(a - b) / alpha
                }
            }),
        );
        Iterates {
            potential,
            update,
            w,
            w_prev,
            g: OVector::<f64, D>::zeros_generic(dim, U1),
            buffer,
            fresh: false,
            uncounted: false,
            evaluations: 0,
            noise: None,
        }
    }

    /// Adds `noise` to every gradient evaluation from now on.
    pub fn with_noise(mut self, noise: Option<GradientNoise>) -> Self {
        self.noise = noise;
        self
    }

    /// The current iterate w_k.
    pub fn w(&self) -> &[f64] {
        self.w.as_slice()
    }

    /// The previous iterate w_{k−1}.
    pub fn w_prev(&self) -> &[f64] {
        self.w_prev.as_slice()
    }

    /// ∇E(w_k) as last computed by [`Self::gradient`].
    pub fn g(&self) -> &[f64] {
        self.g.as_slice()
    }

    /// Gradient evaluations so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Computes ∇E(w_k) into the gradient buffer (for a stop criterion that needs it; a
    /// step reuses it).
    #[inline]
    pub fn gradient(&mut self) {
        self.potential
            .gradient_into(self.w.as_slice(), self.g.as_mut_slice());
        if let Some(noise) = &mut self.noise {
            noise.add(self.g.as_mut_slice());
        }
        self.evaluations += 1;
        self.fresh = true;
    }

    /// Whether a step takes the noise-free ∇E(w_k) itself (every form but Nesterov's
    /// look-ahead, without noise), so that an observer can share it.
    pub fn steps_on_exact_gradient(&self) -> bool {
        self.noise.is_none() && !matches!(self.update, Update::Nesterov { .. })
    }

    /// ∇E(w_k) for an observer, where [`Self::steps_on_exact_gradient`]: the next step
    /// reuses it, and only then is it counted as an evaluation.
    pub fn gradient_for_observer(&mut self) -> &[f64] {
        debug_assert!(self.steps_on_exact_gradient());
        if !self.fresh {
            self.potential
                .gradient_into(self.w.as_slice(), self.g.as_mut_slice());
            self.fresh = true;
            self.uncounted = true;
        }
        self.g.as_slice()
    }

    /// One step from w_k to w_{k+1}, in the entry's own form.
    #[inline(always)]
    pub fn step(&mut self) {
        if let Update::Nesterov { p, .. } = self.update {
            // The gradient is taken at the look-ahead y = w + p(w − w_prev).
            let (y, w, wp) = (
                self.buffer.as_mut_slice(),
                self.w.as_slice(),
                self.w_prev.as_slice(),
            );
            for i in 0..y.len() {
                y[i] = w[i] + p * (w[i] - wp[i]);
            }
            self.potential
                .gradient_into(self.buffer.as_slice(), self.g.as_mut_slice());
            if let Some(noise) = &mut self.noise {
                noise.add(self.g.as_mut_slice());
            }
            self.evaluations += 1;
        } else if !self.fresh {
            self.gradient();
        } else if self.uncounted {
            self.evaluations += 1;
        }
        self.fresh = false;
        self.uncounted = false;
        let (w, wp, g, b) = (
            self.w.as_mut_slice(),
            self.w_prev.as_mut_slice(),
            self.g.as_slice(),
            self.buffer.as_mut_slice(),
        );
        match self.update {
            // Written as the peers write it, so iterates agree bit for bit; the same function
            // gives the rate envelope its w_{k+1}.
            Update::Polyak { eps, p } => {
                for i in 0..w.len() {
                    let next = heavy_ball_next(w[i], wp[i], g[i], eps, p);
                    wp[i] = w[i];
                    w[i] = next;
                }
            }
            // torch.optim.SGD: buf.mul_(momentum).add_(grad); param.add_(buf, alpha=-lr).
            Update::PyTorch { alpha, beta } => {
                for i in 0..w.len() {
                    b[i] = b[i] * beta + g[i];
                    wp[i] = w[i];
                    w[i] += -alpha * b[i];
                }
            }
            Update::Ema { alpha, beta } => {
                for i in 0..w.len() {
                    b[i] = beta * b[i] + (1.0 - beta) * g[i];
                    wp[i] = w[i];
                    w[i] -= alpha * b[i];
                }
            }
            Update::Nesterov { eps, .. } => {
                for i in 0..w.len() {
                    wp[i] = w[i];
                    w[i] = b[i] - eps * g[i];
                }
            }
            Update::GradientDescent { eps } => {
                for i in 0..w.len() {
                    let next = w[i] - eps * g[i];
                    wp[i] = w[i];
                    w[i] = next;
                }
            }
        }
    }
}

/// A diagonal quadratic `½ Σ d_i (w_i − m_i)²` on the run's own vector type: with a
/// fixed-size `D` its loops have a compile-time length (the discrete loop's hot path).
struct Diagonal<D: Dim>
where
    DefaultAllocator: Allocator<D>,
{
    d: OVector<f64, D>,
    m: OVector<f64, D>,
}

impl<D: Dim> Diagonal<D>
where
    DefaultAllocator: Allocator<D>,
{
    fn new(d: &[f64], m: &[f64]) -> Self {
        let dim = D::from_usize(d.len());
        Diagonal {
            d: OVector::<f64, D>::from_iterator_generic(dim, U1, d.iter().copied()),
            m: OVector::<f64, D>::from_iterator_generic(dim, U1, m.iter().copied()),
        }
    }
}

impl<D: Dim> Potential for Diagonal<D>
where
    DefaultAllocator: Allocator<D>,
    OVector<f64, D>: Send + Sync,
{
    fn dim(&self) -> usize {
        self.d.len()
    }
    #[inline]
    fn value(&self, w: &[f64]) -> f64 {
        let mut e = 0.0;
        for ((w, d), m) in w.iter().zip(self.d.iter()).zip(self.m.iter()) {
            let x = w - m;
            e += d * x * x;
        }
        0.5 * e
    }
    #[inline]
    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        // Quadratic's own diagonal gradient, operation for operation.
        for (((g, w), d), m) in g.iter_mut().zip(w).zip(self.d.iter()).zip(self.m.iter()) {
            *g = d * (w - m);
        }
    }
    fn hessian_vector_into(&self, _w: &[f64], x: &[f64], out: &mut [f64]) {
        for ((o, x), d) in out.iter_mut().zip(x).zip(self.d.iter()) {
            *o = d * x;
        }
    }
    #[inline]
    fn minimum(&self) -> Option<&[f64]> {
        Some(self.m.as_slice())
    }
    fn minimum_value(&self) -> Option<f64> {
        Some(0.0)
    }
    fn hessian_spectrum(&self) -> Option<&[f64]> {
        None
    }
}

/// One discrete run: an entry's scheme and coefficients from a start, with a budget.
#[derive(Clone)]
pub struct DiscreteRun<'a> {
    /// The loss surface.
    pub potential: &'a dyn Potential,
    /// Heavy ball or gradient descent.
    pub scheme: Scheme,
    /// Effective (ε, p, Δt).
    pub coefficients: Coefficients,
    /// w_0.
    pub position: &'a [f64],
    /// v_0.
    pub velocity: &'a [f64],
    /// Step budget.
    pub steps: u64,
    /// When the run has converged or diverged.
    pub stop: StopRule,
    /// Gradient noise (the run's own stream), if any.
    pub noise: Option<GradientNoise>,
}

impl DiscreteRun<'_> {
    /// The quantity whose decay this run's `measured_rate` measures (`Err`: why none).
    pub fn envelope(&self) -> Result<Envelope, RateOff> {
        let recurrence = match self.scheme {
            Scheme::HeavyBall => Recurrence::HeavyBall,
            Scheme::Nesterov => Recurrence::Nesterov,
            _ => Recurrence::Other,
        };
        Envelope::scheme(
            self.potential,
            recurrence,
            self.coefficients.learning_rate,
            self.coefficients.momentum,
            self.noise.is_some(),
        )
    }

    /// Runs to convergence, divergence or the end of the budget, showing every iterate
    /// to `observer`.
    pub fn run<O: DiscreteObserver>(&self, observer: &mut O) -> Result<RunReport, Error> {
        if let Some(why) = self.coefficients.not_finite() {
            return Ok(RunReport::without_run(Status::Skipped(why)));
        }
        // The loop is monomorphised for the quadratic, so its gradient and distance inline;
        // a diagonal one gets fixed-size vectors too, so the loops unroll.
        match self.potential.as_quadratic() {
            Some(q) => match q.diagonal() {
                Some(d) => crate::with_dim!(self.position.len(), D => {
                    let diagonal = Diagonal::<D>::new(d, q.minimum().unwrap_or(&[]));
                    self.run_in::<D, _, O>(&diagonal, observer)
                }),
                None => {
                    crate::with_dim!(self.position.len(), D => self.run_in::<D, _, O>(q, observer))
                }
            },
            None => {
                crate::with_dim!(self.position.len(), D => self.run_in::<D, _, O>(self.potential, observer))
            }
        }
    }

    fn run_in<D: Dim, P: Potential + ?Sized, O: DiscreteObserver>(
        &self,
        potential: &P,
        observer: &mut O,
    ) -> Result<RunReport, Error>
    where
        DefaultAllocator: Allocator<D>,
    {
        let stop = &self.stop;
        let mut it = Iterates::<D, P>::new(
            potential,
            self.scheme,
            &self.coefficients,
            self.position,
            self.velocity,
        )
        .with_noise(self.noise.clone());
        // The noise floor: mean E − E* over the budget's last 10% (noisy runs only).
        let floor_from = ((1.0 - FLOOR_SHARE) * self.steps as f64).ceil() as u64;
        // Without E* there is no floor to measure.
        let e_min = potential.minimum_value();
        let mut floor = NoiseFloor::default();
        let tight = stop.threshold(stop.tolerance);
        let loose = stop.threshold(RATE_DECADES * stop.tolerance);
        let dt = self.coefficients.dt;
        let mut crossings = Crossings::default();
        let mut rate = RateFeed::new(self.envelope(), potential, it.w_prev());
        let mut k = 0u64;
        let (status, measure) = loop {
            let t = k as f64 * dt;
            if stop.needs_gradient() {
                it.gradient();
            }
            let d2 = distance2(potential, it.w());
            let m = self.measure(potential, &it, d2);
            if observer.wants_gradient() && it.steps_on_exact_gradient() {
                // The step reuses this ∇E(w_k): one evaluation for the row and the step.
                it.gradient_for_observer();
                observer.step_with_gradient(k, t, it.w(), it.w_prev(), it.g())?;
            } else {
                observer.step(k, t, it.w(), it.w_prev())?;
            }
            if self.noise.is_some()
                && k >= floor_from
                && let Some(e_min) = e_min
            {
                floor.add(potential.value(it.w()) - e_min);
            }
            // A non-finite iterate (or criterion) is diverged before any criterion is read:
            // ∇E(∞) or E(∞) − E* can look converged.
            if StopRule::broken(d2, m) {
                break (Status::Diverged, m);
            }
            rate.feed(potential, &mut it, t, d2);
            if crossings.loose.is_none() && m < loose {
                crossings.loose = Some(t);
            }
            if m < tight {
                crossings.tight = Some(t);
                break (Status::Converged, m);
            }
            if stop.diverged(d2) {
                break (Status::Diverged, m);
            }
            if k >= self.steps {
                break (Status::NotConverged, m);
            }
            it.step();
            k += 1;
        };
        // Only a run that spent its budget has a floor to report.
        let noise_floor = floor.mean(&status);
        let end = RunEnd {
            status,
            measure,
            steps: k,
            crossings,
            noise_floor,
        };
        Ok(self.report(&it, rate.meter, end))
    }

    /// The report of a run that ended as `end` says, at iterate `it`: the swing note of a
    /// converged run, the measured rate (or a note why there is none).
    fn report<D: Dim, P: Potential + ?Sized>(
        &self,
        it: &Iterates<'_, D, P>,
        meter: RateMeter,
        end: RunEnd,
    ) -> RunReport
    where
        DefaultAllocator: Allocator<D>,
    {
        let (stop, dt) = (&self.stop, self.coefficients.dt);
        let mut notes = Vec::new();
        let energy_mass = self.coefficients.energy_mass;
        if end.status == Status::Converged
            && let Some(e2) = discrete_energy2(self.potential, it.w(), it.w_prev(), energy_mass, dt)
        {
            notes.extend(swing_note(stop, self.potential, e2));
        }
        let measured_rate = meter.finish(&end.status, &mut notes);
        RunReport {
            status: end.status,
            steps: end.steps,
            evaluations: it.evaluations(),
            final_value: stop.final_value(end.measure),
            crossings: end.crossings,
            measured_rate,
            notes,
            end_time: end.steps as f64 * dt,
            solver: None,
            noise_floor: end.noise_floor,
        }
    }

    /// The stop rule's measure at the current iterate, whose distance² from w* is `d2`:
    /// for the energy criterion with the kinetic term of v = (w_k − w_{k−1})/Δt and the
    /// entry's mass.
    #[inline(always)]
    fn measure<D: Dim, P: Potential + ?Sized>(
        &self,
        potential: &P,
        it: &Iterates<'_, D, P>,
        d2: f64,
    ) -> f64
    where
        DefaultAllocator: Allocator<D>,
    {
        if self.stop.criterion == crate::observe::Criterion::Distance {
            return d2;
        }
        let kinetic = || {
            let v2: f64 = it
                .w()
                .iter()
                .zip(it.w_prev())
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            let dt = self.coefficients.dt;
            self.coefficients.energy_mass * v2 / (dt * dt)
        };
        self.stop.measure(potential, it.w(), it.g(), kinetic)
    }
}

/// How a scalar run ended: its status, the stop rule's measure and the step there, its
/// crossings and noise floor.
struct RunEnd {
    status: Status,
    measure: f64,
    steps: u64,
    crossings: Crossings,
    noise_floor: Option<f64>,
}

/// What a scalar run feeds its rate meter: its envelope's L² at every iterate, with the
/// two gradients Nesterov's envelope keeps from step to step.
struct RateFeed<'p> {
    envelope: Result<Envelope, RateOff>,
    /// w* (empty when unknown: then the envelope is off).
    star: &'p [f64],
    meter: RateMeter,
    /// ∇E(w_k) and ∇E(w_{k−1}) (Nesterov's envelope only).
    grads: (Vec<f64>, Vec<f64>),
    /// |w_{k−1} − w*|² ([`Envelope::Pair`] only).
    prev_d2: f64,
}

impl<'p> RateFeed<'p> {
    fn new<P: Potential + ?Sized>(
        envelope: Result<Envelope, RateOff>,
        potential: &'p P,
        w_prev: &[f64],
    ) -> Self {
        let mut grads = (Vec::new(), Vec::new());
        if let Ok(Envelope::Nesterov { .. }) = envelope {
            let n = w_prev.len();
            grads = (vec![0.0; n], vec![0.0; n]);
            potential.gradient_into(w_prev, &mut grads.1);
        }
        let star = potential.minimum().unwrap_or(&[]);
        let prev_d2 = w_prev
            .iter()
            .zip(star)
            .map(|(w, s)| (w - s) * (w - s))
            .sum();
        RateFeed {
            star,
            meter: Envelope::meter(&envelope),
            envelope,
            grads,
            prev_d2,
        }
    }

    /// The envelope at iterate `it` (time `t`, distance² `d2`) into the meter.
    #[inline(always)]
    fn feed<D: Dim, P: Potential + ?Sized>(
        &mut self,
        potential: &P,
        it: &mut Iterates<'_, D, P>,
        t: f64,
        d2: f64,
    ) where
        DefaultAllocator: Allocator<D>,
    {
        let star = self.star;
        match self.envelope {
            Ok(Envelope::HeavyBall { eps, p }) => {
                // ∇E(w_k), which the step takes anyway: counted only when it does.
                it.gradient_for_observer();
                let mut q = 0.0;
                for (((&w, &wp), &g), &s) in it.w().iter().zip(it.w_prev()).zip(it.g()).zip(star) {
                    let next = heavy_ball_next(w, wp, g, eps, p);
                    q += heavy_ball_term(w - s, wp - s, next - s);
                }
                self.meter.feed(t, q);
            }
            Ok(Envelope::Nesterov { eps, p }) => {
                // ∇E(w_k) and ∇E(w_{k−1}), which Nesterov's step does not take: the
                // meter's own evaluations (not counted), each kept for the next step.
                let (g, gp) = &mut self.grads;
                potential.gradient_into(it.w(), g);
                let mut q = 0.0;
                for i in 0..g.len() {
                    let (x, xp) = (it.w()[i] - star[i], it.w_prev()[i] - star[i]);
                    q += nesterov_term(x, xp, g[i], gp[i], eps, p);
                }
                self.meter.feed(t, q);
                std::mem::swap(g, gp);
            }
            Ok(Envelope::Pair) => {
                self.meter.feed(t, d2 + self.prev_d2);
                self.prev_d2 = d2;
            }
            Ok(_) => self.meter.feed(t, d2),
            Err(_) => {}
        }
    }
}
