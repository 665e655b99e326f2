//! No heap allocation per step at n = 2: a counting global allocator shows that a discrete
//! run allocates the same whether it takes 10 or 100 000 steps, and a continuous run only
//! O(log steps) times (the doubling of `ode_solvers`' result vector, which keeps every
//! accepted step); a noisy BAOAB run not at all. On the sparse colorization problem (dynamic vectors, diffsol's
//! explicit RK driver for dopri5, BAOAB) none allocates anything per step: memory is bounded by
//! the set-up, not by the steps taken.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use heavyball::dynamics::continuous::ContinuousRun;
use heavyball::dynamics::discrete::DiscreteRun;
use heavyball::dynamics::maps;
use heavyball::dynamics::noise::{CONTINUOUS_STREAM, GradientNoise};
use heavyball::observe::StopRule;
use heavyball::potential::{self, Colorization, Potential};
use heavyball::scenario::{
    ContinuousSpec, Criterion, Form, HessianSpec, Method, Model, PotentialSpec, Scheme, StopSpec,
};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted(f: impl FnOnce() -> u64) -> (u64, u64) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let steps = f();
    (ALLOCATIONS.load(Ordering::Relaxed) - before, steps)
}

fn never_stop() -> StopRule {
    StopRule::new(&StopSpec {
        criterion: Criterion::Distance,
        tolerance: 1e-300,
        divergence: 1e300,
    })
}

/// Allocations and steps of a heavy-ball run of `steps` steps that never stops early.
fn discrete(
    p: &dyn Potential,
    c: maps::Coefficients,
    w0: &[f64],
    v0: &[f64],
    steps: u64,
) -> (u64, u64) {
    counted(|| {
        DiscreteRun {
            potential: p,
            scheme: Scheme::HeavyBall,
            coefficients: c,
            position: w0,
            velocity: v0,
            steps,
            stop: never_stop(),
            noise: None,
        }
        .run(&mut ())
        .steps
    })
}

/// Allocations and accepted steps of a dopri5 run of the particle (m, μ) to `t_end`.
fn continuous(
    p: &dyn Potential,
    (mass, friction): (f64, f64),
    (rtol, atol): (f64, f64),
    w0: &[f64],
    v0: &[f64],
    t_end: f64,
) -> (u64, u64) {
    counted(|| {
        let spec = ContinuousSpec {
            method: Method::Dopri5,
            rtol,
            atol,
            t_end,
            sample_interval: t_end,
            step: None,
            max_steps: 10_000_000,
            model: Model::HeavyBall,
        };
        ContinuousRun {
            potential: p,
            mass,
            friction,
            position: w0,
            velocity: v0,
            spec: &spec,
            stop: never_stop(),
            noise: None,
        }
        .run(&mut ())
        .steps
    })
}

/// Allocations and steps of a noisy BAOAB run of the particle (m, μ) to `t_end`.
fn langevin(p: &dyn Potential, (mass, friction): (f64, f64), w0: &[f64], t_end: f64) -> (u64, u64) {
    let v0 = vec![0.0; w0.len()];
    let noise = GradientNoise::new(0.1, 1, 0, CONTINUOUS_STREAM);
    counted(|| {
        let spec = ContinuousSpec {
            method: Method::Baoab,
            rtol: 1e-8,
            atol: 1e-10,
            t_end,
            sample_interval: t_end,
            step: Some(0.01),
            max_steps: 10_000_000,
            model: Model::HeavyBall,
        };
        ContinuousRun {
            potential: p,
            mass,
            friction,
            position: w0,
            velocity: &v0,
            spec: &spec,
            stop: never_stop(),
            noise: Some(&noise),
        }
        .run(&mut ())
        .steps
    })
}

/// Heavy-ball coefficients (ε, p) in Polyak's form.
fn polyak(eps: f64, p: f64, dt: f64) -> maps::Coefficients {
    maps::Coefficients {
        learning_rate: eps,
        momentum: p,
        dt,
        energy_mass: 0.0,
        particle: None,
        form: Form::Polyak,
        native: (eps, p),
    }
}

#[test]
fn a_step_allocates_nothing() {
    // One test function: the counter is global, so nothing else may run beside it.
    let p = potential::build(&PotentialSpec::Quadratic {
        hessian: HessianSpec::Diagonal(vec![6.0, 60.0]),
        minimum: vec![0.0, 0.0],
    });
    let (w0, v0) = ([1.0, 1.0], [0.0, 0.0]);
    let c = polyak(0.001, 0.9, 0.1);
    let (short, s1) = discrete(p.as_ref(), c, &w0, &v0, 10);
    let (long, s2) = discrete(p.as_ref(), c, &w0, &v0, 100_000);
    assert_eq!((s1, s2), (10, 100_000));
    assert_eq!(
        short, long,
        "allocations grew with the number of discrete steps"
    );

    // BAOAB under noise, and its massless limit: set-up only, whatever the steps.
    for particle in [(1.0, 2.0), (0.0, 2.0)] {
        let (short, s1) = langevin(p.as_ref(), particle, &w0, 0.1);
        let (long, s2) = langevin(p.as_ref(), particle, &w0, 1000.0);
        assert_eq!((s1, s2), (10, 100_000));
        assert_eq!(
            short, long,
            "{particle:?}: allocations grew with the BAOAB steps"
        );
    }

    large_n_steps_allocate_nothing();

    let run = |t_end| continuous(p.as_ref(), (1.0, 0.01), (1e-10, 1e-12), &w0, &v0, t_end);
    let (short, s1) = run(10.0);
    let (long, s2) = run(1000.0);
    assert!(s2 > 50 * s1, "{s1} vs {s2} steps");
    // Two Vecs (times, states) doubling: ≤ 2·log2(s2/s1) + 2 more reallocations.
    let bound = 2.0 * (s2 as f64 / s1 as f64).log2() + 2.0;
    assert!(
        ((long - short) as f64) <= bound,
        "{short} → {long} allocations for {s1} → {s2} steps (bound {bound})"
    );
}

/// The large-n paths, in the same test function as the rest would race on the counter:
/// called from `a_step_allocates_nothing`.
fn large_n_steps_allocate_nothing() {
    let p = Colorization::new(64, 64, &[(5, 5), (40, 50), (60, 10)], 1.0);
    let n = p.dim();
    let (w0, v0) = (vec![0.0; n], vec![0.0; n]);
    let run = |t_end| continuous(&p, (1.0, 0.5), (1e-8, 1e-10), &w0, &v0, t_end);
    let (short, s1) = run(1.0);
    let (long, s2) = run(40.0);
    assert!(s2 > 5 * s1, "{s1} vs {s2} steps");
    assert_eq!(
        short, long,
        "n = {n}: allocations grew from {s1} to {s2} dopri5 steps"
    );
    let (short, s1) = langevin(&p, (1.0, 0.5), &w0, 0.1);
    let (long, s2) = langevin(&p, (1.0, 0.5), &w0, 10.0);
    assert_eq!((s1, s2), (10, 1000));
    assert_eq!(
        short, long,
        "n = {n}: allocations grew with the BAOAB steps"
    );
    let c = polyak(0.2, 0.9, 1.0);
    let (short, s1) = discrete(&p, c, &w0, &v0, 10);
    let (long, s2) = discrete(&p, c, &w0, &v0, 1000);
    assert_eq!((s1, s2), (10, 1000));
    assert_eq!(
        short, long,
        "n = {n}: allocations grew with the discrete steps"
    );
}
