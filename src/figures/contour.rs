//! Contour lines of E over a rectangle (marching squares on an 81 × 81 grid), at levels
//! spaced geometrically above the lowest value seen.

use crate::output::plot::lines::Curve;
use crate::potential::Potential;

const N: usize = 81;
const LEVELS: i32 = 14;

/// The contour lines of `p` (n = 2) over `x × y`, one curve per level.
pub(super) fn contours(p: &dyn Potential, x: (f64, f64), y: (f64, f64)) -> Vec<Curve> {
    let at = |i: usize, lo: f64, hi: f64| lo + (hi - lo) * i as f64 / (N - 1) as f64;
    let mut e = vec![0.0; N * N];
    for i in 0..N {
        for j in 0..N {
            e[i * N + j] = p.value(&[at(i, x.0, x.1), at(j, y.0, y.1)]);
        }
    }
    let finite = e.iter().copied().filter(|v| v.is_finite());
    let lo = p
        .minimum_value()
        .unwrap_or(f64::INFINITY)
        .min(finite.clone().fold(f64::INFINITY, f64::min));
    let hi = finite.fold(f64::NEG_INFINITY, f64::max);
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return Vec::new();
    }
    (1..=LEVELS)
        .map(|k| lo + (hi - lo) * 0.5f64.powi(k))
        .map(|level| Curve {
            label: String::new(),
            class: "contour",
            colour: [190, 190, 190],
            dashed: false,
            fit: false,
            pieces: segments(&e, level, x, y),
        })
        .collect()
}

/// Marching squares: the segments where the grid's values cross `level`.
fn segments(e: &[f64], level: f64, x: (f64, f64), y: (f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let (dx, dy) = ((x.1 - x.0) / (N - 1) as f64, (y.1 - y.0) / (N - 1) as f64);
    let mut out = Vec::new();
    for i in 0..N - 1 {
        for j in 0..N - 1 {
            // Corners counter-clockwise from (i, j).
            let c = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
            let v: Vec<f64> = c.iter().map(|&(a, b)| e[a * N + b]).collect();
            if v.iter().any(|v| !v.is_finite()) {
                continue;
            }
            let mut cut = Vec::with_capacity(4);
            for k in 0..4 {
                let (a, b) = (v[k], v[(k + 1) % 4]);
                if (a < level) != (b < level) {
                    let s = (level - a) / (b - a);
                    let (p, q) = (c[k], c[(k + 1) % 4]);
                    let px = x.0 + dx * (p.0 as f64 + s * (q.0 as f64 - p.0 as f64));
                    let py = y.0 + dy * (p.1 as f64 + s * (q.1 as f64 - p.1 as f64));
                    cut.push((px, py));
                }
            }
            for pair in cut.chunks(2) {
                if pair.len() == 2 {
                    out.push(pair.to_vec());
                }
            }
        }
    }
    out
}
