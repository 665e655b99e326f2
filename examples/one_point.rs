//! One point in memory: the KTH poster's quadratic H = diag(3, 30), a particle of mass 2
//! and friction 4, its continuous run beside the heavy ball and gradient descent at the
//! large step Δt = 0.5, each with its measured convergence and the closed-form theory:
//! the heavy ball (ε = 1/16, p = 1/2, ρ = 1/√2) converges, gradient descent
//! (|1 − εk| = 2.75 at k = 30) diverges.
//!
//!     cargo run --release --example one_point

use heavyball::prelude::*;

// std's math in the solvers' crates on the `libm` crate: the same bits on every machine.
heavyball::portable_math!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let problem = Problem::builder(Quadratic::from_eigenvalues(&[3.0, 30.0])?)
        .mass(2.0)
        .friction(4.0)
        .position([1.0, 1.0])
        .continuous(Continuous::new().t_end(40.0))
        .discrete(Discrete::heavy_ball().dt(0.5).label("heavy-ball"))
        .discrete(
            Discrete::gradient_descent()
                .dt(0.5)
                .label("gradient-descent"),
        )
        .stop(Criterion::Distance, 1e-6)
        .build()?;
    let result = problem.run_point(0)?;
    println!(
        "{:<17} {:<10} {:>12} {:>8} {:>13} {:>13} {:>9}",
        "method", "status", "t_converged", "steps", "measured_rate", "theory_rate", "radius"
    );
    let show = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.6}"));
    for row in &result.rows {
        println!(
            "{:<17} {:<10} {:>12} {:>8} {:>13} {:>13} {:>9}",
            row.method,
            row.report.status.as_str(),
            show(row.t_converged()),
            row.report.steps,
            show(row.measured_rate()),
            show(row.theory_rate),
            show(row.theory_radius),
        );
    }
    // What the theory fixes: ρ = 1/√2, |w_k| < 1e-6 first at step 38; ρ = 2.75 diverges.
    let (heavy_ball, descent) = (&result.rows[1], &result.rows[2]);
    assert!((heavy_ball.theory_radius.unwrap() - 0.5f64.sqrt()).abs() < 1e-15);
    assert_eq!(
        (heavy_ball.report.status.as_str(), heavy_ball.report.steps),
        ("converged", 38)
    );
    assert_eq!(descent.theory_radius, Some(2.75));
    assert_eq!(descent.report.status, Status::Diverged);
    Ok(())
}
