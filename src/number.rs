//! Numbers as the outputs write them: Rust's `{:?}` text of an `f64` (the shortest digits
//! that read back to the same number; plain decimals for 1e-4 ≤ |x| < 1e16, else
//! `1.5e-7`) for the CSVs' number fields, and its `{:e}` text (always `1.5e-7`, `1e12`) for
//! the notes, about twice as fast. Żmij (`zmij`) finds the same shortest digits as the standard
//! library and lays out 1e-4 ≤ |x| < 1e16 as it does; elsewhere its layout is redone to
//! the standard library's rules, so every byte is the same (a unit test compares millions
//! of numbers).

/// Appends `x` (finite, non-zero) exactly as `format!("{x:?}")` writes it.
pub(crate) fn push_shortest(out: &mut Vec<u8>, x: f64) {
    debug_assert!(x.is_finite() && x != 0.0);
    if may_tie(x) {
        use std::io::Write as _;
        let _ = write!(out, "{x:?}");
        return;
    }
    let mut zmij = zmij::Buffer::new();
    let text = zmij.format_finite(x).as_bytes();
    if (1e-4..1e16).contains(&x.abs()) {
        // The standard library's plain decimals, digit for digit.
        push_short(out, text);
    } else {
        relayout(out, text, x < 0.0);
    }
}

/// Appends `x` exactly as `format!("{x:e}")` writes it: the same shortest digits as
/// [`push_shortest`], always as d₁.d₂…dₙ e exponent.
pub(crate) fn push_exp(out: &mut Vec<u8>, x: f64) {
    if !x.is_finite() || x == 0.0 || may_tie(x) {
        use std::io::Write as _;
        let _ = write!(out, "{x:e}");
        return;
    }
    let mut zmij = zmij::Buffer::new();
    relayout(out, zmij.format_finite(x).as_bytes(), x < 0.0);
}

/// Appends `text` (a number's, 1 to 32 bytes) by two moves of a fixed size, overlapping
/// where it is shorter than both: `extend_from_slice` called `memcpy` for each number (its
/// call and size dispatch, ~2% of `perf`'s samples of the W1 discrete sweep).
#[inline(always)]
fn push_short(out: &mut Vec<u8>, text: &[u8]) {
    let n = text.len();
    assert!((1..=32).contains(&n), "a number's text is 1 to 32 bytes");
    out.reserve(32);
    // SAFETY: `out` has room for 32 more bytes; every copy reads within `text` (n bytes, from
    // offset 0 and from offset n − size) and writes within the room's first n bytes, which
    // then hold `text`, so `set_len` covers only initialised bytes.
    unsafe {
        let (src, dst) = (text.as_ptr(), out.as_mut_ptr().add(out.len()));
        let pair = |size: usize| {
            std::ptr::copy_nonoverlapping(src, dst, size);
            std::ptr::copy_nonoverlapping(src.add(n - size), dst.add(n - size), size);
        };
        match n {
            16.. => pair(16),
            8..=15 => pair(8),
            4..=7 => pair(4),
            2..=3 => pair(2),
            _ => pair(1),
        }
        out.set_len(out.len() + n);
    }
}

/// Żmij's `text` of a number (`-1.25e-7`, `1e+300`, `0.0000123`, `123.5`) in the standard
/// library's scientific layout (`-1.25e-7`, `1e300`, `1.23e-5`, `1.235e2`).
fn relayout(out: &mut Vec<u8>, text: &[u8], negative: bool) {
    // One pass: the digits without the point, how many stood before it, and the exponent.
    let mut digits = [0u8; 24];
    let (mut n, mut whole, mut exponent, mut seen_point) = (0, 0i32, 0i32, false);
    let mut rest = text.iter().copied().skip(usize::from(negative));
    for b in rest.by_ref() {
        match b {
            b'.' => seen_point = true,
            b'e' => break,
            d => {
                digits[n] = d;
                n += 1;
                whole += i32::from(!seen_point);
            }
        }
    }
    let mut sign = 1;
    for b in rest {
        match b {
            b'-' => sign = -1,
            b'+' => {}
            d => exponent = 10 * exponent + i32::from(d - b'0'),
        }
    }
    // x = 0.d₁d₂…dₙ × 10^point, with d₁ ≠ 0 and dₙ ≠ 0.
    let leading = digits[..n].iter().take_while(|&&d| d == b'0').count();
    let point = whole + sign * exponent - leading as i32;
    let digits = &digits[leading..n];
    let trailing = digits.iter().rev().take_while(|&&d| d == b'0').count();
    let digits = &digits[..digits.len() - trailing];
    if negative {
        out.push(b'-');
    }
    scientific(out, digits, point - 1);
}

/// Whether two shortest digit strings may lie equally close to `x`, where Żmij (as Ryū)
/// rounds the tie to even and the standard library up (2⁻²⁵ = 2.98023223876953125e-8: …312 vs …313).
/// A tie needs x's exact decimal expansion to end one digit past the shortest, at the
/// 17th or 18th significant digit: x = m·2^e (m odd) with e < 0 has exactly as many
/// significant digits as m·5^{−e}, so only e ≥ 0 (integers, left to the standard library)
/// or m·5^{−e} < 10¹⁸ can tie. Such numbers (0.5, 40.0, t = k·0.25) take the standard path.
fn may_tie(x: f64) -> bool {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    let zeros = m.trailing_zeros();
    m >>= zeros;
    e += zeros as i32;
    if e >= 0 {
        return true;
    }
    // 5²⁶ > 10¹⁸: longer expansions cannot tie.
    e >= -25 && (m as u128) * 5u128.pow((-e) as u32) < 1_000_000_000_000_000_000
}

/// `digits` as d₁.d₂…dₙ e `exponent`.
fn scientific(out: &mut Vec<u8>, digits: &[u8], exponent: i32) {
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    out.push(b'e');
    let mut itoa = itoa::Buffer::new();
    out.extend_from_slice(itoa.format(exponent).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::{push_exp, push_shortest};

    /// `x`'s text both ways is the standard library's, byte for byte.
    fn same(x: f64) {
        let mut s = Vec::new();
        push_shortest(&mut s, x);
        assert_eq!(s, format!("{x:?}").as_bytes(), "bits {:#x}", x.to_bits());
        s.clear();
        push_exp(&mut s, x);
        assert_eq!(
            s,
            format!("{x:e}").as_bytes(),
            "{{:e}} of bits {:#x}",
            x.to_bits()
        );
    }

    /// Every binade's edges, the layout thresholds and their neighbours, subnormals, and
    /// two million random bit patterns and two million numbers of everyday size: the text
    /// is `{:?}`'s and `{:e}`'s, byte for byte.
    #[test]
    fn writes_what_debug_writes() {
        for e in -1074..1024 {
            let x = 2f64.powi(e);
            for y in [x, -x, x * 1.5, x * 0.75] {
                if y.is_finite() && y != 0.0 {
                    same(y);
                    same(f64::from_bits(y.to_bits() + 1));
                    same(f64::from_bits(y.to_bits() - 1));
                }
            }
        }
        for t in [
            1e-4f64,
            1e16,
            1e-5,
            1e15,
            0.1,
            0.2,
            0.3,
            1.0,
            10.0,
            123.0,
            9.999999999999998,
        ] {
            for y in [
                t,
                -t,
                f64::from_bits(t.to_bits() + 1),
                f64::from_bits(t.to_bits() - 1),
            ] {
                same(y);
            }
        }
        for y in [f64::MIN_POSITIVE, 5e-324, f64::MAX, f64::MIN, f64::EPSILON] {
            same(y);
        }
        for y in [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            let mut s = Vec::new();
            push_exp(&mut s, y);
            assert_eq!(s, format!("{y:e}").as_bytes());
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2_000_000 {
            let y = f64::from_bits(next());
            if y.is_finite() && y != 0.0 {
                same(y);
            }
            // A uniform mantissa times 10^(−8..8): the CSVs' usual numbers.
            let scale = 10f64.powi((next() % 17) as i32 - 8);
            same((next() >> 11) as f64 / (1u64 << 53) as f64 * scale + 1e-300);
        }
    }
}
