//! A small SVG writer: scales (linear, log), ticks, deterministic number formatting.
//!
//! Pixel coordinates are written with two decimals, data values in Rust's shortest
//! round-trip form, so the same figure is the same bytes and a reader can invert every
//! mark through the plot area's `data-*` attributes (docs/outputs.md, "Plots").

use std::fmt::Write as _;

/// How an axis maps values to pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleKind {
    /// Proportional to the value.
    Linear,
    /// Proportional to log10 of the value (positive values only).
    Log,
}

impl ScaleKind {
    /// The name written in `data-*-scale`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleKind::Linear => "linear",
            ScaleKind::Log => "log",
        }
    }

    /// The value in the scale's straight space (log10 for a log scale).
    pub fn forward(self, v: f64) -> f64 {
        match self {
            ScaleKind::Linear => v,
            ScaleKind::Log => libm::log10(v),
        }
    }

    /// The inverse of [`ScaleKind::forward`].
    pub fn inverse(self, u: f64) -> f64 {
        match self {
            ScaleKind::Linear => u,
            ScaleKind::Log => libm::pow(10.0, u),
        }
    }

    /// Whether a value can be placed on this scale.
    pub fn admits(self, v: f64) -> bool {
        v.is_finite() && (self == ScaleKind::Linear || v > 0.0)
    }

    /// A point `u` of the straight space, kept where [`ScaleKind::inverse`] gives a
    /// positive finite double: a padded range or a cell's edge half a step beyond a value
    /// near 1e-300 or 1e300 would otherwise be 0 or ∞, whose logarithm is no pixel.
    pub fn within_doubles(self, u: f64) -> f64 {
        match self {
            ScaleKind::Linear => u.clamp(-f64::MAX, f64::MAX),
            // 10^-323.3 is the least subnormal, above 0; 10^308.25 ≈ 1.78e308 is below the
            // largest double.
            ScaleKind::Log => u.clamp(-323.3, 308.25),
        }
    }
}

/// A data range `[min, max]` mapped onto pixels `[p0, p1]` (p1 < p0 for a y axis).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scale {
    pub kind: ScaleKind,
    pub min: f64,
    pub max: f64,
    pub p0: f64,
    pub p1: f64,
}

impl Scale {
    /// The pixel of value `v`.
    pub fn px(&self, v: f64) -> f64 {
        let (a, b) = (self.kind.forward(self.min), self.kind.forward(self.max));
        self.p0 + (self.kind.forward(v) - a) / (b - a) * (self.p1 - self.p0)
    }

    /// Whether `v` lies on the scale, within the range.
    pub fn contains(&self, v: f64) -> bool {
        self.kind.admits(v) && v >= self.min && v <= self.max
    }

    /// Tick values: powers of ten on a log scale spanning a decade or more, else round
    /// numbers (1, 2, 5 × 10^k), about five of them.
    pub fn ticks(&self) -> Vec<f64> {
        if self.kind == ScaleKind::Log {
            let (a, b) = (libm::log10(self.min), libm::log10(self.max));
            // Finite ends only: an end at 0 or ∞ would count exponents to i64's limits.
            if a.is_finite() && b.is_finite() && b - a >= 1.0 {
                let every = ((b - a) / 8.0).ceil().max(1.0) as i64;
                return (a.ceil() as i64..=b.floor() as i64)
                    .filter(|e| e.rem_euclid(every) == 0)
                    .map(|e| 10f64.powi(e as i32))
                    // 10^-324 rounds to 0, which no log scale places.
                    .filter(|&v| self.kind.admits(v))
                    .collect();
            }
        }
        nice_ticks(self.min, self.max)
    }
}

fn nice_ticks(min: f64, max: f64) -> Vec<f64> {
    let span = max - min;
    if span.is_nan() || span <= 0.0 || !span.is_finite() {
        return vec![min];
    }
    let raw = span / 5.0;
    let mag = libm::pow(10.0, libm::log10(raw).floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (min / step).ceil() as i64;
    let last = (max / step).floor() as i64;
    if last.saturating_sub(first) > 100 {
        // Only where a step rounds away against its ends (none of 1, 2, 5 × 10^k fits).
        return vec![min, max];
    }
    (first..=last).map(|i| i as f64 * step).collect()
}

/// The range a scale needs to show `values` (padded a little), None without a value.
pub(crate) fn range_of(kind: ScaleKind, values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|&v| kind.admits(v)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return None;
    }
    let (a, b) = (kind.forward(lo), kind.forward(hi));
    let pad = if b > a {
        (b - a) * 0.04
    } else if kind == ScaleKind::Log {
        0.5
    } else {
        a.abs().max(1.0) * 0.1
    };
    let (a, b) = (kind.within_doubles(a - pad), kind.within_doubles(b + pad));
    Some((kind.inverse(a), kind.inverse(b)))
}

/// A pixel coordinate, two decimals.
pub(crate) fn px(x: f64) -> String {
    format!("{x:.2}")
}

/// A data value for a `data-*` attribute: shortest round-trip form.
pub(crate) fn num(x: f64) -> String {
    let mut s = String::new();
    crate::output::push_num(&mut s, x);
    s
}

/// A tick label: short, readable.
pub(crate) fn tick_label(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if !(1e-3..1e4).contains(&a) {
        let e = libm::log10(a).floor() as i32;
        let m = x / 10f64.powi(e);
        if (m.abs() - 1.0).abs() < 1e-9 {
            return format!("{}1e{e}", if x < 0.0 { "-" } else { "" });
        }
        return format!("{}e{e}", trim(format!("{m:.2}")));
    }
    trim(format!("{x:.4}"))
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Text made safe for XML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// `#rrggbb`.
pub(crate) fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// The opening of a figure: the root element, its title and description (the scenario's),
/// a white background, the visible title and subtitle.
pub(crate) fn open(
    out: &mut String,
    size: (f64, f64),
    kind: &str,
    title: &str,
    sub: &str,
    desc: &str,
) {
    let (width, height) = size;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"figure\" data-kind=\"{kind}\" \
         width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">",
        w = px(width),
        h = px(height)
    );
    let _ = writeln!(out, "<title>{}</title>", esc(title));
    if !desc.is_empty() {
        let _ = writeln!(out, "<desc>{}</desc>", esc(desc));
    }
    let _ = writeln!(
        out,
        "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text class=\"title\" x=\"16\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        esc(title)
    );
    if !sub.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"subtitle\" x=\"16\" y=\"40\" fill=\"#555555\">{}</text>",
            esc(sub)
        );
    }
}

/// The plot area with its inverse-transform metadata, the axes, ticks and titles.
pub(crate) fn axes(out: &mut String, x: &Scale, y: &Scale, x_title: &str, y_title: &str) {
    let (left, right) = (x.p0, x.p1);
    let (bottom, top) = (y.p0, y.p1);
    let _ = writeln!(
        out,
        "<rect class=\"plot-area\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" \
         stroke=\"#333333\" data-x-scale=\"{}\" data-x-min=\"{}\" data-x-max=\"{}\" \
         data-y-scale=\"{}\" data-y-min=\"{}\" data-y-max=\"{}\"/>",
        px(left),
        px(top),
        px(right - left),
        px(bottom - top),
        x.kind.as_str(),
        num(x.min),
        num(x.max),
        y.kind.as_str(),
        num(y.min),
        num(y.max)
    );
    out.push_str("<g class=\"ticks\" fill=\"#333333\">\n");
    for t in x.ticks() {
        let p = px(x.px(t));
        let _ = writeln!(
            out,
            "<line x1=\"{p}\" y1=\"{b}\" x2=\"{p}\" y2=\"{b5}\" stroke=\"#333333\"/>\
             <text x=\"{p}\" y=\"{by}\" text-anchor=\"middle\">{}</text>",
            tick_label(t),
            b = px(bottom),
            b5 = px(bottom + 5.0),
            by = px(bottom + 18.0)
        );
    }
    for t in y.ticks() {
        let p = px(y.px(t));
        let _ = writeln!(
            out,
            "<line x1=\"{l5}\" y1=\"{p}\" x2=\"{l}\" y2=\"{p}\" stroke=\"#333333\"/>\
             <text x=\"{lx}\" y=\"{py}\" text-anchor=\"end\">{}</text>",
            tick_label(t),
            l = px(left),
            l5 = px(left - 5.0),
            lx = px(left - 8.0),
            py = px(y.px(t) + 4.0)
        );
    }
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        "<text class=\"x-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text class=\"y-title\" transform=\"translate({} {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        px((left + right) / 2.0),
        px(bottom + 38.0),
        esc(x_title),
        px(left - 58.0),
        px((top + bottom) / 2.0),
        esc(y_title)
    );
}

/// Standard-alphabet base64 with padding (for PNG data URIs).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn scales_map_ends_to_pixels_and_back() {
        let s = Scale {
            kind: ScaleKind::Log,
            min: 1e-6,
            max: 1.0,
            p0: 300.0,
            p1: 60.0,
        };
        assert_eq!(s.px(1e-6), 300.0);
        assert_eq!(s.px(1.0), 60.0);
        assert!((s.px(1e-3) - 180.0).abs() < 1e-9);
        assert_eq!(s.ticks().len(), 7);
        assert_eq!(
            nice_ticks(0.0, 1.0),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(tick_label(1e-6), "1e-6");
        assert_eq!(tick_label(0.25), "0.25");
    }
}
