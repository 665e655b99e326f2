//! Extreme eigenvalues of a large sparse symmetric matrix by the Lanczos iteration, from
//! its matrix-vector product alone (no dense decomposition of a 10⁵-matrix).
//!
//! Plain three-term Lanczos without reorthogonalisation: lost orthogonality only adds
//! spurious copies of converged Ritz values, never moves the extreme ones, and it keeps
//! memory at three vectors. Every `CHECK_EVERY` steps the extreme eigenvalues of the
//! tridiagonal T_k are found by Sturm-sequence bisection, and each one's residual bound
//! `β_k |s_k|` (s its unit eigenvector of T_k, by inverse iteration) decides convergence:
//! |λ − θ| ≤ β_k |s_k|, and the error is of order β_k² s_k² / gap, far below.

/// Steps between convergence checks.
const CHECK_EVERY: usize = 10;

/// Relative residual bound (to the largest |θ|) at which both extremes count as converged.
const TOLERANCE: f64 = 1e-10;

/// `(λ_min, λ_max)` of the symmetric n × n matrix A given by `apply(x, out)`: out = A x,
/// in at most `max_steps` products (n of them always suffice); `Err(steps)` when both
/// extremes have not converged by then.
pub fn extreme_eigenvalues(
    n: usize,
    max_steps: usize,
    mut apply: impl FnMut(&[f64], &mut [f64]),
) -> Result<(f64, f64), usize> {
    if n == 0 {
        return Ok((0.0, 0.0));
    }
    // A fixed pseudo-random start (xorshift): reproducible, and not orthogonal to any
    // eigenvector in practice (a structured start like all ones can be).
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut q: Vec<f64> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect();
    let norm = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    q.iter_mut().for_each(|x| *x /= norm);
    let mut q_prev = vec![0.0; n];
    let mut r = vec![0.0; n];
    let (mut alpha, mut beta): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    let max_steps = n.min(max_steps).max(1);
    for k in 0..max_steps {
        apply(&q, &mut r);
        let a: f64 = q.iter().zip(&r).map(|(x, y)| x * y).sum();
        let b_prev = beta.last().copied().unwrap_or(0.0);
        for i in 0..n {
            r[i] -= a * q[i] + b_prev * q_prev[i];
        }
        alpha.push(a);
        let b = r.iter().map(|x| x * x).sum::<f64>().sqrt();
        let done = k + 1 == max_steps || b == 0.0;
        if done || (k + 1) % CHECK_EVERY == 0 {
            let lo = extreme(&alpha, &beta, false);
            let hi = extreme(&alpha, &beta, true);
            let scale = lo.abs().max(hi.abs()).max(f64::MIN_POSITIVE);
            let converged = [lo, hi]
                .iter()
                .all(|&theta| b * last_component(&alpha, &beta, theta) <= TOLERANCE * scale);
            // n steps span the whole space: T_n's eigenvalues are A's.
            if converged || k + 1 == n || b == 0.0 {
                return Ok((lo, hi));
            }
            if done {
                return Err(max_steps);
            }
        }
        beta.push(b);
        for i in 0..n {
            q_prev[i] = q[i];
            q[i] = r[i] / b;
        }
    }
    Err(max_steps)
}

/// The number of eigenvalues of the tridiagonal (diagonal `a`, off-diagonal `b`) below
/// `x` (Sturm sequence via the LDLᵀ pivots).
fn count_below(a: &[f64], b: &[f64], x: f64) -> usize {
    let mut count = 0;
    let mut d = 1.0;
    for i in 0..a.len() {
        let off = if i == 0 { 0.0 } else { b[i - 1] * b[i - 1] / d };
        d = a[i] - x - off;
        if d == 0.0 {
            d = -f64::EPSILON * (a[i].abs() + x.abs()).max(f64::MIN_POSITIVE);
        }
        if d < 0.0 {
            count += 1;
        }
    }
    count
}

/// The smallest (or largest) eigenvalue of the tridiagonal, by bisection to round-off
/// inside its Gershgorin interval.
fn extreme(a: &[f64], b: &[f64], largest: bool) -> f64 {
    kth_eigenvalue(a, b, if largest { a.len() - 1 } else { 0 })
}

/// Eigenvalues number `indices` (0-based, ascending order) of the symmetric tridiagonal with
/// diagonal `a` and off-diagonal `b`, each by Sturm bisection to round-off.
pub fn tridiagonal_eigenvalues(
    a: &[f64],
    b: &[f64],
    indices: impl Iterator<Item = usize>,
) -> Vec<f64> {
    indices.map(|k| kth_eigenvalue(a, b, k)).collect()
}

/// The eigenvalue of index `target` (0-based, ascending) of the tridiagonal.
fn kth_eigenvalue(a: &[f64], b: &[f64], target: usize) -> f64 {
    let k = a.len();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..k {
        let radius =
            if i > 0 { b[i - 1].abs() } else { 0.0 } + if i + 1 < k { b[i].abs() } else { 0.0 };
        lo = lo.min(a[i] - radius);
        hi = hi.max(a[i] + radius);
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        // count_below(mid) > target: the target eigenvalue lies below mid.
        if count_below(a, b, mid) > target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

/// |s_k|, the last component of the unit eigenvector of the tridiagonal for its
/// eigenvalue `theta` (two steps of inverse iteration, a tridiagonal solve each).
fn last_component(a: &[f64], b: &[f64], theta: f64) -> f64 {
    let k = a.len();
    let scale = a.iter().map(|x| x.abs()).fold(theta.abs(), f64::max);
    // A shift just off θ keeps T − σI invertible while θ dominates the solve.
    let sigma = theta + 1e-13 * scale.max(f64::MIN_POSITIVE);
    let mut x = vec![1.0; k];
    for _ in 0..2 {
        // Thomas algorithm on (T − σI) y = x.
        let mut c = vec![0.0; k];
        let mut d = vec![0.0; k];
        let mut pivot = a[0] - sigma;
        if pivot == 0.0 {
            pivot = f64::EPSILON * scale;
        }
        d[0] = x[0] / pivot;
        for i in 1..k {
            c[i - 1] = b[i - 1] / pivot;
            pivot = a[i] - sigma - b[i - 1] * c[i - 1];
            if pivot == 0.0 {
                pivot = f64::EPSILON * scale;
            }
            d[i] = (x[i] - b[i - 1] * d[i - 1]) / pivot;
        }
        for i in (0..k - 1).rev() {
            d[i] -= c[i] * d[i + 1];
        }
        let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return 1.0;
        }
        for (xi, di) in x.iter_mut().zip(&d) {
            *xi = di / norm;
        }
    }
    x[k - 1].abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_of_a_path_laplacian_match_the_closed_form() {
        // The Dirichlet path matrix tridiag(−1, 2, −1) of size n has eigenvalues
        // 2 − 2cos(jπ/(n + 1)), j = 1..n: tiny λ_min, badly conditioned like the grids.
        let n = 400;
        let (lo, hi) = extreme_eigenvalues(n, n, |x, out| {
            for i in 0..n {
                let left = if i > 0 { x[i - 1] } else { 0.0 };
                let right = if i + 1 < n { x[i + 1] } else { 0.0 };
                out[i] = 2.0 * x[i] - left - right;
            }
        })
        .unwrap();
        let exact = |j: f64| 2.0 - 2.0 * (j * std::f64::consts::PI / (n as f64 + 1.0)).cos();
        approx::assert_relative_eq!(lo, exact(1.0), max_relative = 1e-8);
        approx::assert_relative_eq!(hi, exact(n as f64), max_relative = 1e-12);
    }
}
