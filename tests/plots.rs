//! `heavyball plot` and `[output] plot = true`: every SVG is well-formed XML; every mark of
//! every series maps back through the plot area's axis transform to the CSV row it came
//! from (within a pixel); every heat-map cell has the colour scale's colour of its row; the
//! theory's boundaries lie where the closed forms put them; a damaged or foreign folder is
//! refused (exit 2) with nothing written; `index.html` opens in headless Chromium.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{heavyball, read_csv, run_ok, scenarios_dir};

/// The plot area and its axes, as the SVG records them.
struct Area {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    x: (bool, f64, f64),
    y: (bool, f64, f64),
}

fn attr(n: roxmltree::Node<'_, '_>, name: &str) -> String {
    n.attribute(name)
        .unwrap_or_else(|| panic!("<{}> has no {name}", n.tag_name().name()))
        .to_string()
}

fn fattr(n: roxmltree::Node<'_, '_>, name: &str) -> f64 {
    attr(n, name).parse().unwrap()
}

fn area(doc: &roxmltree::Document<'_>) -> Area {
    let r = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("plot-area"))
        .expect("a plot area");
    let axis = |k: &str| {
        (
            attr(r, &format!("data-{k}-scale")) == "log",
            fattr(r, &format!("data-{k}-min")),
            fattr(r, &format!("data-{k}-max")),
        )
    };
    Area {
        left: fattr(r, "x"),
        top: fattr(r, "y"),
        width: fattr(r, "width"),
        height: fattr(r, "height"),
        x: axis("x"),
        y: axis("y"),
    }
}

fn straight(log: bool, v: f64) -> f64 {
    if log { v.log10() } else { v }
}

impl Area {
    fn px(&self, x: f64, y: f64) -> (f64, f64) {
        let f = |(log, lo, hi): (bool, f64, f64), v: f64| {
            (straight(log, v) - straight(log, lo)) / (straight(log, hi) - straight(log, lo))
        };
        (
            self.left + f(self.x, x) * self.width,
            self.top + self.height - f(self.y, y) * self.height,
        )
    }

    /// The data coordinates of a pixel.
    fn data(&self, px: f64, py: f64) -> (f64, f64) {
        let g = |(log, lo, hi): (bool, f64, f64), t: f64| {
            let u = straight(log, lo) + t * (straight(log, hi) - straight(log, lo));
            if log { 10f64.powf(u) } else { u }
        };
        (
            g(self.x, (px - self.left) / self.width),
            g(self.y, (self.top + self.height - py) / self.height),
        )
    }

    fn admits(&self, x: f64, y: f64) -> bool {
        let ok = |(log, lo, hi): (bool, f64, f64), v: f64| {
            v.is_finite() && (!log || v > 0.0) && v >= lo && v <= hi
        };
        ok(self.x, x) && ok(self.y, y)
    }
}

/// The pixel positions of a series' marks, in order.
fn marks(g: roxmltree::Node<'_, '_>) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for n in g.descendants() {
        match n.tag_name().name() {
            "polyline" => {
                for p in attr(n, "points").split_whitespace() {
                    let (a, b) = p.split_once(',').unwrap();
                    out.push((a.parse().unwrap(), b.parse().unwrap()));
                }
            }
            "circle" => out.push((fattr(n, "cx"), fattr(n, "cy"))),
            _ => {}
        }
    }
    out
}

fn field(row: &HashMap<String, String>, k: &str) -> Option<f64> {
    row.get(k).and_then(|s| s.parse().ok())
}

/// Checks every series of `svg` against the CSVs of `dir`; returns how many marks matched.
fn check_series(dir: &Path, svg: &Path) -> usize {
    let text = fs::read_to_string(svg).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{}: not well-formed XML: {e}", svg.display()));
    if doc.root_element().attribute("data-kind") != Some("lines") {
        return 0;
    }
    let a = area(&doc);
    let mut matched = 0;
    for g in doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("series"))
    {
        let rows = read_csv(&dir.join(attr(g, "data-file")));
        let method = g.attribute("data-method");
        let (xc, yc) = (attr(g, "data-x"), attr(g, "data-y"));
        let stride: usize = attr(g, "data-stride").parse().unwrap();
        let want: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| method.is_none_or(|m| r["method"] == m))
            .step_by(stride)
            .filter_map(|r| Some((field(r, &xc)?, field(r, &yc)?)))
            .filter(|&(x, y)| a.admits(x, y))
            .map(|(x, y)| a.px(x, y))
            .collect();
        let got = marks(g);
        assert_eq!(
            got.len(),
            want.len(),
            "{} series {:?}: marks vs rows",
            svg.display(),
            g.attribute("data-label")
        );
        assert!(!got.is_empty(), "{}: an empty series", svg.display());
        for (i, (p, q)) in got.iter().zip(&want).enumerate() {
            assert!(
                (p.0 - q.0).abs() <= 1.0 && (p.1 - q.1).abs() <= 1.0,
                "{} {:?} mark {i}: drawn at {p:?}, the CSV row maps to {q:?}",
                svg.display(),
                g.attribute("data-label")
            );
        }
        matched += got.len();
    }
    matched
}

fn svgs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .collect();
    v.sort();
    v
}

fn with_plot(scenario: &str, extra: &str) -> String {
    let text = fs::read_to_string(scenarios_dir().join(scenario)).unwrap();
    format!("{text}\n{extra}")
}

fn run_text(dir: &Path, name: &str, text: &str) -> PathBuf {
    let input = dir.join(format!("{name}.toml"));
    fs::write(&input, text).unwrap();
    let out = dir.join("out");
    run_ok(&input, &out);
    out
}

#[test]
fn a_single_run_with_plot_true_draws_series_that_map_back_to_its_csvs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_text(
        tmp.path(),
        "kth",
        &with_plot("kth-poster.toml", "[output]\nplot = true\n"),
    );
    let dir = out.join("kth-poster");
    let files: Vec<String> = svgs(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files,
        ["criterion.svg", "energy.svg", "gap.svg", "path.svg"],
        "the figures of a 2-d single run with two discrete entries"
    );
    let mut total = 0;
    for svg in svgs(&dir) {
        total += check_series(&dir, &svg);
    }
    // continuous.csv has ~290 rows to convergence; the discrete entries and comparison
    // a few dozen each; four figures.
    assert!(total > 800, "{total} marks checked");
    assert!(dir.join("index.html").is_file());
    // The theory's decay through the heavy ball's last point has slope −r = −ln 2 on log10.
    let text = fs::read_to_string(dir.join("plots/criterion.svg")).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let a = area(&doc);
    let g = doc
        .descendants()
        .find(|n| n.attribute("data-label") == Some("heavy-ball: theory, r = 0.6931"))
        .expect("the heavy ball's theory line");
    let pts = marks(g);
    let (p, q) = (
        a.data(pts[0].0, pts[0].1),
        a.data(pts[pts.len() - 1].0, pts[pts.len() - 1].1),
    );
    let slope = (q.1.ln() - p.1.ln()) / (q.0 - p.0);
    assert!((slope + 2f64.ln()).abs() < 0.01, "slope {slope}");
}

#[test]
fn plot_redraws_the_same_bytes_and_leaves_nothing_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_text(tmp.path(), "od", &with_plot("overdamped.toml", ""));
    let dir = out.join("overdamped");
    let plot = |d: &Path| heavyball(&["plot", d.to_str().unwrap()]);
    assert!(plot(&dir).status.success());
    let first: Vec<Vec<u8>> = svgs(&dir).iter().map(|p| fs::read(p).unwrap()).collect();
    let index = fs::read(dir.join("index.html")).unwrap();
    // A killed plot's leftovers (a pid that is gone) are removed by the next one.
    fs::create_dir(dir.join(".plots.partial-999999")).unwrap();
    fs::write(dir.join(".index.html.partial-999999"), "x").unwrap();
    let o = plot(&dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let second: Vec<Vec<u8>> = svgs(&dir).iter().map(|p| fs::read(p).unwrap()).collect();
    assert_eq!(first, second);
    assert_eq!(index, fs::read(dir.join("index.html")).unwrap());
    let hidden: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
    for svg in svgs(&dir) {
        check_series(&dir, &svg);
    }
    // A file given to plot is named as a file, not as a missing folder.
    let err = String::from_utf8_lossy(&plot(&dir.join("summary.csv")).stderr).into_owned();
    assert!(
        err.contains("summary.csv: plot: a file, not a result folder"),
        "{err}"
    );
    // A file of the user's where `plots/` goes, or a folder where `index.html` goes: refused
    // with the reason, nothing drawn, left as it is, nothing hidden left behind.
    fs::remove_dir_all(dir.join("plots")).unwrap();
    fs::write(dir.join("plots"), "my notes\n").unwrap();
    fs::remove_file(dir.join("index.html")).unwrap();
    fs::create_dir(dir.join("index.html")).unwrap();
    for _ in 0..2 {
        let o = plot(&dir);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("plots: is not a folder"), "{err}");
        assert_eq!(fs::read_to_string(dir.join("plots")).unwrap(), "my notes\n");
        fs::remove_dir(dir.join("index.html")).ok();
        fs::write(dir.join("index.html"), "mine").unwrap();
    }
    fs::remove_file(dir.join("plots")).unwrap();
    fs::create_dir(dir.join("plots")).unwrap();
    fs::remove_file(dir.join("index.html")).unwrap();
    fs::create_dir(dir.join("index.html")).unwrap();
    let err = String::from_utf8_lossy(&plot(&dir).stderr).into_owned();
    assert!(err.contains("index.html: is not a file"), "{err}");
    assert!(dir.join("index.html").is_dir());
    let hidden = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(hidden, 0);
}

fn hex(s: &str) -> [u8; 3] {
    let s = s.trim_start_matches('#');
    let b = |i: usize| u8::from_str_radix(&s[i..i + 2], 16).unwrap();
    [b(0), b(2), b(4)]
}

/// The colour bar's colour of `v`, recomputed from the stops the SVG lists.
fn bar_colour(bar: roxmltree::Node<'_, '_>, v: f64) -> [u8; 3] {
    let log = attr(bar, "data-scale") == "log";
    let (lo, hi) = (fattr(bar, "data-min"), fattr(bar, "data-max"));
    let stops: Vec<[u8; 3]> = attr(bar, "data-stops").split(' ').map(hex).collect();
    if !v.is_finite() || (log && v <= 0.0) {
        return [217, 217, 217];
    }
    let t = ((straight(log, v) - straight(log, lo)) / (straight(log, hi) - straight(log, lo)))
        .clamp(0.0, 1.0);
    let f = t * (stops.len() - 1) as f64;
    let i = (f.floor() as usize).min(stops.len() - 2);
    let w = f - i as f64;
    let mix = |k: usize| {
        let (a, b) = (f64::from(stops[i][k]), f64::from(stops[i + 1][k]));
        (a + (b - a) * w).round() as u8
    };
    [mix(0), mix(1), mix(2)]
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 1)
}

/// The value a heat map colours for a summary row.
fn cell_value(row: &HashMap<String, String>, column: &str) -> f64 {
    let get = |k: &str| field(row, k).unwrap_or(f64::NAN);
    if column == "rate_ratio" {
        get("measured_rate") / get("theory_rate")
    } else {
        get(column)
    }
}

/// Checks every cell of every heat map of `dir`; returns the cells checked.
fn check_cells(dir: &Path) -> usize {
    let rows = read_csv(&dir.join("summary.csv"));
    let mut checked = 0;
    for svg in svgs(dir) {
        let text = fs::read_to_string(&svg).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let Some(cells) = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("cells"))
        else {
            continue;
        };
        let (method, column) = (attr(cells, "data-method"), attr(cells, "data-column"));
        let ny: usize = attr(cells, "data-ny").parse().unwrap();
        let nx: usize = attr(cells, "data-nx").parse().unwrap();
        let fills: Vec<[u8; 3]> = if attr(cells, "data-form") == "png" {
            let image = cells
                .children()
                .find(|n| n.tag_name().name() == "image")
                .unwrap();
            png_cells(&attr(image, "href"), nx, ny)
        } else {
            cells
                .children()
                .filter(|n| n.tag_name().name() == "rect")
                .map(|n| hex(&attr(n, "fill")))
                .collect()
        };
        assert_eq!(fills.len(), nx * ny);
        let categories: HashMap<String, [u8; 3]> = doc
            .descendants()
            .filter_map(|n| {
                Some((
                    n.attribute("data-category")?.to_string(),
                    hex(n.attribute("fill")?),
                ))
            })
            .collect();
        let bar = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("colorbar"));
        for row in rows.iter().filter(|r| r["method"] == method) {
            let point: usize = row["point"].parse().unwrap();
            let want = if column == "status" {
                categories[&row["status"]]
            } else {
                bar_colour(bar.expect("a colour bar"), cell_value(row, &column))
            };
            // Two axes: point = ix·ny + iy, cells in the same order.
            let got = fills[point];
            assert!(
                close(got, want),
                "{} point {point}: fill {got:?}, the scale gives {want:?}",
                svg.display()
            );
            checked += 1;
        }
    }
    checked
}

/// The cells of an embedded PNG (one pixel a cell, the first y value at the bottom), in
/// point order `ix·ny + iy`.
fn png_cells(href: &str, nx: usize, ny: usize) -> Vec<[u8; 3]> {
    let b64 = href.strip_prefix("data:image/png;base64,").unwrap();
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut bytes = Vec::new();
    for chunk in b64.as_bytes().chunks(4) {
        let n = chunk
            .iter()
            .filter(|&&c| c != b'=')
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | u32::from(value(c)) << (18 - 6 * i));
        let keep = chunk.iter().filter(|&&c| c != b'=').count() - 1;
        bytes.extend_from_slice(&n.to_be_bytes()[1..=keep]);
    }
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width as usize, info.height as usize), (nx, ny));
    let mut out = Vec::with_capacity(nx * ny);
    for ix in 0..nx {
        for iy in 0..ny {
            let o = ((ny - 1 - iy) * nx + ix) * 3;
            out.push([buf[o], buf[o + 1], buf[o + 2]]);
        }
    }
    out
}

#[test]
fn every_shipped_scenario_plots_and_every_mark_and_cell_maps_back() {
    let root = common::shipped();
    let mut folders: Vec<PathBuf> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    assert!(folders.len() >= 19);
    for dir in folders {
        let o = heavyball(&["plot", dir.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let figures = svgs(&dir);
        assert!(!figures.is_empty(), "{}: no figure", dir.display());
        let marks: usize = figures.iter().map(|f| check_series(&dir, f)).sum();
        let cells = check_cells(&dir);
        assert!(marks + cells > 0, "{}: nothing checked", dir.display());
    }
    // The README's gallery: well-formed, small SVGs.
    let gallery = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/gallery");
    for e in fs::read_dir(gallery).unwrap() {
        let text = fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(roxmltree::Document::parse(&text).is_ok() && text.len() < 64 << 10);
    }
}

const MASS_FRICTION: &str = r#"name = "mf"
description = "a mass x friction grid"
[potential]
kind = "quadratic"
eigenvalues = [3.0, 30.0]
[particle]
position = [1.0, 1.0]
[continuous]
t_end = 200.0
sample_interval = 1.0
[[discrete]]
label = "hb"
dt = 0.5
map = "qian"
steps = 400
[sweep]
mass = { logspace = [-1.0, 1.0, 9] }
friction = { logspace = [-0.5, 1.5, 11] }
"#;

const LR_MOMENTUM: &str = r#"name = "lrp"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 4.0]
[particle]
position = [1.0, 1.0]
[[discrete]]
label = "hb"
steps = 400
[sweep]
learning_rate = { linspace = [0.02, 1.0, 15] }
momentum = { linspace = [-0.95, 0.95, 13] }
"#;

/// Log axes reaching the ends of the doubles (a friction logspace to 1e-280 in steps of
/// 140 decades, whose outer cell edge 1e-350 is 0; a mass logspace from 1e-300 to 1e300)
/// draw in moments, every pixel a number and every cell its row's colour, where the tick
/// loop used to count exponents from 0's logarithm and never end.
#[test]
fn heat_maps_of_axes_at_the_ends_of_the_doubles_draw_and_map_back() {
    for axes in [
        "mass = { logspace = [-1.0, 1.0, 3] }\nfriction = { logspace = [-280.0, 0.0, 3] }",
        "mass = { logspace = [-300.0, 300.0, 3] }\nfriction = { logspace = [-0.5, 1.5, 3] }",
    ] {
        let text = MASS_FRICTION
            .replace(
                "mass = { logspace = [-1.0, 1.0, 9] }\nfriction = { logspace = [-0.5, 1.5, 11] }",
                axes,
            )
            .replace("t_end = 200.0", "t_end = 2.0");
        let tmp = tempfile::tempdir().unwrap();
        let dir = run_text(tmp.path(), "mf", &text).join("mf");
        let mut child = Command::new(env!("CARGO_BIN_EXE_heavyball"))
            .args(["plot", dir.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > std::time::Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("{axes}: plot still running after 60 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(status.success(), "{axes}");
        for svg in svgs(&dir) {
            let text = fs::read_to_string(&svg).unwrap();
            assert!(
                !text.contains("=\"inf\"") && !text.contains("NaN") && !text.contains("=\"-inf\""),
                "{}",
                svg.display()
            );
        }
        assert!(check_cells(&dir) > 0, "{axes}");
    }
}

/// `values` axes listed out of order, with a repeat: every cell of every heat map lies in
/// the plot area, side by side, and the cell under a pixel is that pixel's grid point (its
/// status colour is its row's). Listed in their order, the cells overlapped and fell
/// outside the plot.
#[test]
fn heat_maps_of_unordered_values_axes_put_each_cell_where_its_values_are() {
    let (masses, frictions) = ([2.0, 0.5, 1.0, 1.0], [1.0, 0.5, 2.0]);
    let text = MASS_FRICTION.replace(
        "mass = { logspace = [-1.0, 1.0, 9] }\nfriction = { logspace = [-0.5, 1.5, 11] }",
        "mass = { values = [2.0, 0.5, 1.0, 1.0] }\nfriction = { values = [1.0, 0.5, 2.0] }",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_text(tmp.path(), "mf", &text).join("mf");
    let o = heavyball(&["plot", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = read_csv(&dir.join("summary.csv"));
    assert_eq!(svgs(&dir).len(), 10, "five maps for each of two methods");
    let nearest = |list: &[f64], v: f64| {
        list.iter().copied().fold(f64::NAN, |b, x| {
            if b.is_nan() || (x - v).abs() < (b - v).abs() {
                x
            } else {
                b
            }
        })
    };
    for svg in svgs(&dir) {
        let text = fs::read_to_string(&svg).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let a = area(&doc);
        let cells = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("cells"))
            .unwrap();
        let rects: Vec<_> = cells
            .children()
            .filter(|n| n.tag_name().name() == "rect")
            .collect();
        assert_eq!(
            rects.len(),
            masses.len() * frictions.len(),
            "{}",
            svg.display()
        );
        let mut covered = 0.0;
        for r in &rects {
            let (x, y, w, h) = (
                fattr(*r, "x"),
                fattr(*r, "y"),
                fattr(*r, "width"),
                fattr(*r, "height"),
            );
            assert!(
                x >= a.left - 0.5 && x + w <= a.left + a.width + 0.5,
                "{}",
                svg.display()
            );
            assert!(
                y >= a.top - 0.5 && y + h <= a.top + a.height + 0.5,
                "{}",
                svg.display()
            );
            covered += w * h;
            if attr(cells, "data-column") != "status" {
                continue;
            }
            let (m, mu) = a.data(x + w / 2.0, y + h / 2.0);
            let (m, mu) = (nearest(&masses, m), nearest(&frictions, mu));
            let method = attr(cells, "data-method");
            let row = rows
                .iter()
                .find(|row| {
                    row["method"] == method
                        && row["mass"].parse::<f64>().unwrap() == m
                        && row["friction"].parse::<f64>().unwrap() == mu
                })
                .unwrap();
            let legend = doc
                .descendants()
                .find(|n| n.attribute("data-category") == Some(row["status"].as_str()))
                .unwrap();
            assert_eq!(
                hex(&attr(*r, "fill")),
                hex(&attr(legend, "fill")),
                "m = {m}, μ = {mu}"
            );
        }
        // Side by side: the cells tile the plot area once.
        assert!(
            (covered / (a.width * a.height) - 1.0).abs() < 0.02,
            "{}",
            svg.display()
        );
    }
}

/// The pixels of a boundary's polylines, mapped back to data.
fn boundary(dir: &Path, file: &str, label_start: &str) -> Vec<(f64, f64)> {
    let text = fs::read_to_string(dir.join("plots").join(file)).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let a = area(&doc);
    let g = doc
        .descendants()
        .find(|n| {
            n.attribute("class") == Some("boundary")
                && n.attribute("data-label")
                    .is_some_and(|l| l.starts_with(label_start))
        })
        .unwrap_or_else(|| panic!("{file}: no boundary {label_start}"));
    marks(g).into_iter().map(|(x, y)| a.data(x, y)).collect()
}

#[test]
fn heat_map_cells_have_their_rows_colours_and_the_theory_lines_lie_on_the_closed_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_text(tmp.path(), "mf", MASS_FRICTION);
    let dir = out.join("mf");
    let o = heavyball(&["plot", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(svgs(&dir).len(), 10, "five maps for each of two methods");
    assert_eq!(check_cells(&dir), 10 * 99);
    // Critical damping μ = 2√(m k) for k = 3 and k = 30 (one pixel is ~0.5% of a decade).
    for (label, k) in [
        ("critical μ = 2√(m·k), k = 3", 3.0),
        ("critical μ = 2√(m·k), k = 30", 30.0),
    ] {
        let pts = boundary(&dir, "continuous-measured_rate.svg", label);
        assert!(pts.len() > 50, "{label}: {} points", pts.len());
        for (m, mu) in pts {
            let want = 2.0 * (m * k).sqrt();
            assert!(
                (mu / want - 1.0).abs() < 0.02,
                "{label}: m = {m}, μ = {mu}, want {want}"
            );
        }
    }

    let out = run_text(tmp.path(), "lrp", LR_MOMENTUM);
    let dir = out.join("lrp");
    let o = heavyball(&["plot", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(check_cells(&dir), 5 * 15 * 13);
    // Result 3's edge ε·k_max = 2 + 2p (k_max = 4) and p*(ε) = max_i (1 − √(ε k_i))².
    let edge = boundary(&dir, "hb-status.svg", "Result 3");
    assert!(edge.len() > 50);
    for (e, p) in edge {
        assert!((e * 4.0 - (2.0 + 2.0 * p)).abs() < 0.02, "ε = {e}, p = {p}");
    }
    let optimal = boundary(&dir, "hb-status.svg", "optimal momentum");
    assert!(optimal.len() > 50);
    for (e, p) in optimal {
        let want = [1.0f64, 4.0]
            .iter()
            .map(|k| (1.0 - (e * k).sqrt()).powi(2))
            .fold(0.0, f64::max);
        assert!((p - want).abs() < 0.02, "ε = {e}: p = {p}, p* = {want}");
    }
}

#[test]
fn a_one_axis_sweep_draws_measured_and_theory_rates_that_map_back() {
    let tmp = tempfile::tempdir().unwrap();
    let text = MASS_FRICTION
        .replace("name = \"mf\"", "name = \"line\"")
        .replace("mass = { logspace = [-1.0, 1.0, 9] }\n", "")
        .replace("[particle]\n", "[particle]\nmass = 1.0\n")
        + "\n[output]\nplot = true\n";
    let out = run_text(tmp.path(), "line", &text);
    let dir = out.join("line");
    let svg = dir.join("plots/rates.svg");
    assert_eq!(svgs(&dir), std::slice::from_ref(&svg));
    // Two methods, measured and theory each, 11 rows each (some measured rates empty).
    let n = check_series(&dir, &svg);
    assert!(n >= 30, "{n} marks");
}

fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_damaged_or_foreign_folder_is_refused_with_exit_2_and_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_text(tmp.path(), "cd", &with_plot("critically-damped.toml", ""));
    let good = out.join("critically-damped");
    let copy = |name: &str| {
        let d = tmp.path().join(name);
        fs::create_dir(&d).unwrap();
        for e in fs::read_dir(&good).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), d.join(e.file_name())).unwrap();
        }
        d
    };
    let mut cases: Vec<(PathBuf, &str)> = Vec::new();
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    cases.push((empty, "manifest.json"));
    let foreign = tmp.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("manifest.json"), "{\"name\": \"not ours\"}").unwrap();
    cases.push((foreign, "not a heavyball manifest"));
    let edited = copy("edited");
    let mut csv = fs::read_to_string(edited.join("continuous.csv")).unwrap();
    csv = csv.replacen("0.0,", "0.5,", 1);
    fs::write(edited.join("continuous.csv"), csv).unwrap();
    cases.push((edited, "SHA-256"));
    let truncated = copy("truncated");
    fs::remove_file(truncated.join("discrete.csv")).unwrap();
    cases.push((truncated, "missing"));
    let scenario = copy("scenario");
    fs::write(scenario.join("scenario.toml"), "name = \"x\"\n").unwrap();
    cases.push((scenario, "scenario_hash"));
    let mut other = fs::read_to_string(good.join("manifest.json")).unwrap();
    other = other.replace("\"engine\": \"heavyball\"", "\"engine\": \"otherball\"");
    let engine = copy("engine");
    fs::write(engine.join("manifest.json"), other).unwrap();
    cases.push((engine, "not heavyball"));
    cases.push((tmp.path().join("absent"), "no such result folder"));
    for (dir, why) in cases {
        let before = dir.is_dir().then(|| listing(&dir));
        let o = heavyball(&["plot", dir.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", dir.display());
        assert!(
            err.starts_with("error: ") && err.contains(why),
            "{}: {err}",
            dir.display()
        );
        assert!(err.contains(": plot: "), "{err}");
        assert_eq!(
            before,
            dir.is_dir().then(|| listing(&dir)),
            "{}",
            dir.display()
        );
    }
}

#[test]
fn plot_true_is_refused_unless_boolean_and_written_back_into_scenario_toml() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_text(
        tmp.path(),
        "cd",
        &with_plot("critically-damped.toml", "[output]\nplot = true\n"),
    );
    let resolved = fs::read_to_string(out.join("critically-damped/scenario.toml")).unwrap();
    assert!(resolved.contains("\n[output]\nplot = true\n"), "{resolved}");
    assert!(out.join("critically-damped/plots/criterion.svg").is_file());
}

/// A headless Chromium, if installed.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join(name))
                    .find(|p| p.is_file())
            })
        })
}

fn browse(browser: &Path, page: &Path, extra: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1100,900",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(format!("file://{}", page.display()));
    cmd.output().unwrap()
}

#[test]
fn index_html_opens_in_headless_chromium_without_errors_and_with_every_figure() {
    let Some(browser) = chromium() else {
        if std::env::var("HEAVYBALL_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("HEAVYBALL_REQUIRE_BROWSER=1 but no chromium on PATH");
        }
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = run_text(
        tmp.path(),
        "kth",
        &with_plot("kth-poster.toml", "[output]\nplot = true\n"),
    );
    let sweep = run_text(
        tmp.path(),
        "lrp",
        &(LR_MOMENTUM.to_string() + "\n[output]\nplot = true\n"),
    );
    for dir in [out.join("kth-poster"), sweep.join("lrp")] {
        let page = dir.join("index.html");
        let html = fs::read_to_string(&page).unwrap();
        // Self-contained: no script or image from elsewhere.
        for bad in [
            "src=\"http",
            "href=\"http",
            "<link",
            "@import",
            "<script src",
        ] {
            assert!(!html.contains(bad), "{}: {bad}", page.display());
        }
        let figures = svgs(&dir).len();
        let o = browse(&browser, &page, &["--dump-dom"]);
        let dom = String::from_utf8_lossy(&o.stdout);
        let log = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{log}");
        let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
        assert!(console.is_empty(), "console messages: {console:?}");
        assert!(
            dom.contains("data-ready=\"1\""),
            "the inline script did not run"
        );
        assert!(
            dom.contains(&format!("data-figures=\"{figures}\""))
                && dom.contains(&format!("data-expected-figures=\"{figures}\"")),
            "{figures} figures expected"
        );
        let shot = tmp.path().join("shot.png");
        let o = browse(
            &browser,
            &page,
            &[&format!("--screenshot={}", shot.display())],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(&shot).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let px = info.color_type.samples();
        let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
        let light = pixels
            .iter()
            .filter(|p| p[..3].iter().all(|&c| c > 240))
            .count();
        let mut colours: Vec<[u8; 3]> = pixels.iter().map(|p| [p[0], p[1], p[2]]).collect();
        colours.sort_unstable();
        colours.dedup();
        assert!(light < pixels.len() * 99 / 100, "the screenshot is blank");
        assert!(
            colours.len() > 20,
            "{} colours: not a drawn page",
            colours.len()
        );
    }
}

#[test]
fn a_noisy_run_draws_its_measured_and_theoretical_floors_at_the_summary_values() {
    let tmp = tempfile::tempdir().unwrap();
    let text = r#"name = "noisy"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 4.0]
[particle]
mass = 1.0
friction = 2.0
position = [1.0, 1.0]
[continuous]
t_end = 40.0
step = 0.01
sample_interval = 0.1
[[discrete]]
label = "sgd"
learning_rate = 0.05
momentum = 0.5
steps = 2000
[gradient]
noise = 0.1
seed = 3
[output]
plot = true
"#;
    let out = run_text(tmp.path(), "noisy", text);
    let dir = out.join("noisy");
    let svg = dir.join("plots/noise.svg");
    assert!(check_series(&dir, &svg) > 500);
    let text = fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let a = area(&doc);
    let mut floors = 0;
    for row in read_csv(&dir.join("summary.csv")) {
        for column in ["noise_floor", "theory_noise_floor"] {
            let want = field(&row, column).expect("a floor");
            let label = format!("{}: {column}", row["method"]);
            let g = doc
                .descendants()
                .find(|n| n.attribute("data-label") == Some(label.as_str()))
                .unwrap_or_else(|| panic!("no {label}"));
            // E* = 0: the line lies at the floor itself, within a pixel.
            let (_, y) = a.px(1.0, want);
            for (_, py) in marks(g) {
                assert!((py - y).abs() <= 1.0, "{label}: at {py}, want {y}");
            }
            floors += 1;
        }
    }
    assert_eq!(floors, 4);
}

#[test]
fn merge_draws_a_sharded_sweep_with_plot_true_once_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("lrp.toml");
    fs::write(
        &input,
        LR_MOMENTUM.to_string() + "\n[output]\nplot = true\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    for shard in ["1/2", "2/2"] {
        let o = heavyball(&[
            "run",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--shard",
            shard,
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let dir = out.join("lrp");
    assert!(
        !dir.join("shards/1-of-2/plots").exists(),
        "a shard draws nothing"
    );
    let o = heavyball(&["merge", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(check_cells(&dir), 5 * 15 * 13);
    assert!(dir.join("index.html").is_file());
}

/// A 10⁶-point sweep's status map: one embedded PNG of 1000 × 1000 cells, each with its
/// status' colour. (Its peak memory is tests/memory.rs'; its time is a benchmark's.)
#[test]
fn a_million_point_sweep_draws_every_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/million-discrete.toml");
    run_ok(&input, tmp.path());
    let dir = tmp.path().join("million");
    let o = heavyball(&["plot", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The status map: one embedded PNG of 1000 × 1000 cells; every 997th row's cell has
    // its status' colour.
    let text = fs::read_to_string(dir.join("plots/hb-status.svg")).unwrap();
    assert!(text.len() < 1 << 20, "{} bytes", text.len());
    let doc = roxmltree::Document::parse(&text).unwrap();
    let cells = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("cells"))
        .unwrap();
    assert_eq!(attr(cells, "data-form"), "png");
    let image = cells.children().find(|n| n.has_tag_name("image")).unwrap();
    let fills = png_cells(&attr(image, "href"), 1000, 1000);
    let categories: HashMap<String, [u8; 3]> = doc
        .descendants()
        .filter_map(|n| {
            Some((
                n.attribute("data-category")?.to_string(),
                hex(n.attribute("fill")?),
            ))
        })
        .collect();
    let summary = fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut checked = 0;
    for (i, line) in summary.lines().skip(1).enumerate().step_by(997) {
        let f: Vec<&str> = line.splitn(9, ',').collect();
        assert_eq!(f[0].parse::<usize>().unwrap(), i);
        assert_eq!(fills[i], categories[f[7]], "point {i}: {}", f[7]);
        checked += 1;
    }
    assert_eq!(checked, 1004);
}

#[test]
fn format_png_adds_rasters_of_the_heat_maps_that_index_html_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_text(tmp.path(), "lrp", LR_MOMENTUM);
    let dir = out.join("lrp");
    let o = heavyball(&["plot", dir.to_str().unwrap(), "--format", "png"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = fs::read_to_string(dir.join("plots/hb-status.svg")).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let cells = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("cells"))
        .unwrap();
    let fills: Vec<[u8; 3]> = cells
        .children()
        .filter(|n| n.has_tag_name("rect"))
        .map(|n| hex(&attr(n, "fill")))
        .collect();
    let decoder = png::Decoder::new(std::io::BufReader::new(
        fs::File::open(dir.join("plots/hb-status.png")).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (nx, ny) = (15usize, 13usize);
    let k = info.height as usize / ny;
    assert_eq!(
        (info.width as usize, info.height as usize),
        (nx * k, ny * k)
    );
    assert!(k * ny >= 390, "{k} pixels a cell");
    for ix in 0..nx {
        for iy in 0..ny {
            let (col, row) = (ix * k + k / 2, (ny - 1 - iy) * k + k / 2);
            let o = (row * info.width as usize + col) * 3;
            assert_eq!([buf[o], buf[o + 1], buf[o + 2]], fills[ix * ny + iy]);
        }
    }
    let html = fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(html.matches("<img class=\"figure\"").count(), 5);
}

#[test]
fn a_three_axis_sweep_maps_the_first_two_at_the_third_axis_first_value() {
    let tmp = tempfile::tempdir().unwrap();
    let text = r#"name = "three"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 10.0]
[particle]
position = [1.0, 1.0]
[[discrete]]
label = "hb"
map = "qian"
dt = 0.1
steps = 300
[sweep]
mass = { values = [0.5, 1.0, 2.0] }
friction = { linspace = [0.5, 4.0, 4] }
dt = { values = [0.1, 0.3] }
"#;
    let out = run_text(tmp.path(), "three", text);
    let dir = out.join("three");
    let o = heavyball(&["plot", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = fs::read_to_string(dir.join("plots/hb-status.svg")).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert!(text.contains("hb: status, dt = 0.1"));
    let fills: Vec<[u8; 3]> = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("cells"))
        .unwrap()
        .children()
        .filter(|n| n.has_tag_name("rect"))
        .map(|n| hex(&attr(n, "fill")))
        .collect();
    assert_eq!(fills.len(), 12);
    let categories: HashMap<String, [u8; 3]> = doc
        .descendants()
        .filter_map(|n| {
            Some((
                n.attribute("data-category")?.to_string(),
                hex(n.attribute("fill")?),
            ))
        })
        .collect();
    let mut checked = 0;
    for row in read_csv(&dir.join("summary.csv")) {
        let p: usize = row["point"].parse().unwrap();
        if p.is_multiple_of(2) {
            assert_eq!(field(&row, "dt"), Some(0.1));
            assert_eq!(fills[p / 2], categories[&row["status"]], "point {p}");
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}

#[test]
fn a_large_run_draws_the_coordinates_its_output_table_chose() {
    let tmp = tempfile::tempdir().unwrap();
    let text = r#"name = "chosen"
[potential]
kind = "convex-rosenbrock"
n = 25
kappa = 10.0
[particle]
mass = 1.0
friction = 2.0
position = 0.0
[[discrete]]
label = "hb"
scheme = "heavy-ball"
learning_rate = 0.01
momentum = 0.9
steps = 300
[output]
coordinates = [1, 2, 25]
plot = true
"#;
    let out = run_text(tmp.path(), "chosen", text);
    let dir = out.join("chosen");
    let svg = dir.join("plots/coordinates.svg");
    assert_eq!(check_series(&dir, &svg), 3 * 250, "w1, w2, w25 of 250 rows");
    let text = fs::read_to_string(&svg).unwrap();
    for w in ["w1", "w2", "w25"] {
        assert!(text.contains(&format!("data-y=\"{w}\"")), "{w}");
    }
}
