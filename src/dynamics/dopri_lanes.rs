//! Dormand–Prince 5(4) in lanes: many continuous runs of a sweep on one small quadratic,
//! advanced in lockstep.
//!
//! One run's step is a chain of dependent operations on a few numbers that leaves most of
//! the core idle. [`run_in_lanes`] holds [`LANES`] runs side by side, lane-minor
//! (`w[component][lane]`), so that every operation of a step — the six stages, the error
//! norm, the step-size controller, the accept/reject choice and a screen for anything the
//! step's watcher must see — runs across the lanes at once, in registers of the vector
//! extension the CPU has ([`crate::simd::Isa`], `simd::Vector`), two registers'
//! worth of lanes interleaved at a time. Each lane has its own time, step size,
//! controller state and first-same-as-last stage, and accepts or rejects on its own; a lane
//! whose run ends takes the next waiting run.
//!
//! The screen passes over an accepted step only when the run's watcher (the step
//! interpolant's crossing search, the rate meter, the observer, the divergence and end
//! tests of `continuous`) would do nothing there but count it; otherwise that lane's
//! step goes to the watcher itself, which picks the run up at the step's start (the rare
//! refinement). So the watcher's results are its own, and every lane computes exactly the
//! operations of a run alone: a point's report does not depend on its lane, its
//! neighbours, the number of lanes or the extension, and a single run (which goes through
//! this kernel with one busy lane) equals its sweep point bit for bit.
//!
//! The step-size controller is Hairer's PI controller (err^−0.17·fac_old^0.04) computed on
//! log₂ err² by bit manipulation and short polynomials, and the error norm's 1/sc by Newton
//! steps: no `powf`, whose last bit may differ between libm builds, and no division or
//! square root, whose units would hold every lane back (the step is otherwise a few
//! hundred products and sums). Products and sums round alike on every extension (no fused
//! multiply-add anywhere), so the step is the same bits on all of them.

// Lane loops index several lane arrays by the same `l`: that is what vectorises.
#![allow(clippy::needless_range_loop)]

use super::bdf::integrate_bdf;
use super::dormand_prince::{A, error_weights};
use super::settings::ContinuousSpec;
use super::settings::{ContinuousRun, Method, Model};
use super::watch::{Rhs, Watch, failure_note};
use crate::error::Error;
use crate::observe::{ContinuousObserver, Criterion, RunReport, Status};
use crate::potential::Potential;
use crate::simd::{Isa, Vector};
use std::ops::Range;

/// Runs advanced together.
pub const LANES: usize = 16;

/// Largest dimension n of w served by the lanes.
pub const MAX_LANE_DIM: usize = 8;

/// Whether `run` goes through the lane kernel: dopri5 (chosen, or `auto` on a point that
/// is not stiff, or `auto` without a spectrum, with Hairer's stiffness test handing over
/// to BDF) for the heavy-ball particle with m > 0 and no noise, on a potential of
/// dimension ≤ [`MAX_LANE_DIM`] (a quadratic's gradient runs in the lanes, any other's
/// lane by lane). Single runs and sweeps decide alike.
pub fn lane_ready(run: &ContinuousRun<'_>) -> bool {
    let n = run.potential.dim();
    run.solver() == Method::Dopri5
        && run.spec.model == Model::HeavyBall
        && run.noise.is_none()
        && run.mass > 0.0
        && run.mass.is_finite()
        && run.friction.is_finite()
        && (1..=MAX_LANE_DIM).contains(&n)
        && run.position.len() == n
        && run.velocity.len() == n
}

/// Runs every run of `runs` (all [`lane_ready`], on the same potential, with the same
/// tolerances, t_end and stop rule; each its own particle, start and step budget)
/// in lanes and returns their reports in order, each what [`ContinuousRun::run`] returns
/// for it without an observer.
pub fn run_in_lanes(runs: &[ContinuousRun<'_>]) -> Vec<RunReport> {
    run_in_lanes_on(Isa::current(), runs)
}

/// [`run_in_lanes`] on a given extension (the baseline where the CPU lacks it): for tests
/// and benchmarks.
pub fn run_in_lanes_on(isa: Isa, runs: &[ContinuousRun<'_>]) -> Vec<RunReport> {
    let mut units = vec![(); runs.len()];
    run_observed::<(), LANES>(isa, runs, units.iter_mut())
        .into_iter()
        .map(|r| r.expect("() never fails"))
        .collect()
}

/// One run through the kernel, with its observer (a single run: one busy lane).
pub(super) fn run_one<O: ContinuousObserver>(
    run: &ContinuousRun<'_>,
    observer: &mut O,
) -> Result<RunReport, Error> {
    run_observed::<O, LANES>(
        Isa::current(),
        std::slice::from_ref(run),
        std::iter::once(observer),
    )
    .pop()
    .expect("one run, one report")
}

/// Dispatches on the dimension and the Hessian's form.
fn run_observed<'r, O: ContinuousObserver + 'r, const L: usize>(
    isa: Isa,
    runs: &[ContinuousRun<'r>],
    observers: impl Iterator<Item = &'r mut O>,
) -> Vec<Result<RunReport, Error>> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let n = first.potential.dim();
    let m = first
        .potential
        .minimum()
        .map_or(vec![0.0; n], <[f64]>::to_vec);
    macro_rules! go {
        ($n:literal) => {{
            let m: [f64; $n] = m[..].try_into().expect("dimension n");
            let Some(q) = first.potential.as_quadratic() else {
                let any = AnyPotential {
                    p: first.potential,
                    m,
                };
                return Batch::<$n, L, AnyPotential<'r, $n>, O>::run(isa, any, runs, observers);
            };
            match q.diagonal() {
                Some(d) => {
                    let d = d.try_into().expect("dimension n");
                    Batch::<$n, L, Diagonal<$n>, O>::run(isa, Diagonal { d, m }, runs, observers)
                }
                None => {
                    let rows = q.hessian_rows().expect("a dense Hessian's rows");
                    let h = std::array::from_fn(|i| std::array::from_fn(|j| rows[i * $n + j]));
                    Batch::<$n, L, Dense<$n>, O>::run(isa, Dense { h, m }, runs, observers)
                }
            }
        }};
    }
    match n {
        1 => go!(1),
        2 => go!(2),
        3 => go!(3),
        4 => go!(4),
        5 => go!(5),
        6 => go!(6),
        7 => go!(7),
        8 => go!(8),
        n => unreachable!("lane_ready admits n ≤ {MAX_LANE_DIM}, not {n}"),
    }
}

/// The gradient of the surface across lanes, operation for operation the potential's own
/// `gradient_into` in each lane.
pub(crate) trait Surface<const N: usize>: Copy {
    /// The Hessian's diagonal where the surface is a diagonal quadratic: then the kernel
    /// forms the acceleration as (−d_i/m)(w_i − w*_i) − (μ/m)v_i with −d_i/m per lane
    /// (a product and a negation fewer a component than through ∇E).
    fn diagonal(&self) -> Option<[f64; N]> {
        None
    }
    /// The minimum w*.
    fn minimum(&self) -> &[f64; N];
    /// `g = ∇E(w)` in lanes `lanes`; at least in those of them set in `busy` (bit l: lane
    /// l), whatever the others get (a surface that calls the potential lane by lane skips
    /// idle lanes: a single run's one busy lane would otherwise cost 16 calls).
    fn gradient<const L: usize>(
        &self,
        w: &[[f64; L]; N],
        g: &mut [[f64; L]; N],
        lanes: Range<usize>,
        busy: u64,
    );
}

/// A diagonal quadratic: g = d(w − w*).
#[derive(Clone, Copy)]
pub(crate) struct Diagonal<const N: usize> {
    d: [f64; N],
    m: [f64; N],
}

impl<const N: usize> Surface<N> for Diagonal<N> {
    fn diagonal(&self) -> Option<[f64; N]> {
        Some(self.d)
    }

    fn minimum(&self) -> &[f64; N] {
        &self.m
    }

    #[inline(always)]
    fn gradient<const L: usize>(
        &self,
        w: &[[f64; L]; N],
        g: &mut [[f64; L]; N],
        lanes: Range<usize>,
        _busy: u64,
    ) {
        for i in 0..N {
            for l in lanes.clone() {
                g[i][l] = self.d[i] * (w[i][l] - self.m[i]);
            }
        }
    }
}

/// A dense quadratic: g_i = Σ_j H_ij (w_j − w*_j), summed from 0 in j's order.
#[derive(Clone, Copy)]
pub(crate) struct Dense<const N: usize> {
    h: [[f64; N]; N],
    m: [f64; N],
}

impl<const N: usize> Surface<N> for Dense<N> {
    fn minimum(&self) -> &[f64; N] {
        &self.m
    }

    #[inline(always)]
    fn gradient<const L: usize>(
        &self,
        w: &[[f64; L]; N],
        g: &mut [[f64; L]; N],
        lanes: Range<usize>,
        _busy: u64,
    ) {
        for i in 0..N {
            for l in lanes.clone() {
                let mut s = 0.0;
                for j in 0..N {
                    s += self.h[i][j] * (w[j][l] - self.m[j]);
                }
                g[i][l] = s;
            }
        }
    }
}

/// Any potential: its own `gradient_into`, lane by lane (the rest of the step still runs
/// across the lanes); w* is its minimum, or the origin without one (as `distance2`).
#[derive(Clone, Copy)]
pub(crate) struct AnyPotential<'a, const N: usize> {
    p: &'a dyn Potential,
    m: [f64; N],
}

impl<const N: usize> Surface<N> for AnyPotential<'_, N> {
    fn minimum(&self) -> &[f64; N] {
        &self.m
    }

    #[inline(always)]
    fn gradient<const L: usize>(
        &self,
        w: &[[f64; L]; N],
        g: &mut [[f64; L]; N],
        lanes: Range<usize>,
        busy: u64,
    ) {
        for l in lanes.filter(|l| busy >> l & 1 == 1) {
            let x: [f64; N] = std::array::from_fn(|i| w[i][l]);
            let mut gl = [0.0; N];
            self.p.gradient_into(&x, &mut gl);
            for i in 0..N {
                g[i][l] = gl[i];
            }
        }
    }
}

/// log₂ x of a positive x to within 2·10⁻⁵ (any other input gives some finite number), by
/// the exponent's bits and a quintic in the mantissa: integer operations, products and
/// sums only, so every extension rounds it alike and vectorises it without a division.
#[inline(always)]
unsafe fn log2_approx<V: Vector>(x: V) -> V {
    const C: [f64; 5] = [
        1.441_879_776_008_684_6,
        -0.708_863_875_998_740_2,
        0.415_240_960_154_599_6,
        -0.193_510_390_959_215_96,
        0.045_265_504_582_836_18,
    ];
    // SAFETY: the caller runs on `V`'s extension.
    unsafe {
        // 2⁵² + the biased exponent, exactly, without an integer-to-float conversion.
        let e = x
            .exponent_field()
            .sub(V::splat(4_503_599_627_370_496.0 + 1023.0));
        let t = x.mantissa_field().sub(V::splat(1.0));
        let mut p = V::splat(C[4]);
        for c in C[..4].iter().rev() {
            p = V::splat(*c).add(t.mul(p));
        }
        e.add(t.mul(p))
    }
}

/// 2^x for |x| ≤ 100, to within 1.1·10⁻⁷ relative: the nearest integer by the 1.5·2⁵²
/// rounding trick, a quintic for the rest, the integer into the exponent's bits.
#[inline(always)]
unsafe fn exp2_approx<V: Vector>(x: V) -> V {
    const C: [f64; 6] = [
        1.000_000_075_533_061_6,
        0.693_147_206_721_810_6,
        0.240_221_071_748_093_98,
        0.055_503_271_903_365_78,
        0.009_676_046_752_326_887,
        0.001_340_044_171_433_036_3,
    ];
    // SAFETY: the caller runs on `V`'s extension.
    unsafe {
        let round = V::splat(6_755_399_441_055_744.0);
        let r = x.add(round);
        let f = x.sub(r.sub(round));
        let mut p = V::splat(C[5]);
        for c in C[..5].iter().rev() {
            p = V::splat(*c).add(f.mul(p));
        }
        p.scale_by(r, round)
    }
}

/// 1/x of a positive normal x to within 10⁻⁵ relative (enough for an error norm that
/// only steers the step size): a first guess from the bits and two Newton steps
/// (products and sums only).
#[inline(always)]
unsafe fn recip_approx<V: Vector>(x: V) -> V {
    // SAFETY: the caller runs on `V`'s extension.
    unsafe {
        let mut y = x.bits_from(0x7FDE_6238_22FC_16E6);
        for _ in 0..2 {
            y = y.mul(V::splat(2.0).sub(x.mul(y)));
        }
        y
    }
}

/// x^(13/64) (≈ x^(1/5)) by square roots: the initial step's power.
fn fifth_root(x: f64) -> f64 {
    let r8 = x.sqrt().sqrt().sqrt();
    let r16 = r8.sqrt();
    let r64 = r16.sqrt().sqrt();
    r8 * r16 * r64
}

/// Hairer's controller constants as `ode_solvers` sets them for the engine: safety 0.9,
/// step factor within [0.2, 10], exponents 0.17 and 0.04 of err (here of err², halved),
/// fac_old at least 10⁻⁴ (log₂ of its square).
const SAFETY: f64 = 0.9;
const FAC_MIN: f64 = 0.2;
const FAC_MAX: f64 = 10.0;
const ALPHA: f64 = 0.085;
const BETA: f64 = 0.02;
const OLD_FLOOR: f64 = -26.575_424_759_098_9;

/// The state of the lanes for dimension N, L lanes.
struct Kernel<const N: usize, const L: usize, S> {
    surface: S,
    /// The state at the current step's start (after an accepted step: its end).
    w: [[f64; L]; N],
    v: [[f64; L]; N],
    /// The last attempt's start and acceleration there, for the watcher (stored by
    /// [`Self::keep`] only for a block in which a lane goes to the watcher).
    w0: [[f64; L]; N],
    v0: [[f64; L]; N],
    a0: [[f64; L]; N],
    /// Stage derivatives: `kw[s]` is w′ (the stage velocity), `kv[s]` v′; stage 0 is f at
    /// the step's start (first same as last). Stages 1–4 live in registers only; 5 and 6
    /// are stored for Hairer's stiffness estimate (as `w0`).
    kw: [[[f64; L]; N]; 7],
    kv: [[[f64; L]; N]; 7],
    /// The stage state, for a surface's gradient (not kept on a diagonal surface).
    yw: [[f64; L]; N],
    /// The state of stage 5 (at c = 1), for Hairer's stiffness estimate (as `w0`).
    sw: [[f64; L]; N],
    sv: [[f64; L]; N],
    /// ∇E at the last stage's state (not formed on a diagonal surface: see `scale`).
    g: [[f64; L]; N],
    /// −d_i/m per lane on a diagonal surface ([`Surface::diagonal`]).
    scale: [[f64; L]; N],
    /// Each lane's time, the last attempt's start (as `w0`), and the next step size.
    t: [f64; L],
    t0: [f64; L],
    h: [f64; L],
    /// The step size of the last attempt (`h` then holds the next one; as `w0`).
    taken: [f64; L],
    /// log₂ fac_old² of the controller (err² of the last accepted step, floored), and
    /// the lanes whose last attempt was rejected (bit l: lane l).
    old: [f64; L],
    rejected: u64,
    /// The lanes whose attempt ends at t_end.
    last: u64,
    attempts: [u64; L],
    accepted: [u64; L],
    /// The lanes with a run.
    active: u64,
    /// 1/m, μ/m, m, and the envelope's cross weight c.
    inv_m: [f64; L],
    damp: [f64; L],
    mass: [f64; L],
    cross: [f64; L],
    /// The screen's thresholds: the criterion ball (∞: always ask the watcher), the rate
    /// meter's next L², the observer's next time.
    ball: [f64; L],
    rate_next: [f64; L],
    observe_next: [f64; L],
    /// The accepted step count at which the lane's stiffness test is due (`u64::MAX`: never).
    stiff_at: [u64; L],
    rtol: f64,
    atol: f64,
    t_end: f64,
    /// Each lane's attempt budget (`ode_solvers`' n_max: its run's max_steps).
    max_attempts: [u64; L],
    div2: f64,
}

/// What one call of [`Kernel::advance`] leaves for the scalar side: lanes that cannot
/// attempt a step (budget spent, step size underflow) and accepted steps the watcher must
/// see, as bit masks.
#[derive(Clone, Copy)]
struct Masks {
    events: u64,
    fire: u64,
}

impl<const N: usize, const L: usize, S: Surface<N>> Kernel<N, L, S> {
    /// Lanes all idle (no run loaded, every state zero) sharing `(rtol, atol)`, t_end and
    /// the divergence distance², boxed (a few kB of lane arrays).
    fn idle(surface: S, (rtol, atol): (f64, f64), t_end: f64, div2: f64) -> Box<Self> {
        let zero = [[0.0; L]; N];
        Box::new(Kernel {
            surface,
            w: zero,
            v: zero,
            w0: zero,
            v0: zero,
            a0: zero,
            kw: [zero; 7],
            kv: [zero; 7],
            yw: zero,
            sw: zero,
            sv: zero,
            g: zero,
            scale: zero,
            t: [0.0; L],
            t0: [0.0; L],
            h: [0.0; L],
            taken: [0.0; L],
            old: [0.0; L],
            rejected: 0,
            last: 0,
            attempts: [0; L],
            accepted: [0; L],
            active: 0,
            inv_m: [0.0; L],
            damp: [0.0; L],
            mass: [0.0; L],
            cross: [0.0; L],
            ball: [0.0; L],
            rate_next: [0.0; L],
            observe_next: [0.0; L],
            stiff_at: [u64::MAX; L],
            rtol,
            atol,
            t_end,
            max_attempts: [0; L],
            div2,
        })
    }

    /// Lane `l`'s particle: 1/m, μ/m, m and, on a diagonal surface, −d_i/m.
    fn set_particle(&mut self, l: usize, mass: f64, friction: f64) {
        (self.inv_m[l], self.damp[l], self.mass[l]) = (1.0 / mass, friction / mass, mass);
        if let Some(d) = self.surface.diagonal() {
            for i in 0..N {
                self.scale[i][l] = -d[i] * self.inv_m[l];
            }
        }
    }

    /// One attempted step in every busy lane, or (when some lane cannot attempt one) the
    /// lanes that cannot: blocks of G groups of `V`'s lanes, each block's step in
    /// registers (small enough for the compiler to keep there).
    #[inline(always)]
    unsafe fn advance<const SCREEN: bool, V: Vector, const G: usize>(&mut self) -> Masks {
        let events = self.precheck();
        if events != 0 {
            return Masks { events, fire: 0 };
        }
        for l in 0..L {
            self.attempts[l] += self.active >> l & 1;
        }
        let (mut accept, mut fire, mut last) = (0, 0, 0);
        for base in (0..L).step_by(G * V::WIDTH) {
            // SAFETY: the caller runs on `V`'s extension.
            unsafe {
                let (ok, r) = self.attempt::<V, G>(base);
                (accept, last) = (accept | ok, last | r.last);
                if SCREEN {
                    let seen = self.screen(&r, ok);
                    if seen != 0 {
                        self.keep(&r);
                    }
                    fire |= seen;
                }
            }
        }
        self.last = last;
        // The rejected lanes: those active that did not accept; idle ones keep theirs.
        self.rejected = (self.active & !accept) | (self.rejected & !self.active);
        Masks { events: 0, fire }
    }

    /// Lanes out of budget or whose step underflows (`ode_solvers`' tests, in its order).
    #[inline(always)]
    fn precheck(&self) -> u64 {
        let mut mask = 0u64;
        for l in 0..L {
            let spent = self.attempts[l] > self.max_attempts[l];
            let underflow = 0.1 * self.h[l].abs() <= f64::EPSILON * self.t[l].abs();
            mask |= u64::from(spent | underflow) << l;
        }
        mask & self.active
    }

    /// One attempted step in the block of lanes from `base`, held in `V`'s registers with
    /// its G groups interleaved (plain lane arrays come out of the compiler stored and
    /// reloaded between stages, and as masked stores that the next step's loads wait for):
    /// the last step lands on t_end, six stages, the error norm, the controller, and the
    /// accepted lanes' move to the step's end. Returns the accepted lanes and the registers.
    #[inline(always)]
    unsafe fn attempt<V: Vector, const G: usize>(&mut self, base: usize) -> (u64, Regs<V, N, G>) {
        // SAFETY: the caller runs on `V`'s extension.
        unsafe {
            let mut r = Regs::<V, N, G>::load(self, base);
            self.stage::<V, G, 1>(&mut r);
            self.stage::<V, G, 2>(&mut r);
            self.stage::<V, G, 3>(&mut r);
            self.stage::<V, G, 4>(&mut r);
            self.stage::<V, G, 5>(&mut r);
            self.stage::<V, G, 6>(&mut r);
            let err2 = self.error2(&r);
            let accept = self.control(&mut r, &err2);
            self.commit(&r, accept);
            (accept, r)
        }
    }

    /// Stage `S_`: `y = y0 + h Σ_j A[S_][j] k_j`, then `k_S = f(y)` (at S_ = 6, the step's
    /// end and its first-same-as-last derivative).
    #[inline(always)]
    unsafe fn stage<V: Vector, const G: usize, const S_: usize>(&mut self, r: &mut Regs<V, N, G>) {
        // SAFETY: the caller runs on `V`'s extension.
        unsafe {
            for i in 0..N {
                for j in 0..G {
                    let (mut sw, mut sv) = (None::<V>, None::<V>);
                    for s in 0..S_ {
                        if A[S_][s] != 0.0 {
                            let a = V::splat(A[S_][s]);
                            let (tw, tv) = (a.mul(r.kw[s][i][j]), a.mul(r.kv[s][i][j]));
                            sw = Some(sw.map_or(tw, |x| x.add(tw)));
                            sv = Some(sv.map_or(tv, |x| x.add(tv)));
                        }
                    }
                    let (sw, sv) = (sw.expect("a stage term"), sv.expect("a stage term"));
                    r.yw[i][j] = r.w[i][j].add(r.h[j].mul(sw));
                    r.yv[i][j] = r.v[i][j].add(r.h[j].mul(sv));
                }
            }
            if S_ == 5 {
                (r.sw, r.sv) = (r.yw, r.yv);
            }
            let m = *self.surface.minimum();
            let diagonal = self.surface.diagonal().is_some();
            if !diagonal {
                for i in 0..N {
                    for j in 0..G {
                        r.yw[i][j].store(&mut self.yw[i][r.base + j * V::WIDTH..]);
                    }
                }
                let lanes = r.base..r.base + G * V::WIDTH;
                self.surface
                    .gradient(&self.yw, &mut self.g, lanes, self.active);
            }
            for i in 0..N {
                for j in 0..G {
                    r.kw[S_][i][j] = r.yv[i][j];
                    let damped = r.damp[j].mul(r.yv[i][j]);
                    r.kv[S_][i][j] = if diagonal {
                        let x = r.yw[i][j].sub(V::splat(m[i]));
                        r.scale[i][j].mul(x).sub(damped)
                    } else {
                        // `Rhs::eval`'s acceleration: −∇E/m − (μ/m) v.
                        let g = V::load(&self.g[i][r.base + j * V::WIDTH..]);
                        g.mul(V::splat(-1.0)).mul(r.inv_m[j]).sub(damped)
                    };
                }
            }
        }
    }

    /// The square of Hairer's error norm, mean over the state of (e_i / sc_i)², with
    /// e = h Σ (b − b̂)_j k_j and sc_i = atol + rtol·max(|y0_i|, |y1_i|); 1/sc_i by
    /// [`recip_approx`], so no lane waits on a divider.
    #[inline(always)]
    unsafe fn error2<V: Vector, const G: usize>(&self, r: &Regs<V, N, G>) -> [V; G] {
        let e = error_weights();
        // SAFETY: the caller runs on `V`'s extension.
        unsafe {
            let (atol, rtol) = (V::splat(self.atol), V::splat(self.rtol));
            let mut sum = [None::<V>; G];
            for (k, y, y1) in [(&r.kw, &r.w, &r.yw), (&r.kv, &r.v, &r.yv)] {
                for i in 0..N {
                    for j in 0..G {
                        let mut s = None::<V>;
                        for (st, e) in e.iter().enumerate() {
                            if *e != 0.0 {
                                let term = V::splat(*e).mul(k[st][i][j]);
                                s = Some(s.map_or(term, |x| x.add(term)));
                            }
                        }
                        let est = s.expect("an error term").mul(r.h[j]);
                        let sc = atol.add(y[i][j].abs().max(y1[i][j].abs()).mul(rtol));
                        let q = est.mul(recip_approx(sc));
                        let q2 = q.mul(q);
                        sum[j] = Some(sum[j].map_or(q2, |x| x.add(q2)));
                    }
                }
            }
            let inv_dim = V::splat(1.0 / (2 * N) as f64);
            let mut err2 = [V::splat(0.0); G];
            for j in 0..G {
                err2[j] = sum[j].expect("a state").mul(inv_dim);
            }
            err2
        }
    }

    /// Hairer's PI controller (`ode_solvers`' `Controller::accept`) on log₂ err²: accepts
    /// where err ≤ 1 and sets each lane's next step size, h·clamp(0.9·err^−0.17·
    /// fac_old^0.04, 0.2, 10) after an accepted step, h·max(0.2, 0.9·err^−0.17) after a
    /// rejected one — one [`log2_approx`] and one [`exp2_approx`], no division. Returns
    /// the accepted lanes.
    #[inline(always)]
    unsafe fn control<V: Vector, const G: usize>(
        &mut self,
        r: &mut Regs<V, N, G>,
        err2: &[V; G],
    ) -> u64 {
        // Exponents past log₂(0.2/0.9) = −2.17 and log₂(10/0.9) = 3.47 clamp the factor
        // anyway (and keep 2^x finite); literals, not a libm call.
        let (lo, hi) = (-2.18, 3.49);
        let mut accept = 0u64;
        // SAFETY: the caller runs on `V`'s extension.
        unsafe {
            for j in 0..G {
                let (q, h, active) = (err2[j], r.h[j], r.active[j]);
                let lq = log2_approx(q);
                let ok = V::and(q.le_mask(V::splat(1.0)), active);
                let pi = V::splat(BETA).mul(r.old[j]).sub(V::splat(ALPHA).mul(lq));
                let x = V::blend(ok, pi, V::splat(-ALPHA).mul(lq));
                let x = x.max(V::splat(lo)).min(V::splat(hi));
                let fac = V::splat(SAFETY).mul(exp2_approx(x)).max(V::splat(FAC_MIN));
                // Accepted: the PI step, at most h_max = t_end, and no growth right after
                // a rejection. Rejected: the elementary step.
                let grown = h.mul(fac.min(V::splat(FAC_MAX))).min(V::splat(self.t_end));
                let grown = V::blend(r.rejected[j], grown.min(h), grown);
                let shrunk = V::blend(active, h.mul(fac.min(V::splat(SAFETY))), h);
                r.taken[j] = h;
                r.h[j] = V::blend(ok, grown, shrunk);
                r.old[j] = V::blend(ok, lq.max(V::splat(OLD_FLOOR)), r.old[j]);
                accept |= u64::from(V::bits_of(ok)) << (r.base + j * V::WIDTH);
            }
        }
        accept
    }

    /// The registers back into the lane arrays, the accepted lanes moved to the step's end
    /// (their start is kept by [`Self::keep`] when the watcher sees them). Whole stores of
    /// blends: the next step's loads of a masked store's lanes would wait for it to reach
    /// the cache.
    #[inline(always)]
    unsafe fn commit<V: Vector, const G: usize>(&mut self, r: &Regs<V, N, G>, accept: u64) {
        // SAFETY: the caller runs on `V`'s extension.
        unsafe {
            for j in 0..G {
                let at = r.base + j * V::WIDTH;
                let ok = V::mask_of((accept >> at) as u32);
                for i in 0..N {
                    V::blend(ok, r.yw[i][j], r.w[i][j]).store(&mut self.w[i][at..]);
                    V::blend(ok, r.yv[i][j], r.v[i][j]).store(&mut self.v[i][at..]);
                    V::blend(ok, r.kw[6][i][j], r.kw[0][i][j]).store(&mut self.kw[0][i][at..]);
                    V::blend(ok, r.kv[6][i][j], r.kv[0][i][j]).store(&mut self.kv[0][i][at..]);
                }
                // (t + 0 is t: t ≥ 0.)
                r.t[j]
                    .add(V::blend(ok, r.taken[j], V::splat(0.0)))
                    .store(&mut self.t[at..]);
                r.h[j].store(&mut self.h[at..]);
                r.old[j].store(&mut self.old[at..]);
            }
        }
        for l in r.base..r.base + G * V::WIDTH {
            self.accepted[l] += accept >> l & 1;
        }
    }

    /// What the watcher reads of the block's lanes it sees (accepted in this attempt): the
    /// step's start, its size, and the stiffness estimate's last two stages and stage 5's
    /// state. Stored only for a block with such a lane.
    #[inline(always)]
    unsafe fn keep<V: Vector, const G: usize>(&mut self, r: &Regs<V, N, G>) {
        // SAFETY: the caller runs on `V`'s extension.
        unsafe {
            for j in 0..G {
                let at = r.base + j * V::WIDTH;
                for i in 0..N {
                    r.w[i][j].store(&mut self.w0[i][at..]);
                    r.v[i][j].store(&mut self.v0[i][at..]);
                    r.kv[0][i][j].store(&mut self.a0[i][at..]);
                    for s in [5, 6] {
                        r.kw[s][i][j].store(&mut self.kw[s][i][at..]);
                        r.kv[s][i][j].store(&mut self.kv[s][i][at..]);
                    }
                    r.sw[i][j].store(&mut self.sw[i][at..]);
                    r.sv[i][j].store(&mut self.sv[i][at..]);
                }
                r.t[j].store(&mut self.t0[at..]);
                r.taken[j].store(&mut self.taken[at..]);
            }
        }
    }

    /// The accepted lanes the watcher must see: the last step, an observer's time, a
    /// non-finite or far state, a rate-meter sample, an interpolant that may enter the
    /// criterion's ball, a stiffness test. From the registers: the step's start and end.
    #[inline(always)]
    unsafe fn screen<V: Vector, const G: usize>(&self, r: &Regs<V, N, G>, accept: u64) -> u64 {
        let (m, diagonal) = (*self.surface.minimum(), self.surface.diagonal());
        let mut any = r.last;
        for l in r.base..r.base + G * V::WIDTH {
            any |= u64::from(self.accepted[l] >= self.stiff_at[l]) << l;
        }
        // SAFETY: the caller runs on `V`'s extension.
        unsafe {
            let zero = V::splat(0.0);
            let margin = V::splat(1.0 + 1e-9);
            for j in 0..G {
                let at = r.base + j * V::WIDTH;
                let (mut kinetic, mut curvature, mut along) = (zero, zero, zero);
                let (mut d2, mut finite) = (zero, zero);
                for i in 0..N {
                    let x = r.yw[i][j].sub(V::splat(m[i]));
                    let v = r.yv[i][j];
                    // ∇E at the step's end: stage 6's, whose state the end is (bit for bit).
                    let grad = match diagonal {
                        Some(d) => V::splat(d[i]).mul(x),
                        None => V::load(&self.g[i][at..]),
                    };
                    kinetic = kinetic.add(v.mul(v));
                    curvature = curvature.add(x.mul(grad));
                    along = along.add(v.mul(x));
                    d2 = d2.add(x.mul(x));
                    finite = finite.add(r.yw[i][j].add(v).add(r.kv[6][i][j]));
                }
                let q = V::load(&self.mass[at..])
                    .mul(kinetic)
                    .add(curvature)
                    .add(V::load(&self.cross[at..]).mul(along));
                let t = r.t[j].add(r.taken[j]);
                let gap2 = self.gap2(r, j, t);
                let observe = V::load(&self.observe_next[at..]).le_mask(t);
                let lane = V::bits_of(observe)
                    | finite.abs().not_le(V::splat(f64::MAX))
                    | d2.not_le(V::splat(self.div2))
                    | q.lt(V::load(&self.rate_next[at..]).mul(margin))
                    | gap2.lt(V::load(&self.ball[at..]).mul(margin));
                any |= u64::from(lane) << at;
            }
        }
        accept & any
    }

    /// The distance² from w* to the box of the step's quintic Hermite control points in
    /// group `j`, ending at `t`: `Hermite::set_hermite`'s own arithmetic.
    #[inline(always)]
    unsafe fn gap2<V: Vector, const G: usize>(&self, r: &Regs<V, N, G>, j: usize, t: V) -> V {
        let m = *self.surface.minimum();
        // SAFETY: the caller runs on `V`'s extension.
        unsafe {
            let zero = V::splat(0.0);
            let h = t.sub(r.t[j]);
            let (h1, h2) = (h.mul(V::splat(0.2)), h.mul(h).mul(V::splat(0.05)));
            let twice = V::splat(2.0).mul(h1);
            let mut gap2 = zero;
            for i in 0..N {
                let (x0, d0, a0) = (r.w[i][j], r.v[i][j], r.kv[0][i][j]);
                let (x1, d1, a1) = (r.yw[i][j], r.yv[i][j], r.kv[6][i][j]);
                let b = [
                    x0.add(h1.mul(d0)),
                    x0.add(twice.mul(d0)).add(h2.mul(a0)),
                    x1.sub(twice.mul(d1)).add(h2.mul(a1)),
                    x1.sub(h1.mul(d1)),
                    x1,
                ];
                let (mut lo, mut hi) = (x0, x0);
                for p in b {
                    (lo, hi) = (lo.min(p), hi.max(p));
                }
                // Rounding is monotone: fl(min b − m) = min fl(b − m), the watcher's value.
                let (lo, hi) = (lo.sub(V::splat(m[i])), hi.sub(V::splat(m[i])));
                let d = V::blend(
                    zero.lt_mask(lo),
                    lo,
                    V::blend(hi.lt_mask(zero), zero.sub(hi), zero),
                );
                gap2 = gap2.add(d.mul(d));
            }
            gap2
        }
    }
}

/// One attempt's block of lanes in registers of `V`: the state at the step's start, the
/// stages, the stage state, the step and the controller (group j: lanes `base + j·WIDTH`
/// on).
struct Regs<V: Vector, const N: usize, const G: usize> {
    base: usize,
    w: [[V; G]; N],
    v: [[V; G]; N],
    kw: [[[V; G]; N]; 7],
    kv: [[[V; G]; N]; 7],
    yw: [[V; G]; N],
    yv: [[V; G]; N],
    sw: [[V; G]; N],
    sv: [[V; G]; N],
    scale: [[V; G]; N],
    damp: [V; G],
    inv_m: [V; G],
    t: [V; G],
    h: [V; G],
    taken: [V; G],
    old: [V; G],
    active: [V::Mask; G],
    rejected: [V::Mask; G],
    /// The block's lanes whose step is cut to end at t_end.
    last: u64,
}

impl<V: Vector, const N: usize, const G: usize> Regs<V, N, G> {
    /// The block's state from the kernel, with the last step of each lane cut to end at
    /// t_end.
    #[inline(always)]
    unsafe fn load<S: Surface<N>, const L: usize>(k: &Kernel<N, L, S>, base: usize) -> Self {
        // SAFETY: the caller runs on `V`'s extension.
        unsafe {
            let zero = V::splat(0.0);
            let (none, state) = (V::mask_of(0), [[zero; G]; N]);
            let mut r = Regs {
                base,
                w: state,
                v: state,
                kw: [state; 7],
                kv: [state; 7],
                yw: state,
                yv: state,
                sw: state,
                sv: state,
                scale: state,
                damp: [zero; G],
                inv_m: [zero; G],
                t: [zero; G],
                h: [zero; G],
                taken: [zero; G],
                old: [zero; G],
                active: [none; G],
                rejected: [none; G],
                last: 0,
            };
            let t_end = V::splat(k.t_end);
            for j in 0..G {
                let at = base + j * V::WIDTH;
                for i in 0..N {
                    r.w[i][j] = V::load(&k.w[i][at..]);
                    r.v[i][j] = V::load(&k.v[i][at..]);
                    r.kw[0][i][j] = V::load(&k.kw[0][i][at..]);
                    r.kv[0][i][j] = V::load(&k.kv[0][i][at..]);
                    r.scale[i][j] = V::load(&k.scale[i][at..]);
                }
                r.damp[j] = V::load(&k.damp[at..]);
                r.inv_m[j] = V::load(&k.inv_m[at..]);
                r.old[j] = V::load(&k.old[at..]);
                r.active[j] = V::mask_of((k.active >> at) as u32);
                r.rejected[j] = V::mask_of((k.rejected >> at) as u32);
                let (t, h) = (V::load(&k.t[at..]), V::load(&k.h[at..]));
                let ends = zero.lt_mask(t.add(V::splat(1.01).mul(h)).sub(t_end));
                (r.t[j], r.h[j]) = (t, V::blend(ends, t_end.sub(t), h));
                r.last |= u64::from(V::bits_of(ends)) << at;
            }
            r
        }
    }
}

/// [`Kernel::advance`] compiled for each extension, run on `isa` (already capped at what
/// the CPU has by the caller); `SCREEN = false` (benchmarks only) leaves out the screen.
fn advance<const N: usize, const L: usize, S: Surface<N>, const SCREEN: bool>(
    isa: Isa,
    kernel: &mut Kernel<N, L, S>,
) -> Masks {
    crate::simd::on_isa!(
        isa,
        [const N: usize, const L: usize, S: Surface<N>, const SCREEN: bool],
        [N, L, S, SCREEN],
        V,
        fn(kernel: &mut Kernel<N, L, S>) -> Masks {
            // SAFETY: `V` is this copy's vector type. Two groups of it interleave (the
            // stages' latency hidden, the registers still enough); a lane count that is not
            // a multiple of two groups (tests' 1 and 3) takes one lane at a time, the same
            // operations.
            unsafe {
                if L.is_multiple_of(2 * V::WIDTH) {
                    kernel.advance::<SCREEN, V, 2>()
                } else {
                    kernel.advance::<SCREEN, f64, 1>()
                }
            }
        }
    )
}

/// For the benchmarks: [`LANES`] W1 particles (E = ½(6w₁² + 60w₂²), from (1, 1) at
/// rest; `particles[l % len]` in lane l) stepped `attempts` times in lockstep by the
/// kernel alone on `isa`, with or without the screen (whose thresholds never fire here),
/// no watcher; returns the accepted steps.
#[doc(hidden)]
pub fn bench_kernel(isa: Isa, screen: bool, particles: &[(f64, f64)], attempts: u64) -> u64 {
    let isa = isa.min(Isa::best());
    let surface = Diagonal {
        d: [6.0, 60.0],
        m: [0.0, 0.0],
    };
    let mut k = Kernel::<2, LANES, _>::idle(surface, (1e-8, 1e-10), f64::MAX, f64::INFINITY);
    // Every lane busy from (1, 1) at rest with h = 1e-3, no budget, no screen threshold
    // that could fire.
    k.w = [[1.0; LANES]; 2];
    k.h = [1e-3; LANES];
    k.old = [OLD_FLOOR; LANES];
    k.active = u64::MAX >> (64 - LANES);
    k.ball = [f64::NEG_INFINITY; LANES];
    k.rate_next = [f64::NEG_INFINITY; LANES];
    k.observe_next = [f64::INFINITY; LANES];
    k.max_attempts = [u64::MAX; LANES];
    for l in 0..LANES {
        let (m, mu) = particles[l % particles.len()];
        k.set_particle(l, m, mu);
        for i in 0..2 {
            k.kv[0][i][l] = -(k.surface.d[i] * k.w[i][l]) * k.inv_m[l];
        }
    }
    for _ in 0..attempts {
        let masks = if screen {
            advance::<2, LANES, _, true>(isa, &mut k)
        } else {
            advance::<2, LANES, _, false>(isa, &mut k)
        };
        std::hint::black_box(masks.fire);
    }
    k.accepted.iter().sum()
}

/// The lanes with their runs: the kernel, each busy lane's watcher, and the queue.
struct Batch<'a, 'r, const N: usize, const L: usize, S, O: ContinuousObserver> {
    kernel: Box<Kernel<N, L, S>>,
    runs: &'a [ContinuousRun<'r>],
    observers: Vec<Option<&'r mut O>>,
    watches: [Option<Watch<'r, O>>; L],
    jobs: [usize; L],
    /// Evaluations before the lane's first attempt (the watcher's start, the initial step)
    /// and by BDF after a hand-over.
    evals: [u64; L],
    /// The solver a lane's run reports, and its stiffness test (`auto` without a spectrum).
    solvers: [&'static str; L],
    stiff: [Option<Stiffness>; L],
    reports: Vec<Option<Result<RunReport, Error>>>,
    /// The runs not yet loaded, costliest first ([`load_order`]).
    waiting: std::vec::IntoIter<usize>,
    busy: usize,
    /// The screen's criterion ball applies (the distance): otherwise every accepted step
    /// goes to the watcher.
    ball_screen: bool,
}

/// The order in which lanes take the runs: costliest first, so that the long runs start
/// early and the short ones fill the lanes around them, instead of a few long runs
/// finishing alone in a nearly idle kernel. An explicit run's steps grow with the
/// stiffness ratio (docs/solvers.md), the cost used; without a spectrum, the runs' own
/// order. Each lane computes its run alone, so the order changes no result.
fn load_order(runs: &[ContinuousRun<'_>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    if let Some(ks) = runs.first().and_then(|r| r.potential.hessian_spectrum()) {
        let cost: Vec<f64> = runs
            .iter()
            .map(|r| crate::theory::stiffness(r.mass, r.friction, ks))
            .collect();
        order.sort_by(|&a, &b| cost[b].total_cmp(&cost[a]));
    }
    order
}

/// The set bits of a mask, lowest first.
fn lanes_of(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let l = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            l
        })
    })
}

impl<'a, 'r, const N: usize, const L: usize, S: Surface<N>, O: ContinuousObserver + 'r>
    Batch<'a, 'r, N, L, S, O>
{
    fn run(
        isa: Isa,
        surface: S,
        runs: &'a [ContinuousRun<'r>],
        observers: impl Iterator<Item = &'r mut O>,
    ) -> Vec<Result<RunReport, Error>> {
        let isa = isa.min(Isa::best());
        let (spec, stop) = (runs[0].spec, runs[0].stop);
        // The kernel shares the tolerances, t_end and the stop rule across its lanes.
        assert!(
            runs.iter().all(|r| (r.spec.rtol, r.spec.atol, r.spec.t_end)
                == (spec.rtol, spec.atol, spec.t_end)
                && r.stop.criterion == stop.criterion
                && (r.stop.tolerance, r.stop.divergence) == (stop.tolerance, stop.divergence)),
            "runs in lanes share their tolerances, t_end and stop rule"
        );
        let kernel = Kernel::idle(
            surface,
            (spec.rtol, spec.atol),
            spec.t_end,
            stop.divergence2(),
        );
        let mut batch = Batch {
            kernel,
            runs,
            observers: observers.map(Some).collect(),
            watches: std::array::from_fn(|_| None),
            jobs: [0; L],
            evals: [0; L],
            solvers: [Method::Dopri5.as_str(); L],
            stiff: [None; L],
            reports: (0..runs.len()).map(|_| None).collect(),
            waiting: load_order(runs).into_iter(),
            busy: 0,
            ball_screen: stop.criterion == Criterion::Distance,
        };
        for l in 0..L {
            batch.idle(l);
            batch.fill(l);
        }
        while batch.busy > 0 {
            let masks = advance::<N, L, S, true>(isa, &mut batch.kernel);
            for l in lanes_of(masks.events) {
                batch.fail(l);
                batch.fill(l);
            }
            for l in lanes_of(masks.fire) {
                if batch.watch_step(l) {
                    batch.finish(l);
                    batch.fill(l);
                }
            }
        }
        batch
            .reports
            .into_iter()
            .map(|r| r.expect("every run reported"))
            .collect()
    }

    /// Gives lane `l` the next waiting run that does not end at its start, or parks it.
    fn fill(&mut self, l: usize) {
        while let Some(j) = self.waiting.next() {
            if self.load(l, j) {
                self.busy += 1;
                return;
            }
        }
        self.idle(l);
    }

    /// Parks lane `l` at rest at the minimum: it steps with the others, changing nothing.
    fn idle(&mut self, l: usize) {
        let k = &mut *self.kernel;
        let m = *k.surface.minimum();
        for i in 0..N {
            (k.w[i][l], k.v[i][l], k.kw[0][i][l], k.kv[0][i][l]) = (m[i], 0.0, 0.0, 0.0);
        }
        (k.t[l], k.h[l]) = (0.0, 1.0);
        k.active &= !(1 << l);
        (k.inv_m[l], k.damp[l], k.mass[l], k.cross[l]) = (1.0, 1.0, 1.0, 0.0);
    }

    /// Starts run `j` in lane `l`: its watcher's start, the initial step size; false when
    /// the run ended at its start (its report is then written).
    fn load(&mut self, l: usize, j: usize) -> bool {
        let run = &self.runs[j];
        let observer = self.observers[j].take().expect("each run loaded once");
        let mut watch = Watch::new(run, observer);
        let rhs = Rhs::new(run, run.potential);
        let mut y = [0.0; 2 * MAX_LANE_DIM];
        y[..N].copy_from_slice(run.position);
        y[N..2 * N].copy_from_slice(run.velocity);
        let y = &y[..2 * N];
        if watch.start(&rhs, y) {
            self.reports[j] = Some(watch.report(rhs.evaluations(), Method::Dopri5.as_str()));
            return false;
        }
        let mut f0 = [0.0; 2 * MAX_LANE_DIM];
        rhs.eval(0.0, y, &mut f0[..2 * N]);
        let h = initial_step(&rhs, run, y, &f0[..2 * N]);
        let k = &mut *self.kernel;
        for i in 0..N {
            (k.w[i][l], k.v[i][l]) = (y[i], y[N + i]);
            (k.kw[0][i][l], k.kv[0][i][l]) = (f0[i], f0[N + i]);
        }
        (k.t[l], k.h[l], k.old[l]) = (0.0, h, OLD_FLOOR);
        k.rejected &= !(1 << l);
        k.last &= !(1 << l);
        k.active |= 1 << l;
        (k.attempts[l], k.accepted[l]) = (0, 0);
        k.max_attempts[l] = u64::from(u32::try_from(run.spec.max_steps).unwrap_or(u32::MAX));
        k.set_particle(l, run.mass, run.friction);
        self.evals[l] = rhs.evaluations();
        self.solvers[l] = Method::Dopri5.as_str();
        self.stiff[l] = run.stiffness_fallback().then_some(Stiffness::default());
        k.stiff_at[l] = if self.stiff[l].is_some() {
            STIFFNESS_TEST_EVERY
        } else {
            u64::MAX
        };
        self.jobs[l] = j;
        self.watches[l] = Some(watch);
        self.refresh(l);
        true
    }

    /// The screen's thresholds of lane `l` from its watcher.
    fn refresh(&mut self, l: usize) {
        let watch = self.watches[l].as_ref().expect("a busy lane");
        let k = &mut *self.kernel;
        k.ball[l] = if self.ball_screen {
            let (loose, tight) = watch.balls();
            if watch.crossings().loose.is_none() {
                loose
            } else {
                tight
            }
        } else {
            f64::INFINITY
        };
        (k.rate_next[l], k.cross[l]) = watch.rate_screen().unwrap_or((f64::NEG_INFINITY, 0.0));
        k.observe_next[l] = watch.next_observation();
    }

    /// Lane `l`'s accepted step, seen by its watcher; true if the run ended there.
    fn watch_step(&mut self, l: usize) -> bool {
        let k = &*self.kernel;
        let mut y0 = [0.0; 2 * MAX_LANE_DIM];
        let (mut dy0, mut y1, mut dy1) = (y0, y0, y0);
        for i in 0..N {
            (y0[i], y0[N + i]) = (k.w0[i][l], k.v0[i][l]);
            (dy0[i], dy0[N + i]) = (k.v0[i][l], k.a0[i][l]);
            (y1[i], y1[N + i]) = (k.w[i][l], k.v[i][l]);
            (dy1[i], dy1[N + i]) = (k.kw[0][i][l], k.kv[0][i][l]);
        }
        let (t0, t1, steps, last) = (k.t0[l], k.t[l], k.accepted[l], k.last >> l & 1 != 0);
        let run = &self.runs[self.jobs[l]];
        let rhs = Rhs::new(run, run.potential);
        let d = 2 * N;
        if self.stiff[l].is_some() && steps >= k.stiff_at[l] && self.stiffness_test(l) {
            // `ode_solvers` raises it before `solout`: the step is not watched, BDF goes on
            // from its start.
            self.hand_to_bdf(l, &y0[..d], &dy0[..d]);
            return true;
        }
        let watch = self.watches[l].as_mut().expect("a busy lane");
        watch.resume(steps - 1, t0, &y0[..d], &dy0[..d]);
        if watch.on_step(&rhs, t1, &y1[..d], &dy1[..d]) {
            return true;
        }
        if last {
            // `ode_solvers` ends its loop after the step to t_end.
            watch.close(Status::NotConverged);
            return true;
        }
        self.refresh(l);
        false
    }

    /// Hairer's stiffness test at lane `l`'s accepted step (`ode_solvers`' Dopri5: h·λ̂ >
    /// 3.25 from the last two stages, fifteen times in a row ends it; six non-stiff tests in
    /// a row reset the count); true when the run is found stiff. Sets the next test.
    fn stiffness_test(&mut self, l: usize) -> bool {
        let k = &mut *self.kernel;
        let (mut num, mut den) = (0.0, 0.0);
        for (stages, y1, ys) in [(&k.kw, &k.w, &k.sw), (&k.kv, &k.v, &k.sv)] {
            for i in 0..N {
                let dk = stages[6][i][l] - stages[5][i][l];
                num += dk * dk;
                let dy = y1[i][l] - ys[i][l];
                den += dy * dy;
            }
        }
        let h_lamb = if den > 0.0 {
            k.taken[l] * (num / den).sqrt()
        } else {
            0.0
        };
        let stiff = self.stiff[l]
            .as_mut()
            .expect("a lane with the stiffness test");
        if h_lamb > 3.25 {
            stiff.iasti += 1;
            stiff.non_stiff = 0;
            if stiff.iasti == 15 {
                return true;
            }
        } else {
            stiff.non_stiff += 1;
            if stiff.non_stiff == 6 {
                stiff.iasti = 0;
            }
        }
        let accepted = k.accepted[l];
        k.stiff_at[l] = if stiff.iasti > 0 {
            accepted + 1
        } else {
            (accepted / STIFFNESS_TEST_EVERY + 1) * STIFFNESS_TEST_EVERY
        };
        false
    }

    /// Lane `l`'s run found stiff: BDF goes on from the start `(y0, dy0)` of its last
    /// accepted step with what is left of the step budget, as `ContinuousRun::run` does.
    fn hand_to_bdf(&mut self, l: usize, y0: &[f64], dy0: &[f64]) {
        let (t0, steps) = (self.kernel.t0[l], self.kernel.accepted[l]);
        let run = &self.runs[self.jobs[l]];
        let rhs = Rhs::new(run, run.potential);
        let watch = self.watches[l].as_mut().expect("a busy lane");
        watch.resume(steps - 1, t0, y0, dy0);
        watch.stale_derivative = true;
        let rest = ContinuousSpec {
            max_steps: run.spec.max_steps.saturating_sub(watch.steps).max(1),
            ..*run.spec
        };
        match integrate_bdf(&rhs, watch, y0, t0, &rest) {
            Ok(()) if watch.status.is_none() => watch.close(Status::NotConverged),
            Ok(()) => {}
            Err(e) => watch.close(Status::Failed(e.to_string())),
        }
        self.solvers[l] = "dopri5+bdf";
        self.evals[l] += rhs.evaluations();
    }

    /// Lane `l` cannot attempt its next step: the run fails at its last accepted step, with
    /// `ode_solvers`' note.
    fn fail(&mut self, l: usize) {
        use ode_solvers::dop_shared::IntegrationError;
        let k = &*self.kernel;
        let mut y = [0.0; 2 * MAX_LANE_DIM];
        let mut dy = y;
        for i in 0..N {
            (y[i], y[N + i]) = (k.w[i][l], k.v[i][l]);
            (dy[i], dy[N + i]) = (k.kw[0][i][l], k.kv[0][i][l]);
        }
        let (t, steps, attempts) = (k.t[l], k.accepted[l], k.attempts[l]);
        let error = if attempts > k.max_attempts[l] {
            IntegrationError::MaxNumStepReached {
                x: t,
                n_step: u32::try_from(attempts).unwrap_or(u32::MAX),
            }
        } else {
            IntegrationError::StepSizeUnderflow { x: t }
        };
        let spec = self.runs[self.jobs[l]].spec;
        let watch = self.watches[l].as_mut().expect("a busy lane");
        watch.resume(steps, t, &y[..2 * N], &dy[..2 * N]);
        watch.close(Status::Failed(failure_note(&error, spec)));
        self.finish(l);
    }

    /// Lane `l`'s run has ended: its report.
    fn finish(&mut self, l: usize) {
        let watch = self.watches[l].take().expect("a busy lane");
        let evaluations = self.evals[l] + 6 * self.kernel.attempts[l];
        self.reports[self.jobs[l]] = Some(watch.report(evaluations, self.solvers[l]));
        self.kernel.active &= !(1 << l);
        self.busy -= 1;
    }
}

/// Accepted steps between two stiffness tests (Hairer's default, as `continuous`).
const STIFFNESS_TEST_EVERY: u64 = 1000;

/// A lane's stiffness test state: stiff tests in a row, then non-stiff ones.
#[derive(Clone, Copy, Default)]
struct Stiffness {
    iasti: u32,
    non_stiff: u32,
}

/// Hairer's initial step size (`ode_solvers`' `hinit`, its fifth root by square roots),
/// from the start `y` and `f0 = f(0, y)`; one more evaluation of f.
fn initial_step<P: Potential + ?Sized>(
    rhs: &Rhs<'_, P>,
    run: &ContinuousRun<'_>,
    y: &[f64],
    f0: &[f64],
) -> f64 {
    let (rtol, atol, h_max) = (run.spec.rtol, run.spec.atol, run.spec.t_end);
    let (mut d0, mut d1) = (0.0, 0.0);
    for (yi, fi) in y.iter().zip(f0) {
        let sc = atol + yi.abs() * rtol;
        d0 += (yi / sc) * (yi / sc);
        d1 += (fi / sc) * (fi / sc);
    }
    let h0 = if d0 < 1e-10 || d1 < 1e-10 {
        1e-6
    } else {
        0.01 * (d0 / d1).sqrt()
    };
    let h0 = h0.min(h_max);
    let mut y1 = [0.0; 2 * MAX_LANE_DIM];
    let mut f1 = [0.0; 2 * MAX_LANE_DIM];
    let d = y.len();
    for i in 0..d {
        y1[i] = y[i] + f0[i] * h0;
    }
    rhs.eval(h0, &y1[..d], &mut f1[..d]);
    let mut d2 = 0.0;
    for i in 0..d {
        let sc = atol + y[i].abs() * rtol;
        let r = (f1[i] - f0[i]) / sc;
        d2 += r * r;
    }
    let d2 = d2.sqrt() / h0;
    let h1 = if d1.sqrt().max(d2.abs()) <= 1e-15 {
        1e-6f64.max(h0.abs() * 1e-3)
    } else {
        fifth_root(0.01 / d1.sqrt().max(d2))
    };
    (100.0 * h0.abs()).min(h1.min(h_max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamics::ContinuousSpec;
    use crate::observe::{StopRule, StopSpec};
    use crate::potential::{HessianSpec, Quadratic};

    /// The controller's arithmetic against the standard library's correctly rounded
    /// functions, over the ranges it meets: log₂ within 2·10⁻⁵, 2^x within 1.1·10⁻⁷
    /// relative, 1/x within 10⁻⁵ relative; and the special inputs it must survive.
    #[test]
    fn controller_arithmetic_is_within_its_bounds() {
        // SAFETY: plain f64 runs everywhere.
        let log2_approx = |x: f64| unsafe { log2_approx::<f64>(x) };
        let exp2_approx = |x: f64| unsafe { exp2_approx::<f64>(x) };
        let recip_approx = |x: f64| unsafe { recip_approx::<f64>(x) };
        let mut x = 1e-300;
        while x < 1e300 {
            for f in [1.0, 1.234_567, 1.5, 1.999_999] {
                let y = x * f;
                assert!((log2_approx(y) - y.log2()).abs() <= 2e-5, "log2 {y}");
                assert!((recip_approx(y) * y - 1.0).abs() <= 1e-5, "1/{y}");
            }
            x *= 7.3;
        }
        for i in -2000..=2000 {
            let x = f64::from(i) * 0.05 + 0.001;
            assert!((exp2_approx(x) / x.exp2() - 1.0).abs() <= 1.1e-7, "2^{x}");
        }
        // err = 0 (log₂ of 0 is the exponent's floor) and err² NaN or ∞ stay finite.
        assert_eq!(log2_approx(0.0), -1023.0);
        for q in [f64::NAN, f64::INFINITY] {
            assert!(log2_approx(q).is_finite() && log2_approx(q) >= 1024.0);
        }
        assert_eq!(exp2_approx(0.0), 1.000_000_075_533_061_6);
    }

    /// Runs of every ending on one surface: converging (W1's particles), out of time,
    /// out of step budget, diverging, converged at the start.
    fn mixed_runs<'a>(
        q: &'a Quadratic,
        specs: &'a [ContinuousSpec; 2],
        starts: &'a [(Vec<f64>, Vec<f64>)],
        stop: StopRule,
    ) -> Vec<ContinuousRun<'a>> {
        let particles = [
            (0.01, 0.1),
            (0.1, 1.0),
            (1.0, 0.3),
            (10.0, 31.6),
            (0.5, 2.0),
        ];
        (0..40)
            .map(|j| {
                let (mass, friction) = particles[j % particles.len()];
                let (position, velocity) = &starts[j % starts.len()];
                ContinuousRun {
                    potential: q,
                    mass,
                    friction: friction * (1.0 + 0.01 * j as f64),
                    position,
                    velocity,
                    spec: &specs[usize::from(j % 7 == 3)],
                    stop,
                    noise: None,
                }
            })
            .collect()
    }

    /// Every report as its exact text (Debug prints every f64 to the bit).
    fn bits(reports: &[RunReport]) -> Vec<String> {
        reports.iter().map(|r| format!("{r:?}")).collect()
    }

    fn lanes_of_width<const L: usize>(isa: Isa, runs: &[ContinuousRun<'_>]) -> Vec<String> {
        let mut units = vec![(); runs.len()];
        let reports: Vec<RunReport> = run_observed::<(), L>(isa, runs, units.iter_mut())
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        bits(&reports)
    }

    /// A point's report is the same bits in any lane width, on any extension, among any
    /// neighbours, and alone (a single run through `ContinuousRun::run`).
    #[test]
    fn reports_do_not_depend_on_lanes_extension_or_neighbours() {
        for hessian in [
            HessianSpec::Diagonal(vec![6.0, 60.0]),
            HessianSpec::Dense(vec![vec![6.0, 2.0], vec![2.0, 60.0]]),
        ] {
            let q = Quadratic::new(&hessian, vec![0.25, -0.5]).unwrap();
            let base = ContinuousSpec {
                method: Method::Dopri5,
                t_end: 60.0,
                ..ContinuousSpec::default()
            };
            let specs = [
                base,
                ContinuousSpec {
                    max_steps: 40,
                    ..base
                },
            ];
            let stop = StopRule::new(&StopSpec {
                criterion: Criterion::Distance,
                tolerance: 1e-6,
                divergence: 2.5,
            });
            let starts = vec![
                (vec![1.0, 1.0], vec![0.0, 0.0]),
                (vec![0.25, -0.5], vec![0.0, 0.0]),
                (vec![1.0, 1.0], vec![30.0, 0.0]),
                (vec![-0.5, 0.3], vec![0.2, -1.0]),
            ];
            let runs = mixed_runs(&q, &specs, &starts, stop);
            assert!(runs.iter().all(lane_ready));
            let alone: Vec<RunReport> = runs.iter().map(|r| r.run(&mut ()).unwrap()).collect();
            let statuses: Vec<&str> = alone.iter().map(|r| r.status.as_str()).collect();
            for s in ["converged", "diverged", "failed"] {
                assert!(statuses.contains(&s), "no {s} run among {statuses:?}");
            }
            let want = bits(&alone);
            for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
                assert_eq!(lanes_of_width::<1>(isa, &runs), want, "{isa:?}, 1 lane");
                assert_eq!(lanes_of_width::<3>(isa, &runs), want, "{isa:?}, 3 lanes");
                assert_eq!(lanes_of_width::<LANES>(isa, &runs), want, "{isa:?}");
                // Other neighbours: the runs in reverse order.
                let reversed: Vec<ContinuousRun<'_>> = runs.iter().rev().copied().collect();
                let mut back = lanes_of_width::<LANES>(isa, &reversed);
                back.reverse();
                assert_eq!(back, want, "{isa:?}, reversed");
            }
        }
    }

    /// Any potential (here Rosenbrock's, gradient lane by lane; and `auto` without a
    /// spectrum, with its stiffness test): the same bits in any lane width, on any
    /// extension, and alone.
    #[test]
    fn a_general_potential_is_the_same_in_lanes_and_alone() {
        let p = crate::potential::Rosenbrock::new(1.0, 10.0).unwrap();
        for method in [Method::Dopri5, Method::Auto] {
            let spec = ContinuousSpec {
                method,
                t_end: 30.0,
                ..ContinuousSpec::default()
            };
            let stop = StopRule::new(&StopSpec::default());
            let starts: Vec<(Vec<f64>, Vec<f64>)> = (0..12)
                .map(|j| (vec![-1.0 + 0.2 * j as f64, 0.5], vec![0.0, 0.1 * j as f64]))
                .collect();
            let runs: Vec<ContinuousRun<'_>> = starts
                .iter()
                .enumerate()
                .map(|(j, (position, velocity))| ContinuousRun {
                    potential: &p,
                    mass: 0.5 + 0.25 * j as f64,
                    friction: 1.0 + 0.5 * j as f64,
                    position,
                    velocity,
                    spec: &spec,
                    stop,
                    noise: None,
                })
                .collect();
            assert!(runs.iter().all(lane_ready));
            let alone: Vec<RunReport> = runs.iter().map(|r| r.run(&mut ()).unwrap()).collect();
            assert!(alone.iter().any(|r| r.status == Status::Converged));
            let want = bits(&alone);
            for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
                assert_eq!(lanes_of_width::<1>(isa, &runs), want, "{isa:?}, 1 lane");
                assert_eq!(lanes_of_width::<LANES>(isa, &runs), want, "{isa:?}");
            }
        }
    }
}
