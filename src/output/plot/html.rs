//! `index.html`: one self-contained page per result folder with plots — the figures inlined,
//! the theory report, the resolved scenario and the manifest's column meanings. No network,
//! no external script: it reads the same offline and on a cluster's file share.

use std::fmt::Write as _;

use super::Figure;
use super::svg::{base64, esc};
use crate::output::Manifest;

/// What the page shows besides the figures.
pub(crate) struct Page<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub theory: &'a str,
    pub scenario: &'a str,
    pub manifest: &'a Manifest,
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222}\
figure{margin:1.5em 0}figcaption{color:#555;font-size:90%}\
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:85%}\
table{border-collapse:collapse;font-size:85%}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}\
nav a{margin-right:1em}";

/// The page's HTML. Each figure is inlined (SVG) or embedded as a data URI (PNG); an
/// inline script counts them into `data-figures` on `<body>` and sets `data-ready`.
pub(crate) fn page(p: &Page<'_>, figures: &[Figure]) -> String {
    let mut out = String::with_capacity(figures.iter().map(|f| f.svg.len()).sum::<usize>() + 65536);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{n}</title>\n<style>{STYLE}</style>\n</head>\n<body data-expected-figures=\"{}\">\n\
         <h1>{n}</h1>\n<p class=\"description\">{}</p>\n\
         <nav><a href=\"#figures\">Figures</a><a href=\"#theory\">Theory</a>\
         <a href=\"#scenario\">Scenario</a><a href=\"#columns\">Columns</a></nav>\n\
         <h2 id=\"figures\">Figures</h2>",
        figures.len(),
        esc(p.description).replace('\n', " "),
        n = esc(p.name)
    );
    for (i, f) in figures.iter().enumerate() {
        figure(&mut out, f, i);
    }
    let _ = writeln!(
        out,
        "<h2 id=\"theory\">Theory (<code>heavyball theory</code>)</h2>\n<pre>{}</pre>\n\
         <h2 id=\"scenario\">Scenario (resolved)</h2>\n<pre>{}</pre>\n\
         <h2 id=\"columns\">Columns</h2>",
        esc(p.theory),
        esc(p.scenario)
    );
    columns(&mut out, p.manifest);
    let _ = writeln!(
        out,
        "<p>{} {}, {} point(s), started {}.</p>\n\
         <script>document.body.dataset.figures = String(document.querySelectorAll('figure.plot .figure').length);\
         document.body.dataset.ready = '1';</script>\n</body>\n</html>",
        esc(&p.manifest.engine),
        esc(&p.manifest.version),
        p.manifest.points,
        esc(&p.manifest.started)
    );
    out
}

/// Figure `i` of the page, with its caption.
fn figure(out: &mut String, f: &Figure, i: usize) {
    let _ = writeln!(out, "<figure class=\"plot\" id=\"fig-{}\">", esc(&f.name));
    match &f.png {
        Some(png) => {
            let _ = writeln!(
                out,
                "<img class=\"figure\" alt=\"{}\" src=\"data:image/png;base64,{}\">",
                esc(&f.caption),
                base64(png)
            );
        }
        None => out.push_str(&unique_ids(f.svg.trim_end(), i)),
    }
    let _ = writeln!(
        out,
        "\n<figcaption>{}: {}</figcaption>\n</figure>",
        esc(&f.name),
        esc(&f.caption)
    );
}

/// The columns of each file of the manifest, as tables.
fn columns(out: &mut String, manifest: &Manifest) {
    for (file, cols) in &manifest.columns {
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<table><tr><th>column</th><th>unit</th><th>meaning</th></tr>",
            esc(file)
        );
        for c in cols {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&c.name),
                esc(&c.unit),
                esc(&c.meaning)
            );
        }
        out.push_str("</table>\n");
    }
}

/// The figure's element ids (`area`, `bar`) made unique within the page: inline SVGs
/// share one id space.
fn unique_ids(svg: &str, i: usize) -> String {
    let mut s = svg.to_string();
    for id in ["area", "bar"] {
        s = s
            .replace(&format!("id=\"{id}\""), &format!("id=\"{id}-{i}\""))
            .replace(&format!("url(#{id})"), &format!("url(#{id}-{i})"));
    }
    s
}
