//! `heavyball plot OUT/<name>` and `[output] plot = true`: the figures of a finished result
//! folder, drawn from its CSVs and manifest (never re-run), written atomically into
//! `OUT/<name>/plots/` with a self-contained `OUT/<name>/index.html`.
//!
//! This module reads the folder and decides what to draw (it knows the scenario, the
//! potential and the theory); [`crate::output::plot`] draws it.

mod contour;
mod single;
mod sweep;

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, InputError};
use crate::output::plot::html::{self, Page};
use crate::output::plot::{Figure, table::CsvReader};
use crate::output::{ColumnEntry, ENGINE, Manifest, scenario_hash, sha256_file};
use crate::potential::Potential;
use crate::scenario::{self, Scenario};

/// The file format of heat maps (line charts are always SVG).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImageFormat {
    /// Every figure as SVG; heat maps beyond 1024 cells embed their cells as one PNG
    /// image (one pixel a cell).
    #[default]
    Svg,
    /// Heat maps also as PNG rasters (`plots/<name>.png`, one block of pixels per cell),
    /// which `index.html` then shows instead of their SVG.
    Png,
}

/// Options of `heavyball plot`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlotOptions {
    /// SVG, or PNG rasters for heat maps.
    pub format: ImageFormat,
}

/// What `plot` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Plotted {
    /// The figure files, `DIR/plots/<name>.svg` (and `.png`), in drawing order.
    pub files: Vec<PathBuf>,
    /// `DIR/index.html`.
    pub index: PathBuf,
}

/// A result folder, checked: its manifest, resolved scenario and potential.
pub(crate) struct Folder {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub scenario: Scenario,
    pub scenario_text: String,
    pub potential: Option<Box<dyn Potential>>,
}

/// A refusal of a folder `plot` cannot draw (bad input: exit code 2, nothing written).
pub(crate) fn refuse(path: &Path, message: impl std::fmt::Display) -> Error {
    InputError {
        file: path.to_path_buf(),
        position: None,
        key: "plot".into(),
        message: message.to_string(),
    }
    .into()
}

/// Draws every figure of the result folder `dir` into `dir/plots/` and writes
/// `dir/index.html`. Nothing is written unless every file of the folder checks out and
/// every figure could be drawn; then `plots/` appears whole (replacing an older one) and
/// `index.html` is renamed into place.
///
/// Errors: a folder that is not a finished `heavyball` result (no or a foreign
/// `manifest.json`, a `scenario.toml` or CSV that does not match the manifest's SHA-256,
/// a malformed row) is bad input ([`Error::Input`], exit code 2); a failure to write is
/// [`Error::Io`].
///
/// ```
/// use heavyball::run::{RunOptions, run_scenario};
/// use heavyball::{PlotOptions, plot_folder};
///
/// let text = r#"name = "doc-plot"
/// [potential]
/// kind = "quadratic"
/// eigenvalues = [1.0, 10.0]
/// [particle]
/// mass = 1.0
/// friction = 2.0
/// position = [1.0, 1.0]
/// [continuous]
/// t_end = 20.0
/// [[discrete]]
/// map = "qian"
/// dt = 0.1
/// "#;
/// let scenario = heavyball::scenario::parse_str(text, "doc.toml".as_ref())?;
/// let out = tempfile::tempdir()?;
/// let options = RunOptions { out: out.path().into(), threads: 1, shard: None, progress: false, resume: false };
/// let dir = run_scenario(&scenario, &options)?.folder;
/// let plotted = plot_folder(&dir, &PlotOptions::default())?;
/// assert!(plotted.files.iter().any(|f| f.ends_with("plots/criterion.svg")));
/// assert!(plotted.index.is_file());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plot_folder(dir: &Path, options: &PlotOptions) -> Result<Plotted, Error> {
    let folder = Folder::open(dir)?;
    let figures = folder.figures(options)?;
    let page = folder.page(&figures);
    write(dir, &figures, &page)
}

impl Folder {
    /// Reads and checks `dir`'s manifest, scenario and CSVs (their SHA-256).
    pub fn open(dir: &Path) -> Result<Folder, Error> {
        if !dir.is_dir() {
            let why = if dir.exists() {
                "a file, not a result folder (plot takes OUT/<name>, the folder a run wrote)"
            } else {
                "no such result folder"
            };
            return Err(refuse(dir, why));
        }
        let mpath = dir.join("manifest.json");
        let mtext = fs::read_to_string(&mpath).map_err(|e| {
            refuse(
                &mpath,
                format!("cannot read ({e}): not a finished heavyball result folder (a sharded sweep needs `heavyball merge` first)"),
            )
        })?;
        let manifest: Manifest = serde_json::from_str(&mtext)
            .map_err(|e| refuse(&mpath, format!("not a heavyball manifest ({e})")))?;
        if manifest.engine != ENGINE {
            return Err(refuse(
                &mpath,
                format!("written by \"{}\", not {ENGINE}", manifest.engine),
            ));
        }
        let spath = dir.join("scenario.toml");
        let scenario_text =
            fs::read_to_string(&spath).map_err(|e| refuse(&spath, format!("cannot read: {e}")))?;
        if scenario_hash(&scenario_text) != manifest.scenario_hash {
            return Err(refuse(
                &spath,
                "does not match the manifest's scenario_hash (damaged or edited)",
            ));
        }
        let scenario = scenario::parse_str(&scenario_text, &spath)
            .map_err(|e| refuse(&spath, format!("does not read as a scenario: {e}")))?;
        if !manifest.columns.contains_key("summary.csv") {
            return Err(refuse(&mpath, "lists no summary.csv"));
        }
        for (file, columns) in &manifest.columns {
            check_csv(dir, &manifest, file, columns)?;
        }
        // Built only where a figure needs it: contours (n = 2), the spectrum behind a
        // sweep's boundaries, E* under noise. A large landscape is not rebuilt for nothing.
        let needed =
            scenario.potential.dim() == 2 || scenario.is_sweep() || scenario.gradient.is_some();
        let potential = needed
            .then(|| crate::potential::build(&scenario.potential).ok())
            .flatten();
        Ok(Folder {
            dir: dir.to_path_buf(),
            manifest,
            scenario,
            scenario_text,
            potential,
        })
    }

    /// Every figure, in memory.
    pub fn figures(&self, options: &PlotOptions) -> Result<Vec<Figure>, Error> {
        if self.scenario.is_sweep() {
            sweep::figures(self, options)
        } else {
            single::figures(self)
        }
    }

    /// `index.html` for these figures.
    pub fn page(&self, figures: &[Figure]) -> String {
        let spath = self.dir.join("scenario.toml");
        let theory = match crate::report::analyse(&spath, &self.scenario, 0) {
            Ok(r) => r.to_text(Path::new("scenario.toml")),
            Err(e) => format!("no theory report: {}", e.message),
        };
        html::page(
            &Page {
                name: &self.scenario.name,
                description: &self.scenario.description,
                theory: &theory,
                scenario: &self.scenario_text,
                manifest: &self.manifest,
            },
            figures,
        )
    }

    /// A column's title with its unit from the manifest: `t (time)`.
    pub fn title(&self, file: &str, column: &str) -> String {
        let entry = self
            .manifest
            .columns
            .get(file)
            .and_then(|cols| cols.iter().find(|c| c.name == column));
        match entry {
            Some(c) if !c.unit.is_empty() && c.unit != "1" => format!("{column} ({})", c.unit),
            _ => column.to_string(),
        }
    }

    /// The path of a file of the folder.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Whether the manifest lists a file.
    pub fn has(&self, file: &str) -> bool {
        self.manifest.columns.contains_key(file)
    }
}

/// A CSV of the manifest: present, of the recorded SHA-256, with the recorded header.
fn check_csv(dir: &Path, m: &Manifest, file: &str, columns: &[ColumnEntry]) -> Result<(), Error> {
    let path = dir.join(file);
    if file.contains(['/', '\\']) || file.starts_with('.') {
        return Err(refuse(
            &path,
            "the manifest names a file outside the folder",
        ));
    }
    if !path.is_file() {
        return Err(refuse(&path, "listed in manifest.json but missing"));
    }
    let want = m
        .sha256
        .get(file)
        .ok_or_else(|| refuse(&path, "has no SHA-256 in manifest.json"))?;
    let got = sha256_file(&path).map_err(|e| refuse(&path, format!("cannot read: {e}")))?;
    if &got != want {
        return Err(refuse(
            &path,
            "does not match the manifest's SHA-256 (damaged or edited)",
        ));
    }
    let r = CsvReader::open(&path).map_err(|e| refuse(&path, e))?;
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    if r.header() != names.as_slice() {
        return Err(refuse(
            &path,
            "its header differs from the columns manifest.json lists",
        ));
    }
    Ok(())
}

/// A file-name-safe form of a method label.
pub(crate) fn slug(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Colours of successive series (Tableau 10).
pub(crate) const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// Colour `i` of the palette (cycling).
pub(crate) fn colour(i: usize) -> [u8; 3] {
    PALETTE[i % PALETTE.len()]
}

/// Writes `plots/` (built in a hidden sibling, renamed into place) and `index.html`.
fn write(dir: &Path, figures: &[Figure], page: &str) -> Result<Plotted, Error> {
    let pid = std::process::id();
    refuse_in_the_way(dir)?;
    remove_leftovers(dir);
    let partial = dir.join(format!(".plots.partial-{pid}"));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir(&partial).map_err(|e| Error::io(&partial, e))?;
    let built = (|| {
        let mut files = Vec::new();
        for f in figures {
            let p = partial.join(format!("{}.svg", f.name));
            fs::write(&p, &f.svg).map_err(|e| Error::io(&p, e))?;
            files.push(dir.join("plots").join(format!("{}.svg", f.name)));
            if let Some(png) = &f.png {
                let p = partial.join(format!("{}.png", f.name));
                fs::write(&p, png).map_err(|e| Error::io(&p, e))?;
                files.push(dir.join("plots").join(format!("{}.png", f.name)));
            }
        }
        let p = partial.join("index.html");
        fs::write(&p, page).map_err(|e| Error::io(&p, e))?;
        Ok::<_, Error>(files)
    })();
    let files = match built {
        Ok(files) => files,
        Err(e) => {
            let _ = fs::remove_dir_all(&partial);
            return Err(said_of_plots(dir, &partial, e));
        }
    };
    // index.html leaves the partial folder first, so that `plots/` never holds it.
    let index = dir.join("index.html");
    let staged = dir.join(format!(".index.html.partial-{pid}"));
    fs::rename(partial.join("index.html"), &staged).map_err(|e| Error::io(&staged, e))?;
    let target = dir.join("plots");
    let old = dir.join(format!(".plots.old-{pid}"));
    let had_old = target.exists();
    if had_old {
        fs::rename(&target, &old).map_err(|e| Error::io(&target, e))?;
    }
    if let Err(e) = fs::rename(&partial, &target) {
        if had_old {
            let _ = fs::rename(&old, &target);
        }
        let _ = fs::remove_dir_all(&partial);
        let _ = fs::remove_file(&staged);
        return Err(Error::io(&target, e));
    }
    if had_old {
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    fs::rename(&staged, &index).map_err(|e| Error::io(&index, e))?;
    Ok(Plotted { files, index })
}

/// A write error inside the removed hidden folder `partial`, said of the file as it would
/// have stood in `dir/plots/` (the hidden name would point at nothing).
fn said_of_plots(dir: &Path, partial: &Path, e: Error) -> Error {
    let Error::Io { path, source } = e else {
        return e;
    };
    let Ok(rest) = path.strip_prefix(partial) else {
        return Error::Io { path, source };
    };
    let plots = dir.join("plots");
    let at = match rest == Path::new("index.html") {
        true => dir.join(rest),
        false => plots.join(rest),
    };
    // Drawn inside a run's own hidden folder (no result name starts with '.'), the run
    // says what became of its result; `heavyball plot` says what became of the figures.
    let in_run = dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'));
    let why = match in_run {
        true => source.to_string(),
        false => format!("{source} (no figure was kept; plots/ and index.html are as they were)"),
    };
    Error::io(at, std::io::Error::new(source.kind(), why))
}

/// A `plots` that is not a folder, or an `index.html` that is not a file (a user's, or a
/// link), is refused before anything is drawn and left as it is: replacing it would move it
/// aside and delete it.
fn refuse_in_the_way(dir: &Path) -> Result<(), Error> {
    for (name, folder) in [("plots", true), ("index.html", false)] {
        let path = dir.join(name);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if (folder && !meta.is_dir()) || (!folder && !meta.is_file()) {
            let what = if folder { "a folder" } else { "a file" };
            let why = format!(
                "is not {what} (the figures' place in a result folder), so it would be \
                 replaced and lost; nothing was drawn and it was left as it is: move it away"
            );
            return Err(Error::io(&path, std::io::Error::other(why)));
        }
    }
    Ok(())
}

/// Removes `.plots.partial-<pid>`, `.plots.old-<pid>` and `.index.html.partial-<pid>` left
/// by `plot` processes that were killed (their pid gone).
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = [".plots.partial-", ".plots.old-", ".index.html.partial-"]
            .iter()
            .find_map(|prefix| name.strip_prefix(prefix)?.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let p = entry.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}
