//! Heat maps over two swept axes: one cell per grid point, coloured by a continuous scale
//! (viridis, linear or log) or by category (a run's status), with theory curves on top.

use std::fmt::Write as _;

use super::lines::{Curve, curve};
use super::svg::{self, Scale, ScaleKind, esc, num, px};

const LEFT: f64 = 84.0;
const TOP: f64 = 56.0;
const SIDE: f64 = 400.0;
const BAR_X: f64 = LEFT + SIDE + 24.0;
const FIGURE_W: f64 = 780.0;
const FIGURE_H: f64 = TOP + SIDE + 56.0;
/// Grids with more cells than this draw their cells as one embedded PNG image.
pub(crate) const MAX_RECTS: usize = 1024;

/// Viridis at nine evenly spaced stops; colours between are interpolated linearly.
pub(crate) const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
];

/// The colour of a cell without a value.
pub(crate) const EMPTY: [u8; 3] = [217, 217, 217];

/// A continuous colour scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ColourScale {
    pub kind: ScaleKind,
    pub min: f64,
    pub max: f64,
}

impl ColourScale {
    /// The scale spanning `values` (log when they are positive and span two decades).
    pub fn fit(values: impl Iterator<Item = f64> + Clone) -> Self {
        let lin = svg::range_of(ScaleKind::Linear, values.clone());
        let log = svg::range_of(ScaleKind::Log, values.clone());
        let all_positive = values.filter(|v| v.is_finite()).all(|v| v > 0.0);
        let (kind, (min, max)) = match (lin, log) {
            (Some(_), Some((a, b))) if all_positive && b / a > 100.0 => (ScaleKind::Log, (a, b)),
            (Some(r), _) => (ScaleKind::Linear, r),
            _ => (ScaleKind::Linear, (0.0, 1.0)),
        };
        ColourScale { kind, min, max }
    }

    /// The colour of `v` (values beyond the ends take the end colours).
    pub fn colour(&self, v: f64) -> [u8; 3] {
        if !self.kind.admits(v) {
            return EMPTY;
        }
        let (a, b) = (self.kind.forward(self.min), self.kind.forward(self.max));
        let t = ((self.kind.forward(v) - a) / (b - a)).clamp(0.0, 1.0);
        let t = if t.is_finite() { t } else { 0.5 };
        let f = t * (VIRIDIS.len() - 1) as f64;
        let i = (f.floor() as usize).min(VIRIDIS.len() - 2);
        let w = f - i as f64;
        let mix = |k: usize| {
            let (c0, c1) = (f64::from(VIRIDIS[i][k]), f64::from(VIRIDIS[i + 1][k]));
            (c0 + (c1 - c0) * w).round() as u8
        };
        [mix(0), mix(1), mix(2)]
    }
}

/// How cells are coloured.
#[derive(Debug, Clone)]
pub(crate) enum Legend {
    /// A colour bar of a continuous scale, with its title.
    Bar(ColourScale, String),
    /// Named categories.
    Categories(Vec<(String, [u8; 3])>),
}

/// One axis of a heat map: the grid values in order and how they are spaced.
#[derive(Debug, Clone)]
pub(crate) struct CellAxis {
    pub title: String,
    pub column: String,
    pub kind: ScaleKind,
    pub values: Vec<f64>,
}

impl CellAxis {
    /// Cell edges in the scale's straight space: midpoints, half a step beyond the ends.
    fn edges(&self) -> Vec<f64> {
        let u: Vec<f64> = self.values.iter().map(|&v| self.kind.forward(v)).collect();
        let n = u.len();
        if u.iter().all(|&x| x == u[0]) {
            // One value (or one repeated, as replicas of a noisy point): n cells side by side
            // in a unit around it, not n cells of width 0 (a scale of span 0 draws NaN); the
            // unit moved inside the doubles' range where it would reach past it (10^308).
            let top = self.kind.within_doubles(f64::INFINITY) - 1.0;
            let lo = self.kind.within_doubles(u[0] - 0.5).min(top);
            return (0..=n).map(|i| lo + i as f64 / n as f64).collect();
        }
        let mut e = Vec::with_capacity(u.len() + 1);
        e.push(u[0] - (u[1] - u[0]) / 2.0);
        e.extend(u.windows(2).map(|w| (w[0] + w[1]) / 2.0));
        e.push(u[n - 1] + (u[n - 1] - u[n - 2]) / 2.0);
        // The outer cells end at the doubles' range (a logspace to 1e-280 in steps of 140
        // decades would reach 1e-350, which is 0).
        e.into_iter().map(|x| self.kind.within_doubles(x)).collect()
    }
}

/// A heat map: `colours[ix · ny + iy]` for x value `ix` and y value `iy`.
#[derive(Debug, Clone)]
pub(crate) struct HeatMap {
    pub title: String,
    /// The scenario's description (the SVG's `<desc>`).
    pub description: String,
    pub subtitle: String,
    pub x: CellAxis,
    pub y: CellAxis,
    /// The summary column coloured, and the method (label) of the rows.
    pub column: String,
    pub method: String,
    pub colours: Vec<[u8; 3]>,
    pub legend: Legend,
    pub curves: Vec<Curve>,
}

/// Whether `values` never turn back (ascending or descending, repeats allowed): cells in
/// their order then lie side by side.
pub(crate) fn monotone(values: &[f64]) -> bool {
    values.windows(2).all(|w| w[0] <= w[1]) || values.windows(2).all(|w| w[0] >= w[1])
}

impl HeatMap {
    /// The map with each axis that turns back (a `values` axis listed out of order, such
    /// as `[2, 1, 1, 0, 0.5]`) sorted, its cells' colours moved along: cells in the
    /// listed order would overlap and fall outside the plot.
    pub(crate) fn in_axis_order(mut self) -> Self {
        let order = |a: &CellAxis| -> Vec<usize> {
            let mut ix: Vec<usize> = (0..a.values.len()).collect();
            if !monotone(&a.values) {
                ix.sort_by(|&i, &j| a.values[i].total_cmp(&a.values[j]));
            }
            ix
        };
        let (ox, oy) = (order(&self.x), order(&self.y));
        let ny = oy.len();
        self.colours = ox
            .iter()
            .flat_map(|&i| oy.iter().map(move |&j| i * ny + j))
            .map(|k| self.colours[k])
            .collect();
        self.x.values = ox.iter().map(|&i| self.x.values[i]).collect();
        self.y.values = oy.iter().map(|&j| self.y.values[j]).collect();
        self
    }

    fn scales(&self) -> (Scale, Scale, Vec<f64>, Vec<f64>) {
        let (ex, ey) = (self.x.edges(), self.y.edges());
        let lo = |e: &[f64]| e.first().copied().unwrap_or(0.0).min(e[e.len() - 1]);
        let hi = |e: &[f64]| e.first().copied().unwrap_or(0.0).max(e[e.len() - 1]);
        let x = Scale {
            kind: self.x.kind,
            min: self.x.kind.inverse(lo(&ex)),
            max: self.x.kind.inverse(hi(&ex)),
            p0: LEFT,
            p1: LEFT + SIDE,
        };
        let y = Scale {
            kind: self.y.kind,
            min: self.y.kind.inverse(lo(&ey)),
            max: self.y.kind.inverse(hi(&ey)),
            p0: TOP + SIDE,
            p1: TOP,
        };
        (x, y, ex, ey)
    }

    /// The figure as SVG text (cells as rects, or one PNG image for large grids).
    pub fn to_svg(&self) -> String {
        let (x, y, ex, ey) = self.scales();
        let (nx, ny) = (self.x.values.len(), self.y.values.len());
        let mut out = String::with_capacity(64 * 1024 + nx * ny * 72);
        svg::open(
            &mut out,
            (FIGURE_W, FIGURE_H),
            "heatmap",
            &self.title,
            &self.subtitle,
            &self.description,
        );
        let _ = writeln!(
            out,
            "<clipPath id=\"area\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>",
            px(LEFT),
            px(TOP),
            px(SIDE),
            px(SIDE)
        );
        let _ = write!(
            out,
            "<g class=\"cells\" data-file=\"summary.csv\" data-method=\"{}\" data-column=\"{}\" \
             data-x=\"{}\" data-y=\"{}\" data-nx=\"{nx}\" data-ny=\"{ny}\"",
            esc(&self.method),
            esc(&self.column),
            esc(&self.x.column),
            esc(&self.y.column)
        );
        self.cells(&mut out, (&x, &y), (&ex, &ey));
        out.push_str("</g>\n");
        for c in &self.curves {
            curve(&mut out, c, &x, &y);
        }
        svg::axes(&mut out, &x, &y, &self.x.title, &self.y.title);
        self.legend(&mut out);
        out.push_str("</svg>\n");
        out
    }

    /// The cells, after the `<g>` that holds them is opened: one PNG image for a large
    /// uniform grid, else a rect per cell between its axes' edges `ex`, `ey`.
    fn cells(&self, out: &mut String, (x, y): (&Scale, &Scale), (ex, ey): (&[f64], &[f64])) {
        let (nx, ny) = (self.x.values.len(), self.y.values.len());
        let uniform = |v: &CellAxis| v.values.len() < 3 || is_uniform(&v.edges());
        if nx * ny > MAX_RECTS && uniform(&self.x) && uniform(&self.y) {
            let png = super::png::cells_png(nx, ny, &self.colours, (1, 1));
            let _ = writeln!(
                out,
                " data-form=\"png\">\n<image x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
                 preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{}\"/>",
                px(LEFT),
                px(TOP),
                px(SIDE),
                px(SIDE),
                svg::base64(&png)
            );
        } else {
            out.push_str(" data-form=\"rects\" shape-rendering=\"crispEdges\">\n");
            let xe: Vec<f64> = ex.iter().map(|&e| x.px(x.kind.inverse(e))).collect();
            let ye: Vec<f64> = ey.iter().map(|&e| y.px(y.kind.inverse(e))).collect();
            for ix in 0..nx {
                for iy in 0..ny {
                    let (x0, x1) = (xe[ix].min(xe[ix + 1]), xe[ix].max(xe[ix + 1]));
                    let (y0, y1) = (ye[iy].min(ye[iy + 1]), ye[iy].max(ye[iy + 1]));
                    let _ = writeln!(
                        out,
                        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>",
                        px(x0),
                        px(y0),
                        px(x1 - x0),
                        px(y1 - y0),
                        svg::hex(self.colours[ix * ny + iy])
                    );
                }
            }
        }
    }

    fn legend(&self, out: &mut String) {
        match &self.legend {
            Legend::Bar(scale, title) => colour_bar(out, scale, title),
            Legend::Categories(items) => categories(out, items),
        }
        self.curve_legend(out);
    }

    /// The labelled curves' legend, bottom right.
    fn curve_legend(&self, out: &mut String) {
        let labelled: Vec<&Curve> = self.curves.iter().filter(|c| !c.label.is_empty()).collect();
        if !labelled.is_empty() {
            out.push_str("<g class=\"legend\">\n");
            for (i, c) in labelled.iter().enumerate() {
                let yy = TOP + SIDE - 18.0 * (labelled.len() - i) as f64;
                let xx = BAR_X + 80.0;
                let _ = writeln!(
                    out,
                    "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"2\"{}/>\
                     <text x=\"{}\" y=\"{}\">{}</text>",
                    px(xx),
                    px(xx + 20.0),
                    // A white line on the map is drawn grey in the legend's white margin.
                    svg::hex(if c.colour == [255, 255, 255] {
                        [90, 90, 90]
                    } else {
                        c.colour
                    }),
                    if c.dashed {
                        " stroke-dasharray=\"6 4\""
                    } else {
                        ""
                    },
                    px(xx + 24.0),
                    px(yy + 4.0),
                    esc(&c.label),
                    y = px(yy)
                );
            }
            out.push_str("</g>\n");
        }
    }
}

/// The colour bar of a continuous scale, with its ticks and title.
fn colour_bar(out: &mut String, scale: &ColourScale, title: &str) {
    let stops: Vec<String> = VIRIDIS.iter().map(|&c| svg::hex(c)).collect();
    let _ = writeln!(
        out,
        "<g class=\"colorbar\" data-scale=\"{}\" data-min=\"{}\" data-max=\"{}\" data-stops=\"{}\">\n\
             <defs><linearGradient id=\"bar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">",
        scale.kind.as_str(),
        num(scale.min),
        num(scale.max),
        stops.join(" ")
    );
    for (i, s) in stops.iter().enumerate() {
        let _ = writeln!(
            out,
            "<stop offset=\"{}\" stop-color=\"{s}\"/>",
            px(i as f64 / (stops.len() - 1) as f64)
        );
    }
    let _ = writeln!(
        out,
        "</linearGradient></defs>\n<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"{}\" fill=\"url(#bar)\"/>",
        px(BAR_X),
        px(TOP),
        px(SIDE)
    );
    let bar = Scale {
        kind: scale.kind,
        min: scale.min,
        max: scale.max,
        p0: TOP + SIDE,
        p1: TOP,
    };
    for t in bar.ticks() {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\">{}</text>",
            px(BAR_X + 22.0),
            px(bar.px(t) + 4.0),
            svg::tick_label(t)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\">{}</text>\n</g>",
        px(BAR_X),
        px(TOP - 8.0),
        esc(title)
    );
}

/// The swatches of a categorical map, one per category.
fn categories(out: &mut String, items: &[(String, [u8; 3])]) {
    out.push_str("<g class=\"categories\">\n");
    for (i, (name, c)) in items.iter().enumerate() {
        let yy = TOP + i as f64 * 20.0;
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{}\" data-category=\"{}\"/>\
                 <text x=\"{}\" y=\"{}\">{}</text>",
            px(BAR_X),
            px(yy),
            svg::hex(*c),
            esc(name),
            px(BAR_X + 20.0),
            px(yy + 11.0),
            esc(name)
        );
    }
    out.push_str("</g>\n");
}

fn is_uniform(edges: &[f64]) -> bool {
    let d0 = edges[1] - edges[0];
    edges
        .windows(2)
        .all(|w| ((w[1] - w[0]) - d0).abs() <= 1e-9 * d0.abs().max(1e-300))
}

/// The status categories, in legend order, with their colours.
pub(crate) const STATUS_COLOURS: [(&str, [u8; 3]); 5] = [
    ("converged", [44, 160, 44]),
    ("not-converged", [255, 187, 40]),
    ("diverged", [214, 39, 40]),
    ("failed", [148, 103, 189]),
    ("skipped", [127, 127, 127]),
];

/// The colour of a status (EMPTY for none or an unknown one).
pub(crate) fn status_colour(status: &str) -> [u8; 3] {
    STATUS_COLOURS
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(EMPTY, |(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_scale_hits_its_stops() {
        let s = ColourScale {
            kind: ScaleKind::Linear,
            min: 0.0,
            max: 8.0,
        };
        for (i, c) in VIRIDIS.iter().enumerate() {
            assert_eq!(s.colour(i as f64), *c);
        }
        assert_eq!(s.colour(f64::NAN), EMPTY);
        assert_eq!(s.colour(100.0), VIRIDIS[8]);
    }

    /// An axis of one value repeated (replicas of a noisy point) gets cells of width 1/n
    /// side by side in a unit around it, not n cells of width 0 whose scale draws NaN; one
    /// value a unit cell; distinct values their midpoints.
    #[test]
    fn repeated_axis_values_get_cells_of_their_own() {
        let axis = |values: Vec<f64>| CellAxis {
            title: String::new(),
            column: String::new(),
            kind: ScaleKind::Linear,
            values,
        };
        assert_eq!(axis(vec![1.0; 4]).edges(), [0.5, 0.75, 1.0, 1.25, 1.5]);
        assert_eq!(axis(vec![2.0]).edges(), [1.5, 2.5]);
        assert_eq!(axis(vec![1.0, 2.0, 4.0]).edges(), [0.5, 1.5, 3.0, 5.0]);
    }
}
