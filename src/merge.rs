//! `heavyball merge OUT/<name>`: joins the shards of a sharded sweep into the files the
//! unsharded run writes, after checking that every shard is there, complete and of the same
//! resolved scenario. A refusal writes nothing.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, InputError};
use crate::output::{ColumnEntry, ENGINE, Manifest, VERSION, columns, scenario_hash, sha256_file};
use crate::scenario;
use crate::sweep::Shard;

/// Files of a result folder that merge builds itself rather than copies.
const OWN_FILES: [&str; 3] = ["summary.csv", "scenario.toml", "manifest.json"];

/// One shard, checked.
struct Checked {
    shard: Shard,
    dir: PathBuf,
    manifest: Manifest,
    range: Range<u64>,
}

fn refuse(path: &Path, message: impl Into<String>) -> Error {
    InputError {
        file: path.to_path_buf(),
        position: None,
        key: "merge".into(),
        message: message.into(),
    }
    .into()
}

fn read_text(path: &Path) -> Result<String, Error> {
    regular_file(path)?;
    fs::read_to_string(path).map_err(|e| refuse(path, format!("cannot read: {e}")))
}

/// A shard's file must be a regular file (a link to one is fine): a folder, a FIFO or a
/// device is refused before it is read (a FIFO would wait forever).
fn regular_file(path: &Path) -> Result<(), Error> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(refuse(path, "cannot read: not a regular file")),
        Err(e) => Err(refuse(path, format!("cannot read: {e}"))),
    }
}

/// The shard folders under `shards/` (complete ones by name; partial ones listed apart).
fn list(shards: &Path) -> Result<(Vec<Shard>, Vec<String>), Error> {
    let entries = fs::read_dir(shards).map_err(|_| {
        refuse(
            shards,
            "no shards/ folder: not a sharded sweep (run it with --shard I/N or in a job array)",
        )
    })?;
    let mut found = Vec::new();
    let mut partial = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(shard) = Shard::from_folder(&name) {
            found.push(shard);
        } else if let Some(shard) = Shard::misnamed(&name) {
            return Err(refuse(
                &entry.path(),
                format!(
                    "is not a shard folder's name (run --shard names shard {} of {} {}); rename or remove it; nothing was written",
                    shard.index,
                    shard.count,
                    shard.folder()
                ),
            ));
        } else if name.starts_with('.') && name.contains(".partial-") {
            partial.push(name);
        }
    }
    found.sort_by_key(|s| (s.count, s.index));
    Ok((found, partial))
}

/// Checks every shard of `dir` and writes `summary.csv`, `scenario.toml` and
/// `manifest.json` into it (plus a single run's trajectory files), each atomically.
/// Returns `dir`.
pub fn merge(dir: &Path) -> Result<PathBuf, Error> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(refuse(dir, "not a folder: give the sweep's OUT/<name>")),
        Err(e) => return Err(refuse(dir, format!("cannot open: {e}"))),
    }
    let shards_dir = dir.join("shards");
    let (found, partial) = list(&shards_dir)?;
    let Some(first) = found.first() else {
        return Err(refuse(&shards_dir, "holds no shard folder (I-of-N)"));
    };
    let count = first.count;
    if let Some(other) = found.iter().find(|s| s.count != count) {
        let names: Vec<String> = found.iter().map(Shard::folder).collect();
        return Err(refuse(
            &shards_dir,
            format!(
                "holds shards of different splits ({} and {}: {}); remove the stale ones",
                first.folder(),
                other.folder(),
                names.join(", ")
            ),
        ));
    }
    for index in 1..=count {
        if !found.iter().any(|s| s.index == index) {
            let missing = Shard { index, count };
            let name = missing.folder();
            let running = partial
                .iter()
                .find(|p| p.starts_with(&format!(".{name}.partial-")))
                .map(|p| format!(" ({p} is there: still running, or killed)"))
                .unwrap_or_default();
            return Err(refuse(
                &shards_dir.join(&name),
                format!("shard {index} of {count} is missing{running}; nothing was written"),
            ));
        }
    }

    // The scenario of shard 1 is the reference; every shard must carry the same.
    let first_dir = shards_dir.join(first.folder());
    let toml_path = first_dir.join("scenario.toml");
    let resolved = read_text(&toml_path)?;
    let hash = scenario_hash(&resolved);
    let scenario = scenario::parse_str(&resolved, &toml_path)?;
    let points = scenario.points();
    let header = columns::names(&columns::summary()).join(",");
    let rows_per_point = u64::from(scenario.continuous.is_some()) + scenario.discrete.len() as u64;

    let reference = Reference {
        hash: &hash,
        first_dir: &first_dir,
        points,
        header: &header,
        rows_per_point,
        sweep: scenario.is_sweep(),
    };
    let mut checked = Vec::new();
    for &shard in &found {
        checked.push(check(&shards_dir.join(shard.folder()), shard, &reference)?);
    }
    let wall: f64 = checked.iter().map(|c| c.manifest.wall_seconds).sum();
    if !wall.is_finite() {
        return Err(refuse(
            &shards_dir,
            "its shards' wall_seconds add up beyond the largest number a manifest holds: one was edited by hand",
        ));
    }
    write_merged(dir, &resolved, &hash, &header, points, &checked)?;
    if scenario.output.plot {
        crate::figures::plot_folder(dir, &crate::figures::PlotOptions::default())?;
    }
    Ok(dir.to_path_buf())
}

/// What every shard must agree with: shard 1's scenario.
struct Reference<'a> {
    hash: &'a str,
    first_dir: &'a Path,
    points: u64,
    header: &'a str,
    rows_per_point: u64,
    sweep: bool,
}

/// One shard against the reference: its manifest, then its summary's rows.
fn check(sdir: &Path, shard: Shard, r: &Reference<'_>) -> Result<Checked, Error> {
    let manifest = check_manifest(sdir, shard, r)?;
    let range = shard.range(r.points);
    check_rows(&sdir.join("summary.csv"), &range, r)?;
    Ok(Checked {
        shard,
        dir: sdir.to_path_buf(),
        manifest,
        range,
    })
}

/// The shard's manifest describes this scenario, this shard and its summary as it is.
fn check_manifest(sdir: &Path, shard: Shard, r: &Reference<'_>) -> Result<Manifest, Error> {
    let manifest_path = sdir.join("manifest.json");
    let manifest = read_manifest(&manifest_path)?;
    if manifest.engine != ENGINE {
        return Err(refuse(
            &manifest_path,
            format!(
                "names the engine {:?}, not {ENGINE:?}: not a shard of this program's",
                manifest.engine
            ),
        ));
    }
    check_timing(&manifest_path, &manifest)?;
    let own = scenario_hash(&read_text(&sdir.join("scenario.toml"))?);
    if manifest.scenario_hash != own {
        return Err(refuse(
            sdir,
            "damaged: its scenario.toml does not match the scenario_hash in its manifest.json",
        ));
    }
    if own != r.hash {
        return Err(refuse(
            sdir,
            format!(
                "is a shard of another scenario: its scenario hash {}… differs from {}'s {}…; nothing was written",
                &own[..12],
                r.first_dir.display(),
                &r.hash[..12]
            ),
        ));
    }
    let summary = sdir.join("summary.csv");
    regular_file(&summary)?;
    if manifest.sha256.get("summary.csv") != Some(&sha256_file(&summary)?) {
        return Err(refuse(
            &summary,
            "damaged or incomplete: it does not match the sha256 in the shard's manifest.json; run the shard again",
        ));
    }
    let expected = shard.to_string();
    if manifest.shard.as_deref() != Some(expected.as_str()) {
        // As JSON: `"1/3"`, or `null` for an unsharded run's manifest.
        let said = serde_json::json!(manifest.shard);
        return Err(refuse(
            &manifest_path,
            format!("says shard {said}, but the folder is shard {expected}"),
        ));
    }
    let range = shard.range(r.points);
    if manifest.grid_points != r.points
        || manifest.first_point != range.start
        || manifest.points != range.end - range.start
    {
        return Err(refuse(
            &manifest_path,
            format!(
                "does not describe points {}..{} of a {}-point grid",
                range.start, range.end, r.points
            ),
        ));
    }
    Ok(manifest)
}

/// A shard manifest's timing as this program writes it: `started` an RFC 3339 UTC time,
/// `wall_seconds` a finite number of seconds, not negative (the merged manifest takes the
/// earliest and the sum).
fn check_timing(path: &Path, manifest: &Manifest) -> Result<(), Error> {
    if humantime::parse_rfc3339(&manifest.started).is_err() {
        return Err(refuse(
            path,
            format!(
                "its started = {:?} is not an RFC 3339 UTC time such as \"2026-12-08T01:02:03.456Z\"",
                manifest.started
            ),
        ));
    }
    let wall = manifest.wall_seconds;
    if !(wall.is_finite() && wall >= 0.0) {
        return Err(refuse(
            path,
            format!("its wall_seconds = {wall} is not a time in seconds (finite, 0 or more)"),
        ));
    }
    Ok(())
}

/// Every row present, in order: `rows_per_point` rows for each point of the slice.
fn check_rows(summary: &Path, range: &Range<u64>, r: &Reference<'_>) -> Result<(), Error> {
    let file = fs::File::open(summary).map_err(|e| refuse(summary, format!("cannot read: {e}")))?;
    let mut lines = BufReader::new(file).lines();
    let bad = |what: String| refuse(summary, format!("incomplete or damaged: {what}"));
    match lines.next() {
        Some(Ok(h)) if h == r.header => {}
        _ => return Err(bad("its header is not summary.csv's".into())),
    }
    let mut row = 0u64;
    for line in lines {
        let line = line.map_err(|e| refuse(summary, format!("cannot read: {e}")))?;
        let want = range.start + row / r.rows_per_point.max(1);
        let point = line.split(',').next().and_then(|p| p.parse::<u64>().ok());
        if point != Some(want) || want >= range.end {
            return Err(bad(format!(
                "row {} should be of point {want}, reads {line:?}",
                row + 2
            )));
        }
        row += 1;
    }
    let rows = if r.sweep || range.contains(&0) {
        (range.end - range.start) * r.rows_per_point
    } else {
        0
    };
    if row != rows {
        return Err(bad(format!("{row} rows, expected {rows}")));
    }
    Ok(())
}

/// Reads a shard's `manifest.json`, refusing text that is not JSON, or JSON that is not a
/// manifest (a missing or mistyped field), with the parser's line and column.
fn read_manifest(path: &Path) -> Result<Manifest, Error> {
    serde_json::from_str(&read_text(path)?).map_err(|e| {
        let what = if e.is_data() {
            "valid JSON but not a heavyball manifest"
        } else {
            "not valid JSON"
        };
        refuse(path, format!("{what}: {e}"))
    })
}

/// The merged files, each written to a hidden `.<name>.partial-<pid>` beside its place and
/// renamed into place only once every one is written, so that a failed write leaves the
/// earlier result as it was; what is left unrenamed is removed on drop.
struct Staged<'a> {
    dir: &'a Path,
    names: Vec<String>,
}

impl<'a> Staged<'a> {
    fn new(dir: &'a Path) -> Self {
        Staged {
            dir,
            names: Vec::new(),
        }
    }

    fn partial(&self, name: &str) -> PathBuf {
        self.dir
            .join(format!(".{name}.partial-{}", std::process::id()))
    }

    /// Writes `name`'s partial file; an error is said of `name` in the folder.
    fn write(
        &mut self,
        name: &str,
        fill: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        let tmp = self.partial(name);
        self.names.push(name.to_string());
        fs::File::create(&tmp)
            .and_then(|mut f| {
                fill(&mut f)?;
                f.sync_all()
            })
            .map_err(|e| self.failed(name, e))
    }

    /// Renames every file into place, in the order written (`manifest.json` last).
    fn commit(mut self) -> Result<(), Error> {
        while !self.names.is_empty() {
            let name = self.names[0].clone();
            fs::rename(self.partial(&name), self.dir.join(&name))
                .map_err(|e| Error::io(self.dir.join(&name), e))?;
            self.names.remove(0);
        }
        Ok(())
    }

    /// A write's error, said of the file's place, with what became of the folder.
    fn failed(&self, name: &str, e: std::io::Error) -> Error {
        let dir = self.dir.display().to_string();
        let dir = crate::error::printable(&dir);
        let why = format!("{e} (nothing was merged; {dir} is as it was)");
        Error::io(self.dir.join(name), std::io::Error::new(e.kind(), why))
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = fs::remove_file(self.partial(name));
        }
    }
}

/// Removes regular files `.<name>.partial-<pid>` of merges that are gone (killed mid-write).
fn remove_dead_partials(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let pid = file
            .strip_prefix('.')
            .and_then(|f| f.rsplit_once(".partial-"))
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if let Some(pid) = pid
            && is_file
            && pid != std::process::id()
            && !crate::output::alive(pid)
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The files of the shard holding point 0 that a merge copies (a single run's
/// trajectories): all but the three it builds itself.
fn copied_files(holder: &Path) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    for entry in fs::read_dir(holder)
        .map_err(|e| Error::io(holder, e))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !OWN_FILES.contains(&name.as_str()) && entry.path().is_file() {
            names.push(name);
        }
    }
    Ok(names)
}

/// Removes what an earlier result left in `dir` that the merged one will not hold — another
/// run's trajectories, figures of an earlier merge (drawn again if the scenario plots) —
/// so that the folder is the merged result alone, as a run's is. `shards/`, the merge's
/// own files, `copied` and hidden working files stay.
fn clear_stale(dir: &Path, copied: &[String]) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let keep = name == "shards"
            || name.starts_with('.')
            || OWN_FILES.contains(&name.as_str())
            || copied.contains(&name);
        if keep {
            continue;
        }
        let path = entry.path();
        let gone = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        gone.map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

fn write_merged(
    dir: &Path,
    resolved: &str,
    hash: &str,
    header: &str,
    points: u64,
    checked: &[Checked],
) -> Result<(), Error> {
    remove_dead_partials(dir);
    let holder = checked.iter().find(|c| c.range.contains(&0));
    let copied = match holder {
        Some(h) => copied_files(&h.dir)?,
        None => Vec::new(),
    };
    let mut staged = Staged::new(dir);
    staged.write("summary.csv", |out| {
        writeln!(out, "{header}")?;
        for c in checked {
            let mut reader = BufReader::new(fs::File::open(c.dir.join("summary.csv"))?);
            let mut skip = String::new();
            reader.read_line(&mut skip)?;
            std::io::copy(&mut reader, out)?;
        }
        Ok(())
    })?;
    staged.write("scenario.toml", |out| out.write_all(resolved.as_bytes()))?;
    // A single run's trajectories live in the shard that holds point 0.
    let mut columns = &checked[0].manifest.columns;
    if let Some(holder) = holder {
        columns = &holder.manifest.columns;
        for name in &copied {
            let src = holder.dir.join(name);
            staged.write(name, |out| {
                std::io::copy(&mut fs::File::open(&src)?, out).map(|_| ())
            })?;
        }
    }
    let mut manifest = merged_manifest(columns, hash, points, checked);
    // The hashes of the files as staged (none is in place yet).
    for file in manifest.columns.keys() {
        let digest = sha256_file(&staged.partial(file))?;
        manifest.sha256.insert(file.clone(), digest);
    }
    let text = manifest.to_text();
    staged.write("manifest.json", |out| out.write_all(text.as_bytes()))?;
    staged.commit()?;
    // Only now, with the merged result in place, what an earlier result left goes.
    clear_stale(dir, &copied)
}

/// The merged result's manifest (its files' hashes still to be filled in).
fn merged_manifest(
    columns: &BTreeMap<String, Vec<ColumnEntry>>,
    hash: &str,
    points: u64,
    checked: &[Checked],
) -> Manifest {
    let shards = checked.iter().map(|c| &c.manifest);
    Manifest {
        columns: columns.clone(),
        engine: ENGINE.into(),
        first_point: 0,
        grid_points: points,
        merged_from: Some(
            checked
                .iter()
                .map(|c| format!("shards/{}", c.shard.folder()))
                .collect(),
        ),
        points,
        scenario_hash: hash.into(),
        sha256: Default::default(),
        shard: None,
        // Each was checked (`check_timing`); compared as times, not as texts, which a
        // hand-edited number of decimals would misorder.
        started: shards
            .clone()
            .filter_map(|m| humantime::parse_rfc3339(&m.started).ok())
            .min()
            .map(|t| humantime::format_rfc3339_millis(t).to_string())
            .unwrap_or_default(),
        threads: shards.clone().map(|m| m.threads).max().unwrap_or_default(),
        version: VERSION.into(),
        wall_seconds: shards.map(|m| m.wall_seconds).sum(),
    }
}
