//! Per-step costs of the hot loops against their limits (issue 7's table):
//!
//! * one dopri5 / dop853 / rk4 step of the engine at n = 2 (W1's particle, in-step crossing
//!   search and all), reported per accepted step, beside a hand-written allocation-free
//!   fixed-size Dormand–Prince step of the same system — the limit;
//! * one accepted dopri5 step per lane in the lane kernel (`dynamics::dopri_lanes`) at
//!   n = 2, bare and with the watcher's screen, on each vector extension the CPU has, and
//!   W1's continuous sweep (N = 100 and 300, dopri5 at every point) in lanes on one thread
//!   (`-- "dopri5 lane"` and `-- "W1 continuous"` for those groups alone);
//! * one heavy-ball step at n = 2, per iteration, alone and in a sweep's lanes;
//! * one W1 grid point, continuous and discrete, as a sweep runs it.
//!
//! * on Goh's colorization problem, 512 × 512 pixels (n = 262 144, sparse Hessian): one
//!   heavy-ball step beside a bare CSR mat-vec of the same Hessian — its limit — and one
//!   dopri5 (diffsol's driver), dop853 and rk4 (the engine's loops, `ode_solvers`'
//!   operations) step.
//!
//! Run with `cargo bench --bench steps` (`-- colorization` for that group alone).

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use heavyball::dynamics::ContinuousRun;
use heavyball::dynamics::discrete::DiscreteRun;
use heavyball::dynamics::lanes::{LANES, run_in_lanes};
use heavyball::dynamics::maps;
use heavyball::dynamics::noise::{CONTINUOUS_STREAM, GradientNoise};
use heavyball::dynamics::{ContinuousSpec, DiscreteParams, Form, Map, Method, Scheme};
use heavyball::observe::StopRule;
use heavyball::observe::StopSpec;
use heavyball::potential::{self, Colorization, Potential};
use heavyball::potential::{HessianSpec, PotentialSpec};

const K: [f64; 2] = [6.0, 60.0];

fn w1_potential() -> Box<dyn Potential> {
    potential::build(&PotentialSpec::Quadratic {
        hessian: HessianSpec::Diagonal(K.to_vec()),
        minimum: vec![0.0, 0.0],
    })
    .unwrap()
}

fn spec(method: Method, t_end: f64) -> ContinuousSpec {
    ContinuousSpec {
        method,
        t_end,
        sample_interval: t_end,
        step: (method == Method::Rk4).then_some(1e-3),
        max_steps: 10_000_000,
        ..Default::default()
    }
}

fn stop(tolerance: f64) -> StopRule {
    StopRule::new(&StopSpec {
        tolerance,
        ..Default::default()
    })
}

/// W1's continuous particle (m, μ) from (1, 1) at rest.
fn w1_continuous<'a>(
    p: &'a dyn Potential,
    spec: &'a ContinuousSpec,
    m: f64,
    mu: f64,
    tol: f64,
) -> ContinuousRun<'a> {
    ContinuousRun {
        potential: p,
        mass: m,
        friction: mu,
        position: &[1.0, 1.0],
        velocity: &[0.0, 0.0],
        spec,
        stop: stop(tol),
        noise: None,
    }
}

/// W1's discrete heavy ball: Qian's map at Δt = 0.1 for (m, μ).
fn w1_discrete(p: &dyn Potential, m: f64, mu: f64, steps: u64, tol: f64) -> DiscreteRun<'_> {
    let coefficients = maps::coefficients(
        Scheme::HeavyBall,
        Form::Polyak,
        DiscreteParams::FromParticle {
            dt: 0.1,
            map: Map::Qian,
        },
        Some((m, mu)),
    );
    DiscreteRun {
        potential: p,
        scheme: Scheme::HeavyBall,
        coefficients,
        position: &[1.0, 1.0],
        velocity: &[0.0, 0.0],
        steps,
        stop: stop(tol),
        noise: None,
    }
}

/// One Dormand–Prince 5(4) step of `y' = f(y)` on `[f64; 4]` with FSAL, as a user would
/// hand-write it with no allocation: the limit the engine's step is measured against.
struct Reference {
    m: f64,
    mu: f64,
}

impl Reference {
    #[inline(always)]
    fn f(&self, y: &[f64; 4]) -> [f64; 4] {
        let (inv_m, damp) = (1.0 / self.m, self.mu / self.m);
        [
            y[2],
            y[3],
            -K[0] * y[0] * inv_m - damp * y[2],
            -K[1] * y[1] * inv_m - damp * y[3],
        ]
    }

    /// Integrates to `t_end` with the standard step-size control; returns accepted steps.
    fn integrate(&self, t_end: f64, rtol: f64, atol: f64) -> u64 {
        use heavyball::dynamics::dormand_prince::{A, error_weights};
        let e_w = error_weights();
        let mut y = [1.0, 1.0, 0.0, 0.0];
        let mut k = [[0.0; 4]; 7];
        k[0] = self.f(&y);
        let (mut t, mut h, mut steps) = (0.0f64, 1e-3f64, 0u64);
        while t < t_end {
            h = h.min(t_end - t);
            for s in 1..7 {
                let mut ys = y;
                for (j, kj) in k.iter().enumerate().take(s) {
                    for i in 0..4 {
                        ys[i] += h * A[s][j] * kj[i];
                    }
                }
                k[s] = self.f(&ys);
            }
            // Row 7 of A is the 5th-order solution's weights, so k[6] = f(y_new) (FSAL).
            let mut y_new = y;
            let mut err = 0.0f64;
            for i in 0..4 {
                let mut e = 0.0;
                for (s, ks) in k.iter().enumerate() {
                    if s < 6 {
                        y_new[i] += h * A[6][s] * ks[i];
                    }
                    e += h * e_w[s] * ks[i];
                }
                let sc = atol + rtol * y[i].abs().max(y_new[i].abs());
                err += (e / sc) * (e / sc);
            }
            let err = (err / 4.0).sqrt();
            if err <= 1.0 {
                t += h;
                y = y_new;
                k[0] = k[6];
                steps += 1;
            }
            h *= (0.9 * err.powf(-0.2)).clamp(0.2, 10.0);
        }
        black_box(y);
        steps
    }
}

/// ode_solvers' Dopri5 alone on the same system (SVector, no solout work): what the
/// solver itself costs per step, before the engine's step watcher.
struct Bare {
    m: f64,
    mu: f64,
}

impl ode_solvers::System<f64, ode_solvers::SVector<f64, 4>> for Bare {
    fn system(
        &self,
        _t: f64,
        y: &ode_solvers::SVector<f64, 4>,
        dy: &mut ode_solvers::SVector<f64, 4>,
    ) {
        let (inv_m, damp) = (1.0 / self.m, self.mu / self.m);
        dy[0] = y[2];
        dy[1] = y[3];
        dy[2] = -K[0] * y[0] * inv_m - damp * y[2];
        dy[3] = -K[1] * y[1] * inv_m - damp * y[3];
    }
}

/// `ode_solvers`' Dopri5 alone on `system` from `y0` to `t_end` (W1's tolerances, the
/// engine's settings: stiffness detection off, sparse output): its accepted steps.
fn dopri5_alone<D, S>(system: S, y0: ode_solvers::OVector<f64, D>, t_end: f64) -> u64
where
    D: nalgebra::Dim,
    S: ode_solvers::System<f64, ode_solvers::OVector<f64, D>>,
    nalgebra::DefaultAllocator: nalgebra::allocator::Allocator<D>,
{
    let mut s = ode_solvers::Dopri5::from_param(
        system,
        0.0,
        t_end,
        t_end,
        y0,
        1e-8,
        1e-10,
        0.9,
        0.04,
        0.2,
        10.0,
        t_end,
        0.0,
        10_000_000,
        u32::MAX,
        ode_solvers::dop_shared::OutputType::Sparse,
    );
    s.integrate().unwrap().accepted_steps as u64
}

fn bare_dopri5(m: f64, mu: f64, t_end: f64) -> u64 {
    let y0 = ode_solvers::SVector::<f64, 4>::new(1.0, 1.0, 0.0, 0.0);
    dopri5_alone(Bare { m, mu }, y0, t_end)
}

fn continuous_steps(c: &mut Criterion) {
    let p = w1_potential();
    // An ordinary W1 point (m = 1, μ = 1), integrated over a fixed span.
    let (m, mu, t_end) = (1.0, 1.0, 20.0);
    let mut group = c.benchmark_group("continuous step, n = 2");
    for method in [Method::Dopri5, Method::Dop853, Method::Rk4] {
        let spec = spec(method, t_end);
        let run = w1_continuous(p.as_ref(), &spec, m, mu, 1e-300);
        let steps = run.run(&mut ()).unwrap().steps;
        group.throughput(Throughput::Elements(steps));
        group.bench_function(method.as_str(), |b| {
            b.iter(|| black_box(run.run(&mut ()).unwrap()))
        });
    }
    // The noisy particle: BAOAB at a fixed step 0.01 (one gradient and two normals a step).
    let mut langevin = spec(Method::Baoab, t_end);
    langevin.step = Some(0.01);
    let noise = GradientNoise::new(0.1, 7, 0, CONTINUOUS_STREAM);
    let run = ContinuousRun {
        noise: Some(&noise),
        ..w1_continuous(p.as_ref(), &langevin, m, mu, 1e-300)
    };
    group.throughput(Throughput::Elements(run.run(&mut ()).unwrap().steps));
    group.bench_function("baoab, noisy", |b| {
        b.iter(|| black_box(run.run(&mut ()).unwrap()))
    });
    let steps = bare_dopri5(m, mu, t_end);
    group.throughput(Throughput::Elements(steps));
    group.bench_function("ode_solvers dopri5 alone", |b| {
        b.iter(|| black_box(bare_dopri5(m, mu, t_end)))
    });
    let reference = Reference { m, mu };
    let steps = reference.integrate(t_end, 1e-8, 1e-10);
    group.throughput(Throughput::Elements(steps));
    group.bench_function("hand-written dopri5 (limit)", |b| {
        b.iter(|| black_box(reference.integrate(t_end, 1e-8, 1e-10)))
    });
    group.finish();
}

fn discrete_steps(c: &mut Criterion) {
    let p = w1_potential();
    // μ/m = 0.01: over 10⁴ steps of Δt = 0.1 the state falls by e^{−5}, never into
    // subnormal numbers (which would time the FPU's slow path, not the loop).
    let steps = 10_000;
    let run = w1_discrete(p.as_ref(), 1.0, 0.01, steps, 1e-300);
    let mut group = c.benchmark_group("heavy-ball step, n = 2");
    group.throughput(Throughput::Elements(steps));
    group.bench_function("polyak", |b| {
        b.iter(|| black_box(run.run(&mut ()).unwrap()))
    });
    // A sweep's way: runs of neighbouring grid points advanced together in lanes.
    let runs: Vec<DiscreteRun<'_>> = (0..LANES)
        .map(|l| w1_discrete(p.as_ref(), 1.0, 0.01 + 0.0001 * l as f64, steps, 1e-300))
        .collect();
    group.throughput(Throughput::Elements(steps * LANES as u64));
    group.bench_function(format!("polyak, {LANES} lanes"), |b| {
        b.iter(|| black_box(run_in_lanes(&runs)))
    });
    group.finish();
}

fn w1_points(c: &mut Criterion) {
    let p = w1_potential();
    let spec = spec(Method::Dopri5, 200.0);
    let mut group = c.benchmark_group("one W1 point");
    for (m, mu) in [(1.0, 1.0), (0.01, 31.6)] {
        let run = w1_continuous(p.as_ref(), &spec, m, mu, 1e-6);
        group.bench_function(format!("continuous m = {m}, mu = {mu}"), |b| {
            b.iter(|| black_box(run.run(&mut ()).unwrap()))
        });
        let run = w1_discrete(p.as_ref(), m, mu, 200_000, 1e-6);
        group.bench_function(format!("discrete m = {m}, mu = {mu}"), |b| {
            b.iter(|| black_box(run.run(&mut ()).unwrap()))
        });
    }
    group.finish();
}

/// The 512 × 512 colorization problem of the table, three colored pixels.
fn colorization() -> Colorization {
    Colorization::new(512, 512, &[(5, 5), (400, 50), (260, 310)], 1.0).unwrap()
}

/// y = H x on the CSR arrays, nothing else: the limit of a step that needs one gradient.
fn bare_csr_mat_vec(h: &nalgebra_sparse::CsrMatrix<f64>, x: &[f64], y: &mut [f64]) {
    let (offsets, cols, values) = (h.row_offsets(), h.col_indices(), h.values());
    for (i, yi) in y.iter_mut().enumerate() {
        let mut s = 0.0;
        for k in offsets[i]..offsets[i + 1] {
            s += values[k] * x[cols[k]];
        }
        *yi = s;
    }
}

fn colorization_steps(c: &mut Criterion) {
    let p = colorization();
    let n = p.dim();
    let (w0, v0) = (vec![0.0; n], vec![0.0; n]);
    let mut group = c.benchmark_group("colorization 512 x 512 step");
    group.sample_size(10);
    let x: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
    let mut y = vec![0.0; n];
    group.throughput(Throughput::Elements(1));
    group.bench_function("bare CSR mat-vec (limit)", |b| {
        b.iter(|| bare_csr_mat_vec(p.hessian(), black_box(&x), &mut y))
    });
    let steps = 20;
    let run = DiscreteRun {
        potential: &p,
        scheme: Scheme::HeavyBall,
        coefficients: maps::Coefficients {
            learning_rate: 0.2,
            momentum: 0.9,
            dt: 1.0,
            energy_mass: 0.0,
            particle: None,
            form: Form::Polyak,
            native: (0.2, 0.9),
        },
        position: &w0,
        velocity: &v0,
        steps,
        stop: stop(1e-300),
        noise: None,
    };
    group.throughput(Throughput::Elements(steps));
    group.bench_function("heavy-ball", |b| {
        b.iter(|| black_box(run.run(&mut ()).unwrap()))
    });
    for (method, t_end) in [
        (Method::Dopri5, 2.0),
        (Method::Dop853, 2.0),
        (Method::Rk4, 0.02),
    ] {
        let spec = ContinuousSpec {
            step: (method == Method::Rk4).then_some(2e-3),
            ..spec(method, t_end)
        };
        let run = ContinuousRun {
            potential: &p,
            mass: 1.0,
            friction: 0.5,
            position: &w0,
            velocity: &v0,
            spec: &spec,
            stop: stop(1e-300),
            noise: None,
        };
        let steps = run.run(&mut ()).unwrap().steps;
        group.throughput(Throughput::Elements(steps));
        group.bench_function(method.as_str(), |b| {
            b.iter(|| black_box(run.run(&mut ()).unwrap()))
        });
    }
    // ode_solvers' own Dopri5 on dynamic vectors, the engine's Hessian in its right-hand
    // side and nothing in solout: what the engine would pay per step had it kept
    // ode_solvers for large n (it keeps every step and allocates per stage).
    let system = SparseParticle {
        p: &p,
        m: 1.0,
        mu: 0.5,
    };
    let y0 = ode_solvers::DVector::from_element(2 * n, 0.0);
    let alone = || dopri5_alone(system, y0.clone(), 2.0);
    group.throughput(Throughput::Elements(alone()));
    group.bench_function("ode_solvers dopri5 alone (DVector)", |b| {
        b.iter(|| black_box(alone()))
    });
    group.finish();
}

/// `m w'' + μ w' = −∇E` on a colorization problem for `ode_solvers` on dynamic vectors.
#[derive(Clone, Copy)]
struct SparseParticle<'a> {
    p: &'a Colorization,
    m: f64,
    mu: f64,
}

impl ode_solvers::System<f64, ode_solvers::DVector<f64>> for SparseParticle<'_> {
    fn system(&self, _t: f64, y: &ode_solvers::DVector<f64>, dy: &mut ode_solvers::DVector<f64>) {
        let n = y.len() / 2;
        let (w, v) = y.as_slice().split_at(n);
        let (dw, dv) = dy.as_mut_slice().split_at_mut(n);
        dw.copy_from_slice(v);
        self.p.gradient_into(w, dv);
        for (a, v) in dv.iter_mut().zip(v) {
            *a = -*a / self.m - self.mu / self.m * v;
        }
    }
}

/// The dopri5 lane kernel: one accepted step per lane, bare and screened, per extension;
/// then W1's continuous sweeps through `run_in_lanes` (watcher, rate meter, refill).
fn dopri5_lanes(c: &mut Criterion) {
    use heavyball::dynamics::dopri_lanes::{self, bench_kernel};
    use heavyball::simd::Isa;
    let particles = [(1.0, 1.0), (0.1, 0.3), (2.0, 0.5), (0.5, 2.0)];
    let attempts = 2000;
    let mut group = c.benchmark_group("dopri5 lane step, W1 (n = 2)");
    for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
        if !isa.supported() {
            continue;
        }
        for screen in [false, true] {
            let steps = bench_kernel(isa, screen, &particles, attempts);
            group.throughput(Throughput::Elements(steps));
            let what = if screen { "screened" } else { "bare kernel" };
            let name = format!("{}, {} lanes, {what}", isa.as_str(), dopri_lanes::LANES);
            group.bench_function(name, |b| {
                b.iter(|| black_box(bench_kernel(isa, screen, &particles, attempts)))
            });
        }
    }
    group.finish();
    let p = w1_potential();
    let spec = ContinuousSpec {
        rtol: 1e-8,
        atol: 1e-10,
        ..spec(Method::Dopri5, 200.0)
    };
    let mut group = c.benchmark_group("W1 continuous sweep, dopri5 lanes, one thread");
    group.sample_size(10);
    for n in [100usize, 300] {
        let logspace =
            |a: f64, b: f64, i: usize| 10f64.powf(a + (b - a) * i as f64 / (n - 1) as f64);
        let runs: Vec<ContinuousRun<'_>> = (0..n * n)
            .map(|k| {
                let (m, mu) = (logspace(-2.0, 1.0, k / n), logspace(-1.0, 1.5, k % n));
                w1_continuous(p.as_ref(), &spec, m, mu, 1e-6)
            })
            .collect();
        group.throughput(Throughput::Elements((n * n) as u64));
        group.bench_function(format!("N = {n}"), |b| {
            b.iter(|| black_box(dopri_lanes::run_in_lanes(&runs)))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    dopri5_lanes,
    continuous_steps,
    discrete_steps,
    w1_points,
    colorization_steps
);
criterion_main!(benches);
