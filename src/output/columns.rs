//! The catalogue of CSV columns: one place names each column, says what it means and in
//! which unit, for the headers and for `manifest.json`.

pub use crate::problem::StateLayout;

/// One CSV column.
#[derive(Debug, Clone)]
pub struct Column {
    /// Header name.
    pub name: String,
    /// What it holds.
    pub meaning: String,
    /// Its unit ("1" for dimensionless, "" for text).
    pub unit: String,
}

fn col(name: &str, meaning: &str, unit: &str) -> Column {
    Column {
        name: name.into(),
        meaning: meaning.into(),
        unit: unit.into(),
    }
}

/// The header names of a column list.
pub fn names(cols: &[Column]) -> Vec<String> {
    cols.iter().map(|c| c.name.clone()).collect()
}

fn state(cols: &mut Vec<Column>, layout: &StateLayout, velocity_meaning: &str) {
    if layout.gradient_norm {
        cols.push(col("gradient_norm", "|grad E(w)|", "energy/length"));
    }
    for i in &layout.coordinates {
        cols.push(col(
            &format!("w{}", i + 1),
            &format!("position, coordinate {}", i + 1),
            "length",
        ));
    }
    for i in &layout.coordinates {
        cols.push(col(
            &format!("v{}", i + 1),
            &format!("{velocity_meaning}, coordinate {}", i + 1),
            "length/time",
        ));
    }
}

/// `summary.csv`.
pub fn summary() -> Vec<Column> {
    vec![
        col("point", "grid point index, from 0", "1"),
        col("method", "`continuous` or the discrete entry's label", ""),
        col(
            "mass",
            "particle mass m (discrete: the particle the entry stands for; empty if none, e.g. a skipped twin)",
            "mass",
        ),
        col(
            "friction",
            "friction coefficient mu (discrete: of the particle the entry stands for)",
            "mass/time",
        ),
        col(
            "dt",
            "physical time of one discrete step (continuous: the swept dt, or the twin's entry's in a learning_rate/momentum sweep; with gradient noise the dt that scales the Langevin noise to sigma*sqrt(dt); else empty)",
            "time",
        ),
        col(
            "learning_rate",
            "effective heavy-ball learning rate epsilon (continuous: the twin's in a learning_rate/momentum sweep; else empty)",
            "time^2/mass",
        ),
        col(
            "momentum",
            "effective heavy-ball momentum p (continuous: the twin's in a learning_rate/momentum sweep; else empty)",
            "1",
        ),
        col(
            "status",
            "converged | not-converged | diverged | failed | skipped",
            "",
        ),
        col(
            "t_converged",
            "physical time at which the stop criterion was first met (continuous: exact time inside the step)",
            "time",
        ),
        col(
            "steps",
            "continuous: accepted solver steps; discrete: first step index meeting the criterion, else the last step reached",
            "1",
        ),
        col("evaluations", "gradient evaluations spent", "1"),
        col(
            "final_value",
            "the stop criterion's value at the end of the run",
            "criterion",
        ),
        col(
            "theory_rate",
            "asymptotic decay rate of the distance: continuous min_i r_i (docs/theory.md §2; empty for the Nesterov ODE, whose decay is not exponential), discrete -ln(rho)/dt (docs/theory.md §3)",
            "1/time",
        ),
        col(
            "theory_radius",
            "discrete: spectral radius rho of the iteration on the Hessian's spectrum; continuous: empty",
            "1",
        ),
        col(
            "theory_stable",
            "discrete: rho < 1 (Result 3); continuous: true",
            "",
        ),
        col(
            "measured_rate",
            "asymptotic decay rate of the distance to the minimum, whatever the criterion: minus the least-squares slope of ln L against t over the last three decades of an envelope L of the state (docs/theory.md section 8); empty, with a note why, where none can be measured",
            "1/time",
        ),
        col(
            "speedup",
            "continuous: speed-up factor alpha = r/(k/mu) of the slowest component over gradient flow (Result 2: > 1 iff k < mu^2/(2m), 2 at critical damping)",
            "1",
        ),
        col(
            "damping",
            "continuous: damping regime of the slowest component: under | critical | over | massless",
            "",
        ),
        col(
            "damping_ratio",
            "zeta = mu / (2 sqrt(m k_min)) of the row's particle (continuous, or the particle a discrete entry stands for) on the smallest Hessian eigenvalue k_min: 1 on the critical line mu = 2 sqrt(m k_min), < 1 under, > 1 over; empty for m = 0 (zeta would be infinite), the Nesterov ODE, a row without a particle, or without a known k_min > 0",
            "1",
        ),
        col(
            "optimal_momentum",
            "discrete (heavy-ball, nesterov): the momentum p that minimises the spectral radius at this learning rate (heavy ball: max_i (1 - sqrt(eps k_i))^2, Q35)",
            "1",
        ),
        col(
            "noise_floor",
            "with [gradient] noise: mean E(w) - E* over the last 10% of the step budget (discrete) or of t_end (continuous, at BAOAB's step ends); empty unless the run spent it",
            "energy",
        ),
        col(
            "theory_noise_floor",
            "with [gradient] noise on a quadratic: the floor's closed form - discrete: sum of k/2 times the stationary variance of each eigen-component's AR(2) recursion (heavy ball: (1 + p) eps sigma^2 / (2(1 - p)(2(1 + p) - eps k)) each); continuous (heavy-ball model): equipartition, sigma^2 dt / (4 mu) per direction with k > 0; empty beyond the stability edge or where not all eigenvalues are known",
            "energy",
        ),
        col(
            "solver",
            "continuous: the method that integrated this row (method = auto picks baoab under gradient noise, bdf where the particle is stiff, else dopri5); discrete: empty",
            "",
        ),
        col(
            "note",
            "why a run stopped where it did: failed or skipped, the reason; not-converged, the budget it spent and where it came from (discrete: steps = N (given) | steps = N = ceil(t_end/dt) = ceil(T/DT) | steps = N (default without [continuous]); continuous: t_end = T reached); diverged, |w - w*| (|w| without a known minimum) past the divergence threshold or not finite, and the step or time",
            "",
        ),
    ]
}

/// `continuous.csv`.
pub fn continuous(layout: &StateLayout) -> Vec<Column> {
    let mut c = vec![
        col("t", "time", "time"),
        col("loss", "E(w)", "energy"),
        col(
            "distance",
            "|w - w*| (empty when no minimum is known)",
            "length",
        ),
        col("energy", "total energy m|v|^2/2 + E(w)", "energy"),
    ];
    state(&mut c, layout, "velocity dw/dt (m = 0: -grad E/mu)");
    c
}

/// `discrete.csv`.
pub fn discrete(layout: &StateLayout) -> Vec<Column> {
    let mut c = vec![
        col("method", "the discrete entry's label", ""),
        col("step", "step index k (0 is the initial point)", "1"),
        col("t", "physical time k*dt", "time"),
        col("loss", "E(w_k)", "energy"),
        col(
            "distance",
            "|w_k - w*| (empty when no minimum is known)",
            "length",
        ),
        col(
            "energy",
            "m|v|^2/2 + E(w_k), m the entry's particle mass (0 for gradient descent or p <= 0)",
            "energy",
        ),
    ];
    state(&mut c, layout, "velocity (w_k - w_{k-1})/dt");
    c
}

/// `comparison.csv`.
pub fn comparison() -> Vec<Column> {
    vec![
        col("method", "the discrete entry's label", ""),
        col("step", "step index k", "1"),
        col("t", "physical time k*dt", "time"),
        col(
            "continuous_loss",
            "E(w(t)) of the continuous solution at t (empty past its end)",
            "energy",
        ),
        col("discrete_loss", "E(w_k)", "energy"),
        col(
            "continuous_distance",
            "|w(t) - w*| of the continuous solution at t",
            "length",
        ),
        col("discrete_distance", "|w_k - w*|", "length"),
        col("gap", "|w(t) - w_k|", "length"),
    ]
}
