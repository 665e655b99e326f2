//! Closed forms of the damped-particle picture of momentum (docs/theory.md §2–§5).
//!
//! Near a minimum every eigen-direction of the Hessian is an independent damped
//! oscillator `m x'' + μ x' + k x = 0` (Qian 1999, Q10–Q20), and every discrete scheme is
//! a 2×2 linear recurrence per eigen-direction (Q26–Q36). This module holds the formulas
//! for both halves — roots, decay rates, speed-up factors, exact trajectories, spectral
//! radii, stability regions and optimal parameters — as pure functions of `f64`s: no I/O,
//! no state, no dependence on the rest of the crate. The engine uses them for reporting
//! and the tests use them as oracles, so each one is written to be accurate to a few ulp
//! where the mathematics allows it (see the notes on cancellation below), not just
//! "correct on paper".
//!
//! Conventions: `m ≥ 0` mass, `mu` (μ) `> 0` friction, `k` a Hessian eigenvalue (spring
//! constant), `eps` (ε) the learning rate, `p` the momentum coefficient, `dt` (Δt) the time
//! step. Functions do not validate their inputs (validation belongs to the scenario layer);
//! outside the documented domain they return whatever IEEE arithmetic gives.

/// Discriminant `μ² − 4mk` of the characteristic polynomial `m λ² + μ λ + k` (Q20),
/// evaluated to within a couple of ulp of the exact value for the given `f64` inputs.
///
/// Its sign decides the damping regime; every function in this module that classifies a
/// regime uses this one function, so they all agree on the boundary cases. It is zero
/// (critical damping) exactly when `μ² = 4mk` holds for the stored numbers, e.g. for
/// `m = 1, μ = 4, k = 4`; a rounded `μ = 2·sqrt(m k)` usually lands a hair to one side.
///
/// Why not plain `μ·μ − 4·m·k`: near critical damping that subtraction cancels, and its
/// rounding error (~1e-16·μ² absolute) is all that is left. The exact solution depends
/// smoothly on the discriminant, but over long times (`t ≫ m/μ`) that error shows up at
/// the ~1e-12 level. Two fused multiply-adds remove it: `m·k = p + e` exactly, then
/// `μ² − 4p` is rounded once.
pub fn discriminant(m: f64, mu: f64, k: f64) -> f64 {
    let p = m * k;
    let e = m.mul_add(k, -p); // exact rounding error of m·k
    mu.mul_add(mu, -4.0 * p) - 4.0 * e
}

/// The discriminant as `(d, σ)` with `μ² − 4mk = d·σ²`: [`discriminant`] itself (σ = 1)
/// wherever that is a number; where μ² or 4mk overflows (μ beyond ~1e154, say), the same
/// on μ/σ, m/σ, k/σ for the power of two σ at the larger of μ and √m·√k (each root taken
/// apart, as m·k may overflow too), which keeps its sign and its square root `√d·σ` (the
/// friction's own size).
fn scaled_discriminant(m: f64, mu: f64, k: f64) -> (f64, f64) {
    let disc = discriminant(m, mu, k);
    if disc.is_finite() {
        return (disc, 1.0);
    }
    let big = mu.abs().max(m.abs().sqrt() * k.abs().sqrt());
    let sigma = f64::from_bits(big.to_bits() & 0x7ff0_0000_0000_0000);
    if !(sigma.is_finite() && sigma > 0.0) {
        return (disc, 1.0);
    }
    (discriminant(m / sigma, mu / sigma, k / sigma), sigma)
}

/// Damping regime of one component `m x'' + μ x' + k x = 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Damping {
    /// `μ² < 4mk`: complex roots, the component oscillates while it decays.
    Under,
    /// `μ² = 4mk` (discriminant exactly zero): repeated real root, fastest decay.
    Critical,
    /// `μ² > 4mk`: two distinct real roots, no oscillation.
    Over,
    /// `m = 0`: first-order gradient flow, a single root `−k/μ`.
    Massless,
}

impl Damping {
    /// Lower-case name used in CSV files and reports: `"under"`, `"critical"`, `"over"`,
    /// `"massless"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Damping::Under => "under",
            Damping::Critical => "critical",
            Damping::Over => "over",
            Damping::Massless => "massless",
        }
    }
}

/// Characteristic roots of `m x'' + μ x' + k x = 0` (Q20); for `m = 0` the single root
/// `−k/μ` of `μ x' + k x = 0` (Q18).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Roots {
    /// `m = 0`: the root `−k/μ`.
    Massless(f64),
    /// Overdamped: `(slow, fast)` with `fast < slow ≤ 0` for `k ≥ 0`. The fast root is
    /// `−(μ + s)/(2m)` and the slow one `2k/(−μ − s)` (Vieta, `λ_slow λ_fast = k/m`), with
    /// `s = sqrt(μ² − 4mk)`; neither involves a difference of nearly equal numbers.
    Real(f64, f64),
    /// Critically damped: the double root `−μ/(2m)`.
    Repeated(f64),
    /// Underdamped: `re ± i·im` with `re = −μ/(2m)`, `im = sqrt(4mk − μ²)/(2m) > 0`.
    Complex {
        /// Real part `−μ/(2m)`.
        re: f64,
        /// Positive imaginary part (the angular frequency of the oscillation).
        im: f64,
    },
}

/// Slow real root `−2k/(μ + s)`, where `q = μ + s`.
///
/// The textbook `(−μ + s)/(2m)` loses every digit when `μ² ≫ 4mk` (then `s ≈ μ`); Vieta's
/// form divides instead of subtracting. Where 2k overflows (k = 1e308) it divides first.
/// Adding `0.0` turns the `−0.0` of `k = 0` into `0.0`.
fn slow_root(k: f64, q: f64) -> f64 {
    let two_k = 2.0 * k;
    if two_k.is_finite() {
        -two_k / q + 0.0
    } else {
        -(k / q) * 2.0 + 0.0
    }
}

/// Characteristic roots of one component (Q18, Q20), computed without cancellation.
///
/// The regime follows the sign of [`discriminant`], so the result agrees with [`damping`].
pub fn continuous_roots(m: f64, mu: f64, k: f64) -> Roots {
    if m == 0.0 {
        return Roots::Massless(-k / mu);
    }
    let (disc, sigma) = scaled_discriminant(m, mu, k);
    if disc > 0.0 && sigma != 1.0 {
        // In σ's units, where μ + s cannot overflow (μ near the largest double).
        let q = mu / sigma + disc.sqrt();
        Roots::Real(-(k / sigma / q) * 2.0 + 0.0, -(q / (2.0 * m)) * sigma)
    } else if disc > 0.0 {
        // μ and s are both non-negative: μ + s is exact to rounding.
        let q = mu + disc.sqrt();
        Roots::Real(slow_root(k, q), -q / (2.0 * m))
    } else if disc == 0.0 {
        Roots::Repeated(-mu / (2.0 * m))
    } else {
        Roots::Complex {
            re: -mu / (2.0 * m),
            im: (-disc).sqrt() * sigma / (2.0 * m),
        }
    }
}

/// Damping regime of one component: massless when `m = 0`, otherwise by the sign of the
/// discriminant `μ² − 4mk` (critical only when it is exactly zero in floating point).
pub fn damping(m: f64, mu: f64, k: f64) -> Damping {
    if m == 0.0 {
        return Damping::Massless;
    }
    let (disc, _) = scaled_discriminant(m, mu, k);
    if disc > 0.0 {
        Damping::Over
    } else if disc == 0.0 {
        Damping::Critical
    } else {
        Damping::Under
    }
}

/// Damping ratio `ζ = μ/(2√(mk))` of one component (m > 0, k > 0): 1 on the critical
/// line `μ = 2√(mk)`, below 1 underdamped, above 1 overdamped. Exactly 1 where m·k is a
/// square the floats hold exactly and μ = 2√(mk) (m = 1, k = 1, μ = 2).
pub fn damping_ratio(m: f64, mu: f64, k: f64) -> f64 {
    mu / (2.0 * (m * k).sqrt())
}

/// Decay rate `r = −Re λ_slow` of one component (docs/theory.md §2); `k/μ` when `m = 0`.
///
/// For `k ≥ 0` this is `|Re λ_slow|`: `μ/(2m)` when `k ≥ μ²/(4m)`, otherwise
/// `2k/(μ + sqrt(μ² − 4mk))` — the Vieta form of `μ/(2m) − sqrt(μ²/(4m²) − k/m)`, which
/// keeps full relative accuracy even when `μ² ≫ 4mk` (near the massless limit). A negative
/// `k` (a saddle direction) gives a negative rate, i.e. growth.
pub fn decay_rate(m: f64, mu: f64, k: f64) -> f64 {
    match continuous_roots(m, mu, k) {
        Roots::Massless(l) | Roots::Repeated(l) => -l,
        Roots::Real(slow, _) => -slow,
        Roots::Complex { re, .. } => -re,
    }
}

/// Speed-up factor `α = r / (k/μ)` of momentum over plain gradient flow (Q24).
///
/// `None` for `k = 0`: both rates vanish there and their ratio is not defined (the limit
/// `k → 0⁺` is 1, but a flat direction does not converge at all, so no factor is reported).
/// `Some(1.0)` for `m = 0`. Otherwise evaluated in a form with no division by `k` and no
/// cancellation: `2μ/(μ + s)` when overdamped and `μ²/(2mk)` when under- or critically
/// damped. By Results 1 and 2 it exceeds 1 iff `k < μ²/(2m)`, peaks at 2 at critical
/// damping and falls below 1 beyond `μ²/(2m)`.
pub fn speedup(m: f64, mu: f64, k: f64) -> Option<f64> {
    if k == 0.0 {
        return None;
    }
    if m == 0.0 {
        return Some(1.0);
    }
    let (disc, sigma) = scaled_discriminant(m, mu, k);
    if disc > 0.0 {
        let mu = mu / sigma;
        Some(2.0 * mu / (mu + disc.sqrt()))
    } else if sigma != 1.0 {
        // μ² overflows here: the same ratio in two factors.
        Some(mu / (2.0 * m) * (mu / k))
    } else {
        Some(mu * mu / (2.0 * m * k))
    }
}

/// Friction `2 sqrt(mk)` at which a component of spring constant `k` is critically damped
/// (Q25), i.e. where momentum gives its largest speed-up.
pub fn critical_friction(m: f64, k: f64) -> f64 {
    2.0 * (m * k).sqrt()
}

/// Overall asymptotic rate of the continuous system: the slowest component,
/// `min_i decay_rate(m, μ, k_i)`. The distance to the minimum decays like `e^{−r t}`.
/// An empty `ks` gives `+∞`.
pub fn continuous_rate(m: f64, mu: f64, ks: &[f64]) -> f64 {
    ks.iter()
        .map(|&k| decay_rate(m, mu, k))
        .fold(f64::INFINITY, f64::min)
}

/// Stiffness of the particle on a Hessian spectrum: the fastest root's modulus over the
/// slowest decay rate, `max_i max|λ_i| / min_i r_i` (docs/theory.md §2); 1 when nothing decays.
pub fn stiffness(m: f64, mu: f64, ks: &[f64]) -> f64 {
    let fastest = ks
        .iter()
        .map(|&k| match continuous_roots(m, mu, k) {
            Roots::Massless(l) | Roots::Repeated(l) => l.abs(),
            Roots::Real(_, fast) => fast.abs(),
            Roots::Complex { re, im } => libm::hypot(re, im),
        })
        .fold(0.0, f64::max);
    let slowest = continuous_rate(m, mu, ks);
    if slowest > 0.0 && slowest.is_finite() {
        fastest / slowest
    } else {
        1.0
    }
}

/// Exact solution `(x(t), x'(t))` of one eigen-component `m x'' + μ x' + k x = 0` with
/// `x(0) = x0`, `x'(0) = v0`, for `m ≥ 0`, `μ > 0`, `k ≥ 0` (a negative `k` is exact too)
/// and `t ≥ 0`.
///
/// * `m = 0`: `x = x0 e^{−kt/μ}`, `x' = −k x/μ`; `v0` is ignored (a first-order system
///   has no velocity of its own).
/// * `m > 0`: `x = x0 φ0(t) + v0 φ1(t)` with the fundamental solutions
///   `φ1 = e^{−γt} sinh(ωt)/ω`, `φ0 = e^{−γt} cosh(ωt) + γ φ1`, `γ = μ/(2m)`,
///   `ω = sqrt(μ² − 4mk)/(2m)` (imaginary when underdamped: sinh → sin, cosh → cos), and
///   `φ0' = −(k/m) φ1`, `φ1' = e^{−γt} cosh(ωt) − γ φ1`.
///
/// These are entire functions of `ω²`, so they pass through critical damping without a
/// singularity; the code keeps that property numerically. Overdamped and critical, with
/// `λ1 = −2k/(μ+s)` (Vieta) and `λ2 = −(μ+s)/(2m)`:
/// `φ1 = e^{λ1 t} D`, `φ0 = e^{λ1 t} (1 − λ1 D)`, where `D = −expm1(−2ωt)/(2ω)` (`= t` at
/// critical damping) — every term is non-negative, nothing cancels, nothing overflows when
/// `μ² ≫ 4mk`, and `D → t` smoothly as `ω → 0`. Underdamped: `sin(Ωt)/Ω` is likewise
/// accurate for small `Ω`. So no special case is needed near critical damping.
/// The result is accurate to a few ulp times the conditioning of the data
/// (e.g. `|λ t|` for the exponential).
pub fn exact_component(m: f64, mu: f64, k: f64, x0: f64, v0: f64, t: f64) -> (f64, f64) {
    if m == 0.0 {
        let rate = k / mu;
        let x = x0 * libm::exp(-rate * t);
        return (x, -rate * x);
    }
    let (disc, sigma) = scaled_discriminant(m, mu, k);
    let (phi0, phi1, dphi0, dphi1) = if disc >= 0.0 {
        let s = disc.sqrt() * sigma;
        // The roots as `continuous_roots` takes them: in σ's units where μ + s would
        // overflow (μ near the largest double); at critical damping λ1 = λ2 = −μ/(2m), the
        // slow one by Vieta as above.
        let (l1, l2) = match continuous_roots(m, mu, k) {
            Roots::Real(slow, fast) => (slow, fast),
            _ => (slow_root(k, mu), -mu / (2.0 * m)),
        };
        // 2ω = λ1 − λ2, computed as s/m rather than as a difference.
        let two_omega = s / m;
        let z = two_omega * t;
        let e1 = libm::exp(l1 * t);
        // D = (1 − e^{−2ωt})/(2ω): expm1 keeps it exact for small 2ωt; limit t at critical.
        let d = if two_omega > 0.0 {
            -libm::expm1(-z) / two_omega
        } else {
            t
        };
        let phi1 = e1 * d;
        let phi0 = e1 * (1.0 - l1 * d);
        let dphi0 = -(k / m) * phi1;
        // φ1' = (λ1 e^{λ1 t} − λ2 e^{λ2 t})/(λ1 − λ2). For small 2ωt the form
        // e^{λ1 t}(1 + λ2 D) avoids dividing by a tiny 2ω; for large 2ωt it would subtract
        // two numbers close to 1 (1 and −λ2 D ≈ (μ+s)/(2s)), so use the direct form there.
        let dphi1 = if z <= 1.0 {
            e1 * (1.0 + l2 * d)
        } else {
            (l1 * e1 - l2 * libm::exp(l2 * t)) / two_omega
        };
        (phi0, phi1, dphi0, dphi1)
    } else {
        let gamma = mu / (2.0 * m);
        let omega = (-disc).sqrt() * sigma / (2.0 * m);
        let decay = libm::exp(-gamma * t);
        let (sn, cs) = libm::sincos(omega * t);
        // sin(Ωt)/Ω: accurate for small Ω as written; t if Ω underflowed.
        let sinc_t = if omega > 0.0 { sn / omega } else { t };
        let c = decay * cs;
        let phi1 = decay * sinc_t;
        (c + gamma * phi1, phi1, -(k / m) * phi1, c - gamma * phi1)
    };
    (x0 * phi0 + v0 * phi1, x0 * dphi0 + v0 * dphi1)
}

/// Roots of `σ² − bσ + c = 0` as `[(re, im); 2]`, the `+` root of `(b ± sqrt(b² − 4c))/2`
/// first. Real roots: the larger-magnitude one from `|b| + sqrt(disc)` (no cancellation),
/// the other by Vieta `c/σ_big`.
pub fn companion_roots(b: f64, c: f64) -> [(f64, f64); 2] {
    // fma: b² − 4c rounded once (4c is exact).
    roots_with(b, c, b.mul_add(b, -4.0 * c))
}

/// [`companion_roots`] with the discriminant `disc` = b² − 4c given, formed by the caller
/// with less rounding than b² − 4c allows (see [`shifted_discriminant`]).
fn roots_with(b: f64, c: f64, disc: f64) -> [(f64, f64); 2] {
    if disc >= 0.0 {
        let sq = disc.sqrt();
        let big = if b >= 0.0 {
            0.5 * (b + sq)
        } else {
            0.5 * (b - sq)
        };
        if big == 0.0 {
            // b = 0 and disc = 0 force c = 0: a double root at zero.
            return [(0.0, 0.0), (0.0, 0.0)];
        }
        let small = c / big;
        if b >= 0.0 {
            [(big, 0.0), (small, 0.0)]
        } else {
            [(small, 0.0), (big, 0.0)]
        }
    } else {
        let im = 0.5 * (-disc).sqrt();
        [(0.5 * b, im), (0.5 * b, -im)]
    }
}

/// Beyond this εk the discriminant `a² − 4εk` (a ≈ εk) overflows, from εk ≈ 1.3e154; the
/// roots are then taken apart (no input of an ordinary scale comes near).
const HUGE_EK: f64 = 1e150;

/// The roots of `σ² − bσ + c` for `b = b_s·s`, `c = c_s·s²`, found as `s·τ` from
/// `τ² − b_s τ + c_s`: where εk is near the largest double, b² and 4c overflow.
fn scaled_roots(b_s: f64, c_s: f64, s: f64) -> [(f64, f64); 2] {
    companion_roots(b_s, c_s).map(|(re, im)| (re * s, im * s))
}

/// The larger modulus of two roots.
fn radius_of(roots: [(f64, f64); 2]) -> f64 {
    roots
        .iter()
        .map(|&(re, im)| libm::hypot(re, im))
        .fold(0.0, f64::max)
}

/// Spectral radius of the companion matrix of `σ² − bσ + c` with discriminant `disc`:
/// `(|b| + sqrt(disc))/2` for real roots, `sqrt(c)` for a complex pair (their product is
/// `c`).
fn radius_with(b: f64, c: f64, disc: f64) -> f64 {
    if disc >= 0.0 {
        0.5 * (b.abs() + disc.sqrt())
    } else {
        c.sqrt()
    }
}

/// `a = 2 − b` of the heavy ball's polynomial (`1 − p + εk`) or, with `nesterov`,
/// Nesterov's (`1 − p + εk + pεk`), as an unevaluated sum `hi + lo` of its parts, exact to
/// about 1e-32 relative: b's own rounding would cost ~1e-16 absolute.
fn shift(p: f64, ek: f64, nesterov: bool) -> (f64, f64) {
    let (s, e1) = two_sum(1.0, -p);
    let (mut hi, e2) = two_sum(s, ek);
    let mut lo = e1 + e2;
    if nesterov {
        let pe = p * ek;
        let (h, e3) = two_sum(hi, pe);
        // fma: the product's rounding error, exactly.
        (hi, lo) = (h, lo + e3 + p.mul_add(ek, -pe));
    }
    let sum = hi + lo;
    let lo = lo - (sum - hi);
    // Past the largest number the parts are not a sum to refine.
    (sum, if lo.is_finite() { lo } else { 0.0 })
}

/// `x + y` as the rounded sum and its exact rounding error (Knuth's TwoSum).
fn two_sum(x: f64, y: f64) -> (f64, f64) {
    let s = x + y;
    let yy = s - x;
    (s, (x - (s - yy)) + (y - yy))
}

/// The discriminant `b² − 4c` of the heavy ball's or Nesterov's polynomial as `a² − 4εk`
/// with `a = hi + lo` from [`shift`]: the polynomial at σ = 1 − δ is `εk − aδ + δ²`, the same
/// discriminant. Near a double root b² and 4c agree to many digits; with b = 1 + p − εk
/// rounded first, b² − 4c carried an error of ~1e-16, which the square root spread to ~1e-8
/// in the roots. `hi² − 4εk` by fma is exact before its one rounding, and `2·hi·lo` adds
/// the rest.
fn shifted_discriminant((hi, lo): (f64, f64), ek: f64) -> f64 {
    hi.mul_add(hi, -4.0 * ek) + 2.0 * hi * lo
}

/// Eigenvalues `σ_{1,2}` of the heavy-ball companion matrix `[[0, 1], [−p, 1 + p − εk]]`
/// (Q30, Q31) as `[(re, im); 2]`: the `+` root of `(b ± sqrt(b² − 4p))/2` first, where
/// `b = 1 + p − εk`; a complex pair is returned as `(re, +im), (re, −im)`.
/// The smaller real root is obtained by Vieta (`σ1 σ2 = p`), not by cancellation.
pub fn heavy_ball_roots(eps: f64, p: f64, k: f64) -> [(f64, f64); 2] {
    let ek = eps * k;
    if ek == 0.0 {
        return flat_roots(p);
    }
    if ek > HUGE_EK {
        // ε·k beyond 1e150: b² (or εk itself) overflows, and the general formula would meet
        // ∞ − ∞. With |b| ≥ 1e150 ≫ √p, b = 1 + p − εk is a root to its rounding (−∞
        // where εk overflowed) and p/b the other (Vieta).
        let big = 1.0 + p - ek;
        return [(p / big + 0.0, 0.0), (big, 0.0)];
    }
    let a = shift(p, ek, false);
    match plus_root_near_one(a, ek) {
        Some(big) => [(big, 0.0), (p / big, 0.0)],
        None => roots_with(1.0 + p - ek, p, shifted_discriminant(a, ek)),
    }
}

/// The roots where εk = 0: exactly 1 and p (the `+` root, the larger, first), as
/// [`flat_radius`] takes them; the general formula would round both.
fn flat_roots(p: f64) -> [(f64, f64); 2] {
    [(p.max(1.0), 0.0), (p.min(1.0), 0.0)]
}

/// Spectral radius `max(|σ1|, |σ2|)` of the heavy-ball recurrence for one component
/// (docs/theory.md §3): `sqrt(p)` for complex roots, `(|b| + sqrt(b² − 4p))/2` for real ones,
/// `b = 1 + p − εk`, the discriminant formed without rounding `b` first (docs/theory.md §3).
/// At a double root (e.g. the optimal momentum) the radius is as sensitive as the roots
/// are: p off by δ moves them by ~√δ, ~1e-8 for p's own last bit.
pub fn heavy_ball_radius(eps: f64, p: f64, k: f64) -> f64 {
    let ek = eps * k;
    if ek == 0.0 {
        return flat_radius(p);
    }
    if ek > HUGE_EK {
        // A root at b = 1 + p − εk ([`heavy_ball_roots`]), −∞ where εk overflowed.
        return (1.0 + p - ek).abs();
    }
    let a = shift(p, ek, false);
    match plus_root_near_one(a, ek) {
        Some(big) => big.abs().max((p / big).abs()),
        None => radius_with(1.0 + p - ek, p, shifted_discriminant(a, ek)),
    }
}

/// How close to 1 a real `+` root must be for [`plus_root_near_one`] to take it.
const NEAR_ONE: f64 = 1e-6;

/// The real `+` root of the heavy ball's or Nesterov's polynomial where it lies within
/// [`NEAR_ONE`] of 1 and is the larger in modulus, written as `1 − δ`: `P(1 − δ) = εk − aδ +
/// δ² = 0` with `P(1) = εk` (both polynomials) and `a = 2 − b` formed without rounding `b`,
/// so `δ = 2εk/(a + sqrt(a² − 4εk))`. The general formula rounds `b = 1 + p − εk` first,
/// which loses an εk below ~1e-16 and can put a stable mode's root above 1 (k = 1e-14 at
/// ε = 1, p = 0.5 read 1.0000000000000007). None elsewhere (a complex pair, b ≤ 0).
fn plus_root_near_one(shifted: (f64, f64), ek: f64) -> Option<f64> {
    let a = shifted.0;
    // b = 2 − a > 0: the `+` root is the larger; a root near −1 is the general formula's.
    if a.is_nan() || a <= 0.0 || a >= 2.0 {
        return None;
    }
    let disc = shifted_discriminant(shifted, ek);
    if disc < 0.0 {
        return None;
    }
    let big = 1.0 - 2.0 * ek / (a + disc.sqrt());
    ((big - 1.0).abs() <= NEAR_ONE).then_some(big)
}

/// The radius where εk = 0 (a flat direction, or ε = 0): the companion polynomial is
/// `(σ − 1)(σ − p)` for the heavy ball and for Nesterov, so ρ = max(1, |p|) exactly — the
/// general formula, through the rounding of 1 + p, would put it a hair below 1 and call it
/// stable.
fn flat_radius(p: f64) -> f64 {
    p.abs().max(1.0)
}

/// Roots of Nesterov's companion polynomial `σ² − (1 + p)(1 − εk)σ + p(1 − εk)` on one
/// component, as [`companion_roots`] orders them.
pub fn nesterov_roots(eps: f64, p: f64, k: f64) -> [(f64, f64); 2] {
    if eps * k == 0.0 {
        return flat_roots(p);
    }
    let ek = eps * k;
    if ek.is_infinite() {
        // εk overflowed: b = (1 + p)(1 − εk) is ∓∞, one root, and c/b = p/(1 + p) the
        // other; at p = −1, σ² = εk − 1, a pair ±i∞.
        let q = 1.0 + p;
        let inf = f64::INFINITY;
        return match q {
            0.0 => [(0.0, inf), (0.0, -inf)],
            _ if q > 0.0 => [(p / q, 0.0), (-inf, 0.0)],
            _ => [(inf, 0.0), (p / q, 0.0)],
        };
    }
    if ek > HUGE_EK {
        // In units of s = 4√(εk)·max(1, |1 + p|), where b² and 4c are finite:
        // b/s = ±(1 − εk)/(4√(εk)), c/s² = p(1 − εk)/s² (a root past the doubles is ∓∞).
        let (q, root) = (1.0 + p, ek.sqrt());
        let qa = q.abs().max(1.0);
        let b_s = (q / qa) * (0.25 / root - root / 4.0);
        let c_s = p * (1.0 / ek - 1.0) / (16.0 * qa * qa);
        return scaled_roots(b_s, c_s, 4.0 * root * qa);
    }
    let (g, a) = (1.0 - ek, shift(p, ek, true));
    match plus_root_near_one(a, ek) {
        Some(big) => [(big, 0.0), (p * g / big, 0.0)],
        None => roots_with((1.0 + p) * g, p * g, shifted_discriminant(a, ek)),
    }
}

/// Spectral radius of Nesterov's scheme on one component: the companion matrix
/// `[[0, 1], [−p(1 − εk), (1 + p)(1 − εk)]]` (docs/theory.md §4).
pub fn nesterov_radius(eps: f64, p: f64, k: f64) -> f64 {
    let ek = eps * k;
    if ek == 0.0 {
        return flat_radius(p);
    }
    if ek > HUGE_EK {
        // Roots taken apart, one at ∓∞ where εk overflowed ([`nesterov_roots`]).
        return radius_of(nesterov_roots(eps, p, k));
    }
    let (g, a) = (1.0 - ek, shift(p, ek, true));
    match plus_root_near_one(a, ek) {
        Some(big) => big.abs().max((p * g / big).abs()),
        None => radius_with((1.0 + p) * g, p * g, shifted_discriminant(a, ek)),
    }
}

/// Spectral radius `|1 − εk|` of plain gradient descent on one component.
pub fn gradient_descent_radius(eps: f64, k: f64) -> f64 {
    (1.0 - eps * k).abs()
}

/// Result 3 (Qian, Fig. 1): the heavy ball converges iff `|p| < 1` and `0 < εk < 2 + 2p`
/// for every eigenvalue `k` in `ks` (vacuously true for an empty `ks` when `|p| < 1`).
pub fn result3_stable(eps: f64, p: f64, ks: &[f64]) -> bool {
    p.abs() < 1.0
        && ks.iter().all(|&k| {
            let ek = eps * k;
            ek > 0.0 && ek < 2.0 + 2.0 * p
        })
}

/// Optimal momentum for one component, `p* = (1 − sqrt(εk))²` (Q35): the two companion
/// roots then coincide at `1 − sqrt(εk)` (Q36), the smallest spectral radius any `p`
/// achieves for that `εk`.
pub fn optimal_momentum(eps: f64, k: f64) -> f64 {
    let r = 1.0 - (eps * k).sqrt();
    r * r
}

/// Largest stable learning rate `(2 + 2p)/k_max` for momentum `p` (Result 3): the
/// boundary itself is not stable.
pub fn max_stable_learning_rate(p: f64, k_max: f64) -> f64 {
    (2.0 + 2.0 * p) / k_max
}

/// The spring constant of the slowest component (smallest decay rate; the first on ties),
/// `None` for an empty spectrum.
pub fn slowest_component(m: f64, mu: f64, ks: &[f64]) -> Option<f64> {
    ks.iter()
        .copied()
        .map(|k| (decay_rate(m, mu, k), k))
        .fold(None, |best: Option<(f64, f64)>, (r, k)| match best {
            Some((rb, _)) if rb <= r => best,
            _ => Some((r, k)),
        })
        .map(|(_, k)| k)
}

/// The momentum that minimises the heavy ball's spectral radius `max_i ρ_i` at learning
/// rate ε: `max_i (1 − sqrt(ε k_i))²` over the components with `k_i > 0` (Q35 per
/// component; above its own p*, a component's roots are complex with `|σ| = sqrt(p)`,
/// rising in p, and below it the larger real root falls as p rises). `None` when no
/// momentum below 1 converges (some `ε k_i ≥ 4`) or there is no positive eigenvalue.
pub fn optimal_momentum_for(eps: f64, ks: &[f64]) -> Option<f64> {
    let p = ks
        .iter()
        .filter(|&&k| k > 0.0)
        .map(|&k| optimal_momentum(eps, k))
        .fold(None, |a: Option<f64>, p| Some(a.map_or(p, |a| a.max(p))))?;
    (eps > 0.0 && p < 1.0).then_some(p)
}

/// Nesterov's optimal momentum for one component with `0 < εk < 1`:
/// `p* = (1 − sqrt(εk))/(1 + sqrt(εk))`, where the roots of
/// `σ² − (1 + p)(1 − εk)σ + p(1 − εk)` coincide at `1 − sqrt(εk)`.
pub fn nesterov_optimal_momentum(eps: f64, k: f64) -> f64 {
    let s = (eps * k).sqrt();
    (1.0 - s) / (1.0 + s)
}

/// Nesterov's momentum minimising `max_i ρ_i` at learning rate ε (as for the heavy ball,
/// the largest per-component p*), defined when every `0 < ε k_i < 1`.
pub fn nesterov_optimal_momentum_for(eps: f64, ks: &[f64]) -> Option<f64> {
    if ks.is_empty() || ks.iter().any(|&k| !(eps * k > 0.0 && eps * k < 1.0)) {
        return None;
    }
    Some(
        ks.iter()
            .map(|&k| nesterov_optimal_momentum(eps, k))
            .fold(0.0, f64::max),
    )
}

/// Largest stable learning rate of Nesterov's scheme, `ε_max` with every ε in `(0, ε_max)`
/// stable, for momentum `−1 ≤ p ≤ 1`. Jury's conditions on σ² − (1 + p)aσ + pa, a = 1 − εk:
/// `εk > 0`, `1 + (1 + 2p)a > 0` and `|pa| < 1`. For `−1/3 < p ≤ 1` the second binds:
/// `(2 + 2p)/((1 + 2p) k_max)`; for `−1 ≤ p ≤ −1/3` the third (a > 1/p): `(1 − 1/p)/k_max`
/// (both 4/k_max at p = −1/3). `None` for |p| > 1, where small ε are unstable (|pa| → |p|).
pub fn nesterov_max_stable_learning_rate(p: f64, k_max: f64) -> Option<f64> {
    if p > -1.0 / 3.0 && p <= 1.0 {
        Some((2.0 + 2.0 * p) / ((1.0 + 2.0 * p) * k_max))
    } else if (-1.0..=-1.0 / 3.0).contains(&p) {
        Some((1.0 - 1.0 / p) / k_max)
    } else {
        None
    }
}

/// Goh's globally optimal parameters for Hessian eigenvalues in `[λ1, λn]` (docs/theory.md §5),
/// rates per step (spectral radii).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Optimum {
    /// Optimal learning rate with momentum, `(2/(sqrt(λ1) + sqrt(λn)))²`.
    pub momentum_alpha: f64,
    /// Optimal momentum, `((sqrt(λn) − sqrt(λ1))/(sqrt(λn) + sqrt(λ1)))²`.
    pub momentum_beta: f64,
    /// Resulting rate per step, `(sqrt(κ) − 1)/(sqrt(κ) + 1)` with `κ = λn/λ1`.
    pub momentum_rate: f64,
    /// Optimal learning rate of plain gradient descent, `2/(λ1 + λn)`.
    pub gd_alpha: f64,
    /// Resulting gradient-descent rate per step, `(κ − 1)/(κ + 1)`.
    pub gd_rate: f64,
}

/// Goh's global optimum for eigenvalues in `[l1, ln]`, `0 < l1 ≤ ln` (docs/theory.md §5).
///
/// The rates are written with `λ`s rather than `κ` (e.g. `(√λn − √λ1)/(√λn + √λ1)`), which
/// is the same number without the extra rounding of forming `κ`.
pub fn goh_optimum(l1: f64, ln: f64) -> Optimum {
    let (s1, sn) = (l1.sqrt(), ln.sqrt());
    let momentum_rate = (sn - s1) / (sn + s1);
    let a = 2.0 / (s1 + sn);
    Optimum {
        momentum_alpha: a * a,
        momentum_beta: momentum_rate * momentum_rate,
        momentum_rate,
        gd_alpha: 2.0 / (l1 + ln),
        gd_rate: (ln - l1) / (ln + l1),
    }
}

/// Rate per unit of physical time from a per-step spectral radius: `−ln(ρ)/Δt`
/// (docs/theory.md §3). Negative when `ρ > 1` (divergence); `+∞` when `ρ = 0`. As `Δt → 0` it
/// tends to the continuous rate of [`continuous_rate`].
pub fn rate_per_time(rho: f64, dt: f64) -> f64 {
    // 0 − ln ρ, not −ln ρ: ρ = 1 gives 0, not −0 (the same bits otherwise).
    (0.0 - libm::log(rho)) / dt
}

/// Stationary variance of the AR(2) recursion `x_t = a₁x_{t−1} + a₂x_{t−2} + e_t` with
/// `Var e = s2`: `(1 − a₂)s2 / ((1 + a₂)((1 − a₂)² − a₁²))`; None where the recursion is
/// not stationary (a root on or outside the unit circle).
pub fn ar2_variance(a1: f64, a2: f64, s2: f64) -> Option<f64> {
    let stationary = a2.abs() < 1.0 && a1.abs() < 1.0 - a2;
    stationary.then(|| (1.0 - a2) * s2 / ((1.0 + a2) * ((1.0 - a2).powi(2) - a1 * a1)))
}

/// The discrete noise floor on a quadratic with Hessian eigenvalues `ks` (all of them):
/// the stationary mean of E − E* = Σ ½kᵢxᵢ² when every gradient evaluation carries
/// N(0, σ²) per coordinate. Each eigen-component is AR(2) with innovation −εσξ: heavy ball
/// `a₁ = 1 + p − εk, a₂ = −p`, which gives ½(1 + p)εσ²/((1 − p)(2(1 + p) − εk)) (Goh);
/// Nesterov (noise at the look-ahead) `a₁ = (1 + p)(1 − εk), a₂ = −p(1 − εk)`. A flat
/// direction (k = 0) adds nothing to E. None where a component is not stationary.
pub fn discrete_noise_floor(
    nesterov: bool,
    eps: f64,
    p: f64,
    sigma: f64,
    ks: &[f64],
) -> Option<f64> {
    let s2 = (eps * sigma).powi(2);
    ks.iter()
        .filter(|&&k| k != 0.0)
        .map(|&k| {
            let (a1, a2) = if nesterov {
                let g = 1.0 - eps * k;
                ((1.0 + p) * g, -p * g)
            } else {
                (1.0 + p - eps * k, -p)
            };
            ar2_variance(a1, a2, s2).map(|var| 0.5 * k * var)
        })
        .sum()
}

/// Whether BAOAB's fixed step `h` is stable on curvatures up to `k_max`: the velocity
/// Verlet part needs `h < 2√(m/k_max)` (the exact friction-noise step is stable at any h);
/// its massless limit, explicit Euler on gradient flow, `h < 2μ/k_max`.
pub fn baoab_stable(m: f64, mu: f64, h: f64, k_max: f64) -> bool {
    if k_max <= 0.0 {
        true
    } else if m == 0.0 {
        h < 2.0 * mu / k_max
    } else {
        h < 2.0 * (m / k_max).sqrt()
    }
}

/// The continuous noise floor on a quadratic: the Langevin particle with force noise of
/// intensity s (s² = σ²Δt) is in Boltzmann's law at kT = s²/(2μ), so each of the `curved`
/// directions with k > 0 carries E − E* = kT/2 on average, whatever m and k:
/// `curved·s²/(4μ)` (equipartition).
pub fn continuous_noise_floor(curved: usize, s2: f64, mu: f64) -> f64 {
    curved as f64 * s2 / (4.0 * mu)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where μ² (or 4mk) overflows, the regime, rates and speed-up come from the scaled
    /// discriminant: m = 1, μ = 1e160, k = 1 is overdamped with slow rate 2k/(μ + s),
    /// s = √(μ² − 4mk) = μ to all digits, so k/μ = 1e-160 and α = 2μ/(μ + s) = 1 (they
    /// read 0 and 0 when μ² was +∞); k = 1e308, μ = 1e300 has μ² = 1e600 ≫ 4mk: overdamped
    /// with rate 1e8 (it read underdamped, roots ±∞i).
    #[test]
    fn huge_friction_keeps_its_regime_and_rates() {
        assert!((1e160f64 * 1e160).is_infinite());
        assert_eq!(damping(1.0, 1e160, 1.0), Damping::Over);
        let r = decay_rate(1.0, 1e160, 1.0);
        assert!((r - 1e-160).abs() <= 1e-175, "{r:e}");
        assert_eq!(speedup(1.0, 1e160, 1.0), Some(1.0));
        assert_eq!(damping(1.0, 1e300, 1e308), Damping::Over);
        let r = decay_rate(1.0, 1e300, 1e308);
        assert!((r - 1e8).abs() <= 1e-7, "{r:e}");
        // μ next to the largest double (μ + s would overflow), and m·k beyond it.
        assert_eq!(speedup(1.0, 1e308, 1.0), Some(1.0));
        let r = decay_rate(1.0, 1e308, 1.0);
        assert!((r - 1e-308).abs() <= 1e-320, "{r:e}");
        assert_eq!(damping(1e308, 1.0, 1e308), Damping::Under);
        // Below the overflow the unscaled discriminant is used, bit for bit.
        assert_eq!(
            scaled_discriminant(1.0, 1e150, 1.0),
            (discriminant(1.0, 1e150, 1.0), 1.0)
        );
        // The solution itself: x(t) = e^{−t k/μ} to first order, x(1e160) = e^{−1}.
        let (x, _) = exact_component(1.0, 1e160, 1.0, 1.0, 0.0, 1e160);
        assert!((x - (-1.0f64).exp()).abs() < 1e-12, "{x}");
    }
    use approx::{assert_abs_diff_eq, assert_relative_eq};

    fn logspace(a: f64, b: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 10f64.powf(a + (b - a) * i as f64 / (n - 1) as f64))
            .collect()
    }

    /// Where εk = 0 the roots are 1 and p exactly (the general formula gives 0.9999999999999994
    /// at p = 0.9): ρ = max(1, |p|), never a hair below 1
    /// (which read "stable" at p = 0.9 and "unstable" at p = 0.7), and its rate is +0.
    #[test]
    fn a_flat_direction_is_exactly_on_the_edge() {
        for (eps, k) in [(0.1, 0.0), (0.0, 2.0), (0.0, 0.0)] {
            for (p, rho) in [
                (0.9, 1.0),
                (0.7, 1.0),
                (0.8333, 1.0),
                (-0.5, 1.0),
                (1.5, 1.5),
            ] {
                assert_eq!(
                    heavy_ball_radius(eps, p, k),
                    rho,
                    "heavy ball {eps} {p} {k}"
                );
                assert_eq!(nesterov_radius(eps, p, k), rho, "Nesterov {eps} {p} {k}");
                // The roots `theory` prints: (σ − 1)(σ − p), the larger first, exactly.
                let roots = [(p.max(1.0), 0.0), (p.min(1.0), 0.0)];
                assert_eq!(
                    heavy_ball_roots(eps, p, k),
                    roots,
                    "heavy ball {eps} {p} {k}"
                );
                assert_eq!(nesterov_roots(eps, p, k), roots, "Nesterov {eps} {p} {k}");
            }
            assert_eq!(gradient_descent_radius(eps, k), 1.0);
        }
        assert_eq!(rate_per_time(1.0, 0.1).to_bits(), 0.0f64.to_bits());
        assert_eq!(rate_per_time(0.5, 0.1), -libm::log(0.5) / 0.1);
    }

    /// A tiny positive εk keeps ρ below 1, a hair as the closed form says: the `+` root is
    /// 1 − P(1)/P'(1) + O((εk)²) = 1 − εk/(1 − p) + O((εk)²) for the heavy ball and for
    /// Nesterov alike (P(1) = εk, P'(1) = 2 − b = 1 − p + O(εk)); before, the rounding of
    /// 1 + p − εk put both above 1.
    #[test]
    fn a_tiny_curvature_is_stable_by_a_hair() {
        for k in [1e-14, 1e-16, 1e-20, 1e-300] {
            let (eps, p) = (1.0, 0.5);
            let hb = heavy_ball_radius(eps, p, k);
            let nag = nesterov_radius(eps, p, k);
            assert!(hb <= 1.0 && nag <= 1.0, "k = {k}: {hb} {nag}");
            assert!(rate_per_time(hb, 1.0) >= 0.0);
            // 1 − ρ to the rounding of a number near 1 (1.1e-16).
            assert!(((1.0 - hb) - 2.0 * k).abs() <= 1.2e-16, "k = {k}: {hb}");
            assert!(((1.0 - nag) - 2.0 * k).abs() <= 1.2e-16, "k = {k}: {nag}");
            // The roots `theory` prints agree: the larger is the radius, their product p.
            let [(big, _), (small, _)] = heavy_ball_roots(eps, p, k);
            assert_eq!(big, hb);
            assert!((big * small - p).abs() <= 1e-16);
            assert_eq!(nesterov_roots(eps, p, k)[0].0, nag);
        }
        // A negative curvature near 0: the root just above 1, unstable by a hair.
        let up = heavy_ball_radius(1.0, 0.5, -1e-14);
        assert!(up > 1.0 && ((up - 1.0) - 2e-14).abs() <= 2.3e-16, "{up}");
        // p near −1: roots near ±1, both formulas agree to the rounding of a number near 1.
        let (p, ek) = (-0.999_999_9, 1e-14);
        let general = companion_radius(1.0 + p - ek, p);
        assert!((heavy_ball_radius(1.0, p, ek) - general).abs() <= 2.3e-16);
        // Far from 1 the general formula stands, bit for bit.
        assert_eq!(heavy_ball_radius(0.1, 0.5, 2.0), companion_radius(1.3, 0.5));
    }

    fn companion_radius(b: f64, c: f64) -> f64 {
        radius_with(b, c, b.mul_add(b, -4.0 * c))
    }

    #[test]
    fn roots_near_a_double_root_keep_their_digits() {
        // Expected values from exact rational arithmetic on the same f64 inputs (Python's
        // fractions, 60 digits): b² − 4p = 1.0002e-14 here, where b = 1 + p − εk rounded
        // first gave 1.0214e-14 and a radius 1e-8 off.
        let (eps, p) = (1e-4, 0.98009999999975);
        assert_relative_eq!(
            heavy_ball_radius(eps, p, 1.0),
            0.9900000500049275,
            max_relative = 1e-14
        );
        assert_eq!(
            heavy_ball_roots(eps, p, 1.0)[0].0,
            heavy_ball_radius(eps, p, 1.0)
        );
        // A complex pair just past the double root: its imaginary part.
        let [(_, im), _] = heavy_ball_roots(1e-9, 0.999999, 1.0);
        assert_relative_eq!(im, 3.161881559688765e-5, max_relative = 1e-12);
        // Nesterov's discriminant the same way: (1 + p)²g² − 4pg = a² − 4εk with
        // a = (1 − p) + (1 + p)εk; its + root at p = 0.9, εk = 1e-3 checked against the
        // polynomial itself, where b² − 4c's rounding was of the order of its value.
        let (p, ek) = (0.9, 1e-3);
        let [(s1, _), (s2, _)] = nesterov_roots(ek, p, 1.0);
        let (b, c) = ((1.0 + p) * (1.0 - ek), p * (1.0 - ek));
        assert_relative_eq!(s1 + s2, b, max_relative = 1e-15);
        assert_relative_eq!(s1 * s2, c, max_relative = 1e-15);
    }

    #[test]
    fn the_ar2_variance_gives_gohs_heavy_ball_floor_and_tends_to_equipartition() {
        // The general AR(2) form against the heavy ball's closed form, over a grid.
        let sigma = 0.3;
        for eps in [0.001, 0.01, 0.1] {
            for p in [0.0, 0.5, 0.9, 0.99] {
                for k in [0.5, 1.0, 10.0] {
                    let goh = 0.5 * (1.0 + p) * eps * sigma * sigma
                        / ((1.0 - p) * (2.0 * (1.0 + p) - eps * k));
                    let ar2 = discrete_noise_floor(false, eps, p, sigma, &[k]).unwrap();
                    assert_relative_eq!(ar2, goh, max_relative = 1e-12);
                }
            }
        }
        // εk → 0: the discrete floor tends to the continuous twin's (μ = (1 − p)Δt/ε,
        // s² = σ²Δt): ε σ²/(4(1 − p)) per component, for the heavy ball and Nesterov.
        let (eps, p, k, dt) = (1e-7, 0.9, 1.0, 1.0);
        let twin = continuous_noise_floor(1, sigma * sigma * dt, (1.0 - p) * dt / eps);
        for nesterov in [false, true] {
            let d = discrete_noise_floor(nesterov, eps, p, sigma, &[k]).unwrap();
            assert_relative_eq!(d, twin, max_relative = 1e-5);
        }
        // Beyond the stability edge there is no floor; a flat direction adds nothing.
        assert_eq!(discrete_noise_floor(false, 1.0, 0.5, sigma, &[3.1]), None);
        assert_eq!(
            discrete_noise_floor(false, 0.1, 0.5, sigma, &[0.0, 1.0]),
            discrete_noise_floor(false, 0.1, 0.5, sigma, &[1.0])
        );
    }

    #[test]
    fn damping_names() {
        assert_eq!(Damping::Under.as_str(), "under");
        assert_eq!(Damping::Critical.as_str(), "critical");
        assert_eq!(Damping::Over.as_str(), "over");
        assert_eq!(Damping::Massless.as_str(), "massless");
    }

    #[test]
    fn roots_by_regime() {
        // m λ² + μ λ + k with m = 1, μ = 5, k = 4: (λ + 1)(λ + 4).
        assert_eq!(continuous_roots(1.0, 5.0, 4.0), Roots::Real(-1.0, -4.0));
        assert_eq!(damping(1.0, 5.0, 4.0), Damping::Over);
        // μ = 4, k = 4: (λ + 2)².
        assert_eq!(continuous_roots(1.0, 4.0, 4.0), Roots::Repeated(-2.0));
        assert_eq!(damping(1.0, 4.0, 4.0), Damping::Critical);
        // μ = 2, k = 5: λ = −1 ± 2i.
        assert_eq!(
            continuous_roots(1.0, 2.0, 5.0),
            Roots::Complex { re: -1.0, im: 2.0 }
        );
        assert_eq!(damping(1.0, 2.0, 5.0), Damping::Under);
        assert_eq!(continuous_roots(0.0, 2.0, 5.0), Roots::Massless(-2.5));
        assert_eq!(damping(0.0, 2.0, 5.0), Damping::Massless);
        // Free particle with friction: roots 0 and −μ/m; the 0 must not be −0.
        let Roots::Real(slow, fast) = continuous_roots(2.0, 3.0, 0.0) else {
            panic!("k = 0 is overdamped")
        };
        assert!(slow == 0.0 && slow.is_sign_positive());
        assert_eq!(fast, -1.5);
        assert_eq!(decay_rate(2.0, 3.0, 0.0), 0.0);
        assert_eq!(speedup(2.0, 3.0, 0.0), None);
        assert_eq!(speedup(0.0, 3.0, 2.0), Some(1.0));
    }

    #[test]
    fn slow_root_accurate_near_massless_limit() {
        // μ² ≫ 4mk: the slow root is −k/μ · (1 + mk/μ² + 2(mk/μ²)² + …). With mk/μ² = 1e-12
        // the textbook (−μ + s)/(2m) would keep only ~4 digits; Vieta keeps all of them.
        let (m, mu, k) = (1e-12, 1.0, 1.0);
        let eta = m * k / (mu * mu);
        let expected = k / mu * (1.0 + eta + 2.0 * eta * eta);
        assert_relative_eq!(decay_rate(m, mu, k), expected, max_relative = 4e-16);
        // Overall rate is the slowest component.
        assert_relative_eq!(
            continuous_rate(m, mu, &[3.0, 1.0, 2.0]),
            expected,
            max_relative = 4e-16
        );
        assert_eq!(continuous_rate(1.0, 1.0, &[]), f64::INFINITY);
    }

    #[test]
    fn result1_speedup_iff_below_half_mu2_over_m() {
        let mut checked = 0;
        for &m in &logspace(-2.0, 1.0, 13) {
            for &mu in &logspace(-1.0, 1.5, 11) {
                let boundary = mu * mu / (2.0 * m);
                for &k in &logspace(-4.0, 5.0, 91) {
                    if ((k - boundary) / boundary).abs() < 1e-9 {
                        continue;
                    }
                    let alpha = speedup(m, mu, k).unwrap();
                    assert_eq!(alpha > 1.0, k < boundary, "m={m} mu={mu} k={k} α={alpha}");
                    if k > boundary {
                        assert!(alpha < 1.0, "Result 2: α < 1 beyond μ²/(2m)");
                    }
                    // α never exceeds its critical-damping value 2 (rounding: 1 ulp).
                    assert!(alpha <= 2.0 + 4.0 * f64::EPSILON);
                    // Same number as the definition r/(k/μ) (a few roundings apart).
                    assert_relative_eq!(alpha, decay_rate(m, mu, k) * mu / k, max_relative = 1e-14);
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn result2_speedup_is_two_at_critical_damping() {
        // Points where m·k is an exact square, so μ = 2√(mk) and μ² − 4mk are exact and
        // the discriminant is exactly zero: α = μ²/(2mk) = 2 up to one rounding.
        for &(m, k) in &[
            (0.25, 1.0),
            (1.0, 4.0),
            (4.0, 2.25),
            (16.0, 0.25),
            (0.5, 0.5),
            (2.0, 8.0),
        ] {
            let mu = critical_friction(m, k);
            assert_eq!(damping(m, mu, k), Damping::Critical);
            assert_relative_eq!(speedup(m, mu, k).unwrap(), 2.0, max_relative = 1e-12);
            assert_relative_eq!(decay_rate(m, mu, k), mu / (2.0 * m), max_relative = 1e-15);
        }
        // With a rounded μ = 2√(mk) the discriminant is a few ulp of μ² of either sign.
        // On the overdamped side α = 2 − 2√(2δ) + O(δ) for μ = μc(1 + δ): a square-root
        // cusp, so a relative rounding δ ≈ 2e-16 costs up to ~4e-8 in α. That is the
        // mathematics, not an error of the formula.
        for &m in &logspace(-2.0, 1.0, 7) {
            for &k in &logspace(-2.0, 2.0, 9) {
                let alpha = speedup(m, critical_friction(m, k), k).unwrap();
                assert_abs_diff_eq!(alpha, 2.0, epsilon = 1e-7);
            }
        }
        // The cusp itself, 1e-10 above critical friction: α = 2 − 2√(2e-10) + O(1e-10).
        let (m, k) = (1.0, 4.0);
        let mu = 4.0 * (1.0 + 1e-10);
        let expected = 2.0 - 2.0 * (2e-10f64).sqrt();
        assert_abs_diff_eq!(speedup(m, mu, k).unwrap(), expected, epsilon = 1e-9);
        // Rises from 1 (k → 0) to 2 (critical) and is back to 1 at k = μ²/(2m) (Result 2).
        let (m, mu) = (0.7, 1.3);
        let kc = mu * mu / (4.0 * m);
        assert_relative_eq!(speedup(m, mu, 1e-9 * kc).unwrap(), 1.0, max_relative = 1e-9);
        assert_relative_eq!(speedup(m, mu, 2.0 * kc).unwrap(), 1.0, max_relative = 1e-15);
        let ks: Vec<f64> = (1..=400).map(|i| kc * 2.0 * i as f64 / 400.0).collect();
        let alphas: Vec<f64> = ks.iter().map(|&k| speedup(m, mu, k).unwrap()).collect();
        for i in 1..ks.len() {
            if ks[i] <= kc {
                assert!(alphas[i] > alphas[i - 1], "α rises up to critical damping");
            } else if ks[i - 1] >= kc {
                assert!(alphas[i] < alphas[i - 1], "α falls beyond critical damping");
            }
        }
    }

    /// Scale of the terms of m x'' + μ x' + k x, for relative residuals.
    fn ode_scale(m: f64, mu: f64, k: f64, x: f64, v: f64, a: f64) -> f64 {
        m * a.abs() + mu * v.abs() + k * x.abs()
    }

    /// Richardson-extrapolated central difference (error O(h⁴)).
    fn derivative(f: impl Fn(f64) -> f64, t: f64, h: f64) -> f64 {
        let d = |h: f64| (f(t + h) - f(t - h)) / (2.0 * h);
        (4.0 * d(0.5 * h) - d(h)) / 3.0
    }

    /// Checks the initial conditions, x' = dx/dt and the ODE at times `ts`.
    ///
    /// Difference step h = 1e-3/λ_max (λ_max = μ/m + √(k/m) bounds every |λ|): the O(h⁴)
    /// truncation error is ~(λ_max h)⁴ = 1e-12 relative, the rounding error ~ε/(λ_max h)
    /// = 2e-13 relative to λ_max·|state|, so 1e-9 leaves a wide margin while a wrong sign
    /// or coefficient anywhere gives O(1).
    fn check_ode(m: f64, mu: f64, k: f64, x0: f64, v0: f64, ts: &[f64]) {
        let (x, v) = exact_component(m, mu, k, x0, v0, 0.0);
        assert_eq!(x, x0);
        assert_relative_eq!(v, v0, max_relative = 1e-15);
        let lmax = mu / m + (k / m).sqrt();
        let h = 1e-3 / lmax;
        for &t in ts {
            let (x, v) = exact_component(m, mu, k, x0, v0, t);
            let a = derivative(|s| exact_component(m, mu, k, x0, v0, s).1, t, h);
            let dx = derivative(|s| exact_component(m, mu, k, x0, v0, s).0, t, h);
            let scale = ode_scale(m, mu, k, x, v, a);
            // (scale = 0 only for the resting state of k = 0, where the residual is 0 too)
            let residual = m * a + mu * v + k * x;
            assert!(
                residual.abs() <= 1e-9 * scale,
                "ODE m={m} mu={mu} k={k} t={t}: residual {residual:e} scale {scale:e}"
            );
            assert!(
                (dx - v).abs() <= 1e-9 * (v.abs() + lmax * x.abs()),
                "x' != dx/dt: m={m} mu={mu} k={k} t={t}: {dx:e} vs {v:e}"
            );
        }
    }

    #[test]
    fn exact_component_solves_the_ode_in_every_regime() {
        let ts = [0.01, 0.1, 0.37, 1.0, 2.5, 6.0];
        let starts = [(1.0, 0.0), (1.0, -3.0), (-0.5, 2.0), (0.0, 1.0)];
        let cases = [
            (1.0, 0.5, 4.0),                 // underdamped
            (1.0, 0.01, 100.0),              // lightly damped, fast oscillation
            (1.0, 4.0, 4.0),                 // exactly critical
            (1.0, 4.0 * (1.0 + 1e-12), 4.0), // just overdamped
            (1.0, 4.0 * (1.0 - 1e-12), 4.0), // just underdamped
            (1.0, 4.0 * (1.0 + 1e-6), 4.0),
            (1.0, 4.0 * (1.0 - 1e-6), 4.0),
            (1.0, 10.0, 1.0),                 // overdamped
            (0.01, 31.622776601683793, 60.0), // W1 corner, μ² ≫ 4mk
            (2.0, 3.0, 0.0),                  // free particle with friction
            (0.5, 1.0, 1e-8),                 // nearly flat direction
        ];
        for &(m, mu, k) in &cases {
            for &(x0, v0) in &starts {
                check_ode(m, mu, k, x0, v0, &ts);
            }
        }
        // Very light particle: fast time scale m/μ = 1e-6; check inside and after it.
        for &(x0, v0) in &starts {
            check_ode(1e-6, 1.0, 1.0, x0, v0, &[1e-7, 1e-6, 5e-6, 0.5, 3.0]);
        }
    }

    #[test]
    fn exact_component_massless() {
        let (x, v) = exact_component(0.0, 2.0, 3.0, 1.5, 99.0, 0.8);
        assert_relative_eq!(x, 1.5 * (-1.2f64).exp(), max_relative = 1e-15);
        assert_relative_eq!(v, -1.5 * x, max_relative = 1e-15);
        // Small mass, started on the slow manifold (v0 = −k x0/μ): the exact solution
        // stays within O(mk/μ²)·kt/μ = 1e-10·t of the massless one. A slow root computed
        // as (−μ + s)/(2m) would carry a relative error ~ε/(mk/μ²) ≈ 1e-6 and fail this.
        let (m, mu, k) = (1e-10, 1.0, 1.0);
        for &t in &[0.1, 1.0, 5.0, 10.0] {
            let (x, v) = exact_component(m, mu, k, 1.0, -1.0, t);
            let (xm, vm) = exact_component(0.0, mu, k, 1.0, 0.0, t);
            assert_relative_eq!(x, xm, max_relative = 2e-10 * t);
            assert_relative_eq!(v, vm, max_relative = 2e-10 * (1.0 + t));
        }
    }

    #[test]
    fn an_overflowing_learning_rate_times_curvature_is_unstable() {
        // εk = 1e308·10 overflows: one root at −∞, so ρ = ∞ (it read √p = 0.707, stable,
        // for the heavy ball, and ρ = NaN, skipped by max, for Nesterov).
        let (eps, p, k) = (1e308, 0.5, 10.0);
        assert_eq!(heavy_ball_radius(eps, p, k), f64::INFINITY);
        assert_eq!(nesterov_radius(eps, p, k), f64::INFINITY);
        assert_eq!(
            heavy_ball_roots(eps, p, k),
            [(0.0, 0.0), (f64::NEG_INFINITY, 0.0)]
        );
        assert_eq!(
            nesterov_roots(eps, p, k),
            [(p / 1.5, 0.0), (f64::NEG_INFINITY, 0.0)]
        );
        assert_eq!(nesterov_roots(eps, -1.0, k)[0], (0.0, f64::INFINITY));
        assert_eq!(
            nesterov_roots(eps, -3.0, k),
            [(f64::INFINITY, 0.0), (1.5, 0.0)]
        );
        // Below the overflow, where b² overflows (εk beyond 1.3e154; taken apart from 1e150):
        // b = 1 + p − εk and p/b for the heavy ball (it read √p where 4εk overflowed, and
        // ∞ with a root at −∞ below that), continuous in ε across the switch.
        assert_eq!(heavy_ball_radius(1e200, p, 1.0), 1e200);
        assert_eq!(heavy_ball_radius(4e307, p, 1.0), 4e307);
        let below = heavy_ball_radius(1e150 * (1.0 - 1e-15), p, 1.0);
        assert!((below / 1e150 - 1.0).abs() < 1e-14, "{below:e}");
        assert!((nesterov_radius(1e200, p, 1.0) / 1.5e200 - 1.0).abs() < 1e-15);
        assert_eq!(heavy_ball_radius(1e307, p, k), 1e308);
        assert_eq!(heavy_ball_radius(5e307, p, 1.0), 5e307);
        let [small, big] = heavy_ball_roots(1e307, p, k);
        assert_eq!(big, (-1e308, 0.0));
        assert!((small.0 * 1e308 + p).abs() < 1e-15, "{small:?}");
        // Nesterov: (1 + p)(1 − εk) = −1.5e308 and p/(1 + p).
        assert!((nesterov_radius(1e307, p, k) / 1.5e308 - 1.0).abs() < 1e-15);
        // p = 1: b = 2(1 − 5e307) = −1e308, b² four times the largest double.
        assert!((nesterov_radius(1e307, 1.0, 5.0) / 1e308 - 1.0).abs() < 1e-15);
        let [small, big] = nesterov_roots(1e307, p, k);
        assert!((big.0 / -1.5e308 - 1.0).abs() < 1e-15, "{big:?}");
        assert!((small.0 - p / 1.5).abs() < 1e-15, "{small:?}");
        // The second root p/(1 + p) for any momentum, where c = p(1 − εk) itself overflows.
        let [small, big] = nesterov_roots(1e308, 10.0, 1.0);
        assert!((big.0 / 1e308).is_infinite() || big.0 == f64::INFINITY || big.0 < -1e308);
        assert!((small.0 - 10.0 / 11.0).abs() < 1e-15, "{small:?}");
        let [big, small] = nesterov_roots(6e307, -3.0, 1.0);
        assert!((big.0 / 1.2e308 - 1.0).abs() < 1e-15, "{big:?}");
        assert!((small.0 - 1.5).abs() < 1e-15, "{small:?}");
        assert!(!result3_stable(eps, p, &[1.0, k]));
    }

    #[test]
    fn exact_component_near_the_largest_friction() {
        // μ + s overflows for μ ≥ ~9e307: the roots are taken in σ's units. Then
        // λ1 = −k/μ·(1 + O(mk/μ²)), λ2 = −μ/m, and from x0 = 1 at rest the particle stays
        // at x = e^{λ1 t}(1 − λ1 D) ≈ 1, v = −(k/m)·e^{λ1 t}·D ≈ −k/μ (D = 1/|λ2 − λ1|).
        for mu in [1e308, f64::MAX / 1.5] {
            let (x, v) = exact_component(1.0, mu, 1.0, 1.0, 0.0, 1.0);
            assert_eq!(x, 1.0, "μ = {mu:e}");
            assert_relative_eq!(v, -1.0 / mu, max_relative = 1e-15);
            // From the origin at unit speed: x = D ≈ 1/μ, v = (λ1 e1 − λ2 e2)/2ω ≈ 0.
            let (x, v) = exact_component(1.0, mu, 1.0, 0.0, 1.0, 1.0);
            assert_relative_eq!(x, 1.0 / mu, max_relative = 1e-15);
            assert!(v.abs() < 1e-300, "μ = {mu:e}: v = {v:e}");
        }
    }

    #[test]
    fn exact_component_matches_textbook_forms() {
        // Away from critical damping the textbook forms are well conditioned: they agree
        // to a few ulp times |λ t| (the conditioning of exp).
        // Underdamped: x = e^{−γt}(x0 cos Ωt + (v0 + γ x0)/Ω sin Ωt).
        let (m, mu, k, x0, v0): (f64, f64, f64, f64, f64) = (2.0, 1.0, 5.0, 0.7, -1.1);
        let (g, om) = (0.25f64, (4.0 * m * k - mu * mu).sqrt() / (2.0 * m));
        for &t in &[0.3, 1.7, 4.2, 9.9] {
            let want = (-g * t).exp() * (x0 * (om * t).cos() + (v0 + g * x0) / om * (om * t).sin());
            assert_relative_eq!(
                exact_component(m, mu, k, x0, v0, t).0,
                want,
                max_relative = 1e-13
            );
        }
        // Overdamped, from rest: x = (λ2 e^{λ1 t} − λ1 e^{λ2 t})/(λ2 − λ1), roots −1, −4.
        for &t in &[0.3f64, 1.7, 4.2, 9.9] {
            let want = (-4.0 * (-t).exp() + (-4.0 * t).exp()) / -3.0;
            assert_relative_eq!(
                exact_component(1.0, 5.0, 4.0, 1.0, 0.0, t).0,
                want,
                max_relative = 1e-14
            );
        }
        // Critical: (x0 + (v0 + γ x0) t) e^{−γt}, γ = 2.
        for &t in &[0.3, 1.7, 4.2, 9.9] {
            let (x, v) = exact_component(1.0, 4.0, 4.0, 1.0, -5.0, t);
            let want_x = (1.0 - 3.0 * t) * (-2.0 * t).exp();
            let want_v = (-3.0 - 2.0 * (1.0 - 3.0 * t)) * (-2.0 * t).exp();
            assert_relative_eq!(x, want_x, max_relative = 1e-14);
            assert_relative_eq!(v, want_v, max_relative = 1e-14);
        }
        // k = 0: x = x0 + v0 (m/μ)(1 − e^{−μt/m}), x' = v0 e^{−μt/m}.
        for &t in &[1e-3, 0.3, 1.7, 9.9] {
            let (x, v) = exact_component(2.0, 3.0, 0.0, 0.5, 2.0, t);
            assert_relative_eq!(
                x,
                0.5 - 2.0 * (2.0 / 3.0) * (-1.5 * t).exp_m1(),
                max_relative = 1e-15
            );
            assert_relative_eq!(v, 2.0 * (-1.5 * t).exp(), max_relative = 1e-15);
        }
    }

    #[test]
    fn exact_component_is_a_flow() {
        // Solving to t1 and restarting from that state must land on the same state as
        // solving to t1 + t2 directly. Each side carries a few ulp times |λ t| ≲ 30 of
        // rounding, so 1e-12 relative to the state's scale is a safe bound.
        let cases = [
            (1.0, 0.5, 4.0),
            (1.0, 4.0, 4.0),
            (1.0, 4.0 * (1.0 + 1e-13), 4.0),
            (1.0, 4.0 * (1.0 - 1e-13), 4.0),
            (1.0, 10.0, 1.0),
            (0.01, 31.622776601683793, 6.0),
            (1e-6, 1.0, 2.0),
            (2.0, 3.0, 0.0),
        ];
        for &(m, mu, k) in &cases {
            let rate = decay_rate(m, mu, k).max(1e-3);
            let lmax = mu / m + (k / m).sqrt();
            for &(x0, v0) in &[(1.0, 0.0), (1.0, -2.0), (-0.3, 5.0)] {
                for &(t1, t2) in &[(0.3, 0.9), (1.1, 2.4), (0.05, 4.0)] {
                    let (xa, va) = exact_component(m, mu, k, x0, v0, t1);
                    let (xb, vb) = exact_component(m, mu, k, xa, va, t2);
                    let (xc, vc) = exact_component(m, mu, k, x0, v0, t1 + t2);
                    let scale = xc.abs() + vc.abs() / rate + (-rate * (t1 + t2)).exp() * 1e-300;
                    assert!(
                        (xb - xc).abs() <= 1e-12 * scale,
                        "x flow m={m} mu={mu} k={k} ({x0},{v0}) t={t1}+{t2}: {xb:e} {xc:e}"
                    );
                    assert!(
                        (vb - vc).abs() <= 1e-12 * (vc.abs() + lmax * xc.abs()),
                        "v flow m={m} mu={mu} k={k} ({x0},{v0}) t={t1}+{t2}: {vb:e} {vc:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn exact_component_is_continuous_across_critical_damping() {
        // The solution is analytic in μ (an entire function of the discriminant), so a
        // relative change δ in μ moves the state by O(δ·μt/m): at most ~1e-10 here.
        // A formula with a 1/s = 1/sqrt(μ² − 4mk) singularity would jump by ~1e-16/√δ
        // or worse near δ = 1e-15. Tolerance 1e-9 of the state scale, as required.
        let (m, k) = (1.0, 4.0);
        let mu_c = 4.0; // exactly critical
        for &(x0, v0) in &[(1.0, 0.0), (1.0, -3.0), (0.2, 1.0)] {
            for &t in &[0.05, 0.5, 1.0, 2.0, 5.0] {
                let (xc, vc) = exact_component(m, mu_c, k, x0, v0, t);
                let scale = (xc.abs() + vc.abs()).max(1e-3 * (-2.0 * t).exp());
                for &d in &[1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11] {
                    for &sign in &[1.0, -1.0] {
                        let mu = mu_c * (1.0 + sign * d);
                        let (x, v) = exact_component(m, mu, k, x0, v0, t);
                        assert!(
                            (x - xc).abs() <= 1e-9 * scale && (v - vc).abs() <= 1e-9 * scale,
                            "jump at δ={} t={t}: x {x:e} vs {xc:e}, v {v:e} vs {vc:e}",
                            sign * d
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn result3_stability_region() {
        // Heavy ball converges (ρ < 1) exactly where |p| < 1 and 0 < εk < 2 + 2p. Points
        // within 1e-9 of a boundary are skipped: there ρ = 1 − O(1e-9) and the verdict
        // would test rounding, not the theorem.
        let mut inside = 0;
        let mut outside = 0;
        for i in 0..=600 {
            let ek = -1.0 + 6.0 * i as f64 / 600.0 + 1.234e-7;
            for j in 0..=400 {
                let p = -1.6 + 3.2 * j as f64 / 400.0 + 2.345e-7;
                let margins = [p.abs() - 1.0, ek, ek - (2.0 + 2.0 * p)];
                if margins.iter().any(|x| x.abs() < 1e-9) {
                    continue;
                }
                let stable = p.abs() < 1.0 && ek > 0.0 && ek < 2.0 + 2.0 * p;
                assert_eq!(heavy_ball_radius(ek, p, 1.0) < 1.0, stable, "εk={ek} p={p}");
                assert_eq!(result3_stable(ek, p, &[1.0]), stable);
                if stable { inside += 1 } else { outside += 1 }
            }
        }
        assert!(inside > 10_000 && outside > 10_000);
        // Without momentum the range is 0 < εk < 2: momentum nearly doubles it.
        assert!(!result3_stable(2.1, 0.0, &[1.0]));
        assert!(result3_stable(2.1, 0.5, &[1.0]));
        assert_eq!(max_stable_learning_rate(0.0, 4.0), 0.5);
        assert_eq!(max_stable_learning_rate(0.9, 4.0), 0.95);
    }

    #[test]
    fn companion_radii_match_nalgebra_eigenvalues() {
        // Independent check of heavy_ball_roots/radius and nesterov_radius against a
        // general eigenvalue solver on the companion matrices. Near a double root the
        // solver's rounding moves the roots by ~√ε ≈ 1e-8 (root sensitivity), hence 1e-7.
        use nalgebra::Matrix2;
        for i in 0..=40 {
            let ek = -0.5 + 4.5 * i as f64 / 40.0;
            for j in 0..=40 {
                let p = -1.2 + 2.4 * j as f64 / 40.0;
                let hb = Matrix2::new(0.0, 1.0, -p, 1.0 + p - ek);
                let ev = hb.complex_eigenvalues();
                let rho = ev.iter().map(|z| z.norm()).fold(0.0, f64::max);
                assert_abs_diff_eq!(heavy_ball_radius(ek, p, 1.0), rho, epsilon = 1e-7);
                let roots = heavy_ball_roots(ek, p, 1.0);
                for z in ev.iter() {
                    let hit = roots
                        .iter()
                        .any(|&(re, im)| (re - z.re).abs() + (im - z.im).abs() < 2e-7);
                    assert!(hit, "εk={ek} p={p}: {z} not in {roots:?}");
                }
                let g = 1.0 - ek;
                let nm = Matrix2::new(0.0, 1.0, -p * g, (1.0 + p) * g);
                let rho = nm
                    .complex_eigenvalues()
                    .iter()
                    .map(|z| z.norm())
                    .fold(0.0, f64::max);
                assert_abs_diff_eq!(nesterov_radius(ek, p, 1.0), rho, epsilon = 1e-7);
            }
        }
        // Without momentum both schemes are gradient descent.
        for &ek in &[0.1, 0.9, 1.5, 2.5] {
            assert_relative_eq!(
                heavy_ball_radius(ek, 0.0, 1.0),
                gradient_descent_radius(ek, 1.0)
            );
            assert_relative_eq!(
                nesterov_radius(ek, 0.0, 1.0),
                gradient_descent_radius(ek, 1.0)
            );
        }
        // Real roots: the small one by Vieta keeps full accuracy (p = 1e-20, εk = 0:
        // roots 1 and 1e-20; (b − sqrt(disc))/2 would return 0).
        let [(r1, _), (r2, _)] = heavy_ball_roots(0.0, 1e-20, 1.0);
        assert_eq!(r1, 1.0);
        assert_relative_eq!(r2, 1e-20, max_relative = 1e-15);
        assert_eq!(heavy_ball_roots(2.0, 0.0, 1.0), [(0.0, 0.0), (-1.0, 0.0)]);
    }

    #[test]
    fn kth_poster_numbers() {
        // H = diag(3, 30), m = 2, μ = 4, Δt = 0.5 (docs/theory.md §6).
        let (m, mu, dt, ks) = (2.0, 4.0, 0.5, [3.0, 30.0]);
        let (eps, p) = crate::dynamics::maps::qian(m, mu, dt);
        assert_eq!((eps, p), (0.0625, 0.5));
        let rho = ks
            .iter()
            .map(|&k| heavy_ball_radius(eps, p, k))
            .fold(0.0, f64::max);
        // Both components have complex roots, so ρ = √p = 1/√2 (sqrt is correctly rounded).
        assert_relative_eq!(rho, std::f64::consts::FRAC_1_SQRT_2, max_relative = 1e-15);
        assert!(result3_stable(eps, p, &ks));
        // The massless scheme at the same Δt: ε = Δt/μ, p = 0, diverges along k = 30.
        let (eps0, p0) = crate::dynamics::maps::qian(0.0, mu, dt);
        assert_eq!((eps0, p0), (0.125, 0.0));
        assert_eq!(gradient_descent_radius(eps0, 30.0), 2.75);
        assert!(!result3_stable(eps0, p0, &ks));
        // Continuous side: critical damping at k = μ²/(4m) = 2, so momentum speeds up the
        // k = 3 direction (3 < μ²/(2m) = 4) and slows the k = 30 one.
        assert_eq!(mu * mu / (4.0 * m), 2.0);
        assert!(speedup(m, mu, 3.0).unwrap() > 1.0);
        assert!(speedup(m, mu, 30.0).unwrap() < 1.0);
        assert_relative_eq!(
            speedup(m, mu, 3.0).unwrap(),
            4.0 / 3.0,
            max_relative = 1e-15
        );
    }

    #[test]
    fn goh_optimum_numbers() {
        let o = goh_optimum(0.01, 1.0);
        // √λ1 = 0.1, √λn = 1: α = (2/1.1)², β = (0.9/1.1)², rate 9/11 = (√κ−1)/(√κ+1).
        assert_relative_eq!(o.momentum_alpha, 400.0 / 121.0, max_relative = 1e-15);
        assert_relative_eq!(o.momentum_beta, 81.0 / 121.0, max_relative = 1e-15);
        assert_relative_eq!(o.momentum_rate, 9.0 / 11.0, max_relative = 1e-15);
        assert_abs_diff_eq!(o.momentum_alpha, 3.3057, epsilon = 1e-4);
        assert_abs_diff_eq!(o.momentum_beta, 0.6694, epsilon = 1e-4);
        assert_relative_eq!(o.gd_alpha, 2.0 / 1.01, max_relative = 1e-15);
        assert_relative_eq!(o.gd_rate, 99.0 / 101.0, max_relative = 1e-15);
        // The optimum puts every eigenvalue in [λ1, λn] on the circle |σ| = √β = rate:
        // complex roots inside (radius √β to rounding), double roots at both ends
        // (~1e-8 root sensitivity there).
        for i in 0..=1000 {
            let k = 0.01 + 0.99 * i as f64 / 1000.0;
            let rho = heavy_ball_radius(o.momentum_alpha, o.momentum_beta, k);
            assert_abs_diff_eq!(rho, o.momentum_rate, epsilon = 1e-7);
        }
        // Gradient descent's optimum balances the two ends.
        assert_relative_eq!(
            gradient_descent_radius(o.gd_alpha, 0.01),
            o.gd_rate,
            max_relative = 1e-14
        );
        assert_relative_eq!(
            gradient_descent_radius(o.gd_alpha, 1.0),
            o.gd_rate,
            max_relative = 1e-14
        );
    }

    #[test]
    fn optimal_momentum_minimises_the_radius() {
        for &ek in &[1e-4, 0.01, 0.1, 0.5, 0.9, 1.0, 2.0, 3.5] {
            let pstar = optimal_momentum(ek, 1.0);
            let best = (1.0 - ek.sqrt()).abs();
            // At p* the roots coincide at 1 − √(εk) (Q36). A double root is ill-conditioned:
            // p*'s own rounding δ ~ 1e-16 splits it by ~√δ = 1e-8, hence 1e-7.
            let [(r1, i1), (r2, i2)] = heavy_ball_roots(ek, pstar, 1.0);
            assert_abs_diff_eq!(r1, 1.0 - ek.sqrt(), epsilon = 1e-7);
            assert_abs_diff_eq!(r2, 1.0 - ek.sqrt(), epsilon = 1e-7);
            assert_abs_diff_eq!(i1, 0.0, epsilon = 1e-7);
            assert_abs_diff_eq!(i2, 0.0, epsilon = 1e-7);
            let at_star = heavy_ball_radius(ek, pstar, 1.0);
            assert_abs_diff_eq!(at_star, best, epsilon = 1e-7);
            // No momentum on a fine grid does better than 1 − √(εk). Away from p* the
            // radius is well conditioned, so the margin is a few ulp (1e-12 is generous).
            for j in 0..=20_000 {
                let p = -0.99 + 1.98 * j as f64 / 20_000.0;
                assert!(
                    heavy_ball_radius(ek, p, 1.0) >= best - 1e-12,
                    "εk={ek}: p={p} beats p*={pstar}"
                );
            }
            // And it is never worse than gradient descent's |1 − εk| (equal at εk = 1).
            assert!(at_star <= gradient_descent_radius(ek, 1.0) + 1e-7);
        }
    }

    #[test]
    fn discrete_rate_tends_to_continuous_rate() {
        // −ln ρ(Δt)/Δt → r as Δt → 0, with an O(Δt) error (Qian's backward difference for
        // friction is first order): the error must shrink ~10× per decade of Δt.
        for &(m, mu, ks) in &[
            (2.0, 4.0, &[3.0, 30.0][..]), // both underdamped: r = μ/(2m) = 1
            (0.5, 4.0, &[3.0, 1.0][..]),  // overdamped: r = 2k/(μ + s) for k = 1
            (1.0, 4.0, &[4.0][..]),       // critical
        ] {
            let r = continuous_rate(m, mu, ks);
            let err = |dt: f64| {
                let (eps, p) = crate::dynamics::maps::qian(m, mu, dt);
                let rho = ks
                    .iter()
                    .map(|&k| heavy_ball_radius(eps, p, k))
                    .fold(0.0, f64::max);
                (rate_per_time(rho, dt) - r).abs() / r
            };
            let (e3, e4) = (err(1e-3), err(1e-4));
            assert!(e4 < 1e-2, "m={m} mu={mu}: relative error {e4:e} at Δt=1e-4");
            // Critical damping is a double root: its O(Δt) error carries a √ factor, so
            // only require a clear decrease there.
            let ratio = e4 / e3;
            assert!(ratio < 0.35, "m={m} mu={mu}: error ratio {ratio}");
        }
        assert_eq!(rate_per_time(1.0, 0.1), 0.0);
        assert!(rate_per_time(2.0, 0.1) < 0.0);
        assert_eq!(rate_per_time(0.0, 0.1), f64::INFINITY);
    }

    /// The momentum in [0, 1) on a 1e-4 grid where `radius` is smallest.
    fn scan_minimiser(radius: impl Fn(f64) -> f64) -> f64 {
        (0..10_000)
            .map(|i| i as f64 * 1e-4)
            .min_by(|a, b| radius(*a).total_cmp(&radius(*b)))
            .unwrap()
    }

    #[test]
    fn optimal_momentum_for_a_spectrum_minimises_the_radius() {
        // Fine scan of p at fixed ε on Goh's spectrum: the scan's minimiser of max_i ρ_i is
        // within one grid step (1e-4) of the closed form.
        let ks = [0.01, 0.1, 1.0];
        for eps in [0.5, 1.0, 3.3057851239669422] {
            let p_star = optimal_momentum_for(eps, &ks).unwrap();
            let best = scan_minimiser(|p| {
                ks.iter()
                    .map(|&k| heavy_ball_radius(eps, p, k))
                    .fold(0.0, f64::max)
            });
            assert!(
                (best - p_star).abs() <= 1e-4,
                "eps {eps}: scan {best}, closed form {p_star}"
            );
        }
        assert_eq!(optimal_momentum_for(5.0, &[1.0]), None);
    }

    #[test]
    fn nesterov_optimum_and_stability_edge() {
        for (eps, k) in [(0.1, 1.0), (0.01, 4.0), (0.5, 0.3)] {
            let p = nesterov_optimal_momentum(eps, k);
            // A double root at 1 − sqrt(εk).
            assert_relative_eq!(
                nesterov_radius(eps, p, k),
                1.0 - (eps * k).sqrt(),
                max_relative = 1e-7
            );
        }
        // The edge, on both branches and where they meet: just below it stable, just above
        // not; and everything below it stable (a scan down to ε → 0).
        for p in [
            -1.0,
            -0.9,
            -0.6,
            -0.4,
            -1.0 / 3.0,
            -0.3,
            -0.1,
            0.0,
            0.3,
            0.9,
            1.0,
        ] {
            let lr = nesterov_max_stable_learning_rate(p, 2.0).unwrap();
            assert!(nesterov_radius(lr * (1.0 - 1e-9), p, 2.0) < 1.0, "p = {p}");
            assert!(nesterov_radius(lr * (1.0 + 1e-9), p, 2.0) > 1.0, "p = {p}");
            for i in 1..1000 {
                let eps = lr * f64::from(i) / 1000.0;
                assert!(nesterov_radius(eps, p, 2.0) < 1.0, "p = {p}, ε = {eps}");
            }
        }
        // p = −0.6: (1 + 1/0.6)/k = 8/3 at k = 1 (the CLI probe's scan found 2.667).
        assert_relative_eq!(
            nesterov_max_stable_learning_rate(-0.6, 1.0).unwrap(),
            8.0 / 3.0,
            max_relative = 1e-15
        );
        // |p| > 1: a small ε is unstable (|pa| → |p| > 1).
        for p in [-1.01, 1.01] {
            assert_eq!(nesterov_max_stable_learning_rate(p, 2.0), None);
            assert!(nesterov_radius(1e-6, p, 2.0) > 1.0);
        }
        assert_eq!(slowest_component(1.0, 1.0, &[4.0, 0.1, 9.0]), Some(0.1));
        // The spectrum's optimum minimises max_i ρ_i: a fine scan of p lands within a step.
        let ks = [0.01, 0.1, 0.5];
        let eps = 0.9;
        let p_star = nesterov_optimal_momentum_for(eps, &ks).unwrap();
        let best = scan_minimiser(|p| {
            ks.iter()
                .map(|&k| nesterov_radius(eps, p, k))
                .fold(0.0, f64::max)
        });
        assert!(
            (best - p_star).abs() <= 1e-4,
            "scan {best}, closed form {p_star}"
        );
    }
}
