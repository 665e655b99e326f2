//! diffsol's solvers driven step by step for the watcher: BDF (stiff points, and the
//! hand-over from dopri5 when it finds a run stiff) and the step loop shared with the
//! large-state dopri5.

use super::settings::ContinuousSpec;
use super::watch::{Rhs, Watch};
use crate::observe::ContinuousObserver;
use crate::potential::Potential;

/// Why a run on diffsol's solvers stopped short of `t_end`; its Display is the run's
/// `failed` note.
#[derive(Debug, thiserror::Error)]
pub(super) enum DiffsolFailure {
    /// diffsol refused the problem or failed a step (its error says where, e.g.
    /// `StepSizeTooSmall { time }`).
    #[error("{solver}: {}", said(error))]
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

/// diffsol's error as its Display says it, but with its time as the engine writes numbers:
/// diffsol's `{time}` is plain decimals, a hundred zeros before the digits of 2.6e-102.
fn said(error: &diffsol::error::DiffsolError) -> String {
    use diffsol::error::{DiffsolError, OdeSolverError as E};
    match error {
        DiffsolError::OdeSolverError(E::StepSizeTooSmall { time }) => {
            format!("ODE solver error: Step size is too small at time = {time:?}")
        }
        DiffsolError::OdeSolverError(E::TooManyErrorTestFailures { time, num_failures }) => {
            format!(
                "ODE solver error: Exceeded maximum number of error test failures ({num_failures}) at time = {time:?}"
            )
        }
        DiffsolError::OdeSolverError(E::TooManyNonlinearSolverFailures { time, num_failures }) => {
            format!(
                "ODE solver error: Exceeded maximum number of nonlinear solver failures ({num_failures}) at time = {time:?}"
            )
        }
        other => other.to_string(),
    }
}

impl DiffsolFailure {
    /// `map_err` of a diffsol call by `solver`.
    pub(super) fn of(solver: &'static str) -> impl Fn(diffsol::error::DiffsolError) -> Self + Copy {
        move |error| DiffsolFailure::Solver { solver, error }
    }
}

/// The step loop shared by diffsol's solvers: each accepted step's end goes to the watcher
/// (with diffsol's f at the end when `fsal`, else the watcher recomputes it), until the
/// watcher stops the run, `t_end` is reached, or `max_steps` are spent.
pub(super) fn drive<'a, Eqn, S, P, O>(
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
pub(super) fn integrate_bdf<P: Potential + ?Sized, O: ContinuousObserver>(
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
        // Tightened, but not below what a double can control (rtol itself is above it).
        .rtol((spec.rtol * BDF_TIGHTER).max(crate::dynamics::MIN_RTOL))
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
    // diffsol's floor on the step (1e-13) is above what a very light particle's start
    // needs: its transient lasts ~m/μ (m = 1e-8, μ = 1 failed at t = 1.6e-14). The floor
    // scales with that time instead.
    solver.config_mut().minimum_timestep = 1e-13 * rhs.damping_time();
    solver.set_stop_time(spec.t_end).map_err(fail)?;
    // BDF's dy is its own formula's, not f(y): the watcher recomputes f (stale_derivative).
    drive(&mut solver, rhs, watch, spec, "BDF", false)
}

/// Factor applied to rtol, and to the position's atol, for BDF (see `integrate_bdf`).
const BDF_TIGHTER: f64 = 0.01;
