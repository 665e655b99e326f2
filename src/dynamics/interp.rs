//! The step interpolant: a quintic Hermite polynomial through (w, w', w'') at both ends of
//! a solver step, kept in Bernstein form so that its range over any sub-interval is
//! bounded by its control points. That bound drives the search for the first time a stop
//! threshold is crossed inside a step, which step-end checks miss.

/// A vector-valued quintic on `s ∈ [0, 1]` (`t = t0 + s·h`), as 6 Bernstein control
/// points of dimension n stored flat (`ctrl[i·n + j]`). Allocated once per run.
#[derive(Debug, Clone)]
pub struct Quintic {
    n: usize,
    ctrl: Vec<f64>,
}

/// Depth of interval halving before the last bracket is refined by bisection
/// (2⁻³⁰ of a step: the control-point box is then tight to O(4⁻³⁰)).
const MAX_DEPTH: u32 = 30;

impl Quintic {
    /// A zero quintic of dimension n.
    pub fn new(n: usize) -> Self {
        Quintic {
            n,
            ctrl: vec![0.0; 6 * n],
        }
    }

    /// Dimension of the values.
    pub fn dim(&self) -> usize {
        self.n
    }

    /// Control point `i` (0..6).
    pub fn control(&self, i: usize) -> &[f64] {
        &self.ctrl[i * self.n..(i + 1) * self.n]
    }

    /// Sets the Hermite data of a step of length `h`: values, first and second time
    /// derivatives at both ends.
    #[allow(clippy::too_many_arguments)]
    pub fn set_hermite(
        &mut self,
        h: f64,
        x0: &[f64],
        d0: &[f64],
        a0: &[f64],
        x1: &[f64],
        d1: &[f64],
        a1: &[f64],
    ) {
        let n = self.n;
        let (h1, h2) = (h / 5.0, h * h / 20.0);
        for j in 0..n {
            // p'(0) = 5(b1 − b0)/h, p''(0) = 20(b2 − 2b1 + b0)/h², and mirrored at s = 1.
            self.ctrl[j] = x0[j];
            self.ctrl[n + j] = x0[j] + h1 * d0[j];
            self.ctrl[2 * n + j] = x0[j] + 2.0 * h1 * d0[j] + h2 * a0[j];
            self.ctrl[3 * n + j] = x1[j] - 2.0 * h1 * d1[j] + h2 * a1[j];
            self.ctrl[4 * n + j] = x1[j] - h1 * d1[j];
            self.ctrl[5 * n + j] = x1[j];
        }
    }

    /// Sets this quintic to `f` applied to every control point of `src` (valid for any
    /// affine `f`: Bernstein form commutes with affine maps).
    pub fn set_mapped(&mut self, src: &Quintic, mut f: impl FnMut(&[f64], &mut [f64])) {
        let n = self.n;
        for i in 0..6 {
            f(src.control(i), &mut self.ctrl[i * n..(i + 1) * n]);
        }
    }

    /// Value at `s`, written into `out` (de Casteljau).
    pub fn eval(&self, s: f64, out: &mut [f64]) {
        let n = self.n;
        for (j, o) in out.iter_mut().enumerate().take(n) {
            let mut b = [0.0; 6];
            for (i, bi) in b.iter_mut().enumerate() {
                *bi = self.ctrl[i * n + j];
            }
            for r in 1..6 {
                for i in 0..6 - r {
                    b[i] += s * (b[i + 1] - b[i]);
                }
            }
            *o = b[0];
        }
    }

    /// Time derivative at `s` for a step of length `h`, written into `out`.
    pub fn eval_derivative(&self, s: f64, h: f64, out: &mut [f64]) {
        let n = self.n;
        for (j, o) in out.iter_mut().enumerate().take(n) {
            // The derivative is a quartic with control points 5(b_{i+1} − b_i)/h.
            let mut b = [0.0; 5];
            for (i, bi) in b.iter_mut().enumerate() {
                *bi = self.ctrl[(i + 1) * n + j] - self.ctrl[i * n + j];
            }
            for r in 1..5 {
                for i in 0..5 - r {
                    b[i] += s * (b[i + 1] - b[i]);
                }
            }
            *o = 5.0 * b[0] / h;
        }
    }

    /// |p(s)|².
    pub fn norm2_at(&self, s: f64) -> f64 {
        let n = self.n;
        let mut sum = 0.0;
        for j in 0..n {
            let mut b = [0.0; 6];
            for (i, bi) in b.iter_mut().enumerate() {
                *bi = self.ctrl[i * n + j];
            }
            for r in 1..6 {
                for i in 0..6 - r {
                    b[i] += s * (b[i + 1] - b[i]);
                }
            }
            sum += b[0] * b[0];
        }
        sum
    }

    /// Over `[a, b]`: a lower bound of |p|² (distance² from the origin to the box of the
    /// restricted control points), and |p(a)|², |p(b)|².
    fn bound(&self, a: f64, b: f64) -> (f64, f64, f64) {
        let n = self.n;
        let (mut lb, mut fa, mut fb) = (0.0, 0.0, 0.0);
        // Restrict by two de Casteljau splits: the right part at a, then its left part at t'.
        let t2 = if a < 1.0 { (b - a) / (1.0 - a) } else { 0.0 };
        for j in 0..n {
            let mut c = [0.0; 6];
            for (i, ci) in c.iter_mut().enumerate() {
                *ci = self.ctrl[i * n + j];
            }
            if a > 0.0 {
                // After the sweep, c holds the right part's control points.
                for r in 1..6 {
                    for i in 0..6 - r {
                        c[i] += a * (c[i + 1] - c[i]);
                    }
                }
            }
            // Left part at t2: keep the first point of each level.
            let mut left = [0.0; 6];
            left[0] = c[0];
            for r in 1..6 {
                for i in 0..6 - r {
                    c[i] += t2 * (c[i + 1] - c[i]);
                }
                left[r] = c[0];
            }
            let (mut lo, mut hi) = (left[0], left[0]);
            for v in &left[1..] {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
            let d = if lo > 0.0 {
                lo
            } else if hi < 0.0 {
                -hi
            } else {
                0.0
            };
            lb += d * d;
            fa += left[0] * left[0];
            fb += left[5] * left[5];
        }
        (lb, fa, fb)
    }

    /// Whether |p|² can fall below `r2` anywhere on `[0, 1]` (a cheap, conservative
    /// screen: false means certainly not).
    pub fn may_cross(&self, r2: f64) -> bool {
        let n = self.n;
        let mut lb = 0.0;
        for j in 0..n {
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for i in 0..6 {
                let v = self.ctrl[i * n + j];
                lo = lo.min(v);
                hi = hi.max(v);
            }
            let d = if lo > 0.0 {
                lo
            } else if hi < 0.0 {
                -hi
            } else {
                0.0
            };
            lb += d * d;
            if lb >= r2 {
                return false;
            }
        }
        true
    }

    /// The first `s ∈ (0, 1]` with |p(s)|² < r2, given |p(0)|² ≥ r2; `None` if there is
    /// none. Subdivides left-first, pruning intervals whose control-point box stays
    /// outside the ball, then bisects the first bracket to round-off.
    pub fn first_below(&self, r2: f64, stack: &mut Vec<(f64, f64, u32)>) -> Option<f64> {
        stack.clear();
        stack.push((0.0, 1.0, 0));
        while let Some((a, b, depth)) = stack.pop() {
            let (lb, fa, fb) = self.bound(a, b);
            if lb >= r2 {
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

    /// Bisection for |p|² = r2 on [a, b] with |p(a)|² ≥ r2 > |p(b)|², to round-off.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hermite data of p(t) = (t³ − 2t, 5 − t⁵) on [0.5, 1.5]: a quintic reproduces any
    /// polynomial of degree ≤ 5 exactly.
    fn sample() -> (Quintic, impl Fn(f64) -> [f64; 2]) {
        let p = |t: f64| [t * t * t - 2.0 * t, 5.0 - t.powi(5)];
        let d = |t: f64| [3.0 * t * t - 2.0, -5.0 * t.powi(4)];
        let a = |t: f64| [6.0 * t, -20.0 * t.powi(3)];
        let mut q = Quintic::new(2);
        q.set_hermite(1.0, &p(0.5), &d(0.5), &a(0.5), &p(1.5), &d(1.5), &a(1.5));
        (q, p)
    }

    #[test]
    fn reproduces_quintic_polynomials() {
        let (q, p) = sample();
        let mut out = [0.0; 2];
        for k in 0..=20 {
            let s = k as f64 / 20.0;
            q.eval(s, &mut out);
            let exact = p(0.5 + s);
            approx::assert_abs_diff_eq!(out[0], exact[0], epsilon = 1e-13);
            approx::assert_abs_diff_eq!(out[1], exact[1], epsilon = 1e-13);
            q.eval_derivative(s, 1.0, &mut out);
            let t = 0.5 + s;
            approx::assert_abs_diff_eq!(out[0], 3.0 * t * t - 2.0, epsilon = 1e-12);
        }
    }

    #[test]
    fn finds_a_dip_between_step_ends() {
        // x(s) = (s − 0.5)² − 0.001 passes through 0 near s = 0.5 ± √0.001 while both ends
        // stand at 0.249: |x| < r = 1e-4 first at s = 0.5 − √(0.001 + r).
        let f = |s: f64| (s - 0.5) * (s - 0.5) - 0.001;
        let mut q = Quintic::new(1);
        q.set_hermite(1.0, &[f(0.0)], &[-1.0], &[2.0], &[f(1.0)], &[1.0], &[2.0]);
        let r = 1e-4;
        let mut stack = Vec::new();
        let s = q.first_below(r * r, &mut stack).unwrap();
        let exact = 0.5 - (0.001f64 + r).sqrt();
        approx::assert_abs_diff_eq!(s, exact, epsilon = 1e-14);
        // A curve that stays above 0.01 never enters the ball of radius 0.01.
        let g = |s: f64| (s - 0.5) * (s - 0.5) + 0.01;
        q.set_hermite(1.0, &[g(0.0)], &[-1.0], &[2.0], &[g(1.0)], &[1.0], &[2.0]);
        assert_eq!(q.first_below(1e-4, &mut stack), None);
    }
}
