//! No heap allocation per step at n = 2: a counting global allocator shows that a discrete
//! run allocates the same whether it takes 10 or 100 000 steps, a noisy BAOAB run too, and
//! so does every continuous run: dopri5 in the lane kernel and on the engine's own loops
//! (massless), dop853 and rk4. On the sparse colorization problem (dynamic vectors;
//! dopri5 through diffsol's explicit RK driver, BAOAB, the heavy ball) none allocates
//! anything per step: memory is bounded by the set-up, not by the steps taken; at 512 × 512
//! (n = 262 144) the peak of live memory is the same for a short and a long run.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

use std::alloc::{GlobalAlloc, Layout, System};

use heavyball::dynamics::ContinuousRun;
use heavyball::dynamics::discrete::DiscreteRun;
use heavyball::dynamics::maps;
use heavyball::dynamics::noise::{CONTINUOUS_STREAM, GradientNoise};
use heavyball::dynamics::{ContinuousSpec, Form, Method, Scheme};
use heavyball::observe::StopRule;
use heavyball::observe::StopSpec;
use heavyball::potential::{self, Colorization, Potential};
use heavyball::potential::{HessianSpec, PotentialSpec};

struct Counting;

thread_local! {
    /// Allocations made by this thread: the test harness's own threads (which may
    /// allocate at any time, more so on a loaded machine) do not count.
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_one() {
    // `try_with`: a thread being torn down has no counter left, and needs none.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(std::cell::Cell::get)
}
thread_local! {
    /// Bytes this thread allocated and has not freed, and their most since [`peak_above`]
    /// began: per thread, as the count, so that the harness's own allocations (its
    /// "has been running for over 60 seconds" line on a slow machine, e.g. under qemu)
    /// do not count.
    static LIVE: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
    static PEAK: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

fn grow(bytes: usize) {
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + bytes as i64);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

fn shrink(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - bytes as i64));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        grow(new_size);
        shrink(layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Peak live bytes above the live bytes at the start, while `f` runs.
fn peak_above(f: impl FnOnce() -> (u64, u64)) -> (u64, u64) {
    let base = LIVE.with(std::cell::Cell::get);
    PEAK.with(|peak| peak.set(base));
    let (_, steps) = f();
    ((PEAK.with(std::cell::Cell::get) - base) as u64, steps)
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted(f: impl FnOnce() -> u64) -> (u64, u64) {
    let before = allocations();
    let steps = f();
    (allocations() - before, steps)
}

fn never_stop() -> StopRule {
    StopRule::new(&StopSpec {
        tolerance: 1e-300,
        divergence: 1e300,
        ..Default::default()
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
        .unwrap()
        .steps
    })
}

/// Allocations and steps of a run of the particle (m, μ) under `spec`, with `noise`.
fn counted_run(
    p: &dyn Potential,
    (mass, friction): (f64, f64),
    (w0, v0): (&[f64], &[f64]),
    spec: &ContinuousSpec,
    noise: Option<&GradientNoise>,
) -> (u64, u64) {
    counted(|| {
        ContinuousRun {
            potential: p,
            mass,
            friction,
            position: w0,
            velocity: v0,
            spec,
            stop: never_stop(),
            noise,
        }
        .run(&mut ())
        .unwrap()
        .steps
    })
}

/// A run's spec: `method` to `t_end`, no rows but the ends.
fn spec(method: Method, (rtol, atol): (f64, f64), t_end: f64, step: Option<f64>) -> ContinuousSpec {
    ContinuousSpec {
        method,
        rtol,
        atol,
        t_end,
        sample_interval: t_end,
        step,
        max_steps: 10_000_000,
        ..Default::default()
    }
}

/// Allocations and accepted steps of a dopri5 run of the particle (m, μ) to `t_end`.
fn continuous(
    p: &dyn Potential,
    particle: (f64, f64),
    tolerances: (f64, f64),
    w0: &[f64],
    v0: &[f64],
    t_end: f64,
) -> (u64, u64) {
    let spec = spec(Method::Dopri5, tolerances, t_end, None);
    counted_run(p, particle, (w0, v0), &spec, None)
}

/// Allocations and steps of a noisy BAOAB run (step 0.01) of the particle (m, μ) to `t_end`.
fn langevin(p: &dyn Potential, particle: (f64, f64), w0: &[f64], t_end: f64) -> (u64, u64) {
    let v0 = vec![0.0; w0.len()];
    let noise = GradientNoise::new(0.1, 1, 0, CONTINUOUS_STREAM);
    let spec = spec(Method::Baoab, (1e-8, 1e-10), t_end, Some(0.01));
    counted_run(p, particle, (w0, &v0), &spec, Some(&noise))
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
    })
    .unwrap();
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
    peak_memory_at_512_by_512_is_set_up_not_steps();

    // dopri5 on a small quadratic runs in the lane kernel: nothing per step.
    let run = |t_end| continuous(p.as_ref(), (1.0, 0.01), (1e-10, 1e-12), &w0, &v0, t_end);
    let (short, s1) = run(10.0);
    let (long, s2) = run(1000.0);
    assert!(s2 > 50 * s1, "{s1} vs {s2} steps");
    assert_eq!(
        short, long,
        "the lane kernel allocated per step ({s1} → {s2} steps)"
    );

    // rk4 (the engine's own loop, `ode_solvers`' operations): set-up only, in peak bytes.
    // `ode_solvers`' Rk4 kept every step, reserved at its start: 32 bytes of state and 8
    // of time a step here (10⁸ steps: 3.2 GB beside 0.8 GB).
    let rk4 = |t_end| {
        let spec = spec(Method::Rk4, (1e-8, 1e-10), t_end, Some(0.01));
        peak_above(|| counted_run(p.as_ref(), (1.0, 2.0), (&w0, &v0), &spec, None))
    };
    let (short, s1) = rk4(0.1);
    let (long, s2) = rk4(1000.0);
    assert_eq!((s1, s2), (10, 100_000));
    // (A few bytes more for the longer run's report text, none per step.)
    assert!(
        long <= short + 1024 && long < 100_000,
        "the peak of live memory grew with the rk4 steps: {short} → {long} bytes"
    );

    // dop853 (fixed-size and, on 9 coordinates, dynamic vectors) and the massless dopri5
    // run on the engine's loops with `ode_solvers`' operations: set-up only. `ode_solvers`
    // kept every accepted step (a dop853 run of 4·10⁶ steps at n = 2 peaked at 165 MB).
    let p9 = potential::build(&PotentialSpec::Quadratic {
        hessian: HessianSpec::Diagonal(vec![6.0, 60.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0]),
        minimum: vec![0.0; 9],
    })
    .unwrap();
    let (w9, v9) = ([1.0; 9], [0.0; 9]);
    let cases: [(&str, &dyn Potential, f64, Method); 3] = [
        ("dop853, n = 2", p.as_ref(), 1.0, Method::Dop853),
        ("dop853, n = 9", p9.as_ref(), 1.0, Method::Dop853),
        ("dopri5, m = 0", p.as_ref(), 0.0, Method::Dopri5),
    ];
    for (what, p, mass, method) in cases {
        let (w0, v0) = if p.dim() == 9 {
            (&w9[..], &v9[..])
        } else {
            (&w0[..], &v0[..])
        };
        let run = |t_end| {
            let spec = spec(method, (1e-10, 1e-12), t_end, None);
            counted_run(p, (mass, 0.01), (w0, v0), &spec, None)
        };
        let (short, s1) = run(10.0);
        let (long, s2) = run(1000.0);
        assert!(s2 > 50 * s1, "{what}: {s1} vs {s2} steps");
        assert_eq!(
            short, long,
            "{what}: allocations grew from {s1} to {s2} steps"
        );
    }
}

/// The large-n paths, in the same test function as the rest would race on the counter:
/// called from `a_step_allocates_nothing`.
fn large_n_steps_allocate_nothing() {
    let p = Colorization::new(64, 64, &[(5, 5), (40, 50), (60, 10)], 1.0).unwrap();
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

/// The sparse n = 262 144 case (512 × 512 colorization): the peak of live memory during a
/// run is the same for a short and a long run — set by the state's size, not by the steps
/// taken — for dopri5 (diffsol's driver), BAOAB and the heavy ball. Called from
/// `a_step_allocates_nothing` (one counter).
fn peak_memory_at_512_by_512_is_set_up_not_steps() {
    let p = Colorization::new(512, 512, &[(5, 5), (256, 256), (500, 100)], 1.0).unwrap();
    let n = p.dim();
    assert_eq!(n, 262_144);
    let state = (2 * n * std::mem::size_of::<f64>()) as u64; // (w, v): 4 MiB
    let (w0, v0) = (vec![0.0; n], vec![0.0; n]);
    let mut peaks = Vec::new();
    for (name, short, long) in [
        (
            "dopri5",
            peak_above(|| continuous(&p, (1.0, 0.5), (1e-6, 1e-8), &w0, &v0, 1.0)),
            peak_above(|| continuous(&p, (1.0, 0.5), (1e-6, 1e-8), &w0, &v0, 20.0)),
        ),
        (
            "baoab",
            peak_above(|| langevin(&p, (1.0, 0.5), &w0, 0.05)),
            peak_above(|| langevin(&p, (1.0, 0.5), &w0, 1.0)),
        ),
        (
            "heavy ball",
            peak_above(|| discrete(&p, polyak(0.2, 0.9, 1.0), &w0, &v0, 5)),
            peak_above(|| discrete(&p, polyak(0.2, 0.9, 1.0), &w0, &v0, 100)),
        ),
    ] {
        let ((peak_short, s1), (peak_long, s2)) = (short, long);
        assert!(s2 >= 5 * s1, "{name}: {s1} vs {s2} steps");
        assert_eq!(
            peak_short, peak_long,
            "{name}: peak memory grew from {peak_short} to {peak_long} bytes over {s1} → {s2} steps"
        );
        peaks.push((name, peak_short / state));
    }
    // The peaks in states of 2n numbers (measured: dopri5 36.5 — diffsol's seven stages and
    // working vectors plus the watcher's state copies and two step interpolants —, BAOAB 5,
    // the heavy ball 2): a fixed set of vectors. A state kept per step would add 15 to 80.
    for (name, states) in peaks {
        assert!(states <= 48, "{name}: peak {states} states");
    }
}
