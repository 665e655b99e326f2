//! The figures of a sweep, streamed from `summary.csv` (four numbers a grid cell and
//! method in memory): over one axis, measured and theory rates as lines; over two or
//! more, heat maps of the first two axes (the others at their first value) with the
//! theory's boundaries on them.

use super::{Folder, colour, refuse, slug};
use crate::dynamics::Scheme;
use crate::error::Error;
use crate::grid::{AxisKey, AxisSpec, Sweep};
use crate::output::plot::heat::{
    CellAxis, ColourScale, EMPTY, HeatMap, Legend, STATUS_COLOURS, monotone, status_colour,
};
use crate::output::plot::lines::{Curve, LineChart, Mark, Series, stride_for};
use crate::output::plot::svg::ScaleKind;
use crate::output::plot::table::{CsvError, CsvReader, parse_field, parse_index};
use crate::output::plot::{Figure, png};
use crate::theory;

use super::{ImageFormat, PlotOptions};

/// One method's values on the drawn cells (NaN: no value).
struct Cells {
    label: String,
    measured: Vec<f32>,
    theory: Vec<f32>,
    /// `steps` (discrete) or `t_converged` (continuous).
    effort: Vec<f32>,
    /// Index into STATUS_COLOURS plus one (0: no row).
    status: Vec<u8>,
}

impl Cells {
    fn new(label: &str, n: usize) -> Self {
        Cells {
            label: label.into(),
            measured: vec![f32::NAN; n],
            theory: vec![f32::NAN; n],
            effort: vec![f32::NAN; n],
            status: vec![0; n],
        }
    }

    fn effort_column(&self) -> &'static str {
        if self.label == "continuous" {
            "t_converged"
        } else {
            "steps"
        }
    }
}

/// The cell of grid point `point`: `ix · ny + iy` over the first two axes, None off the
/// slice where every further axis is at its first value.
fn cell(sweep: &Sweep, point: u64) -> Option<usize> {
    let mut rest = point;
    let mut digits = vec![0u64; sweep.axes.len()];
    for (d, axis) in digits.iter_mut().zip(&sweep.axes).rev() {
        let len = axis.spec.len();
        *d = rest % len;
        rest /= len;
    }
    if rest != 0 || digits.iter().skip(2).any(|&d| d != 0) {
        return None;
    }
    let ny = sweep.axes.get(1).map_or(1, |a| a.spec.len());
    Some((digits[0] * ny + digits.get(1).copied().unwrap_or(0)) as usize)
}

fn axis_kind(spec: &AxisSpec) -> ScaleKind {
    match spec {
        AxisSpec::Logspace { .. } => ScaleKind::Log,
        AxisSpec::Values(v) if v.len() > 2 && v.iter().all(|&x| x > 0.0) => {
            // Listed values a constant ratio apart read best on a log axis.
            let r = v[1] / v[0];
            if r > 1.5 && v.windows(2).all(|w| ((w[1] / w[0]) / r - 1.0).abs() < 1e-6) {
                ScaleKind::Log
            } else {
                ScaleKind::Linear
            }
        }
        _ => ScaleKind::Linear,
    }
}

/// Every figure of a sweep.
pub(super) fn figures(f: &Folder, options: &PlotOptions) -> Result<Vec<Figure>, Error> {
    let sweep = f.scenario.sweep.as_ref().expect("a sweep");
    if sweep.axes.len() == 1 {
        return Ok(rates(f, sweep)?.into_iter().collect());
    }
    let cells = read_cells(f, sweep)?;
    let mut out = Vec::new();
    for c in &cells {
        for q in [
            "measured_rate",
            "theory_rate",
            "rate_ratio",
            "status",
            c.effort_column(),
        ] {
            if let Some(map) = heat_map(f, sweep, c, q) {
                let png = (options.format == ImageFormat::Png).then(|| {
                    let (nx, ny) = (map.x.values.len(), map.y.values.len());
                    png::cells_png(nx, ny, &map.colours, png::upscale(nx, ny))
                });
                out.push(Figure {
                    name: format!("{}-{q}", slug(&c.label)),
                    caption: format!("{}: {q} over {} × {}", c.label, map.x.column, map.y.column),
                    svg: map.to_svg(),
                    png,
                });
            }
        }
    }
    Ok(out)
}

/// Streams `summary.csv` into per-method cells.
fn read_cells(f: &Folder, sweep: &Sweep) -> Result<Vec<Cells>, Error> {
    let path = f.path("summary.csv");
    let bad = |e: CsvError| refuse(&path, e);
    let mut r = CsvReader::open(&path).map_err(bad)?;
    let col = |r: &CsvReader, name: &str| {
        r.column(name)
            .ok_or_else(|| refuse(&path, format!("has no column {name}")))
    };
    let idx = [
        "point",
        "method",
        "status",
        "measured_rate",
        "theory_rate",
        "steps",
        "t_converged",
    ]
    .map(|n| col(&r, n));
    let [point, method, status, measured, theory_c, steps, t_conv] = {
        let mut out = [0usize; 7];
        for (o, i) in out.iter_mut().zip(idx) {
            *o = i?;
        }
        out
    };
    let n = (sweep.axes[0].spec.len() * sweep.axes[1].spec.len()) as usize;
    let mut cells: Vec<Cells> = Vec::new();
    loop {
        let line = r.line_no + 1;
        let Some(rec) = r.next_record().map_err(bad)? else {
            break;
        };
        let p = parse_index(&rec[point], line).map_err(bad)?;
        if p >= sweep.len() {
            let why = format!("line {line}: point {p} is beyond the grid");
            return Err(refuse(&path, why));
        }
        let Some(k) = cell(sweep, p) else { continue };
        let label = &rec[method];
        let c = match cells.iter().position(|c| &c.label == label) {
            Some(i) => &mut cells[i],
            None => {
                cells.push(Cells::new(label, n));
                cells.last_mut().expect("just pushed")
            }
        };
        let num = |i: usize, name: &str| -> Result<f32, Error> {
            Ok(parse_field(&rec[i], line, name)
                .map_err(bad)?
                .map_or(f32::NAN, |v| v as f32))
        };
        c.measured[k] = num(measured, "measured_rate")?;
        c.theory[k] = num(theory_c, "theory_rate")?;
        c.effort[k] = if label == "continuous" {
            num(t_conv, "t_converged")?
        } else {
            num(steps, "steps")?
        };
        c.status[k] = STATUS_COLOURS
            .iter()
            .position(|(s, _)| *s == rec[status])
            .map_or(0, |i| i as u8 + 1);
    }
    Ok(cells)
}

fn cell_axis(f: &Folder, sweep: &Sweep, i: usize) -> CellAxis {
    let a = &sweep.axes[i];
    let column = a.key.as_str().to_string();
    CellAxis {
        title: f.title("summary.csv", &column),
        column,
        kind: axis_kind(&a.spec),
        values: a.spec.values().collect(),
    }
}

fn heat_map(f: &Folder, sweep: &Sweep, c: &Cells, q: &str) -> Option<HeatMap> {
    let values: Vec<f64> = match q {
        "measured_rate" => c.measured.iter().map(|&v| f64::from(v)).collect(),
        "theory_rate" => c.theory.iter().map(|&v| f64::from(v)).collect(),
        "rate_ratio" => c
            .measured
            .iter()
            .zip(&c.theory)
            .map(|(&m, &t)| f64::from(m) / f64::from(t))
            .collect(),
        "steps" | "t_converged" => c.effort.iter().map(|&v| f64::from(v)).collect(),
        _ => Vec::new(),
    };
    let (colours, legend) = if q == "status" {
        let colours = c
            .status
            .iter()
            .map(|&s| {
                if s == 0 {
                    EMPTY
                } else {
                    status_colour(STATUS_COLOURS[s as usize - 1].0)
                }
            })
            .collect();
        let mut items: Vec<(String, [u8; 3])> = STATUS_COLOURS
            .iter()
            .enumerate()
            .filter(|(i, _)| c.status.contains(&(*i as u8 + 1)))
            .map(|(_, (s, col))| (s.to_string(), *col))
            .collect();
        if c.status.contains(&0) {
            items.push(("no row".into(), EMPTY));
        }
        (colours, Legend::Categories(items))
    } else {
        if !values.iter().any(|v| v.is_finite()) {
            return None;
        }
        let scale = ColourScale::fit(values.iter().copied());
        let colours = values.iter().map(|&v| scale.colour(v)).collect();
        let title = if q == "rate_ratio" {
            "measured_rate / theory_rate".to_string()
        } else {
            f.title("summary.csv", q)
        };
        (colours, Legend::Bar(scale, title))
    };
    let x = cell_axis(f, sweep, 0);
    let y = cell_axis(f, sweep, 1);
    let mut subtitle = format!("{}: {q}", c.label);
    for a in sweep.axes.iter().skip(2) {
        subtitle.push_str(&format!(", {} = {}", a.key.as_str(), a.first()));
    }
    let curves = boundaries(f, sweep, c, &x, &y);
    let map = HeatMap {
        title: f.scenario.name.clone(),
        description: f.scenario.description.clone(),
        subtitle,
        x,
        y,
        column: q.into(),
        method: c.label.clone(),
        colours,
        legend,
        curves,
    };
    Some(map.in_axis_order())
}

fn span(a: &CellAxis, n: usize) -> Vec<f64> {
    let lo = a.values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = a.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // Out to the outer cells' edges, half a step beyond the first and last values.
    let half = (a.kind.forward(hi) - a.kind.forward(lo)) / (2 * a.values.len().max(2) - 2) as f64;
    let (u0, u1) = (a.kind.forward(lo) - half, a.kind.forward(hi) + half);
    let (u0, u1) = (a.kind.within_doubles(u0), a.kind.within_doubles(u1));
    (0..=n)
        .map(|i| a.kind.inverse(u0 + (u1 - u0) * i as f64 / n as f64))
        .collect()
}

/// The theory's lines on a heat map: critical damping μ = 2√(m k) for the extreme
/// eigenvalues on a mass × friction grid; Result 3's stability edge and the optimal
/// momentum p*(ε) on a learning-rate × momentum grid of a heavy-ball entry.
fn boundaries(f: &Folder, sweep: &Sweep, c: &Cells, x: &CellAxis, y: &CellAxis) -> Vec<Curve> {
    let Some(ks) = f.potential.as_ref().and_then(|p| p.hessian_spectrum()) else {
        return Vec::new();
    };
    let positive: Vec<f64> = ks.iter().copied().filter(|&k| k > 0.0).collect();
    let (Some(&k_min), Some(&k_max)) = (positive.first(), positive.last()) else {
        return Vec::new();
    };
    let keys = (sweep.axes[0].key, sweep.axes[1].key);
    let white = [255, 255, 255];
    let mut out = Vec::new();
    match keys {
        (AxisKey::Mass, AxisKey::Friction) => {
            let mut extremes = vec![(k_min, false)];
            if k_max != k_min {
                extremes.push((k_max, true));
            }
            for (k, dashed) in extremes {
                let piece = span(x, 200)
                    .into_iter()
                    .map(|m| (m, theory::critical_friction(m, k)))
                    .collect();
                out.push(Curve {
                    label: format!("critical μ = 2√(m·k), k = {k}"),
                    class: "boundary",
                    colour: white,
                    dashed,
                    fit: false,
                    pieces: vec![piece],
                });
            }
        }
        (AxisKey::LearningRate, AxisKey::Momentum) if is_heavy_ball(f, &c.label) => {
            let edge = span(y, 200)
                .into_iter()
                .map(|p| (theory::max_stable_learning_rate(p, k_max), p))
                .collect();
            out.push(Curve {
                label: format!("Result 3: ε·{k_max} = 2 + 2p"),
                class: "boundary",
                colour: white,
                dashed: false,
                fit: false,
                pieces: vec![edge],
            });
            let optimal = span(x, 200)
                .into_iter()
                .filter_map(|e| theory::optimal_momentum_for(e, &positive).map(|p| (e, p)))
                .collect();
            out.push(Curve {
                label: "optimal momentum p*(ε)".into(),
                class: "boundary",
                colour: white,
                dashed: true,
                fit: false,
                pieces: vec![optimal],
            });
        }
        _ => {}
    }
    out
}

fn is_heavy_ball(f: &Folder, label: &str) -> bool {
    f.scenario
        .discrete
        .iter()
        .any(|d| d.label == label && d.scheme == Scheme::HeavyBall)
}

/// The index of method `label`'s measured-rate series in `series`, its theory line next
/// to it; both added (in the method's colour) at the method's first row.
fn method_series(series: &mut Vec<Series>, label: &str, key: &str, stride: usize) -> usize {
    if let Some(k) = series
        .iter()
        .position(|s| s.method.as_deref() == Some(label))
    {
        return k;
    }
    let n = series.len() / 2;
    for (col, mark) in [("measured_rate", Mark::Dots), ("theory_rate", Mark::Line)] {
        series.push(Series {
            label: format!("{label}: {col}"),
            colour: colour(n),
            mark,
            file: "summary.csv".into(),
            method: Some(label.to_owned()),
            columns: (key.into(), col.into()),
            points: Vec::new(),
            pre_stride: stride,
        });
    }
    series.len() - 2
}

/// A one-axis sweep: measured (points) and theory (line) rates of each method.
fn rates(f: &Folder, sweep: &Sweep) -> Result<Option<Figure>, Error> {
    let key = sweep.axes[0].key.as_str();
    let path = f.path("summary.csv");
    let bad = |e: CsvError| refuse(&path, e);
    let mut r = CsvReader::open(&path).map_err(bad)?;
    let find = |r: &CsvReader, n: &str| {
        r.column(n)
            .ok_or_else(|| refuse(&path, format!("has no column {n}")))
    };
    let (xi, mi, ti, pi, method) = (
        find(&r, key)?,
        find(&r, "measured_rate")?,
        find(&r, "theory_rate")?,
        find(&r, "point")?,
        find(&r, "method")?,
    );
    let stride = stride_for(sweep.len() as usize);
    let mut series: Vec<Series> = Vec::new();
    loop {
        let line = r.line_no + 1;
        let Some(rec) = r.next_record().map_err(bad)? else {
            break;
        };
        let p = parse_index(&rec[pi], line).map_err(bad)?;
        if !(p as usize).is_multiple_of(stride) {
            continue;
        }
        let x = parse_field(&rec[xi], line, key).map_err(bad)?;
        let m = parse_field(&rec[mi], line, "measured_rate").map_err(bad)?;
        let t = parse_field(&rec[ti], line, "theory_rate").map_err(bad)?;
        let k = method_series(&mut series, &rec[method], key, stride);
        series[k].points.push((x, m));
        series[k + 1].points.push((x, t));
    }
    let mut c = LineChart::new(
        &f.scenario.name,
        &format!("measured (points) and theory (line) rates over {key}"),
        &f.title("summary.csv", key),
        "decay rate (1/time)",
    );
    c.x_kind = axis_kind(&sweep.axes[0].spec);
    c.description = f.scenario.description.clone();
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1));
    let (lo, hi) = ys.fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    if lo > 0.0 && hi > 100.0 * lo {
        c.y_kind = ScaleKind::Log;
    }
    // A `values` axis listed out of order is drawn left to right, not back and forth.
    for s in &mut series {
        let x = |p: &(Option<f64>, Option<f64>)| p.0.unwrap_or(f64::NAN);
        let xs: Vec<f64> = s.points.iter().map(x).collect();
        if !monotone(&xs) {
            s.points.sort_by(|a, b| x(a).total_cmp(&x(b)));
        }
    }
    c.series = series;
    Ok(c.has_data().then(|| Figure {
        name: "rates".into(),
        caption: format!("measured_rate and theory_rate against {key}"),
        svg: c.to_svg(),
        png: None,
    }))
}
