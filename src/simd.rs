//! Which vector extension the lane kernels run on, chosen once at run time: one binary
//! serves every CPU (a cluster's mixed nodes), built for the target's baseline (SSE2 on
//! x86-64) with no `target-cpu=native`.
//!
//! The kernels are written against `Vector` (SSE2, AVX2 and AVX-512 intrinsics, or one
//! plain f64 lane elsewhere), compiled once per extension with `#[target_feature]` by
//! `on_isa!` and picked by [`Isa::current`]. The extension changes how many lanes one
//! instruction covers, never a number: Rust neither fuses `a·b + c` into a fused
//! multiply-add nor reorders floating-point operations, and the kernels use only +, −, ×, ÷,
//! comparisons, selections and bit fields (all exact or exactly rounded, the same on every
//! extension), so a lane's results are the same bits on every extension and in every lane.

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
/// `on_isa!(isa, [generic parameters], [generic arguments], fn(arg: Type, …) -> Ret { body })`;
/// with `V,` before `fn`, the body also sees `V`, the copy's [`Vector`] type.
macro_rules! on_isa {
    (@pick $isa:expr, [$($ga:tt)*], $($arg:ident),*) => {
        match $isa {
            // SAFETY: the caller's `isa` is at most `Isa::best()`: the CPU has AVX-512F.
            #[cfg(target_arch = "x86_64")]
            $crate::simd::Isa::Avx512 => unsafe { avx512::<$($ga)*>($($arg),*) },
            // SAFETY: as above, the CPU has AVX2.
            #[cfg(target_arch = "x86_64")]
            $crate::simd::Isa::Avx2 => unsafe { avx2::<$($ga)*>($($arg),*) },
            _ => baseline::<$($ga)*>($($arg),*),
        }
    };
    ($isa:expr, [$($gp:tt)*], [$($ga:tt)*], fn($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $crate::simd::on_isa!($isa, [$($gp)*], [$($ga)*], UnusedVector, fn($($arg: $ty),*) -> $ret $body)
    };
    // `$v` names each copy's [`Vector`] type inside the body.
    ($isa:expr, [$($gp:tt)*], [$($ga:tt)*], $v:ident, fn($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {{
        #[inline(never)]
        fn baseline<$($gp)*>($($arg: $ty),*) -> $ret {
            #[allow(dead_code)]
            type $v = $crate::simd::BaselineVector;
            $body
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        #[inline(never)]
        fn avx2<$($gp)*>($($arg: $ty),*) -> $ret {
            #[allow(dead_code)]
            type $v = $crate::simd::F64x4;
            $body
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        #[inline(never)]
        fn avx512<$($gp)*>($($arg: $ty),*) -> $ret {
            #[allow(dead_code)]
            type $v = $crate::simd::F64x8;
            $body
        }
        $crate::simd::on_isa!(@pick $isa, [$($ga)*], $($arg),*)
    }};
}
pub(crate) use on_isa;

/// A few f64 lanes in one register, for kernels whose state must stay in registers across
/// a loop (where plain lane arrays come out of the compiler in mixed, shuffled widths).
/// Only exactly rounded operations, so every width gives the same bits.
///
/// # Safety
/// Each method may only run on a CPU with the type's extension: call them from a copy of
/// [`on_isa!`] for that extension (they are `#[inline(always)]` into it).
pub(crate) unsafe trait Vector: Copy {
    /// Lanes per register.
    const WIDTH: usize;
    /// `x[..WIDTH]`.
    unsafe fn load(x: &[f64]) -> Self;
    /// Into `x[..WIDTH]`.
    unsafe fn store(self, x: &mut [f64]);
    /// Every lane `x`.
    unsafe fn splat(x: f64) -> Self;
    /// Lane by lane.
    unsafe fn add(self, o: Self) -> Self;
    /// Lane by lane.
    unsafe fn sub(self, o: Self) -> Self;
    /// Lane by lane.
    unsafe fn mul(self, o: Self) -> Self;
    /// Bit l set where lane l of `self < o`.
    unsafe fn lt(self, o: Self) -> u32 {
        // SAFETY: the caller's contract.
        unsafe { Self::bits_of(self.lt_mask(o)) }
    }
    /// Bit l set where lane l of `!(self <= o)` (NaN included).
    unsafe fn not_le(self, o: Self) -> u32;
    /// A lane mask in the extension's own form (a register of all-ones lanes, AVX-512's
    /// mask register, a `bool`), so that a comparison feeds a blend without a trip
    /// through bits.
    type Mask: Copy;
    /// Where `self <= o` (false where either is NaN).
    unsafe fn le_mask(self, o: Self) -> Self::Mask;
    /// Where `self < o` (false where either is NaN).
    unsafe fn lt_mask(self, o: Self) -> Self::Mask;
    /// The mask of bit l of `bits` in lane l.
    unsafe fn mask_of(bits: u32) -> Self::Mask;
    /// Bit l set where lane l of `m` is.
    unsafe fn bits_of(m: Self::Mask) -> u32;
    /// `a & b`.
    unsafe fn and(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// `a | b`.
    unsafe fn or(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// Where `!(self <= o)` (NaN included): [`Self::not_le`] as a mask.
    unsafe fn nle_mask(self, o: Self) -> Self::Mask;
    /// Lane l of `a` where lane l of `m` is set, else of `b`.
    unsafe fn blend(m: Self::Mask, a: Self, b: Self) -> Self;
    /// `if self < o { self } else { o }`: one instruction (x86's `min`), where `f64::min`'s
    /// NaN rule takes three.
    unsafe fn min(self, o: Self) -> Self;
    /// `if self > o { self } else { o }` (x86's `max`).
    unsafe fn max(self, o: Self) -> Self;
    /// |self| (the sign bit cleared).
    unsafe fn abs(self) -> Self;
    /// The float with bits `0x4330_0000_0000_0000 | (self.to_bits() >> 52)`: 2⁵² plus the
    /// sign and biased exponent, exactly.
    unsafe fn exponent_field(self) -> Self;
    /// The float with bits `(self.to_bits() & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000`:
    /// the mantissa as a number in [1, 2).
    unsafe fn mantissa_field(self) -> Self;
    /// The float with bits `c.wrapping_sub(self.to_bits())`.
    unsafe fn bits_from(self, c: u64) -> Self;
    /// The float with bits `self.to_bits() + ((r.to_bits() − base.to_bits()) << 52)`
    /// (wrapping): `self` scaled by 2ⁿ, n the integer `r` holds above `base`.
    unsafe fn scale_by(self, r: Self, base: Self) -> Self;
    /// Lane by lane (exactly rounded, as `/`).
    unsafe fn div(self, o: Self) -> Self;
    /// The float with bits `self.to_bits().wrapping_add(c)`.
    unsafe fn bits_add(self, c: u64) -> Self;
    /// The float with bits `self.to_bits() & c`.
    unsafe fn bits_and(self, c: u64) -> Self;
}

/// One lane: the plain fallback.
// SAFETY: plain f64 arithmetic runs everywhere.
unsafe impl Vector for f64 {
    const WIDTH: usize = 1;
    #[inline(always)]
    unsafe fn load(x: &[f64]) -> Self {
        x[0]
    }
    #[inline(always)]
    unsafe fn store(self, x: &mut [f64]) {
        x[0] = self;
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> Self {
        x
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        self + o
    }
    #[inline(always)]
    unsafe fn sub(self, o: Self) -> Self {
        self - o
    }
    #[inline(always)]
    unsafe fn mul(self, o: Self) -> Self {
        self * o
    }
    #[inline(always)]
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    unsafe fn not_le(self, o: Self) -> u32 {
        u32::from(!(self <= o))
    }
    type Mask = bool;
    #[inline(always)]
    unsafe fn le_mask(self, o: Self) -> bool {
        self <= o
    }
    #[inline(always)]
    unsafe fn lt_mask(self, o: Self) -> bool {
        self < o
    }
    #[inline(always)]
    unsafe fn mask_of(bits: u32) -> bool {
        bits & 1 != 0
    }
    #[inline(always)]
    unsafe fn bits_of(m: bool) -> u32 {
        u32::from(m)
    }
    #[inline(always)]
    unsafe fn and(a: bool, b: bool) -> bool {
        a & b
    }
    #[inline(always)]
    unsafe fn or(a: bool, b: bool) -> bool {
        a | b
    }
    #[inline(always)]
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    unsafe fn nle_mask(self, o: Self) -> bool {
        !(self <= o)
    }
    #[inline(always)]
    unsafe fn blend(m: bool, a: Self, b: Self) -> Self {
        if m { a } else { b }
    }
    #[inline(always)]
    unsafe fn min(self, o: Self) -> Self {
        if self < o { self } else { o }
    }
    #[inline(always)]
    unsafe fn max(self, o: Self) -> Self {
        if self > o { self } else { o }
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        f64::abs(self)
    }
    #[inline(always)]
    unsafe fn exponent_field(self) -> Self {
        f64::from_bits(EXPONENT_BASE | (self.to_bits() >> 52))
    }
    #[inline(always)]
    unsafe fn mantissa_field(self) -> Self {
        f64::from_bits((self.to_bits() & MANTISSA) | ONE_BITS)
    }
    #[inline(always)]
    unsafe fn bits_from(self, c: u64) -> Self {
        f64::from_bits(c.wrapping_sub(self.to_bits()))
    }
    #[inline(always)]
    unsafe fn scale_by(self, r: Self, base: Self) -> Self {
        let n = r.to_bits().wrapping_sub(base.to_bits());
        f64::from_bits(self.to_bits().wrapping_add(n << 52))
    }
    #[inline(always)]
    unsafe fn div(self, o: Self) -> Self {
        self / o
    }
    #[inline(always)]
    unsafe fn bits_add(self, c: u64) -> Self {
        f64::from_bits(self.to_bits().wrapping_add(c))
    }
    #[inline(always)]
    unsafe fn bits_and(self, c: u64) -> Self {
        f64::from_bits(self.to_bits() & c)
    }
}

/// The bits [`Vector::exponent_field`] sets: 2⁵²'s.
const EXPONENT_BASE: u64 = 0x4330_0000_0000_0000;
/// The mantissa's bits.
const MANTISSA: u64 = 0x000F_FFFF_FFFF_FFFF;
/// 1.0's bits.
const ONE_BITS: u64 = 0x3FF0_0000_0000_0000;

/// The baseline's [`Vector`]: SSE2's two lanes on x86-64, one lane elsewhere.
#[cfg(target_arch = "x86_64")]
pub(crate) type BaselineVector = F64x2;
/// The baseline's [`Vector`]: SSE2's two lanes on x86-64, one lane elsewhere.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) type BaselineVector = f64;

/// Implements [`Vector`] on an x86-64 register type from its intrinsics.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_vector {
    ($name:ident, $reg:ty, $width:expr, $doc:literal, load $load:ident, store $store:ident,
     splat $splat:ident, add $add:ident, sub $sub:ident, mul $mul:ident, div $div:ident,
     not_le $nle:expr,
     mask $mask:ty, le_mask $lem:expr, lt_mask $ltm:expr, mask_of $mof:expr, bits_of $bof:expr,
     and $and:expr, or $or:expr, nle_mask $nlem:expr, blend $blend:expr, min $min:ident, max $max:ident,
     bits $cast:ident / $uncast:ident, and_int $andi:ident,
     or_int $ori:ident, srl $srl:ident, sll $sll:ident, add_int $addi:ident,
     sub_int $subi:ident, splat_int $spliti:ident) => {
        #[doc = $doc]
        #[derive(Clone, Copy)]
        pub(crate) struct $name($reg);

        // SAFETY: the trait's contract: used only where the extension is present.
        unsafe impl Vector for $name {
            const WIDTH: usize = $width;
            #[inline(always)]
            unsafe fn load(x: &[f64]) -> Self {
                assert!(x.len() >= $width);
                // SAFETY: `x` holds WIDTH values; unaligned load.
                unsafe { $name(std::arch::x86_64::$load(x.as_ptr())) }
            }
            #[inline(always)]
            unsafe fn store(self, x: &mut [f64]) {
                assert!(x.len() >= $width);
                // SAFETY: as `load`.
                unsafe { std::arch::x86_64::$store(x.as_mut_ptr(), self.0) }
            }
            #[inline(always)]
            unsafe fn splat(x: f64) -> Self {
                // SAFETY: the trait's contract.
                unsafe { $name(std::arch::x86_64::$splat(x)) }
            }
            #[inline(always)]
            unsafe fn add(self, o: Self) -> Self {
                // SAFETY: the trait's contract.
                unsafe { $name(std::arch::x86_64::$add(self.0, o.0)) }
            }
            #[inline(always)]
            unsafe fn sub(self, o: Self) -> Self {
                // SAFETY: the trait's contract.
                unsafe { $name(std::arch::x86_64::$sub(self.0, o.0)) }
            }
            #[inline(always)]
            unsafe fn mul(self, o: Self) -> Self {
                // SAFETY: the trait's contract.
                unsafe { $name(std::arch::x86_64::$mul(self.0, o.0)) }
            }
            #[inline(always)]
            unsafe fn not_le(self, o: Self) -> u32 {
                // SAFETY: the trait's contract.
                unsafe { ($nle)(self.0, o.0) }
            }
            type Mask = $mask;
            #[inline(always)]
            unsafe fn le_mask(self, o: Self) -> $mask {
                // SAFETY: the trait's contract.
                unsafe { ($lem)(self.0, o.0) }
            }
            #[inline(always)]
            unsafe fn lt_mask(self, o: Self) -> $mask {
                // SAFETY: the trait's contract.
                unsafe { ($ltm)(self.0, o.0) }
            }
            #[inline(always)]
            // AVX-512's masks are plain integers.
            #[allow(unused_unsafe)]
            unsafe fn mask_of(bits: u32) -> $mask {
                // SAFETY: the trait's contract.
                unsafe { ($mof)(bits) }
            }
            #[inline(always)]
            // AVX-512's masks are plain integers.
            #[allow(unused_unsafe)]
            unsafe fn bits_of(m: $mask) -> u32 {
                // SAFETY: the trait's contract.
                unsafe { ($bof)(m) }
            }
            #[inline(always)]
            // AVX-512's masks are plain integers.
            #[allow(unused_unsafe)]
            unsafe fn and(a: $mask, b: $mask) -> $mask {
                // SAFETY: the trait's contract.
                unsafe { ($and)(a, b) }
            }
            #[inline(always)]
            // AVX-512's masks are plain integers.
            #[allow(unused_unsafe)]
            unsafe fn or(a: $mask, b: $mask) -> $mask {
                // SAFETY: the trait's contract.
                unsafe { ($or)(a, b) }
            }
            #[inline(always)]
            unsafe fn nle_mask(self, o: Self) -> $mask {
                // SAFETY: the trait's contract.
                unsafe { ($nlem)(self.0, o.0) }
            }
            #[inline(always)]
            unsafe fn blend(m: $mask, a: Self, b: Self) -> Self {
                // SAFETY: the trait's contract.
                unsafe { $name(($blend)(m, a.0, b.0)) }
            }
            #[inline(always)]
            unsafe fn min(self, o: Self) -> Self {
                // SAFETY: the trait's contract (x86's min is `a < b ? a : b`).
                unsafe { $name(x86::$min(self.0, o.0)) }
            }
            #[inline(always)]
            unsafe fn max(self, o: Self) -> Self {
                // SAFETY: the trait's contract (x86's max is `a > b ? a : b`).
                unsafe { $name(x86::$max(self.0, o.0)) }
            }
            #[inline(always)]
            unsafe fn abs(self) -> Self {
                // SAFETY: the trait's contract.
                unsafe {
                    let bits = x86::$cast(self.0);
                    let mask = x86::$spliti(i64::MAX);
                    $name(x86::$uncast(x86::$andi(bits, mask)))
                }
            }
            #[inline(always)]
            unsafe fn exponent_field(self) -> Self {
                // SAFETY: the trait's contract.
                unsafe {
                    let e = x86::$srl::<52>(x86::$cast(self.0));
                    let base = x86::$spliti(EXPONENT_BASE as i64);
                    $name(x86::$uncast(x86::$ori(e, base)))
                }
            }
            #[inline(always)]
            unsafe fn mantissa_field(self) -> Self {
                // SAFETY: the trait's contract.
                unsafe {
                    let m = x86::$andi(x86::$cast(self.0), x86::$spliti(MANTISSA as i64));
                    $name(x86::$uncast(x86::$ori(m, x86::$spliti(ONE_BITS as i64))))
                }
            }
            #[inline(always)]
            unsafe fn bits_from(self, c: u64) -> Self {
                // SAFETY: the trait's contract.
                unsafe {
                    let c = x86::$spliti(c as i64);
                    $name(x86::$uncast(x86::$subi(c, x86::$cast(self.0))))
                }
            }
            #[inline(always)]
            unsafe fn scale_by(self, r: Self, base: Self) -> Self {
                // SAFETY: the trait's contract.
                unsafe {
                    let n = x86::$subi(x86::$cast(r.0), x86::$cast(base.0));
                    let bits = x86::$addi(x86::$cast(self.0), x86::$sll::<52>(n));
                    $name(x86::$uncast(bits))
                }
            }
            #[inline(always)]
            unsafe fn div(self, o: Self) -> Self {
                // SAFETY: the trait's contract.
                unsafe { $name(x86::$div(self.0, o.0)) }
            }
            #[inline(always)]
            unsafe fn bits_add(self, c: u64) -> Self {
                // SAFETY: the trait's contract.
                unsafe {
                    let c = x86::$spliti(c as i64);
                    $name(x86::$uncast(x86::$addi(x86::$cast(self.0), c)))
                }
            }
            #[inline(always)]
            unsafe fn bits_and(self, c: u64) -> Self {
                // SAFETY: the trait's contract.
                unsafe {
                    let c = x86::$spliti(c as i64);
                    $name(x86::$uncast(x86::$andi(x86::$cast(self.0), c)))
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64 as x86;

/// Lane masks of SSE2's and AVX2's `mask_of`: entry `bits` has lane l all ones where bit l
/// of `bits` is set.
#[cfg(target_arch = "x86_64")]
static LANE_MASKS: [[u64; 4]; 16] = {
    let mut t = [[0u64; 4]; 16];
    let mut bits = 0;
    while bits < 16 {
        let mut l = 0;
        while l < 4 {
            if bits >> l & 1 != 0 {
                t[bits][l] = u64::MAX;
            }
            l += 1;
        }
        bits += 1;
    }
    t
};

#[cfg(target_arch = "x86_64")]
x86_vector!(F64x2, x86::__m128d, 2, "SSE2: two lanes.",
load _mm_loadu_pd, store _mm_storeu_pd, splat _mm_set1_pd,
add _mm_add_pd, sub _mm_sub_pd, mul _mm_mul_pd, div _mm_div_pd,
not_le |a, b| x86::_mm_movemask_pd(x86::_mm_cmpnle_pd(a, b)) as u32,
mask x86::__m128d,
le_mask |a, b| x86::_mm_cmple_pd(a, b),
lt_mask |a, b| x86::_mm_cmplt_pd(a, b),
mask_of |bits: u32| x86::_mm_loadu_pd(LANE_MASKS[bits as usize & 3].as_ptr().cast()),
bits_of |m| x86::_mm_movemask_pd(m) as u32,
and |a, b| x86::_mm_and_pd(a, b),
or |a, b| x86::_mm_or_pd(a, b),
nle_mask |a, b| x86::_mm_cmpnle_pd(a, b),
blend |m, a, b| x86::_mm_or_pd(x86::_mm_and_pd(m, a), x86::_mm_andnot_pd(m, b)),
min _mm_min_pd, max _mm_max_pd,
bits _mm_castpd_si128 / _mm_castsi128_pd, and_int _mm_and_si128,
or_int _mm_or_si128, srl _mm_srli_epi64, sll _mm_slli_epi64, add_int _mm_add_epi64,
sub_int _mm_sub_epi64, splat_int _mm_set1_epi64x);

#[cfg(target_arch = "x86_64")]
x86_vector!(F64x4, x86::__m256d, 4, "AVX2: four lanes.",
load _mm256_loadu_pd, store _mm256_storeu_pd, splat _mm256_set1_pd,
add _mm256_add_pd, sub _mm256_sub_pd, mul _mm256_mul_pd, div _mm256_div_pd,
not_le |a, b| x86::_mm256_movemask_pd(x86::_mm256_cmp_pd::<{ x86::_CMP_NLE_UQ }>(a, b)) as u32,
mask x86::__m256d,
le_mask |a, b| x86::_mm256_cmp_pd::<{ x86::_CMP_LE_OQ }>(a, b),
lt_mask |a, b| x86::_mm256_cmp_pd::<{ x86::_CMP_LT_OQ }>(a, b),
mask_of |bits: u32| x86::_mm256_loadu_pd(LANE_MASKS[bits as usize & 15].as_ptr().cast()),
bits_of |m| x86::_mm256_movemask_pd(m) as u32,
and |a, b| x86::_mm256_and_pd(a, b),
or |a, b| x86::_mm256_or_pd(a, b),
nle_mask |a, b| x86::_mm256_cmp_pd::<{ x86::_CMP_NLE_UQ }>(a, b),
blend |m, a, b| x86::_mm256_blendv_pd(b, a, m),
min _mm256_min_pd, max _mm256_max_pd,
bits _mm256_castpd_si256 / _mm256_castsi256_pd, and_int _mm256_and_si256,
or_int _mm256_or_si256, srl _mm256_srli_epi64, sll _mm256_slli_epi64,
add_int _mm256_add_epi64, sub_int _mm256_sub_epi64, splat_int _mm256_set1_epi64x);

#[cfg(target_arch = "x86_64")]
x86_vector!(F64x8, x86::__m512d, 8, "AVX-512F: eight lanes.",
    load _mm512_loadu_pd, store _mm512_storeu_pd, splat _mm512_set1_pd,
    add _mm512_add_pd, sub _mm512_sub_pd, mul _mm512_mul_pd, div _mm512_div_pd,
    not_le |a, b| u32::from(x86::_mm512_cmp_pd_mask::<{ x86::_CMP_NLE_UQ }>(a, b)),
    mask x86::__mmask8,
    le_mask |a, b| x86::_mm512_cmp_pd_mask::<{ x86::_CMP_LE_OQ }>(a, b),
    lt_mask |a, b| x86::_mm512_cmp_pd_mask::<{ x86::_CMP_LT_OQ }>(a, b),
    mask_of |bits: u32| bits as u8,
    bits_of |m: u8| u32::from(m),
    and |a: u8, b: u8| a & b,
    or |a: u8, b: u8| a | b,
    nle_mask |a, b| x86::_mm512_cmp_pd_mask::<{ x86::_CMP_NLE_UQ }>(a, b),
    blend |m, a, b| x86::_mm512_mask_blend_pd(m, b, a),
    min _mm512_min_pd, max _mm512_max_pd,
    bits _mm512_castpd_si512 / _mm512_castsi512_pd, and_int _mm512_and_si512,
    or_int _mm512_or_si512, srl _mm512_srli_epi64, sll _mm512_slli_epi64,
    add_int _mm512_add_epi64, sub_int _mm512_sub_epi64, splat_int _mm512_set1_epi64);

/// Slots of [`ln_batch`]: a rate fit's 33 samples in whole registers of eight.
pub(crate) const LN_BATCH: usize = 40;

/// `libm::log` of each of `x[..n]`, the same bits, several at a time on the vector extension
/// the CPU has (the slots after `n` up to a whole register are read too: padding, such as
/// 1.0, whose results are not used): the rate fit's logarithms were a tenth of a
/// discrete sweep's time one by one.
pub(crate) fn ln_batch(x: &[f64; LN_BATCH], n: usize) -> [f64; LN_BATCH] {
    ln_batch_on(Isa::current(), x, n)
}

/// [`ln_batch`] on a given extension (the best below it the CPU has).
pub(crate) fn ln_batch_on(isa: Isa, x: &[f64; LN_BATCH], n: usize) -> [f64; LN_BATCH] {
    on_isa!(
        isa.min(Isa::best()),
        [],
        [],
        V,
        fn(x: &[f64; LN_BATCH], n: usize) -> [f64; LN_BATCH] {
            let mut out = [0.0; LN_BATCH];
            let mut j = 0;
            while j < n.min(LN_BATCH) {
                // SAFETY: `V` is this copy's extension; j + WIDTH ≤ LN_BATCH.
                unsafe { ln::<V>(V::load(&x[j..])).store(&mut out[j..]) };
                j += V::WIDTH;
            }
            // libm's own special cases (0, subnormal, negative, not finite), which the
            // lanes' reduction leaves out.
            for (o, &v) in out.iter_mut().zip(x).take(n) {
                if !(f64::MIN_POSITIVE..f64::INFINITY).contains(&v) {
                    *o = libm::log(v);
                }
            }
            out
        }
    )
}

/// ln x for x ≥ `f64::MIN_POSITIVE` and finite, lane by lane: `libm::log` (FreeBSD's
/// `e_log.c`) with its integer reduction done on the bits and its operations in its order,
/// so its bits.
///
/// # Safety
/// As [`Vector`]'s methods.
#[inline(always)]
// libm's constants as its source writes them.
#[allow(clippy::excessive_precision)]
unsafe fn ln<V: Vector>(x: V) -> V {
    const LN2_HI: f64 = 6.93147180369123816490e-01;
    const LN2_LO: f64 = 1.90821492927058770002e-10;
    const LG: [f64; 7] = [
        6.666666666666735130e-01,
        3.999999999940941908e-01,
        2.857142874366239149e-01,
        2.222219843214978396e-01,
        1.818357216161805012e-01,
        1.531383769920937332e-01,
        1.479819860511658591e-01,
    ];
    // 2⁵² + 1023: `exponent_field` of a biased exponent of 1023 (k = 0).
    const K_ZERO: f64 = 4_503_599_627_371_519.0;
    // SAFETY: the caller's.
    unsafe {
        // x = 2ᵏ·(1 + f) with 1 + f in [√2/2, √2): libm's high-word arithmetic, on the
        // whole bits (the low word takes no carry).
        let b = x.bits_add((0x3ff0_0000 - 0x3fe6_a09e) << 32);
        let k = b.exponent_field().sub(V::splat(K_ZERO));
        let one_f = b
            .bits_and(0x000f_ffff_ffff_ffff)
            .bits_add(0x3fe6_a09e << 32);
        let f = one_f.sub(V::splat(1.0));
        let hfsq = V::splat(0.5).mul(f).mul(f);
        let s = f.div(V::splat(2.0).add(f));
        let z = s.mul(s);
        let w = z.mul(z);
        let t1 = w.mul(V::splat(LG[1]).add(w.mul(V::splat(LG[3]).add(w.mul(V::splat(LG[5]))))));
        let t2 = V::splat(LG[4]).add(w.mul(V::splat(LG[6])));
        let t2 = z.mul(V::splat(LG[0]).add(w.mul(V::splat(LG[2]).add(w.mul(t2)))));
        let r = t2.add(t1);
        let sum = s.mul(hfsq.add(r)).add(k.mul(V::splat(LN2_LO)));
        sum.sub(hfsq).add(f).add(k.mul(V::splat(LN2_HI)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`ln_batch`] is `libm::log` to the bit on every extension the CPU has, at every
    /// batch length from 1 to [`LN_BATCH`]: powers of two and their neighbours, the reduction's boundary at √2/2,
    /// 1 and its neighbours, the normal range's ends, the special cases libm keeps (0,
    /// subnormal, negative, ∞, NaN), and half a million random positive normal numbers.
    #[test]
    fn batched_logarithms_are_libms_bits() {
        let mut xs = vec![1.0, f64::MIN_POSITIVE, f64::MAX, 0.0, -0.0, -1.0, 5e-324];
        xs.extend([
            1e-310,
            f64::INFINITY,
            f64::NAN,
            std::f64::consts::FRAC_1_SQRT_2,
        ]);
        // Each value and its neighbours `d` ulps away.
        let near = |x: f64, d: u64| {
            [
                x,
                f64::from_bits(x.to_bits() + d),
                f64::from_bits(x.to_bits() - d),
            ]
        };
        for e in -1022..1024 {
            xs.extend(near(2f64.powi(e), 1));
        }
        for d in 1..64 {
            xs.extend(near(f64::from_bits(0x3fe6_a09e_0000_0000), d));
            xs.extend(near(2f64.sqrt(), d));
            xs.extend(near(1.0, d));
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..500_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Positive, biased exponent 1..=2046.
            let bits = (seed & 0x000f_ffff_ffff_ffff) | ((1 + (seed >> 52) % 2046) << 52);
            xs.push(f64::from_bits(bits));
        }
        for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
            for (c, chunk) in xs.chunks(LN_BATCH).enumerate() {
                let n = chunk.len() - c % chunk.len();
                let mut x = [1.0; LN_BATCH];
                x[..n].copy_from_slice(&chunk[..n]);
                let ln = ln_batch_on(isa, &x, n);
                for i in 0..n {
                    let want = libm::log(x[i]);
                    let same = ln[i].to_bits() == want.to_bits() || ln[i].is_nan() && want.is_nan();
                    assert!(same, "{isa:?}: ln {:e} = {:e}, libm {want:e}", x[i], ln[i]);
                }
            }
        }
    }

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

    /// Every [`Vector`] this CPU can run gives each lane the plain f64 operation's bits,
    /// NaN, infinities and signed zeros included, and selects and compares lane by lane.
    #[test]
    fn vectors_match_plain_arithmetic_lane_by_lane() {
        fn check<V: Vector>() {
            let w = V::WIDTH;
            let xs = [
                1.5,
                -0.0,
                f64::NAN,
                3e300,
                f64::INFINITY,
                1e-310,
                -2.25,
                0.1,
            ];
            let ys = [0.1, 0.0, 1.0, 3e300, 5.0, f64::NAN, -2.25, 7.0];
            for start in 0..=xs.len() - w {
                let (x, y) = (&xs[start..start + w], &ys[start..start + w]);
                // SAFETY: called only for types the CPU supports (below).
                unsafe {
                    let (a, b) = (V::load(x), V::load(y));
                    let mut out = [0.0; 8];
                    for (op, plain) in [
                        (
                            a.add(b),
                            x.iter().zip(y).map(|(x, y)| x + y).collect::<Vec<_>>(),
                        ),
                        (a.sub(b), x.iter().zip(y).map(|(x, y)| x - y).collect()),
                        (a.mul(b), x.iter().zip(y).map(|(x, y)| x * y).collect()),
                    ] {
                        op.store(&mut out);
                        for l in 0..w {
                            assert_eq!(out[l].to_bits(), plain[l].to_bits(), "width {w}");
                        }
                    }
                    for l in 0..w {
                        assert_eq!(a.lt(b) >> l & 1 == 1, x[l] < y[l]);
                        #[allow(clippy::neg_cmp_op_on_partial_ord)]
                        let nle = !(x[l] <= y[l]);
                        assert_eq!(a.not_le(b) >> l & 1 == 1, nle);
                    }
                    assert_eq!(V::splat(2.5).lt(V::splat(3.0)), (1 << w) - 1);
                    check_more::<V>(x, y);
                }
            }
        }
        /// The mask, min/max, abs and bit-field operations, against plain f64 (whose
        /// `Vector` methods are the definitions: one comparison, the bits as stated).
        unsafe fn check_more<V: Vector>(x: &[f64], y: &[f64]) {
            let w = V::WIDTH;
            let mut out = [0.0; 8];
            // SAFETY: as `check`.
            unsafe {
                let (a, b) = (V::load(x), V::load(y));
                let lanes = |f: &dyn Fn(f64, f64) -> f64| -> Vec<f64> {
                    x.iter().zip(y).map(|(x, y)| f(*x, *y)).collect()
                };
                let ops: [(V, Vec<f64>); 7] = [
                    (a.min(b), lanes(&|x, y| x.min_of(y))),
                    (a.max(b), lanes(&|x, y| x.max_of(y))),
                    (a.abs(), lanes(&|x, _| x.abs())),
                    (a.exponent_field(), lanes(&|x, _| f64::exponent_field(x))),
                    (a.mantissa_field(), lanes(&|x, _| f64::mantissa_field(x))),
                    (
                        a.bits_from(0x7FDE_6238_22FC_16E6),
                        lanes(&|x, _| x.bits_from(0x7FDE_6238_22FC_16E6)),
                    ),
                    (
                        a.scale_by(b, V::splat(3.5)),
                        lanes(&|x, y| x.scale_by(y, 3.5)),
                    ),
                ];
                for (k, (op, plain)) in ops.into_iter().enumerate() {
                    op.store(&mut out);
                    for l in 0..w {
                        assert_eq!(out[l].to_bits(), plain[l].to_bits(), "op {k}, width {w}");
                    }
                }
                let (le, lt, nle) = (a.le_mask(b), a.lt_mask(b), a.nle_mask(b));
                for l in 0..w {
                    assert_eq!(V::bits_of(le) >> l & 1 == 1, x[l] <= y[l]);
                    assert_eq!(V::bits_of(lt) >> l & 1 == 1, x[l] < y[l]);
                    let above = x[l].partial_cmp(&y[l]).is_none_or(|o| o.is_gt());
                    assert_eq!(V::bits_of(nle) >> l & 1 == 1, above);
                }
                assert_eq!(V::bits_of(nle), a.not_le(b));
                for bits in 0..1u32 << w {
                    let m = V::mask_of(bits);
                    assert_eq!(V::bits_of(m), bits);
                    assert_eq!(V::bits_of(V::and(m, le)), bits & V::bits_of(le));
                    assert_eq!(V::bits_of(V::or(m, lt)), bits | V::bits_of(lt));
                    V::blend(m, a, b).store(&mut out);
                    for l in 0..w {
                        let want = if bits >> l & 1 == 1 { x[l] } else { y[l] };
                        assert_eq!(out[l].to_bits(), want.to_bits(), "blend {bits:b}");
                    }
                }
            }
        }
        /// Plain f64's `Vector::min`/`max` under names that do not clash with `f64::min`.
        trait Plain {
            fn min_of(self, o: f64) -> f64;
            fn max_of(self, o: f64) -> f64;
        }
        impl Plain for f64 {
            fn min_of(self, o: f64) -> f64 {
                if self < o { self } else { o }
            }
            fn max_of(self, o: f64) -> f64 {
                if self > o { self } else { o }
            }
        }
        check::<f64>();
        check::<BaselineVector>();
        #[cfg(target_arch = "x86_64")]
        {
            if Isa::Avx2.supported() {
                check::<F64x4>();
            }
            if Isa::Avx512.supported() {
                check::<F64x8>();
            }
        }
    }
}
