//! Test oracle: the exact trajectory of the particle on a quadratic with a diagonal
//! Hessian, and the exact first time it comes within `tol` of the minimum.
//!
//! Every eigen-direction obeys `m x'' + μ x' + k x = 0` and is solved in closed form by
//! [`heavyball::theory::exact_component`], so `|w(t) − w*|` is known to ~1e-15 relative at
//! any `t`. [`first_crossing`] turns that into a convergence time accurate to ~1 ulp, the
//! reference the ODE solvers' `t_conv` is compared with. It follows
//! `/work/shared/peers/exact.py` (the Python peer's oracle) so the two agree to ~1e-15.
//!
//! Included by integration tests through `mod common;`; not every test uses every item.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]
#![allow(dead_code)]

use heavyball::theory::{Roots, continuous_roots, exact_component};

/// Exact state `(w(t), w'(t))` (offsets from the minimum, and velocities) of the particle
/// with mass `m ≥ 0` and friction `mu > 0` on `E = ½ Σ k_i w_i²`, started at `w0`, `v0`.
/// For `m = 0` the velocity is `−k_i w_i/μ` and `v0` is ignored.
pub fn exact_state(
    m: f64,
    mu: f64,
    ks: &[f64],
    w0: &[f64],
    v0: &[f64],
    t: f64,
) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(ks.len(), w0.len(), "one initial position per eigenvalue");
    assert_eq!(ks.len(), v0.len(), "one initial velocity per eigenvalue");
    ks.iter()
        .zip(w0)
        .zip(v0)
        .map(|((&k, &x0), &u0)| exact_component(m, mu, k, x0, u0, t))
        .unzip()
}

/// The largest coordinate error of recorded positions `(t, w(t))` against [`exact_state`]
/// (the global error an order test compares across step sizes).
pub fn max_position_error<'a>(
    m: f64,
    mu: f64,
    ks: &[f64],
    w0: &[f64],
    v0: &[f64],
    rows: impl IntoIterator<Item = (f64, &'a [f64])>,
) -> f64 {
    rows.into_iter()
        .map(|(t, w)| {
            let (we, _) = exact_state(m, mu, ks, w0, v0, t);
            w.iter()
                .zip(&we)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        })
        .fold(0.0, f64::max)
}

/// Exact distance `|w(t) − w*|` to the minimum along the same trajectory as
/// [`exact_state`].
pub fn exact_distance(m: f64, mu: f64, ks: &[f64], w0: &[f64], v0: &[f64], t: f64) -> f64 {
    squared_distance(m, mu, ks, w0, v0, t).sqrt()
}

/// `|w(t) − w*|²`, summed in component order (what the criterion compares with `tol²`).
fn squared_distance(m: f64, mu: f64, ks: &[f64], w0: &[f64], v0: &[f64], t: f64) -> f64 {
    ks.iter()
        .zip(w0)
        .zip(v0)
        .map(|((&k, &x0), &u0)| {
            let x = exact_component(m, mu, k, x0, u0, t).0;
            x * x
        })
        .sum()
}

/// Largest scan step anywhere, as in exact.py.
const MAX_STEP: f64 = 0.01;
/// A component whose envelope is below `ENVELOPE_FLOOR · tol` can no longer shape a dip of
/// `|w|` through `tol`, so its fine time scale stops constraining the scan.
const ENVELOPE_FLOOR: f64 = 1e-9;

/// Fine time scale of one component and how long it matters: the scan step is
/// `min(MAX_STEP, step of every component still alive at t)`.
struct Resolution {
    step: f64,
    until: f64,
}

/// Time after which `B e^{−rate·t}` stays below `floor` (0 if it already is).
fn envelope_end(b: f64, rate: f64, floor: f64) -> f64 {
    if b <= floor {
        0.0
    } else if rate > 0.0 {
        (b / floor).ln() / rate
    } else {
        f64::INFINITY
    }
}

/// What the scan must resolve in one component.
///
/// * oscillating: 1/1000 of the period (as exact.py) and 1/20 of the decay time `1/γ`
///   (near critical damping the zero of `x` sits on that scale, not on the period's);
/// * critically damped: one zero of `(c1 + c2 t) e^{−γt}` at most, on the scale `1/γ`;
/// * overdamped: at most one zero, made by the fast mode `c2 e^{λ_fast t}` — resolved
///   with 1/20 of its time scale while it is alive; afterwards `x` is a single decaying
///   exponential with no structure;
/// * massless: `x0 e^{−kt/μ}` is monotone, nothing to resolve.
fn resolution(m: f64, mu: f64, k: f64, x0: f64, v0: f64, tol: f64) -> Option<Resolution> {
    let floor = ENVELOPE_FLOOR * tol;
    // Bound (|x0| + |v0 + γ x0| t) e^{−γt} ≤ (|x0| + 2|v0 + γ x0|/(eγ)) e^{−γt/2},
    // since t e^{−γt/2} ≤ 2/(eγ): valid for the critical and underdamped forms.
    let linear_window = |gamma: f64| {
        let b = x0.abs() + 2.0 * (v0 + gamma * x0).abs() / (std::f64::consts::E * gamma);
        envelope_end(b, 0.5 * gamma, floor)
    };
    match continuous_roots(m, mu, k) {
        Roots::Massless(_) => None,
        Roots::Real(slow, fast) => {
            // x = c1 e^{slow t} + c2 e^{fast t}, c2 = (slow x0 − v0)/(slow − fast).
            let c2 = (slow * x0 - v0) / (slow - fast);
            Some(Resolution {
                step: 1.0 / (20.0 * fast.abs()),
                until: envelope_end(c2.abs(), -fast, floor),
            })
        }
        Roots::Repeated(l) => Some(Resolution {
            step: 1.0 / (20.0 * l.abs()),
            until: linear_window(-l),
        }),
        Roots::Complex { re, im } => {
            let gamma = -re;
            // Exact amplitude of e^{−γt}(x0 cos Ωt + (v0 + γx0)/Ω sin Ωt).
            let amplitude = x0.hypot((v0 + gamma * x0) / im);
            let until = envelope_end(amplitude, gamma, floor).min(if gamma > 0.0 {
                linear_window(gamma)
            } else {
                f64::INFINITY
            });
            let period = 2.0 * std::f64::consts::PI / im;
            Some(Resolution {
                step: (period / 1000.0).min(1.0 / (20.0 * gamma)),
                until,
            })
        }
    }
}

/// Golden-section search for the minimum of `f` on `[a, b]`, stopped as soon as a
/// negative value is seen (returned as `Some(t)` with `f(t) < 0`), else after the
/// bracket shrinks to ~1e-15 (or to a few ulp, for large `t`): `None`.
fn dip_below_zero(f: &impl Fn(f64) -> f64, mut a: f64, mut b: f64) -> Option<f64> {
    const INV_PHI: f64 = 0.618_033_988_749_894_8; // (√5 − 1)/2
    let tol = 1e-15_f64.max(4.0 * f64::EPSILON * b.abs());
    let mut c = b - INV_PHI * (b - a);
    let mut d = a + INV_PHI * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..200 {
        if fc < 0.0 {
            return Some(c);
        }
        if fd < 0.0 {
            return Some(d);
        }
        if b - a <= tol {
            break;
        }
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - INV_PHI * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + INV_PHI * (b - a);
            fd = f(d);
        }
    }
    None
}

/// Bisection of `f(a) ≥ 0 > f(b)` down to adjacent floating-point numbers; returns the
/// first of them with `f < 0`, i.e. the crossing to within one ulp.
fn bisect(f: &impl Fn(f64) -> f64, mut a: f64, mut b: f64) -> f64 {
    loop {
        let mid = a + 0.5 * (b - a);
        if mid <= a || mid >= b {
            return b;
        }
        if f(mid) < 0.0 {
            b = mid;
        } else {
            a = mid;
        }
    }
}

/// Exact first time `t ∈ [0, t_end]` with `|w(t) − w*| < tol` for the particle of mass
/// `m ≥ 0` and friction `mu > 0` on the quadratic with diagonal Hessian `ks`, started at
/// offset `w0` from the minimum with velocity `v0`; `None` if it does not get there by
/// `t_end`. Built on [`heavyball::theory::exact_component`].
///
/// Method (as `/work/shared/peers/exact.py`): `f(t) = |w(t)|² − tol²` is sampled on a fine
/// grid — step `min(period/1000, 0.01)`, refined to the fast time scales of overdamped
/// and critically damped components while those still matter (see [`resolution`]). Every
/// sampled local minimum of `f` before the first negative sample gets a golden-section
/// search (to 1e-15) for a hidden dip below zero, so a narrow dip between two samples is
/// not missed; the first bracket found (dip or sign change) is then bisected to adjacent
/// floats, about 1e-16 relative.
pub fn first_crossing(
    m: f64,
    mu: f64,
    ks: &[f64],
    w0: &[f64],
    v0: &[f64],
    tol: f64,
    t_end: f64,
) -> Option<f64> {
    assert_eq!(ks.len(), w0.len(), "one initial position per eigenvalue");
    assert_eq!(ks.len(), v0.len(), "one initial velocity per eigenvalue");
    let tol2 = tol * tol;
    let f = |t: f64| squared_distance(m, mu, ks, w0, v0, t) - tol2;
    let resolutions: Vec<Resolution> = ks
        .iter()
        .zip(w0)
        .zip(v0)
        .filter_map(|((&k, &x0), &u0)| resolution(m, mu, k, x0, u0, tol))
        .collect();
    let step_at = |t: f64| {
        resolutions
            .iter()
            .filter(|r| r.until > t)
            .map(|r| r.step)
            .fold(MAX_STEP, f64::min)
    };

    let f0 = f(0.0);
    if f0 < 0.0 {
        return Some(0.0);
    }
    // Last two samples, oldest first: (t, f(t)).
    let mut before: Option<(f64, f64)> = None;
    let (mut t_prev, mut f_prev) = (0.0, f0);
    while t_prev < t_end {
        let t = (t_prev + step_at(t_prev)).min(t_end);
        let ft = f(t);
        if ft < 0.0 {
            // No hidden dip before (checked sample by sample), so this is the first one.
            return Some(bisect(&f, t_prev, t));
        }
        // A sampled local minimum at t_prev: look inside [t_before, t] for a hidden dip.
        if let Some((t_before, f_before)) = before
            && f_prev < f_before
            && f_prev <= ft
            && let Some(t_neg) = dip_below_zero(&f, t_before, t)
        {
            // f is unimodal on the bracket, so the crossing in [t_before, t_neg] is the
            // first one.
            return Some(bisect(&f, t_before, t_neg));
        }
        before = Some((t_prev, f_prev));
        (t_prev, f_prev) = (t, ft);
    }
    None
}
