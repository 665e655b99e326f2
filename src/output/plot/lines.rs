//! Line and point charts: series read from a CSV (each mark one row, invertible through
//! the plot area), theory curves beside them, contour lines behind them.

use std::fmt::Write as _;

use super::svg::{self, Scale, ScaleKind, esc, px};

/// The plot area of a line chart (pixels).
const LEFT: f64 = 84.0;
const TOP: f64 = 56.0;
const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 320.0;
const LEGEND_X: f64 = LEFT + WIDTH + 20.0;
const FIGURE_W: f64 = 780.0;
const FIGURE_H: f64 = TOP + HEIGHT + 56.0;
/// More marks than this in a series are thinned to every `stride`-th row.
const MAX_MARKS: usize = 4000;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// A polyline through the rows.
    Line,
    /// A dot per row.
    Dots,
}

/// One series: rows of one CSV (optionally one method's), x and y columns.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Legend text.
    pub label: String,
    /// Colour.
    pub colour: [u8; 3],
    /// Line or dots.
    pub mark: Mark,
    /// The CSV file the values come from.
    pub file: String,
    /// The `method` value selecting the rows, if the file has that column.
    pub method: Option<String>,
    /// Column names of x and y.
    pub columns: (String, String),
    /// The values, one per selected row (None: an empty field).
    pub points: Vec<(Option<f64>, Option<f64>)>,
    /// `points` already hold only every `pre_stride`-th selected row.
    pub pre_stride: usize,
}

/// A curve in data coordinates (a theory line, a boundary, a contour), not tied to rows.
#[derive(Debug, Clone)]
pub(crate) struct Curve {
    /// Legend text (empty: not in the legend).
    pub label: String,
    /// Class for readers (`theory`, `floor`, `boundary`, `contour`).
    pub class: &'static str,
    /// Colour.
    pub colour: [u8; 3],
    /// Dashed or solid.
    pub dashed: bool,
    /// Whether the axis ranges must include it.
    pub fit: bool,
    /// Pieces of polyline (a contour level has several).
    pub pieces: Vec<Vec<(f64, f64)>>,
}

/// A chart of series and curves.
#[derive(Debug, Clone)]
pub(crate) struct LineChart {
    pub title: String,
    /// The scenario's description (the SVG's `<desc>`).
    pub description: String,
    pub subtitle: String,
    pub x_title: String,
    pub y_title: String,
    pub x_kind: ScaleKind,
    pub y_kind: ScaleKind,
    /// Forced ranges (None: from the data).
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    /// A log y axis spans at most this many decades below its top.
    pub max_decades: f64,
    pub series: Vec<Series>,
    pub curves: Vec<Curve>,
}

impl LineChart {
    /// An empty chart with these titles, linear axes.
    pub fn new(title: &str, subtitle: &str, x_title: &str, y_title: &str) -> Self {
        LineChart {
            title: title.into(),
            description: String::new(),
            subtitle: subtitle.into(),
            x_title: x_title.into(),
            y_title: y_title.into(),
            x_kind: ScaleKind::Linear,
            y_kind: ScaleKind::Linear,
            x_range: None,
            y_range: None,
            max_decades: 30.0,
            series: Vec::new(),
            curves: Vec::new(),
        }
    }

    /// Whether any series has a drawable point.
    pub fn has_data(&self) -> bool {
        self.series.iter().any(|s| {
            s.points.iter().any(|p| match p {
                (Some(x), Some(y)) => self.x_kind.admits(*x) && self.y_kind.admits(*y),
                _ => false,
            })
        })
    }

    /// The top of a log y axis: a series that ends a hundred times above where it began
    /// (a diverging run) counts only with its first value, so that it leaves through the
    /// top instead of squeezing the others into the bottom.
    fn log_top(&self) -> Option<f64> {
        let mut top: Option<f64> = None;
        for s in &self.series {
            let ys: Vec<f64> = s
                .points
                .iter()
                .filter_map(|p| p.1)
                .filter(|&y| self.y_kind.admits(y))
                .collect();
            let (Some(&first), Some(&last)) = (ys.first(), ys.last()) else {
                continue;
            };
            let high = if last > 100.0 * first {
                first
            } else {
                ys.iter().copied().fold(first, f64::max)
            };
            top = Some(top.map_or(high, |t| t.max(high)));
        }
        let fits = self.curves.iter().filter(|c| c.fit);
        for &(_, y) in fits.flat_map(|c| c.pieces.iter().flatten()) {
            top = top.map(|t| t.max(y));
        }
        top.map(|t| t * libm::pow(10.0, 0.3))
    }

    fn scales(&self) -> (Scale, Scale) {
        let fitted = |kind: ScaleKind, pick: fn((f64, f64)) -> f64| {
            let rows = self.series.iter().flat_map(move |s| {
                s.points
                    .iter()
                    .filter_map(|&(x, y)| Some((x?, y?)))
                    .map(pick)
            });
            let curves = self
                .curves
                .iter()
                .filter(|c| c.fit)
                .flat_map(move |c| c.pieces.iter().flatten().map(move |&p| pick(p)));
            svg::range_of(kind, rows.chain(curves)).unwrap_or((1.0, 10.0))
        };
        let (x0, x1) = self.x_range.unwrap_or_else(|| fitted(self.x_kind, |p| p.0));
        let (mut y0, mut y1) = self.y_range.unwrap_or_else(|| fitted(self.y_kind, |p| p.1));
        if self.y_kind == ScaleKind::Log && self.y_range.is_none() {
            if let Some(top) = self.log_top() {
                y1 = y1.min(top);
            }
            y0 = y0.max(y1 * libm::pow(10.0, -self.max_decades));
        }
        let x = Scale {
            kind: self.x_kind,
            min: x0,
            max: x1,
            p0: LEFT,
            p1: LEFT + WIDTH,
        };
        let y = Scale {
            kind: self.y_kind,
            min: y0,
            max: y1,
            p0: TOP + HEIGHT,
            p1: TOP,
        };
        (x, y)
    }

    /// The figure as SVG text.
    pub fn to_svg(&self) -> String {
        let (x, y) = self.scales();
        let mut out = String::with_capacity(64 * 1024);
        svg::open(
            &mut out,
            (FIGURE_W, FIGURE_H),
            "lines",
            &self.title,
            &self.subtitle,
            &self.description,
        );
        let _ = writeln!(
            out,
            "<clipPath id=\"area\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>",
            px(LEFT),
            px(TOP),
            px(WIDTH),
            px(HEIGHT)
        );
        for c in self.curves.iter().filter(|c| c.class == "contour") {
            curve(&mut out, c, &x, &y);
        }
        for s in &self.series {
            series(&mut out, s, &x, &y);
        }
        for c in self.curves.iter().filter(|c| c.class != "contour") {
            curve(&mut out, c, &x, &y);
        }
        svg::axes(&mut out, &x, &y, &self.x_title, &self.y_title);
        self.legend(&mut out, &y);
        out.push_str("</svg>\n");
        out
    }

    fn legend(&self, out: &mut String, y: &Scale) {
        out.push_str("<g class=\"legend\">\n");
        let mut row = 0.0;
        let mut entry = |out: &mut String, label: &str, colour, dashed: bool, dots: bool| {
            let yy = TOP + 8.0 + row * 18.0;
            let c = svg::hex(colour);
            if dots {
                let _ = write!(
                    out,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{c}\"/>",
                    px(LEGEND_X + 10.0),
                    px(yy)
                );
            } else {
                let _ = write!(
                    out,
                    "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{c}\" stroke-width=\"2\"{}/>",
                    px(LEGEND_X),
                    px(LEGEND_X + 20.0),
                    if dashed {
                        " stroke-dasharray=\"5 3\""
                    } else {
                        ""
                    },
                    y = px(yy)
                );
            }
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\">{}</text>",
                px(LEGEND_X + 26.0),
                px(yy + 4.0),
                esc(label)
            );
            row += 1.0;
        };
        for s in &self.series {
            let above = s.points.iter().filter_map(|p| p.1).any(|v| v > y.max);
            let label = if above {
                format!("{} (leaves the top)", s.label)
            } else {
                s.label.clone()
            };
            entry(out, &label, s.colour, false, s.mark == Mark::Dots);
        }
        for c in self.curves.iter().filter(|c| !c.label.is_empty()) {
            entry(out, &c.label, c.colour, c.dashed, false);
        }
        out.push_str("</g>\n");
    }
}

/// Every `stride`-th row is drawn; rows with a value off the axes' ranges are not.
pub(crate) fn stride_for(rows: usize) -> usize {
    rows.div_ceil(MAX_MARKS).max(1)
}

fn series(out: &mut String, s: &Series, x: &Scale, y: &Scale) {
    let stride = stride_for(s.points.len());
    let _ = write!(
        out,
        "<g class=\"series\" data-label=\"{}\" data-file=\"{}\" data-x=\"{}\" data-y=\"{}\" data-stride=\"{stride}\"",
        esc(&s.label),
        esc(&s.file),
        esc(&s.columns.0),
        esc(&s.columns.1),
        stride = stride * s.pre_stride
    );
    if let Some(m) = &s.method {
        let _ = write!(out, " data-method=\"{}\"", esc(m));
    }
    out.push_str(" clip-path=\"url(#area)\">\n");
    let c = svg::hex(s.colour);
    let visible = s
        .points
        .iter()
        .step_by(stride)
        .filter_map(|&(a, b)| Some((a?, b?)))
        .filter(|&(a, b)| x.contains(a) && y.contains(b));
    match s.mark {
        Mark::Line => {
            let mut pts = String::new();
            for (a, b) in visible {
                let _ = write!(pts, "{},{} ", px(x.px(a)), px(y.px(b)));
            }
            let _ = writeln!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"1.6\"/>",
                pts.trim_end()
            );
        }
        Mark::Dots => {
            for (a, b) in visible {
                let _ = writeln!(
                    out,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{c}\"/>",
                    px(x.px(a)),
                    px(y.px(b))
                );
            }
        }
    }
    out.push_str("</g>\n");
}

/// A contour level's many short segments as one `<path>` (half the bytes of polylines).
fn contour_path(out: &mut String, c: &Curve, x: &Scale, y: &Scale) {
    out.push_str("<path d=\"");
    for piece in &c.pieces {
        for (i, &(a, b)) in piece.iter().enumerate() {
            let _ = write!(
                out,
                "{}{} {}",
                if i == 0 { "M" } else { "L" },
                px(x.px(a)),
                px(y.px(b))
            );
        }
    }
    out.push_str("\"/></g>\n");
}

/// A curve, cut where it leaves the ranges.
pub(crate) fn curve(out: &mut String, c: &Curve, x: &Scale, y: &Scale) {
    let _ = write!(
        out,
        "<g class=\"{}\" data-label=\"{}\" clip-path=\"url(#area)\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{}>",
        c.class,
        esc(&c.label),
        svg::hex(c.colour),
        if c.class == "contour" { "0.8" } else { "1.6" },
        if c.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        }
    );
    if c.class == "contour" {
        contour_path(out, c, x, y);
        return;
    }
    for piece in &c.pieces {
        let mut run = String::new();
        let flush = |run: &mut String, out: &mut String| {
            if run.contains(' ') {
                let _ = write!(out, "<polyline points=\"{}\"/>", run.trim_end());
            }
            run.clear();
        };
        for &(a, b) in piece {
            let ok = x.kind.admits(a) && y.kind.admits(b);
            if ok && x.px(a).abs() < 1e5 && y.px(b).abs() < 1e5 {
                let _ = write!(run, "{},{} ", px(x.px(a)), px(y.px(b)));
            } else {
                flush(&mut run, out);
            }
        }
        flush(&mut run, out);
    }
    out.push_str("</g>\n");
}
