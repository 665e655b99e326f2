//! A sweep in memory, reduced: for each mass of a mass × friction grid on H = diag(1, 100),
//! the friction that converges fastest, beside critical damping μ = 2√(m·k_min), where
//! the theory puts the optimum of the slow direction.
//!
//! The particle is scale-invariant: with m → λm and μ → √λ·μ, w(t) = u(t/√λ), so the
//! best friction and its crossing time both grow as √m — the example checks it.
//!
//!     cargo run --release --example best_friction

use std::collections::BTreeMap;

use heavyball::prelude::*;

// std's math in the solvers' crates on the `libm` crate: the same bits on every machine.
heavyball::portable_math!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let k_min = 1.0;
    let problem = Problem::builder(Quadratic::from_eigenvalues(&[k_min, 100.0])?)
        .mass(1.0)
        .friction(1.0)
        .position([1.0, 1.0])
        .continuous(Continuous::new().t_end(200.0))
        .stop(Criterion::Distance, 1e-6)
        .sweep(
            AxisKey::Mass,
            AxisSpec::Logspace {
                start: -1.0,
                stop: 1.0,
                count: 5,
            },
        )
        .sweep(
            AxisKey::Friction,
            AxisSpec::Logspace {
                start: -1.0,
                stop: 2.0,
                count: 61,
            },
        )
        .build()?;
    // mass → (friction, t_converged) of the fastest converged row.
    let mut best: BTreeMap<u64, (f64, f64, f64)> = BTreeMap::new();
    for row in problem.sweep_rows(std::thread::available_parallelism()?.get()) {
        let (Some(m), Some(mu), Some(t)) = (row.mass, row.friction, row.t_converged()) else {
            continue;
        };
        let entry = best.entry(m.to_bits()).or_insert((m, mu, t));
        if t < entry.2 {
            *entry = (m, mu, t);
        }
    }
    println!(
        "{:>8} {:>14} {:>18} {:>12}",
        "mass", "best friction", "2*sqrt(m*k_min)", "t_converged"
    );
    for (m, mu, t) in best.values() {
        println!(
            "{m:>8.3} {mu:>14.4} {:>18.4} {t:>12.4}",
            2.0 * (m * k_min).sqrt()
        );
    }
    // Masses a half-decade apart, frictions a twentieth: the best friction moves 5 grid
    // steps a mass, exactly √λ, and its crossing time scales by √λ (to the solver's
    // tolerance).
    let (m0, mu0, t0) = *best.values().next().expect("a converged point");
    for (m, mu, t) in best.values() {
        let scale = (m / m0).sqrt();
        assert!(
            (mu / mu0 / scale - 1.0).abs() < 1e-12,
            "best friction at m = {m}"
        );
        assert!(
            (t / t0 / scale - 1.0).abs() < 1e-6,
            "crossing time at m = {m}"
        );
    }
    Ok(())
}
