//! The potentials beyond a quadratic file (issue 6): gradients against central finite
//! differences, Hessians at the minimum against their closed form, the minimum itself,
//! spectra against a dense decomposition, Goh's optimal rate on the colorization problem
//! and the light cone of his convex Rosenbrock; expressions' symbolic gradients and
//! Hessians, and the minimum Newton's method finds for them.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

use approx::assert_relative_eq;
use heavyball::dynamics::discrete::{DiscreteRun, Iterates};
use heavyball::dynamics::maps::Coefficients;
use heavyball::dynamics::{Form, Scheme};
use heavyball::observe::StopSpec;
use heavyball::observe::{Status, StopRule};
use heavyball::potential::{
    Colorization, ConvexRosenbrock, Expression, HessianSpec, NEWTON_ITERATIONS, NoMinimum,
    Potential, Quadratic, Rosenbrock, symmetric_eigenvalues,
};

/// A small xorshift stream in [−1, 1): the tests' random points, reproducible.
fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        2.0 * ((s >> 11) as f64 / (1u64 << 53) as f64) - 1.0
    }
}

/// ∇E at `w` against the central difference (E(w + h e_i) − E(w − h e_i))/2h in every
/// coordinate, h = 1e-5. For a quadratic the difference is exact up to round-off
/// (~ε|E|/h ≈ 1e-10); Rosenbrock's quartic adds h²·|∂³E|/6 ≈ 1e-10·(24b|x|)/6 ≈ 1e-7 at
/// |x| ≤ 2, b = 80: both inside 1e-6 relative (of max(|g|, 1)).
fn check_gradient(p: &dyn Potential, w: &[f64]) {
    let n = p.dim();
    let mut g = vec![0.0; n];
    p.gradient_into(w, &mut g);
    let h = 1e-5;
    let mut x = w.to_vec();
    for i in 0..n {
        x[i] = w[i] + h;
        let up = p.value(&x);
        x[i] = w[i] - h;
        let down = p.value(&x);
        x[i] = w[i];
        let fd = (up - down) / (2.0 * h);
        assert!(
            (g[i] - fd).abs() <= 1e-6 * g[i].abs().max(1.0),
            "coordinate {i}: gradient {} vs finite difference {fd}",
            g[i]
        );
    }
}

fn small_grid() -> Colorization {
    Colorization::new(7, 9, &[(0, 0), (3, 4), (6, 8)], 0.75).unwrap()
}

#[test]
fn colorization_gradient_matches_finite_differences() {
    let p = small_grid();
    let mut u = uniform(11);
    for _ in 0..5 {
        let w: Vec<f64> = (0..p.dim()).map(|_| 3.0 * u()).collect();
        check_gradient(&p, &w);
    }
}

#[test]
fn colorization_hessian_is_the_grid_laplacian_plus_the_colored_indicator() {
    let (rows, cols) = (7usize, 9usize);
    let colored = [(0usize, 0usize), (3, 4), (6, 8)];
    let p = small_grid();
    let n = rows * cols;
    let minimum = p.minimum().unwrap().to_vec();
    let mut e = vec![0.0; n];
    let mut column = vec![0.0; n];
    for (r, c) in (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))) {
        let i = r * cols + c;
        e[i] = 1.0;
        p.hessian_vector_into(&minimum, &e, &mut column);
        e[i] = 0.0;
        // Closed form: degree (+1 if colored) on the diagonal, −1 per 4-neighbour.
        let mut expected = vec![0.0; n];
        let mut degree = 0.0;
        for (dr, dc) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
            let (rr, cc) = (r as i64 + dr, c as i64 + dc);
            if (0..rows as i64).contains(&rr) && (0..cols as i64).contains(&cc) {
                expected[rr as usize * cols + cc as usize] = -1.0;
                degree += 1.0;
            }
        }
        expected[i] = degree + if colored.contains(&(r, c)) { 1.0 } else { 0.0 };
        assert_eq!(column, expected, "column of pixel ({r}, {c})");
    }
}

#[test]
fn colorization_minimum_is_the_colored_value_everywhere() {
    let p = small_grid();
    let w = vec![0.75; p.dim()];
    assert_eq!(p.minimum().unwrap(), &w[..]);
    let mut g = vec![1.0; p.dim()];
    p.gradient_into(&w, &mut g);
    assert!(
        g.iter().all(|&x| x == 0.0),
        "∇E(c·1) = H·c·1 − c·1_D = 0 exactly"
    );
    assert_eq!(p.value(&w), 0.0);
    // Anywhere else E > 0 (H is positive definite with a colored pixel).
    let mut u = uniform(5);
    let x: Vec<f64> = w.iter().map(|v| v + 0.1 * u()).collect();
    assert!(p.value(&x) > 0.0);
}

#[test]
fn colorization_extremes_match_a_dense_decomposition_on_32_by_32() {
    let p = Colorization::new(32, 32, &[(3, 3), (20, 28), (30, 5)], 1.0).unwrap();
    let n = p.dim();
    let mut rows = vec![vec![0.0; n]; n];
    let (mut e, mut col) = (vec![0.0; n], vec![0.0; n]);
    for j in 0..n {
        e[j] = 1.0;
        p.hessian_vector_into(&e, &e, &mut col);
        e[j] = 0.0;
        for i in 0..n {
            rows[i][j] = col[i];
        }
    }
    let dense = symmetric_eigenvalues(&rows);
    let spectrum = p.hessian_spectrum().unwrap();
    // λ_min ≈ 1.7e-3 here, λ_max ≈ 8, found exactly (bisection on the secular equation).
    // The dense QR's own error is up to n·ε·λ_max ≈ 2e-12 (measured 1.7e-14 on λ_min);
    // the same bisection in 40-digit arithmetic (mpmath, 2026-12-05) gives
    // λ_min = 0.00166583400146885202378…; the f64 value is 4 ulps (8e-19) from it, the
    // rounding noise of M(λ)'s sums.
    approx::assert_abs_diff_eq!(spectrum[0], dense[0], epsilon = 5e-14);
    approx::assert_abs_diff_eq!(spectrum[1], dense[n - 1], epsilon = 5e-14);
    approx::assert_abs_diff_eq!(spectrum[0], 0.001_665_834_001_468_852, epsilon = 1.1e-18);
}

#[test]
fn heavy_ball_at_gohs_optimum_contracts_at_the_optimal_rate_on_a_32_by_32_grid() {
    // THEORY §5: with α = (2/(√λ₁ + √λₙ))², β = ((√κ − 1)/(√κ + 1))², every mode of the
    // heavy ball has |σ| = √β = ρ; the extreme ones are double roots, (a + bk)ρᵏ. Over a
    // late window [k1, k2] the measured rate is −ln ρ − ln(k2/k1)/(k2 − k1) up to the
    // (a/b)/k terms: asserted within 1% after that correction (the 5%; measured
    // 0.2%; without the correction it is 4% off at this window).
    let p = Colorization::new(
        32,
        32,
        &[(3, 3), (20, 28), (30, 5), (10, 12), (25, 18)],
        1.0,
    )
    .unwrap();
    let s = p.hessian_spectrum().unwrap();
    let (l1, ln) = (s[0], s[1]);
    let kappa = ln / l1;
    let alpha = (2.0 / (l1.sqrt() + ln.sqrt())).powi(2);
    let rho = (kappa.sqrt() - 1.0) / (kappa.sqrt() + 1.0);
    let beta = rho * rho;
    let n = p.dim();
    let (w0, v0) = (vec![0.0; n], vec![0.0; n]);
    let stop = |tolerance| {
        StopRule::new(&StopSpec {
            tolerance,
            ..Default::default()
        })
    };
    // The steps at which |w − w*| first falls below two tolerances: the window.
    let steps_to = |tolerance: f64| {
        let report = DiscreteRun {
            potential: &p,
            scheme: Scheme::HeavyBall,
            coefficients: Coefficients {
                learning_rate: alpha,
                momentum: beta,
                dt: 1.0,
                energy_mass: 0.0,
                particle: None,
                form: Form::Polyak,
                native: (alpha, beta),
            },
            position: &w0,
            velocity: &v0,
            steps: 1_000_000,
            stop: stop(tolerance),
            noise: None,
        }
        .run(&mut ())
        .unwrap();
        assert_eq!(report.status, Status::Converged);
        report.steps as f64
    };
    let (k1, k2) = (steps_to(1e-4), steps_to(1e-10));
    let measured = (1e6f64).ln() / (k2 - k1);
    let theory = -rho.ln() - (k2 / k1).ln() / (k2 - k1);
    assert!(
        (measured / theory - 1.0).abs() < 0.01,
        "κ = {kappa}: measured {measured} per step over [{k1}, {k2}], theory {theory} (ρ = {rho})"
    );
}

/// The columns of the Hessian at `w`, from Hessian-vector products with unit vectors.
fn hessian_at(p: &dyn Potential, w: &[f64]) -> Vec<Vec<f64>> {
    let n = p.dim();
    let (mut e, mut col) = (vec![0.0; n], vec![0.0; n]);
    let mut rows = vec![vec![0.0; n]; n];
    for j in 0..n {
        e[j] = 1.0;
        p.hessian_vector_into(w, &e, &mut col);
        e[j] = 0.0;
        for i in 0..n {
            rows[i][j] = col[i];
        }
    }
    rows
}

#[test]
fn rosenbrock_gradient_hessian_and_minimum() {
    let (a, b) = (1.3, 80.0);
    let p = Rosenbrock::new(a, b).unwrap();
    let mut u = uniform(3);
    let mut g = [0.0; 2];
    for _ in 0..20 {
        let w = [2.0 * u(), 2.0 * u()];
        check_gradient(&p, &w);
        // The closed form, written out independently.
        p.gradient_into(&w, &mut g);
        let (x, y) = (w[0], w[1]);
        assert_relative_eq!(
            g[0],
            -2.0 * (a - x) - 4.0 * b * x * (y - x * x),
            max_relative = 1e-14
        );
        assert_relative_eq!(g[1], 2.0 * b * (y - x * x), max_relative = 1e-14);
    }
    let m = p.minimum().unwrap();
    assert_eq!(m, &[a, a * a]);
    assert_eq!(p.value(m), 0.0);
    p.gradient_into(m, &mut g);
    assert_eq!(g, [0.0, 0.0]);
    // H* = [[2 + 8ba², −4ba], [−4ba, 2b]].
    let h = hessian_at(&p, m);
    let expected = [
        [2.0 + 8.0 * b * a * a, -4.0 * b * a],
        [-4.0 * b * a, 2.0 * b],
    ];
    for i in 0..2 {
        for j in 0..2 {
            assert_relative_eq!(h[i][j], expected[i][j], max_relative = 1e-14);
        }
    }
    let dense = symmetric_eigenvalues(&h);
    let spectrum = p.hessian_spectrum().unwrap();
    assert_relative_eq!(spectrum[0], dense[0], max_relative = 1e-10);
    assert_relative_eq!(spectrum[1], dense[1], max_relative = 1e-14);
}

#[test]
fn rosenbrock_smallest_eigenvalue_holds_its_digits_for_a_steep_valley() {
    // det H* = (2 + 8ba²)(2b) − 16a²b² = 4b, so λ_min = 4b/λ_max; λ_max is
    // 1 + b(1 + 4a²) + sqrt((1 + b(4a² − 1))² + 16a²b²), which has no cancellation for
    // these (a, b). Written in f64 the subtraction mean − half had lost 3 digits at
    // b = 1e12 (0.3994 for 0.4) and all but one at b = 1e14.
    for (a, b) in [(1.0, 1e12), (1.0, 1e14), (1000.0, 1.0), (1.0, 100.0)] {
        let p = Rosenbrock::new(a, b).unwrap();
        let spectrum = p.hessian_spectrum().unwrap();
        let c = 4.0 * a * a;
        let big = 1.0 + b * (1.0 + c) + ((1.0 + b * (c - 1.0)).powi(2) + 4.0 * c * b * b).sqrt();
        assert_relative_eq!(spectrum[1], big, max_relative = 1e-15);
        assert_relative_eq!(spectrum[0], 4.0 * b / big, max_relative = 1e-15);
        assert_relative_eq!(spectrum[0] * spectrum[1], 4.0 * b, max_relative = 1e-15);
    }
}

#[test]
#[allow(clippy::needless_range_loop)] // (i, j) index the matrix and its closed form alike
fn convex_rosenbrock_gradient_hessian_minimum_and_spectrum() {
    let (n, kappa) = (25, 100.0);
    let p = ConvexRosenbrock::new(n, kappa).unwrap();
    let c = 4.0 / (kappa - 1.0);
    let mut u = uniform(9);
    for _ in 0..5 {
        let w: Vec<f64> = (0..n).map(|_| u()).collect();
        check_gradient(&p, &w);
    }
    // Hessian: e₁e₁ᵀ + path Laplacian + c·I, the same everywhere.
    let h = hessian_at(&p, &vec![0.3; n]);
    for i in 0..n {
        for j in 0..n {
            let expected = if i == j {
                c + f64::from((i > 0) as u8 + (i + 1 < n) as u8) + if i == 0 { 1.0 } else { 0.0 }
            } else if i.abs_diff(j) == 1 {
                -1.0
            } else {
                0.0
            };
            // Summed as c·x + (x − x₋) + (x − x₊): one rounding from c + degree.
            assert_relative_eq!(h[i][j], expected, max_relative = 1e-15);
        }
    }
    // The minimum solves H w = e₁: ∇E there is zero to round-off.
    let m = p.minimum().unwrap().to_vec();
    let mut g = vec![0.0; n];
    p.gradient_into(&m, &mut g);
    assert!(g.iter().all(|x| x.abs() < 1e-14), "{g:?}");
    assert_relative_eq!(
        p.minimum_value().unwrap(),
        p.value(&m),
        max_relative = 1e-15
    );
    // And E* from the closed form, not from the engine's own E: with E = ½wᵀHw − w₁ + ½
    // and Hw* = e₁, E* = ½ − ½w₁* (w₁* = 0.818…, so E* = 0.0909… is no round-off).
    assert!((0.81..0.83).contains(&m[0]), "{}", m[0]);
    assert_relative_eq!(
        p.minimum_value().unwrap(),
        0.5 * (1.0 - m[0]),
        max_relative = 1e-14
    );
    // Its spectrum against a dense decomposition.
    let dense = symmetric_eigenvalues(&h);
    let spectrum = p.hessian_spectrum().unwrap();
    assert_eq!(spectrum.len(), n);
    for (s, d) in spectrum.iter().zip(&dense) {
        assert_relative_eq!(*s, *d, max_relative = 1e-12, epsilon = 1e-14);
    }
}

#[test]
fn the_light_cone_of_convex_rosenbrock() {
    // Goh: from w₀ = 0 the gradient is −e₁ and H is tridiagonal, so information moves one
    // coordinate a step: coordinate i is exactly 0.0 in w₀ … w_{i−1} and non-zero at w_i.
    let n = 25;
    let p = ConvexRosenbrock::new(n, 100.0).unwrap();
    let c = Coefficients {
        learning_rate: 0.4,
        momentum: 0.8,
        dt: 1.0,
        energy_mass: 0.0,
        particle: None,
        form: Form::Polyak,
        native: (0.4, 0.8),
    };
    let (w0, v0) = (vec![0.0; n], vec![0.0; n]);
    let mut it = Iterates::<nalgebra::Dyn, dyn Potential>::new(&p, Scheme::HeavyBall, &c, &w0, &v0);
    let mut iterates = vec![it.w().to_vec()];
    for _ in 0..20 {
        it.step();
        iterates.push(it.w().to_vec());
    }
    for i in 1..=20 {
        for (k, w) in iterates.iter().enumerate().take(i) {
            assert_eq!(w[i - 1], 0.0, "coordinate {i} at step {k}");
        }
        assert_ne!(iterates[i][i - 1], 0.0, "coordinate {i} at step {i}");
    }
}

fn expression(variables: &[&str], formula: &str, minimum: Option<Vec<f64>>) -> Expression {
    let names: Vec<String> = variables.iter().map(|v| v.to_string()).collect();
    Expression::new(&names, formula, minimum).unwrap()
}

const BANANA: &str = "(1 - x)^2 + 100*(y - x^2)^2";
const TILTED_WELL: &str = "(x^2 - 1)^2 + 0.3*x";

/// The root of E'(x) = 4x³ − 4x + 0.3 in [lo, hi] (one sign change there), by bisection to
/// adjacent doubles: the minima of the tilted double well, computed without the engine.
fn tilted_well_root(mut lo: f64, mut hi: f64) -> f64 {
    let d = |x: f64| 4.0 * x * x * x - 4.0 * x + 0.3;
    let up = d(hi) > 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid == lo || mid == hi {
            break;
        }
        if (d(mid) > 0.0) == up {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Rosenbrock's Hessian at (1, 1), [[802, −400], [−400, 200]], has the eigenvalues
/// 501 ± √(301² + 400²) (trace 1002, determinant 802·200 − 400² = 400).
fn banana_spectrum() -> [f64; 2] {
    let r = (301.0f64 * 301.0 + 400.0 * 400.0).sqrt();
    [501.0 - r, 501.0 + r]
}

#[test]
fn expression_gradients_match_finite_differences() {
    // check_gradient's h = 1e-5: its truncation error h²|∂³E|/6 stays below 1e-6 for
    // |∂³E| up to 6e4 (the banana's 2400x is 4800 at |x| ≤ 2; the other two formulas' third
    // derivatives are O(10) on [−1, 1]³), its round-off ε|E|/h ≈ 2e-11|E| with |E| ≤ 1e3.
    let mut u = uniform(21);
    let banana = expression(&["x", "y"], BANANA, None);
    for _ in 0..20 {
        check_gradient(&banana, &[2.0 * u(), 2.0 * u()]);
    }
    let well = expression(&["x"], TILTED_WELL, None);
    for _ in 0..20 {
        check_gradient(&well, &[2.0 * u()]);
    }
    let mixed = expression(
        &["x", "y", "z"],
        "exp(0.5*x)*sin(y) + cos(x*z)^2 + x^2*y*z^3 - 3*x*y + (1 + y^2)^1.5 / (2 + z)",
        None,
    );
    for _ in 0..20 {
        check_gradient(&mixed, &[u(), u(), u()]);
    }
}

#[test]
fn expression_hessian_at_the_minimum_is_the_closed_form() {
    let banana = expression(&["x", "y"], BANANA, Some(vec![1.0, 1.0]));
    // ∂²E = [[2 − 400(y − x²) + 800x², −400x], [−400x, 200]], at (1, 1) exactly in floats.
    let h = hessian_at(&banana, &[1.0, 1.0]);
    assert_eq!(h, [[802.0, -400.0], [-400.0, 200.0]]);
    let spectrum = banana.hessian_spectrum().unwrap();
    let expected = banana_spectrum();
    // The small eigenvalue 0.399… is the difference of 501 and 500.6: ~1e-13 relative.
    assert_relative_eq!(spectrum[0], expected[0], max_relative = 1e-12);
    assert_relative_eq!(spectrum[1], expected[1], max_relative = 1e-15);
    assert_eq!(banana.minimum_value(), Some(0.0));

    // The tilted well's E'' = 12x² − 4 at its deep minimum.
    let x = tilted_well_root(-1.5, -0.5);
    let well = expression(&["x"], TILTED_WELL, Some(vec![x]));
    assert_relative_eq!(
        hessian_at(&well, &[x])[0][0],
        12.0 * x * x - 4.0,
        max_relative = 1e-15
    );
    assert_relative_eq!(
        well.hessian_spectrum().unwrap()[0],
        12.0 * x * x - 4.0,
        max_relative = 1e-15
    );
}

#[test]
fn newton_finds_the_minimum_of_the_well_the_position_lies_in() {
    let well = expression(&["x"], TILTED_WELL, None);
    // From x = 2 the shallow minimum (E'' ≈ 7.06), from x = −2 the deep one (E'' ≈ 8.87).
    // Newton ends at round-off: the gradient's own rounding, ε·4(|x|³ + |x|) ≈ 2e-15,
    // moves the root by that over E'': 3e-16, a couple of ulps.
    for (start, lo, hi) in [(2.0, 0.5, 1.5), (-2.0, -1.5, -0.5)] {
        let root = tilted_well_root(lo, hi);
        let found = well.find_minimum(&[start]).unwrap();
        assert_relative_eq!(found[0], root, max_relative = 1e-15);
        // The same point read back as a given minimum: E'' = 12x*² − 4 there.
        let at = expression(&["x"], TILTED_WELL, Some(found.clone()));
        assert_relative_eq!(
            at.hessian_spectrum().unwrap()[0],
            12.0 * root * root - 4.0,
            max_relative = 1e-14
        );
        // Deterministic: the same start gives the same bits.
        assert_eq!(well.find_minimum(&[start]).unwrap(), found);
    }
    assert_relative_eq!(
        tilted_well_root(0.5, 1.5),
        0.9601495555191055,
        max_relative = 1e-15
    );
    assert_relative_eq!(
        tilted_well_root(-1.5, -0.5),
        -1.035578714088854,
        max_relative = 1e-15
    );

    // Rosenbrock's banana from the classic start: Newton with backtracking follows the
    // valley to (1, 1), where the Hessian's conditioning (κ ≈ 2508) costs at most
    // κ·ε ≈ 6e-13 of accuracy.
    let banana = expression(&["x", "y"], BANANA, None);
    let found = banana.find_minimum(&[-1.2, 1.0]).unwrap();
    assert!(
        (found[0] - 1.0).abs() < 1e-10 && (found[1] - 1.0).abs() < 1e-10,
        "{found:?}"
    );
    let at = expression(&["x", "y"], BANANA, Some(found));
    let spectrum = at.hessian_spectrum().unwrap();
    let expected = banana_spectrum();
    // Moving (1, 1) by 1e-10 moves the Hessian's entries by ≤ 1.2e-7 (∂³E ≤ 2400·…):
    // the small eigenvalue 0.3994 by ≤ 1e-6 relative.
    assert_relative_eq!(spectrum[0], expected[0], max_relative = 1e-6);
    assert_relative_eq!(spectrum[1], expected[1], max_relative = 1e-9);

    // A steep minimum approached from next door: 1e12·(x² − 2)² has |∇E| ≥ 2.5e-3 at every
    // double beside √2 (|x² − 2| ≥ 4.4e-16 there), however close the start; the Newton
    // step, at round-off, says it has arrived: √2 to the last bit.
    let steep = expression(&["x"], "1e12*(x^2 - 2)^2", None);
    for start in [1.5, 1.41421357, std::f64::consts::SQRT_2 + 5e-14] {
        let found = steep.find_minimum(&[start]).unwrap();
        assert_relative_eq!(found[0], 2f64.sqrt(), max_relative = 2.0 * f64::EPSILON);
    }

    // A flat minimum (x⁴: E'' = 0 there) is still a minimum: Newton's steps x/3 shrink
    // geometrically towards 0.
    let quartic = expression(&["x"], "x^4", None);
    let found = quartic.find_minimum(&[1.0]).unwrap();
    assert!(found[0].abs() < 1e-50, "{found:?}");
    // Its Hessian there, 12·x² ~ 1e-161, is flat beside the 1.2e-3 a probe away (1e-2):
    // the spectrum says 0, not a quadratic 1e158 times slower than at the probe. So does
    // the flat direction of x⁴ + y², beside y's exact 2.
    let at = expression(&["x"], "x^4", Some(found.clone()));
    assert_eq!(at.hessian_spectrum().unwrap(), [0.0]);
    let valley = expression(&["x", "y"], "x^4 + y^2", Some(vec![found[0], 0.0]));
    assert_eq!(valley.hessian_spectrum().unwrap(), [0.0, 2.0]);
    // Small but not flat: 2e-6 against 2e-6 + 1.2e-3 a probe away (above 1e-8 of it), and
    // 2 against 2 + 1.2e7 beside a stiff quartic, are eigenvalues.
    let shallow = expression(&["x"], "1e-6*x^2 + x^4", Some(vec![0.0]));
    assert_eq!(shallow.hessian_spectrum().unwrap(), [2e-6]);
    let stiff = expression(&["x"], "x^2 + 1e10*x^4", Some(vec![0.0]));
    assert_eq!(stiff.hessian_spectrum().unwrap(), [2.0]);
}

#[test]
fn newton_refuses_what_is_no_minimum() {
    let refuse = |variables: &[&str], formula: &str, start: &[f64]| {
        expression(variables, formula, None)
            .find_minimum(start)
            .unwrap_err()
    };
    // Downhill for ever: steepest descent on x³ from −1 runs off towards −∞.
    let e = refuse(&["x"], "x^3", &[-1.0]);
    assert!(matches!(e, NoMinimum::Unbounded { .. }), "{e}");
    assert!(e.to_string().contains("unbounded below"), "{e}");
    // From x > 0, Newton's steps x/2 creep onto the inflection at 0, where ∇E = 0 and
    // E'' = 0 but E falls on the left.
    let e = refuse(&["x"], "x^3", &[1.0]);
    let NoMinimum::FallsAlongFlat {
        ref w,
        e: at,
        beside,
    } = e
    else {
        panic!("{e}")
    };
    assert!(w[0] >= 0.0 && w[0] < 1e-50 && beside < at, "{e}");
    assert!(e.to_string().contains("no minimum"), "{e}");
    // A slope: one unit a step (the full steepest-descent step passes Armijo's test), no end.
    let e = refuse(&["x"], "x", &[0.0]);
    let n = NEWTON_ITERATIONS as f64;
    let slope = NoMinimum::Budget {
        w: vec![-n],
        e: -n,
        gradient_norm: 1.0,
        last_step: 1.0,
    };
    assert_eq!(e, slope);
    assert!(e.to_string().contains("did not settle"), "{e}");
    // Infimum at −∞ only: the Newton step of exp is −1 for ever.
    let e = refuse(&["x"], "exp(x)", &[0.0]);
    let NoMinimum::Budget {
        ref w, last_step, ..
    } = e
    else {
        panic!("{e}")
    };
    assert_eq!((w[0], last_step), (-n, 1.0), "{e}");
    // Started on a saddle, where ∇E = 0: the Hessian of x² − y² is diag(2, −2).
    let e = refuse(&["x", "y"], "x^2 - y^2", &[0.0, 0.0]);
    let saddle = NoMinimum::Saddle {
        w: vec![0.0, 0.0],
        eigenvalue: -2.0,
    };
    assert_eq!(e, saddle);
    assert!(e.to_string().contains("saddle"), "{e}");
    // √x has an infinite slope at its lower end.
    let e = refuse(&["x"], "sqrt(x)", &[1.0]);
    assert!(matches!(e, NoMinimum::Stalled { .. }), "{e}");
    assert!(e.to_string().contains("stalled"), "{e}");
}

#[test]
fn the_shipped_colorization_scenarios_sit_at_gohs_optimum_for_their_spectrum() {
    // colorization-64 and the large 512 × 512 one (n = 262 144, not run by CI's batch) give
    // the momentum entry Goh's optimal (α, β), the gradient-descent entry 2/(λ₁ + λₙ), and
    // the particle m = β/α, μ = (1 − β)/α (Qian's twin at Δt = 1), all from the exact
    // extremes of their own Hessians: any change to the grid, the pixels or the spectrum's
    // method that moved them would show here (the files hold the values to the last
    // digit, so 1e-12 is round-off in the extremes only).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for file in ["colorization-64.toml", "large/colorization-512.toml"] {
        let s = heavyball::scenario::load(&dir.join(file)).unwrap();
        let p = heavyball::potential::build(&s.potential).unwrap();
        let ks = p.hessian_spectrum().unwrap();
        let opt = heavyball::theory::goh_optimum(ks[0], ks[ks.len() - 1]);
        let explicit = |i: usize| match s.discrete[i].params {
            heavyball::dynamics::DiscreteParams::Explicit {
                learning_rate,
                momentum,
                ..
            } => (learning_rate, momentum),
            _ => panic!("{file}: entry {i} is not explicit"),
        };
        let (alpha, beta) = explicit(0);
        assert_relative_eq!(alpha, opt.momentum_alpha, max_relative = 1e-12);
        assert_relative_eq!(beta, opt.momentum_beta, max_relative = 1e-12);
        assert_relative_eq!(explicit(1).0, opt.gd_alpha, max_relative = 1e-12);
        let (m, mu) = (s.particle.mass.unwrap(), s.particle.friction.unwrap());
        assert_relative_eq!(
            m,
            opt.momentum_beta / opt.momentum_alpha,
            max_relative = 1e-12
        );
        assert_relative_eq!(
            mu,
            (1.0 - opt.momentum_beta) / opt.momentum_alpha,
            max_relative = 1e-12
        );
    }
}

/// A `hessian` entry the parser lets through as round-off (−1e-13 beside 1, within 1e-12 of
/// the largest) is a flat direction to the theory, diagonal or dense, and no negative rate;
/// a diagonal's tiny positive entry is exact and stays.
#[test]
fn a_round_off_negative_eigenvalue_is_flat() {
    let spectrum = |rows: Vec<Vec<f64>>| {
        let q = Quadratic::new(&HessianSpec::Dense(rows), vec![0.0; 2]).unwrap();
        q.hessian_spectrum().unwrap().to_vec()
    };
    assert_eq!(
        spectrum(vec![vec![-1e-13, 0.0], vec![0.0, 1.0]]),
        [0.0, 1.0]
    );
    assert_eq!(
        spectrum(vec![vec![1e-13, 0.0], vec![0.0, 1.0]]),
        [1e-13, 1.0]
    );
    // Rotated by 45°: [[a, b], [b, a]] with a ± b = 1, −1e-13.
    let (a, b) = ((1.0 - 1e-13) / 2.0, (1.0 + 1e-13) / 2.0);
    assert_eq!(spectrum(vec![vec![a, b], vec![b, a]])[0], 0.0);
}
