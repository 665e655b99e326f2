//! The step interpolant: a Hermite polynomial through (w, w′, w″) — quintic — or
//! (w, w′, w″, w‴) — septic — at both ends of a solver step, kept in Bernstein form so
//! that its range over any sub-interval is bounded by its control points. That bound
//! drives the search for the first time a stop threshold is crossed inside a step, which
//! step-end checks miss. The degree follows the solver's order: a quintic's O(h⁶) local
//! error suits Dopri5 and RK4; DOP853's long steps need the septic's O(h⁸).

/// Most control points of a supported degree (septic: 8).
const MAX_POINTS: usize = 8;

/// Depth of interval halving before the last bracket is refined by bisection
/// (2⁻³⁰ of a step: the control-point box is then tight to O(4⁻³⁰)).
const MAX_DEPTH: u32 = 30;

/// Most sub-intervals examined in one step. A path that grazes the ball's surface without
/// entering keeps the box bound undecided; past this budget the step counts as not
/// crossing (a graze closer than ~1e-5 of the radius, over a whole step).
const MAX_NODES: u32 = 1 << 16;

/// A vector-valued polynomial of degree 5 or 7 on `s ∈ [0, 1]` (`t = t0 + s·h`), as
/// Bernstein control points of dimension n stored flat (`ctrl[i·n + j]`). Allocated once
/// per run.
#[derive(Debug, Clone)]
pub struct Hermite {
    n: usize,
    points: usize,
    ctrl: Vec<f64>,
    /// The point the norm-based searches measure from (`|p − origin|`); zero unless set.
    origin: Vec<f64>,
    /// Distance² from the origin to the box of all control points, kept by every setter:
    /// the per-step screen [`Self::may_cross`] is then one comparison.
    gap2: f64,
}

impl Hermite {
    /// A zero quintic of dimension n.
    pub fn quintic(n: usize) -> Self {
        Hermite {
            n,
            points: 6,
            ctrl: vec![0.0; 6 * n],
            origin: vec![0.0; n],
            gap2: 0.0,
        }
    }

    /// A zero septic of dimension n.
    pub fn septic(n: usize) -> Self {
        Hermite {
            n,
            points: 8,
            ctrl: vec![0.0; 8 * n],
            origin: vec![0.0; n],
            gap2: 0.0,
        }
    }

    /// A zero polynomial of the same degree and dimension.
    pub fn like(&self) -> Self {
        Hermite {
            n: self.n,
            points: self.points,
            ctrl: vec![0.0; self.ctrl.len()],
            origin: vec![0.0; self.n],
            gap2: 0.0,
        }
    }

    /// Measures the norm-based searches ([`Self::may_cross`], [`Self::first_below`],
    /// [`Self::norm2_at`]) from `origin` instead of 0: the distance criterion then runs on
    /// the step interpolant itself, with no mapped copy per step.
    pub fn set_origin(&mut self, origin: &[f64]) {
        self.origin.copy_from_slice(origin);
    }

    /// Whether the Hermite data include the third derivative.
    pub fn uses_jerk(&self) -> bool {
        self.points == 8
    }

    /// Control point `i`.
    pub fn control(&self, i: usize) -> &[f64] {
        &self.ctrl[i * self.n..(i + 1) * self.n]
    }

    /// Sets the Hermite data of a step of length `h`: values and time derivatives at
    /// both ends, `[x, x′, x″, x‴]` (the last is ignored by a quintic).
    pub fn set_hermite(&mut self, h: f64, start: [&[f64]; 4], end: [&[f64]; 4]) {
        let n = self.n;
        let ([x0, d0, a0, j0], [x1, d1, a1, j1]) = (start, end);
        let mut gap2 = 0.0;
        if self.points == 6 {
            let (h1, h2) = (h * 0.2, h * h * 0.05);
            for j in 0..n {
                // p′(0) = 5(b1 − b0)/h, p″(0) = 20(b2 − 2b1 + b0)/h², mirrored at s = 1.
                let b = [
                    x0[j],
                    x0[j] + h1 * d0[j],
                    x0[j] + 2.0 * h1 * d0[j] + h2 * a0[j],
                    x1[j] - 2.0 * h1 * d1[j] + h2 * a1[j],
                    x1[j] - h1 * d1[j],
                    x1[j],
                ];
                gap2 += self.store_column(j, &b);
            }
        } else {
            let (h1, h2, h3) = (h / 7.0, h * h / 42.0, h * h * h / 210.0);
            for j in 0..n {
                // p⁽ʳ⁾(0) = 7!/(7 − r)! Δʳb₀/hʳ for r ≤ 3, mirrored at s = 1.
                let b = [
                    x0[j],
                    x0[j] + h1 * d0[j],
                    x0[j] + 2.0 * h1 * d0[j] + h2 * a0[j],
                    x0[j] + 3.0 * h1 * d0[j] + 3.0 * h2 * a0[j] + h3 * j0[j],
                    x1[j] - 3.0 * h1 * d1[j] + 3.0 * h2 * a1[j] - h3 * j1[j],
                    x1[j] - 2.0 * h1 * d1[j] + h2 * a1[j],
                    x1[j] - h1 * d1[j],
                    x1[j],
                ];
                gap2 += self.store_column(j, &b);
            }
        }
        self.gap2 = gap2;
    }

    /// Stores the control points of coordinate `j`; returns the squared distance from the
    /// origin's coordinate to their range.
    #[inline]
    fn store_column(&mut self, j: usize, b: &[f64]) -> f64 {
        let (n, o) = (self.n, self.origin[j]);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (i, &v) in b.iter().enumerate() {
            self.ctrl[i * n + j] = v;
            lo = lo.min(v - o);
            hi = hi.max(v - o);
        }
        let d = box_gap(lo, hi);
        d * d
    }

    /// Sets this polynomial to `f` applied to every control point of `src` (valid for any
    /// affine `f`: Bernstein form commutes with affine maps).
    pub fn set_mapped(&mut self, src: &Hermite, mut f: impl FnMut(&[f64], &mut [f64])) {
        let n = self.n;
        for i in 0..self.points {
            f(src.control(i), &mut self.ctrl[i * n..(i + 1) * n]);
        }
        self.gap2 = (0..n)
            .map(|j| {
                let b = self.column_from_origin(j);
                let b = &b[..self.points];
                let lo = b.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = b.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let d = box_gap(lo, hi);
                d * d
            })
            .sum();
    }

    /// The control points of coordinate `j`.
    #[inline]
    fn column(&self, j: usize) -> [f64; MAX_POINTS] {
        let mut b = [0.0; MAX_POINTS];
        for (i, bi) in b.iter_mut().enumerate().take(self.points) {
            *bi = self.ctrl[i * self.n + j];
        }
        b
    }

    /// The control points of coordinate `j`, less the origin's coordinate.
    #[inline]
    fn column_from_origin(&self, j: usize) -> [f64; MAX_POINTS] {
        let mut b = self.column(j);
        let o = self.origin[j];
        b.iter_mut().take(self.points).for_each(|x| *x -= o);
        b
    }

    /// de Casteljau at `s` on the first `points` entries of `b`.
    #[inline]
    fn casteljau(mut b: [f64; MAX_POINTS], points: usize, s: f64) -> f64 {
        for r in 1..points {
            for i in 0..points - r {
                b[i] += s * (b[i + 1] - b[i]);
            }
        }
        b[0]
    }

    /// Value at `s`, written into `out`.
    pub fn eval(&self, s: f64, out: &mut [f64]) {
        for (j, o) in out.iter_mut().enumerate().take(self.n) {
            *o = Self::casteljau(self.column(j), self.points, s);
        }
    }

    /// Time derivative at `s` for a step of length `h`, written into `out`.
    pub fn eval_derivative(&self, s: f64, h: f64, out: &mut [f64]) {
        let degree = (self.points - 1) as f64;
        for (j, o) in out.iter_mut().enumerate().take(self.n) {
            // The derivative has degree N − 1 and control points N(b_{i+1} − b_i)/h.
            let b = self.column(j);
            let mut d = [0.0; MAX_POINTS];
            for i in 0..self.points - 1 {
                d[i] = b[i + 1] - b[i];
            }
            *o = degree * Self::casteljau(d, self.points - 1, s) / h;
        }
    }

    /// |p(s) − origin|².
    pub fn norm2_at(&self, s: f64) -> f64 {
        (0..self.n)
            .map(|j| Self::casteljau(self.column_from_origin(j), self.points, s))
            .map(|x| x * x)
            .sum()
    }

    /// Over `[a, b]`: a lower bound of |p − origin|² (distance² from the origin to the box
    /// of the restricted control points), and |p(a) − origin|², |p(b) − origin|².
    fn bound(&self, a: f64, b: f64) -> (f64, f64, f64) {
        let p = self.points;
        let (mut lb, mut fa, mut fb) = (0.0, 0.0, 0.0);
        // Restrict by two de Casteljau splits: the right part at a, then its left part at t′.
        let t2 = if a < 1.0 { (b - a) / (1.0 - a) } else { 0.0 };
        for j in 0..self.n {
            let mut c = self.column_from_origin(j);
            if a > 0.0 {
                // After the sweep, c holds the right part's control points.
                for r in 1..p {
                    for i in 0..p - r {
                        c[i] += a * (c[i + 1] - c[i]);
                    }
                }
            }
            // Left part at t2: keep the first point of each level.
            let mut left = [0.0; MAX_POINTS];
            left[0] = c[0];
            for (r, slot) in (1..p).zip(&mut left[1..p]) {
                for i in 0..p - r {
                    c[i] += t2 * (c[i + 1] - c[i]);
                }
                *slot = c[0];
            }
            let (mut lo, mut hi) = (left[0], left[0]);
            for v in &left[1..p] {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
            let d = box_gap(lo, hi);
            lb += d * d;
            fa += left[0] * left[0];
            fb += left[p - 1] * left[p - 1];
        }
        (lb, fa, fb)
    }

    /// Whether |p − origin|² can fall below `r2` anywhere on `[0, 1]` (a cheap, conservative
    /// screen on the box kept by the setters: false means certainly not).
    #[inline]
    pub fn may_cross(&self, r2: f64) -> bool {
        // False for NaN too: nothing to search.
        self.gap2 < r2
    }

    /// The first `s ∈ (0, 1]` with |p(s) − origin|² < r2, given |p(0) − origin|² ≥ r2; `None` if there is
    /// none. Subdivides left-first, pruning intervals whose control-point box stays
    /// outside the ball, then bisects the first bracket to round-off.
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // `!(lb < r2)` is true for NaN: prune it
    pub fn first_below(&self, r2: f64, stack: &mut Vec<(f64, f64, u32)>) -> Option<f64> {
        stack.clear();
        stack.push((0.0, 1.0, 0));
        let mut nodes = 0;
        while let Some((a, b, depth)) = stack.pop() {
            nodes += 1;
            if nodes > MAX_NODES {
                return None;
            }
            let (lb, fa, fb) = self.bound(a, b);
            // `!(lb < r2)` also prunes NaN.
            if !(lb < r2) {
                continue;
            }
            if fa < r2 {
                // Everything left of a was excluded: the crossing is at a (to round-off).
                return Some(a);
            }
            if depth >= MAX_DEPTH {
                if fb < r2 {
                    return Some(self.bisect(a, b, r2));
                }
                continue;
            }
            let mid = 0.5 * (a + b);
            stack.push((mid, b, depth + 1));
            stack.push((a, mid, depth + 1));
        }
        None
    }

    /// Bisection for |p − origin|² = r2 on [a, b] with |p(a) − origin|² ≥ r2 > |p(b) − origin|²,
    /// to round-off.
    fn bisect(&self, mut a: f64, mut b: f64, r2: f64) -> f64 {
        for _ in 0..200 {
            let mid = 0.5 * (a + b);
            if mid <= a || mid >= b {
                break;
            }
            if self.norm2_at(mid) < r2 {
                b = mid;
            } else {
                a = mid;
            }
        }
        b
    }
}

/// Distance from 0 to the interval [lo, hi].
#[inline]
fn box_gap(lo: f64, hi: f64) -> f64 {
    if lo > 0.0 {
        lo
    } else if hi < 0.0 {
        -hi
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_reproduces(mut q: Hermite, degree: i32) {
        // p(t) = (t³ − 2t, 5 − t^N) on [0.5, 1.5]: a degree-N Hermite reproduces it exactly.
        let n = degree as f64;
        let p = |t: f64| [t * t * t - 2.0 * t, 5.0 - t.powi(degree)];
        let d = |t: f64| [3.0 * t * t - 2.0, -n * t.powi(degree - 1)];
        let a = |t: f64| [6.0 * t, -n * (n - 1.0) * t.powi(degree - 2)];
        let j = |t: f64| [6.0, -n * (n - 1.0) * (n - 2.0) * t.powi(degree - 3)];
        let (p0, d0, a0, j0) = (p(0.5), d(0.5), a(0.5), j(0.5));
        let (p1, d1, a1, j1) = (p(1.5), d(1.5), a(1.5), j(1.5));
        q.set_hermite(1.0, [&p0, &d0, &a0, &j0], [&p1, &d1, &a1, &j1]);
        let mut out = [0.0; 2];
        for k in 0..=20 {
            let s = k as f64 / 20.0;
            let t = 0.5 + s;
            q.eval(s, &mut out);
            approx::assert_abs_diff_eq!(out[0], p(t)[0], epsilon = 1e-13);
            approx::assert_abs_diff_eq!(out[1], p(t)[1], epsilon = 1e-13);
            q.eval_derivative(s, 1.0, &mut out);
            approx::assert_abs_diff_eq!(out[0], d(t)[0], epsilon = 1e-12);
            approx::assert_abs_diff_eq!(out[1], d(t)[1], epsilon = 1e-11);
        }
    }

    #[test]
    fn reproduces_polynomials_of_its_degree() {
        check_reproduces(Hermite::quintic(2), 5);
        check_reproduces(Hermite::septic(2), 7);
    }

    #[test]
    fn finds_a_dip_between_step_ends() {
        // x(s) = (s − 0.5)² − 0.001 passes through 0 near s = 0.5 ± √0.001 while both ends
        // stand at 0.249: |x| < r = 1e-4 first at s = 0.5 − √(0.001 + r).
        let f = |s: f64| (s - 0.5) * (s - 0.5) - 0.001;
        let mut q = Hermite::quintic(1);
        let z = [0.0];
        q.set_hermite(
            1.0,
            [&[f(0.0)], &[-1.0], &[2.0], &z],
            [&[f(1.0)], &[1.0], &[2.0], &z],
        );
        let r = 1e-4;
        let mut stack = Vec::new();
        let s = q.first_below(r * r, &mut stack).unwrap();
        approx::assert_abs_diff_eq!(s, 0.5 - (0.001f64 + r).sqrt(), epsilon = 1e-14);
        // A curve that stays at or above 0.011 never enters the ball of radius 0.01.
        let g = |s: f64| (s - 0.5) * (s - 0.5) + 0.011;
        q.set_hermite(
            1.0,
            [&[g(0.0)], &[-1.0], &[2.0], &z],
            [&[g(1.0)], &[1.0], &[2.0], &z],
        );
        assert_eq!(q.first_below(1e-4, &mut stack), None);
    }
}
