//! The discrete schemes (THEORY §3–§4): the heavy ball
//! `w_{k+1} = w_k − ε∇E(w_k) + p(w_k − w_{k−1})` and gradient descent (p = 0), with
//! `w_{−1} = w_0 − Δt·v_0` and step k standing at physical time k·Δt.

use nalgebra::{DefaultAllocator, Dim, OVector, U1, allocator::Allocator};

use super::maps::Coefficients;
use crate::observe::{
    Crossings, DiscreteObserver, RATE_DECADES, RunReport, Status, StopRule, distance2,
};
use crate::potential::Potential;
use crate::scenario::Scheme;

/// The iterates of one discrete entry, advanced one step at a time. `D` is the vector
/// storage: fixed-size for small n, so a step allocates nothing.
pub struct Iterates<'a, D: Dim>
where
    DefaultAllocator: Allocator<D>,
{
    potential: &'a dyn Potential,
    scheme: Scheme,
    eps: f64,
    p: f64,
    w: OVector<f64, D>,
    w_prev: OVector<f64, D>,
    g: OVector<f64, D>,
    evaluations: u64,
}

impl<'a, D: Dim> Iterates<'a, D>
where
    DefaultAllocator: Allocator<D>,
{
    /// Starts at `w_0 = position` with `w_{−1} = w_0 − Δt·v_0`.
    pub fn new(
        potential: &'a dyn Potential,
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
        Iterates {
            potential,
            scheme,
            eps: c.learning_rate,
            p: c.momentum,
            w,
            w_prev,
            g: OVector::<f64, D>::zeros_generic(dim, U1),
            evaluations: 0,
        }
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

    /// Computes ∇E(w_k) into the gradient buffer.
    #[inline]
    pub fn gradient(&mut self) {
        self.potential
            .gradient_into(self.w.as_slice(), self.g.as_mut_slice());
        self.evaluations += 1;
    }

    /// One step from w_k to w_{k+1}, using the gradient computed by [`Self::gradient`].
    #[inline]
    pub fn step(&mut self) {
        let (eps, p) = (self.eps, self.p);
        let (w, wp, g) = (
            self.w.as_mut_slice(),
            self.w_prev.as_mut_slice(),
            self.g.as_slice(),
        );
        match self.scheme {
            // Written as the peers write it, so iterates agree bit for bit.
            Scheme::HeavyBall => {
                for i in 0..w.len() {
                    let next = w[i] - eps * g[i] + p * (w[i] - wp[i]);
                    wp[i] = w[i];
                    w[i] = next;
                }
            }
            Scheme::GradientDescent => {
                for i in 0..w.len() {
                    let next = w[i] - eps * g[i];
                    wp[i] = w[i];
                    w[i] = next;
                }
            }
        }
    }

    /// Advances with a fresh gradient.
    pub fn advance(&mut self) {
        self.gradient();
        self.step();
    }
}

/// One discrete run: an entry's scheme and coefficients from a start, with a budget.
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
}

impl DiscreteRun<'_> {
    /// Runs to convergence, divergence or the end of the budget, showing every iterate
    /// to `observer`.
    pub fn run<O: DiscreteObserver>(&self, observer: &mut O) -> RunReport {
        crate::with_dim!(self.position.len(), D => self.run_in::<D, O>(observer))
    }

    fn run_in<D: Dim, O: DiscreteObserver>(&self, observer: &mut O) -> RunReport
    where
        DefaultAllocator: Allocator<D>,
    {
        let stop = &self.stop;
        let mut it = Iterates::<D>::new(
            self.potential,
            self.scheme,
            &self.coefficients,
            self.position,
            self.velocity,
        );
        let tight = stop.threshold(stop.tolerance);
        let loose = stop.threshold(RATE_DECADES * stop.tolerance);
        let distance_criterion = stop.criterion == crate::scenario::Criterion::Distance;
        let dt = self.coefficients.dt;
        let mut crossings = Crossings::default();
        let mut k = 0u64;
        let (status, measure) = loop {
            let t = k as f64 * dt;
            if stop.needs_gradient() {
                it.gradient();
            }
            let d2 = distance2(self.potential, it.w());
            let m = if distance_criterion {
                d2
            } else {
                stop.measure(self.potential, it.w(), it.g())
            };
            observer.step(k, t, it.w(), it.w_prev());
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
            if !stop.needs_gradient() {
                it.gradient();
            }
            it.step();
            k += 1;
        };
        RunReport {
            status,
            steps: k,
            evaluations: it.evaluations(),
            final_value: stop.final_value(measure),
            crossings,
            end_time: k as f64 * dt,
        }
    }
}
