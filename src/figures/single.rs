//! The figures of a single run: the criterion against t with the theory's decay beside
//! each run, the path over the contours of E (n = 2) or the coordinates against t, the
//! Lyapunov energy, the continuous–discrete gap, and the noise floors of a noisy run.

use super::{Folder, colour, refuse};
use crate::error::Error;
use crate::observe::Criterion;
use crate::output::plot::Figure;
use crate::output::plot::lines::{Curve, LineChart, Mark, Series};
use crate::output::plot::svg::ScaleKind;
use crate::output::plot::table::Table;

/// A trajectory CSV in memory, or None when the run did not write it.
struct Runs {
    continuous: Option<Table>,
    discrete: Option<Table>,
    comparison: Option<Table>,
    summary: Table,
}

fn load(f: &Folder, file: &str, wanted: &[&str]) -> Result<Option<Table>, Error> {
    if !f.has(file) {
        return Ok(None);
    }
    let wanted: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
    Table::load(&f.path(file), &wanted)
        .map(Some)
        .map_err(|e| refuse(&f.path(file), e))
}

impl Runs {
    /// The tables a single run's figures read, with the coordinate columns `ws`.
    fn load(f: &Folder, ws: &[String]) -> Result<Runs, Error> {
        let mut state = vec![
            "t",
            "loss",
            "distance",
            "energy",
            "gradient_norm",
            "step",
            "w1",
            "w2",
        ];
        state.extend(ws.iter().map(String::as_str));
        Ok(Runs {
            continuous: load(f, "continuous.csv", &state)?,
            discrete: load(f, "discrete.csv", &state)?,
            comparison: load(f, "comparison.csv", &["step", "gap"])?,
            summary: load(
                f,
                "summary.csv",
                &["theory_rate", "noise_floor", "theory_noise_floor"],
            )?
            .unwrap_or_default(),
        })
    }
}

/// Every figure of a single run.
pub(super) fn figures(f: &Folder) -> Result<Vec<Figure>, Error> {
    let ws = w_columns(f);
    let runs = Runs::load(f, &ws)?;
    let mut out = Vec::new();
    let mut push = |name: &str, caption: String, chart: Option<LineChart>| {
        if let Some(mut c) = chart.filter(LineChart::has_data) {
            c.description = f.scenario.description.clone();
            out.push(Figure {
                name: name.into(),
                caption,
                svg: c.to_svg(),
                png: None,
            });
        }
    };
    let (column, chart) = criterion(f, &runs);
    push(
        "criterion",
        format!(
            "{column} against t, log scale; dashed: the theory's decay e^(-rt) through each run's last point"
        ),
        chart,
    );
    if f.scenario.potential.dim() == 2 {
        push(
            "path",
            "the path in the plane over contour lines of E: continuous curve, discrete iterates as points".into(),
            path(f, &runs),
        );
    } else {
        push(
            "coordinates",
            format!("coordinates against t: {}", ws.join(", ")),
            coordinates(f, &runs, &ws),
        );
    }
    push(
        "energy",
        "the Lyapunov energy m|v|²/2 + E(w) against t".into(),
        by_method(f, &runs, "energy", "Lyapunov energy"),
    );
    push(
        "gap",
        "|w(t) - w_k|: the discrete iterates' distance from the continuous solution at t = k·Δt"
            .into(),
        gap(f, &runs),
    );
    if f.scenario.gradient.is_some() {
        push(
            "noise",
            "E(w) under gradient noise, with each run's measured (solid) and theoretical (dashed) noise floor".into(),
            noise(f, &runs),
        );
    }
    Ok(out)
}

/// The chart skeleton: title from the scenario, x = t.
fn chart(f: &Folder, what: &str, file: &str, x: &str, y: &str) -> LineChart {
    LineChart::new(&f.scenario.name, what, &f.title(file, x), &f.title(file, y))
}

/// The series of column `y` against `x`: the continuous run, then each discrete entry.
fn series(runs: &Runs, x: &str, y: &str, mark: Mark) -> Vec<Series> {
    let mut out = Vec::new();
    if let Some(t) = &runs.continuous {
        out.push(Series {
            label: "continuous".into(),
            colour: colour(0),
            mark: Mark::Line,
            file: "continuous.csv".into(),
            method: None,
            columns: (x.into(), y.into()),
            points: t.pairs(x, y, None),
            pre_stride: 1,
        });
    }
    if let Some(t) = &runs.discrete {
        for (i, m) in t.methods().into_iter().enumerate() {
            out.push(Series {
                label: m.clone(),
                colour: colour(i + 1),
                mark,
                file: "discrete.csv".into(),
                points: t.pairs(x, y, Some(&m)),
                method: Some(m),
                columns: (x.into(), y.into()),
                pre_stride: 1,
            });
        }
    }
    out.retain(|s| s.points.iter().any(|p| p.0.is_some() && p.1.is_some()));
    out
}

fn all_empty(runs: &Runs, column: &str) -> bool {
    [&runs.continuous, &runs.discrete]
        .into_iter()
        .flatten()
        .all(|t| t.col(column).is_none_or(|c| c.iter().all(Option::is_none)))
}

/// The criterion's column in the trajectory CSVs, and how many times the distance's decay
/// rate it decays at (a squared quantity decays twice as fast).
fn criterion_column(f: &Folder, runs: &Runs) -> (&'static str, f64) {
    let (column, factor) = match f.scenario.stop.criterion {
        Criterion::Loss => ("loss", 2.0),
        Criterion::Energy => ("energy", 2.0),
        Criterion::Gradient if !all_empty(runs, "gradient_norm") => ("gradient_norm", 1.0),
        _ => ("distance", 1.0),
    };
    if all_empty(runs, column) {
        ("loss", 2.0)
    } else {
        (column, factor)
    }
}

fn criterion(f: &Folder, runs: &Runs) -> (&'static str, Option<LineChart>) {
    let (column, factor) = criterion_column(f, runs);
    let file = if runs.continuous.is_some() {
        "continuous.csv"
    } else {
        "discrete.csv"
    };
    let mut c = chart(
        f,
        &format!("criterion ({column}) against t; dashed: theory decay e^(-rt)"),
        file,
        "t",
        column,
    );
    c.y_kind = ScaleKind::Log;
    c.series = series(runs, "t", column, Mark::Line);
    for s in &c.series {
        let label = s.method.as_deref().unwrap_or("continuous");
        if let Some(curve) = theory_decay(runs, s, label, factor) {
            c.curves.push(curve);
        }
    }
    (column, Some(c))
}

/// The theory's decay `e^(−f·r·t)` of a run, through the last point it drew.
fn theory_decay(runs: &Runs, s: &Series, label: &str, factor: f64) -> Option<Curve> {
    let row = runs.summary.method.iter().position(|m| m == label)?;
    let rate = runs.summary.col("theory_rate")?[row].filter(|r| *r > 0.0)?;
    let drawn: Vec<(f64, f64)> = s
        .points
        .iter()
        .filter_map(|&(t, y)| Some((t?, y?)))
        .filter(|&(_, y)| y > 0.0 && y.is_finite())
        .collect();
    let (&(t0, _), &(t1, y1)) = (drawn.first()?, drawn.last()?);
    let n = 120;
    let piece = (0..=n)
        .map(|i| {
            let t = t0 + (t1 - t0) * f64::from(i) / f64::from(n);
            (t, y1 * libm::exp(-factor * rate * (t - t1)))
        })
        .collect();
    Some(Curve {
        label: format!(
            "{label}: theory, r = {}",
            crate::output::plot::svg::tick_label(rate)
        ),
        class: "theory",
        colour: s.colour,
        dashed: true,
        fit: false,
        pieces: vec![piece],
    })
}

/// Column `y` against t for every run, log scale when positive over two decades.
fn by_method(f: &Folder, runs: &Runs, y: &str, what: &str) -> Option<LineChart> {
    let file = if runs.continuous.is_some() {
        "continuous.csv"
    } else {
        "discrete.csv"
    };
    let mut c = chart(f, &format!("{what} ({y}) against t"), file, "t", y);
    c.series = series(runs, "t", y, Mark::Line);
    let values = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1))
        .filter(|v| v.is_finite());
    let (mut lo, mut hi, mut positive) = (f64::INFINITY, 0.0f64, true);
    for v in values {
        positive &= v > 0.0;
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if positive && hi > 100.0 * lo {
        c.y_kind = ScaleKind::Log;
    }
    Some(c)
}

fn gap(f: &Folder, runs: &Runs) -> Option<LineChart> {
    let t = runs.comparison.as_ref()?;
    let mut c = chart(
        f,
        "continuous-discrete gap |w(kΔt) - w_k| against step",
        "comparison.csv",
        "step",
        "gap",
    );
    c.y_kind = ScaleKind::Log;
    for (i, m) in t.methods().into_iter().enumerate() {
        c.series.push(Series {
            label: m.clone(),
            colour: colour(i + 1),
            mark: Mark::Line,
            file: "comparison.csv".into(),
            points: t.pairs("step", "gap", Some(&m)),
            method: Some(m),
            columns: ("step".into(), "gap".into()),
            pre_stride: 1,
        });
    }
    Some(c)
}

/// The first three per-coordinate position columns written (`[output] coordinates` chooses
/// them; all for n ≤ 16).
fn w_columns(f: &Folder) -> Vec<String> {
    let file = if f.has("continuous.csv") {
        "continuous.csv"
    } else {
        "discrete.csv"
    };
    let Some(cols) = f.manifest.columns.get(file) else {
        return Vec::new();
    };
    cols.iter()
        .map(|c| c.name.clone())
        .filter(|n| n.len() > 1 && n.starts_with('w') && n[1..].parse::<usize>().is_ok())
        .take(3)
        .collect()
}

fn coordinates(f: &Folder, runs: &Runs, ws: &[String]) -> Option<LineChart> {
    let file = if runs.continuous.is_some() {
        "continuous.csv"
    } else {
        "discrete.csv"
    };
    let mut c = chart(f, "coordinates against t", file, "t", ws.first()?);
    c.y_title = format!("{} (length)", ws.join(", "));
    for w in ws {
        for mut s in series(runs, "t", w, Mark::Dots) {
            s.label = format!("{w} {}", s.label);
            c.series.push(s);
        }
    }
    let n = c.series.len();
    for (i, s) in c.series.iter_mut().enumerate() {
        s.colour = colour(i % n.max(1));
    }
    Some(c)
}

/// Noise floors: E* plus each run's measured and theoretical floor, as horizontal lines.
fn noise(f: &Folder, runs: &Runs) -> Option<LineChart> {
    let mut c = by_method(f, runs, "loss", "E(w) under gradient noise")?;
    c.y_kind = ScaleKind::Log;
    let e_star = f
        .potential
        .as_ref()
        .and_then(|p| p.minimum_value())
        .unwrap_or(0.0);
    let t_end = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.0))
        .fold(0.0f64, f64::max);
    let floors = [("noise_floor", false), ("theory_noise_floor", true)];
    for s in &c.series.clone() {
        let label = s.method.as_deref().unwrap_or("continuous");
        let Some(row) = runs.summary.method.iter().position(|m| m == label) else {
            continue;
        };
        for (column, dashed) in floors {
            if let Some(v) = runs.summary.col(column).and_then(|c| c[row]) {
                c.curves.push(Curve {
                    label: format!("{label}: {column}"),
                    class: "floor",
                    colour: s.colour,
                    dashed,
                    fit: true,
                    pieces: vec![vec![(0.0, e_star + v), (t_end, e_star + v)]],
                });
            }
        }
    }
    Some(c)
}

/// The path in the plane over the contour lines of E.
fn path(f: &Folder, runs: &Runs) -> Option<LineChart> {
    let file = if runs.continuous.is_some() {
        "continuous.csv"
    } else {
        "discrete.csv"
    };
    let mut c = chart(f, "path in the plane over contours of E", file, "w1", "w2");
    c.series = series(runs, "w1", "w2", Mark::Dots);
    let (xr, yr) = path_ranges(f, &c.series)?;
    c.x_range = Some(xr);
    c.y_range = Some(yr);
    if let Some(p) = &f.potential {
        c.curves
            .extend(super::contour::contours(p.as_ref(), xr, yr));
    }
    Some(c)
}

/// The ranges of a path figure: every point within four times the start's distance from
/// the minimum (a diverging run would otherwise shrink the rest to a dot).
fn path_ranges(f: &Folder, series: &[Series]) -> Option<((f64, f64), (f64, f64))> {
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|&(x, y)| Some((x?, y?))))
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let &start = pts.first()?;
    let centre = f
        .potential
        .as_ref()
        .and_then(|p| p.minimum().map(|m| (m[0], m[1])))
        .or_else(|| {
            series
                .first()?
                .points
                .last()
                .and_then(|&(x, y)| Some((x?, y?)))
        })
        .unwrap_or(start);
    let r = (start.0 - centre.0)
        .abs()
        .max((start.1 - centre.1).abs())
        .max(1e-9)
        * 4.0;
    let near = pts
        .iter()
        .filter(|p| (p.0 - centre.0).abs() <= r && (p.1 - centre.1).abs() <= r)
        .chain(std::iter::once(&centre));
    let (mut x0, mut x1, mut y0, mut y1) = (centre.0, centre.0, centre.1, centre.1);
    for p in near {
        x0 = x0.min(p.0);
        x1 = x1.max(p.0);
        y0 = y0.min(p.1);
        y1 = y1.max(p.1);
    }
    let pad = |a: f64, b: f64| {
        let d = ((b - a) * 0.08).max(1e-9);
        (a - d, b + d)
    };
    Some((pad(x0, x1), pad(y0, y1)))
}
