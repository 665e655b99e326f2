//! The continuous particle `m w'' + μ w' = −∇E(w)` (docs/theory.md §1): the choice of
//! solver, and the drivers of the explicit loops (module `explicit`) and of diffsol, each
//! handing every accepted step to the step watcher (`watch`), which locates the stop
//! criterion inside the step on the step's interpolant. Small potentials on dopri5 go to
//! the lane kernel ([`super::dopri_lanes`]) instead.
//!
//! The explicit loops take `ode_solvers`' `System`: its `solout` hook sees each accepted
//! step's end state and derivative, which the watcher takes as the next step's end.

use nalgebra::{DefaultAllocator, Dim, OVector, U1, allocator::Allocator};
use ode_solvers::dop_shared::{IntegrationError, System};

use super::bdf::{DiffsolFailure, drive, integrate_bdf};
use super::settings::{ContinuousRun, ContinuousSpec, Method, Model};
use super::watch::{Rhs, Watch, failure_note};
use crate::error::Error;
use crate::observe::{ContinuousObserver, RunReport, Status};
use crate::potential::Potential;

/// The explicit loops' system: the right-hand side plus the step watcher in `solout`.
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

impl ContinuousRun<'_> {
    /// Integrates the run, telling `observer` the states it asks for.
    pub fn run<O: ContinuousObserver>(&self, observer: &mut O) -> Result<RunReport, Error> {
        // Small quadratics run dopri5 in the lane kernel, alone as in a sweep.
        if super::dopri_lanes::lane_ready(self) {
            return super::dopri_lanes::run_one(self, observer);
        }
        let n = self.potential.dim();
        let state_dim = if self.mass == 0.0 { n } else { 2 * n };
        let mut spec = *self.spec;
        spec.method = self.solver();
        // `auto` without a spectrum to judge stiffness by: dopri5 watching its own stiffness
        // estimate, handing over to BDF where it finds the run stiff (the explicit loop).
        let fallback = self.stiffness_fallback();
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

    /// Whether this run is `auto` on dopri5 without a spectrum to judge stiffness by: dopri5
    /// then tests its own stiffness estimate and hands a stiff run over to BDF.
    pub(super) fn stiffness_fallback(&self) -> bool {
        let n = self.potential.dim();
        let state_dim = if self.mass == 0.0 { n } else { 2 * n };
        let spec = ContinuousSpec {
            method: self.solver(),
            ..*self.spec
        };
        self.spec.method == Method::Auto
            && spec.method == Method::Dopri5
            && self.spec.model == Model::HeavyBall
            && self.potential.hessian_spectrum().is_none()
            && !large_dopri5(&spec, state_dim)
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
        let state_dim = if self.mass == 0.0 { n } else { 2 * n };
        let rhs = Rhs::new(self, potential);
        let spec = self.spec;
        let mut watch = Watch::new(self, observer);
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
        watch.report(rhs.evaluations(), solver)
    }
}

/// Whether this run's dopri5 goes through diffsol's explicit Runge–Kutta driver: for
/// states beyond the fixed-size ones, whose step API allocates nothing per step (its own
/// step-size controller, so its step counts differ; docs/speed.md, "Large problems").
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

/// Stiffness ratio above which `auto` integrates with BDF: an explicit method needs about
/// `ratio × 4` steps (its stability bound holds h·|λ_max| ≲ 3.3 while the run lasts
/// ~ln(1e6)/r_min), BDF several hundred to a few thousand at ~1.2× the cost per step; on W1
/// the break-even, measured with the dopri5 lane kernel, lies near 3000 (docs/solvers.md).
pub const STIFF: f64 = 3000.0;

/// How often (in accepted steps) dopri5 tests its own stiffness estimate when `auto` has
/// no spectrum to judge by (Hairer's default).
const STIFFNESS_TEST_EVERY: u32 = 1000;

/// Most coordinates BDF takes on: it factorises a dense Jacobian of the state (2n)², 8 MB
/// and ~10⁹ flops per factorisation at n = 512; at n = 262 144 it would need 2 TB.
pub const MAX_BDF_DIM: usize = 512;

/// Stiffness of the particle on a Hessian spectrum ([`crate::theory::stiffness`]): what
/// `auto` compares with [`STIFF`].
pub use crate::theory::stiffness;

/// Runs the chosen explicit method (module `explicit`, `ode_solvers`' operations) to
/// `t_end` (or until `solout` stops it), dopri5 testing stiffness every `n_stiff` accepted
/// steps (`u32::MAX`: never — stiff points are the solver choice's business, not an abort,
/// unless `auto` asks dopri5 to judge).
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
    match spec.method {
        Method::Dopri5 => super::explicit::dopri5(system, y0, spec, n_stiff),
        Method::Dop853 => super::explicit::dop853(system, y0, spec),
        Method::Rk4 => {
            super::explicit::rk4(system, y0, spec.t_end, spec.step.unwrap_or(spec.t_end));
            Ok(())
        }
        Method::Bdf | Method::Auto | Method::Baoab => {
            unreachable!("resolved before: BDF and BAOAB run on their own loops")
        }
    }
}
