//! Which vector extension the lane kernels run on, chosen once at run time: one binary
//! serves every CPU (a cluster's mixed nodes), built for the target's baseline (SSE2 on
//! x86-64) with no `target-cpu=native`.
//!
//! The kernels are plain Rust loops over lanes, compiled once per extension with
//! `#[target_feature]` and picked by [`Isa::current`]. The extension changes how many
//! lanes one instruction covers, never a number: Rust neither fuses `a·b + c` into a
//! fused multiply-add nor reorders floating-point operations, and the kernels use only
//! +, −, ×, ÷, √, min, max and comparisons (all exactly rounded IEEE operations), so a
//! lane's results are the same bits on every extension and in every lane.

/// A vector extension the lane kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Isa {
    /// The build target's baseline: SSE2 on x86-64, the plain target elsewhere (NEON on
    /// aarch64).
    Baseline,
    /// x86-64 AVX2 (4 f64 per instruction).
    Avx2,
    /// x86-64 AVX-512F (8 f64 per instruction).
    Avx512,
}

/// The environment variable that caps the extension used (`baseline`, `avx2`, `avx512`):
/// for tests and for comparing nodes; a value the CPU lacks falls back to the best below it.
pub const ISA_VARIABLE: &str = "HEAVYBALL_SIMD";

impl Isa {
    /// The name used in [`ISA_VARIABLE`] and in benchmark output.
    pub fn as_str(self) -> &'static str {
        match self {
            Isa::Baseline => "baseline",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses a name of [`Self::as_str`] (`sse2` and `plain` also mean the baseline).
    pub fn parse(name: &str) -> Option<Isa> {
        match name.trim().to_ascii_lowercase().as_str() {
            "baseline" | "sse2" | "plain" => Some(Isa::Baseline),
            "avx2" => Some(Isa::Avx2),
            "avx512" | "avx-512" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// The best extension this CPU has.
    pub fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }

    /// Whether this CPU can run `self`.
    pub fn supported(self) -> bool {
        self <= Isa::best()
    }

    /// The extension the kernels use: [`Self::best`], capped by [`ISA_VARIABLE`] when it
    /// is set (decided once per process).
    pub fn current() -> Isa {
        static CURRENT: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *CURRENT.get_or_init(|| {
            let best = Isa::best();
            std::env::var(ISA_VARIABLE)
                .ok()
                .and_then(|v| Isa::parse(&v))
                .map_or(best, |cap| cap.min(best))
        })
    }
}

/// Compiles one function body once per extension with `#[target_feature]` and calls the
/// copy `isa` names (already capped at what the CPU has: [`Isa::current`] or
/// `isa.min(Isa::best())`). The body must be `#[inline(always)]` code so that each copy's
/// lane loops use its extension.
///
/// `on_isa!(isa, [generic parameters], [generic arguments], fn(arg: Type, …) -> Ret { body })`
macro_rules! on_isa {
    ($isa:expr, [$($gp:tt)*], [$($ga:tt)*], fn($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {{
        #[inline(never)]
        fn baseline<$($gp)*>($($arg: $ty),*) -> $ret $body
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        #[inline(never)]
        fn avx2<$($gp)*>($($arg: $ty),*) -> $ret $body
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        #[inline(never)]
        fn avx512<$($gp)*>($($arg: $ty),*) -> $ret $body
        match $isa {
            // SAFETY: the caller's `isa` is at most `Isa::best()`: the CPU has AVX-512F.
            #[cfg(target_arch = "x86_64")]
            $crate::dynamics::simd::Isa::Avx512 => unsafe { avx512::<$($ga)*>($($arg),*) },
            // SAFETY: as above, the CPU has AVX2.
            #[cfg(target_arch = "x86_64")]
            $crate::dynamics::simd::Isa::Avx2 => unsafe { avx2::<$($ga)*>($($arg),*) },
            _ => baseline::<$($ga)*>($($arg),*),
        }
    }};
}
pub(crate) use on_isa;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_cap_never_exceeds_the_cpu() {
        for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::parse(isa.as_str()), Some(isa));
        }
        assert_eq!(Isa::parse("sse2"), Some(Isa::Baseline));
        assert_eq!(Isa::parse("neon"), None);
        assert!(Isa::current().supported());
        assert!(Isa::Baseline.supported());
    }
}
