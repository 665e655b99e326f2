//! Gradient noise (SPEC "Noise"): independent N(0, σ²) on every coordinate of every
//! gradient evaluation, from a ChaCha stream that depends only on the scenario's seed, the
//! grid point and the discrete entry — never on thread count, chunking or shard.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::ziggurat::standard_normal;

/// Stochastic gradients (a scenario's `[gradient]` table): zero-mean Gaussian noise on every gradient evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientSpec {
    /// σ ≥ 0, the standard deviation added to each coordinate.
    pub noise: f64,
    /// The stream's seed; each run's own stream derives from it, the point and the entry.
    pub seed: u64,
}

/// The stream index of a point's continuous run (discrete entries use 0, 1, …).
pub const CONTINUOUS_STREAM: u64 = u64::MAX;

/// One run's noise.
#[derive(Debug, Clone)]
pub struct GradientNoise {
    sigma: f64,
    rng: ChaCha8Rng,
}

impl GradientNoise {
    /// The stream of run `entry` at grid point `point` under `seed`: the ChaCha key is
    /// SHA-256(seed, point, entry), so neighbouring runs get unrelated streams.
    pub fn new(sigma: f64, seed: u64, point: u64, entry: u64) -> Self {
        let mut h = Sha256::new();
        h.update(b"heavyball gradient noise");
        h.update(seed.to_le_bytes());
        h.update(point.to_le_bytes());
        h.update(entry.to_le_bytes());
        let key: [u8; 32] = h.finalize().into();
        GradientNoise {
            sigma,
            rng: ChaCha8Rng::from_seed(key),
        }
    }

    /// σ.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// Writes independent standard normals ξ ~ N(0, 1) into `out` (the Langevin scheme
    /// scales them itself).
    #[inline]
    pub fn standard_normals(&mut self, out: &mut [f64]) {
        for x in out {
            *x = standard_normal(&mut self.rng);
        }
    }

    /// Adds σ·ξ, ξ ~ N(0, 1), to every coordinate of `g`.
    #[inline]
    pub fn add(&mut self, g: &mut [f64]) {
        for x in g {
            let xi = standard_normal(&mut self.rng);
            *x += self.sigma * xi;
        }
    }
}
