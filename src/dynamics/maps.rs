//! The one place where a discrete entry's (ε, p) come from (docs/theory.md §3–§4), and the
//! inverse map back to a particle.

use super::settings::{DiscreteParams, Form, Map, Scheme};

/// Qian's map (Q7, Q8): ε = Δt²/(m + μΔt), p = m/(m + μΔt).
pub fn qian(m: f64, mu: f64, dt: f64) -> (f64, f64) {
    (dt * dt / (m + mu * dt), m / (m + mu * dt))
}

/// Semi-implicit (symplectic) Euler of Q4: ε = Δt²/m, p = 1 − μΔt/m (m > 0).
pub fn symplectic_euler(m: f64, mu: f64, dt: f64) -> (f64, f64) {
    (dt * dt / m, 1.0 - mu * dt / m)
}

/// Gradient descent from a particle: Qian's map at m = 0, ε = Δt/μ, p = 0.
pub fn gradient_descent(mu: f64, dt: f64) -> (f64, f64) {
    (dt / mu, 0.0)
}

/// Inverse of Qian's map: m = pΔt²/ε, μ = (1 − p)Δt/ε, for the points that have a
/// physical twin (0 ≤ p < 1, ε > 0; p = 0 is the massless particle).
pub fn particle_of(eps: f64, p: f64, dt: f64) -> Option<(f64, f64)> {
    let (m, mu) = (p * dt * dt / eps, (1.0 - p) * dt / eps);
    (eps > 0.0 && (0.0..1.0).contains(&p) && m.is_finite() && mu.is_finite()).then_some((m, mu))
}

/// Why an entry's (ε, p) has no physical twin (SPEC: `p < 0`, `p ≥ 1` or `ε ≤ 0`; Nesterov's
/// scheme has no constant-friction particle at all); displays as the `note` column says it.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum NoTwin {
    /// Nesterov's scheme.
    #[error("no physical twin: Nesterov's scheme has no constant-friction particle")]
    Nesterov,
    /// ε ≤ 0.
    #[error("no physical twin: learning_rate {0:?} <= 0")]
    LearningRate(f64),
    /// p < 0.
    #[error("no physical twin: momentum {0:?} < 0")]
    NegativeMomentum(f64),
    /// p ≥ 1.
    #[error("no physical twin: momentum {0:?} >= 1")]
    MomentumAtLeastOne(f64),
    /// m = pΔt²/ε or μ = (1 − p)Δt/ε is beyond the largest number.
    #[error(
        "no physical twin: learning_rate {0:?} is so small that the particle's mass p dt^2/eps or friction (1 - p) dt/eps overflows"
    )]
    Overflow(f64),
}

impl NoTwin {
    /// The reason for a scheme with (ε, p) that has no twin.
    pub fn of(scheme: Scheme, eps: f64, p: f64) -> Self {
        // The momentum first: in the EMA's form β = 1 makes ε = α(1 − β) = 0 as well, and
        // "learning_rate 0 <= 0" would blame the α the user gave.
        if scheme == Scheme::Nesterov {
            NoTwin::Nesterov
        } else if p < 0.0 {
            NoTwin::NegativeMomentum(p)
        } else if p >= 1.0 {
            NoTwin::MomentumAtLeastOne(p)
        } else if eps <= 0.0 {
            NoTwin::LearningRate(eps)
        } else {
            NoTwin::Overflow(eps)
        }
    }
}

/// The time one noisy gradient evaluation stands for in a point's continuous run: the
/// first discrete entry's Δt (`first`; the twin's, in a learning-rate × momentum sweep),
/// else 1 (the unit of time, as for an explicit learning rate). σ per evaluation is then
/// a Langevin force noise of intensity σ√Δt (`dynamics::langevin`).
pub fn langevin_dt(first: Option<&Coefficients>) -> f64 {
    first.map_or(1.0, |c| c.dt)
}

/// The effective heavy-ball coefficients of one discrete entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coefficients {
    /// ε, the learning rate of the heavy-ball form.
    pub learning_rate: f64,
    /// p, the momentum of the heavy-ball form.
    pub momentum: f64,
    /// Physical time of one step.
    pub dt: f64,
    /// Mass of the kinetic term in the `energy` column (SPEC "Discrete energy").
    pub energy_mass: f64,
    /// The particle this entry stands for, where it has one.
    pub particle: Option<(f64, f64)>,
    /// How the update is written.
    pub form: Form,
    /// The form's own (learning rate, momentum): (ε, p), PyTorch's (α, β) = (ε, p), or the
    /// EMA's (α, β) with ε = α(1 − β), p = β.
    pub native: (f64, f64),
}

impl Coefficients {
    /// Why the entry cannot run at this point: its (ε, p) are not finite numbers (a map's
    /// Δt² or a tiny ε's quotient overflowed); None when they are.
    pub fn not_finite(&self) -> Option<String> {
        let (eps, p) = (self.learning_rate, self.momentum);
        (!(eps.is_finite() && p.is_finite())).then(|| {
            format!(
                "not run: learning_rate {eps:?} and momentum {p:?} at dt = {:?} are not both finite numbers (a quantity of the map overflowed)",
                self.dt
            )
        })
    }
}

/// Resolves an entry's (ε, p) at a point and the particle it stands for. `particle` is the
/// point's (m, μ); entries that derive (ε, p) from it always have one (validation).
/// Explicit `learning_rate`, `momentum` are read in the entry's form (EMA: α, β).
pub fn coefficients(
    scheme: Scheme,
    form: Form,
    params: DiscreteParams,
    particle: Option<(f64, f64)>,
) -> Coefficients {
    let (eps, p, dt, mass) = heavy_ball_terms(scheme, form, params, particle);
    let native = match (params, form) {
        (
            DiscreteParams::Explicit {
                learning_rate,
                momentum,
                ..
            },
            _,
        ) => (learning_rate, momentum),
        // A map's (ε, p) in the EMA's terms: α = ε/(1 − p), β = p (p < 1 for both maps).
        (DiscreteParams::FromParticle { .. }, Form::Ema) => (eps / (1.0 - p), p),
        (DiscreteParams::FromParticle { .. }, _) => (eps, p),
    };
    // Qian's inverse map is the heavy ball's (and gradient descent's) continuous twin; a
    // Nesterov entry with explicit (ε, p) stands for no constant-friction particle.
    let particle = mass.or_else(|| {
        (scheme != Scheme::Nesterov)
            .then(|| particle_of(eps, p, dt))
            .flatten()
    });
    // SPEC: the kinetic term uses the particle's mass; m = pΔt²/ε for explicit (ε, p), 0
    // when p ≤ 0 (or ε ≤ 0: no mass at all); gradient descent never has one.
    let energy_mass = match (scheme, mass) {
        (Scheme::GradientDescent, _) => 0.0,
        (_, Some((m, _))) => m,
        (_, None) if p > 0.0 && eps > 0.0 => p * dt * dt / eps,
        (_, None) => 0.0,
    };
    Coefficients {
        learning_rate: eps,
        momentum: p,
        dt,
        energy_mass,
        particle,
        form,
        native,
    }
}

/// An entry's (ε, p) in the heavy ball's terms, its Δt, and the (m, μ) its map derives
/// them from (None for explicit coefficients).
fn heavy_ball_terms(
    scheme: Scheme,
    form: Form,
    params: DiscreteParams,
    particle: Option<(f64, f64)>,
) -> (f64, f64, f64, Option<(f64, f64)>) {
    let from_particle = || particle.expect("an entry with a map has a particle (validated)");
    match (scheme, params) {
        (Scheme::GradientDescent, DiscreteParams::FromParticle { dt, .. }) => {
            let (_, mu) = from_particle();
            let (eps, p) = gradient_descent(mu, dt);
            (eps, p, dt, Some((0.0, mu)))
        }
        (_, DiscreteParams::FromParticle { dt, map }) => {
            let (m, mu) = from_particle();
            let (eps, p) = match map {
                Map::Qian => qian(m, mu, dt),
                Map::SymplecticEuler => symplectic_euler(m, mu, dt),
            };
            (eps, p, dt, Some((m, mu)))
        }
        (
            _,
            DiscreteParams::Explicit {
                learning_rate,
                momentum,
                dt,
            },
        ) => {
            let (eps, p) = match form {
                Form::Ema => (learning_rate * (1.0 - momentum), momentum),
                Form::Polyak | Form::PyTorch => (learning_rate, momentum),
            };
            (eps, p, dt, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qian_inverse_round_trips() {
        // m = pΔt²/ε and μ = (1 − p)Δt/ε undo Q7–Q8 up to round-off; 1 − p cancels
        // log10(1/(1 − p)) digits (4 at m = 10, μΔt = 0.001), hence 1e-11.
        for &(m, mu, dt) in &[(2.0, 4.0, 0.5), (0.01, 31.6, 0.1), (10.0, 0.1, 0.01)] {
            let (eps, p) = qian(m, mu, dt);
            let (m2, mu2) = particle_of(eps, p, dt).unwrap();
            approx::assert_relative_eq!(m2, m, max_relative = 1e-11);
            approx::assert_relative_eq!(mu2, mu, max_relative = 1e-11);
        }
        assert_eq!(particle_of(0.1, -0.5, 1.0), None);
        assert_eq!(particle_of(0.1, 1.0, 1.0), None);
        assert_eq!(particle_of(-0.1, 0.5, 1.0), None);
        // m = 0.5/1e-310 is beyond f64::MAX: no particle, and the reason says so.
        assert_eq!(particle_of(1e-310, 0.5, 1.0), None);
        assert_eq!(
            NoTwin::of(Scheme::HeavyBall, 1e-310, 0.5),
            NoTwin::Overflow(1e-310)
        );
        assert!(particle_of(1e-300, 0.5, 1.0).is_some());
    }

    #[test]
    fn kth_poster_map() {
        // docs/theory.md §6: m = 2, μ = 4, Δt = 0.5 → ε = 0.0625, p = 0.5; GD ε = Δt/μ = 0.125.
        assert_eq!(qian(2.0, 4.0, 0.5), (0.0625, 0.5));
        assert_eq!(gradient_descent(4.0, 0.5), (0.125, 0.0));
    }
}
