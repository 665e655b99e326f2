//! `manifest.json`: what produced a result folder and what every CSV column means.
//!
//! One type, [`Manifest`], is the file: a run writes it (from its [`RunFacts`]), merge reads
//! the shards' and writes the merged one.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::columns::Column;
use crate::error::Error;

/// The engine that writes manifests (`"engine"`).
pub const ENGINE: &str = env!("CARGO_PKG_NAME");
/// Its version (`"version"`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The contents of `manifest.json`, of a run, a shard or a merge.
///
/// Fields are declared in alphabetical order, the order the file has always listed its keys
/// in (it was once built as a sorted JSON map): serde writes them in declaration order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// For each CSV written, its columns in order.
    pub columns: BTreeMap<String, Vec<ColumnEntry>>,
    /// The engine's name ([`ENGINE`]).
    pub engine: String,
    /// The first grid point run (0 unless a shard).
    pub first_point: u64,
    /// Points of the whole grid.
    pub grid_points: u64,
    /// A merge only: the shard folders joined, `shards/I-of-N`, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<Vec<String>>,
    /// How many grid points were run from `first_point` on.
    pub points: u64,
    /// SHA-256 of the resolved `scenario.toml` ([`scenario_hash`]).
    pub scenario_hash: String,
    /// SHA-256 of every CSV listed in `columns`, hex (merge checks shards with it).
    pub sha256: BTreeMap<String, String>,
    /// `"I/N"` for a shard, else None (`null`).
    pub shard: Option<String>,
    /// When the run started, RFC 3339 UTC with milliseconds (a merge: its earliest shard's).
    pub started: String,
    /// Worker threads used (a merge: the most any shard used).
    pub threads: usize,
    /// The engine's version ([`VERSION`]).
    pub version: String,
    /// Wall-clock seconds it took (a merge: the sum over its shards).
    pub wall_seconds: f64,
}

/// One column of a CSV as the manifest describes it (fields in the file's order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnEntry {
    /// What it holds.
    pub meaning: String,
    /// Header name.
    pub name: String,
    /// Its unit ("1" for dimensionless, "" for text).
    pub unit: String,
}

impl From<&Column> for ColumnEntry {
    fn from(c: &Column) -> Self {
        ColumnEntry {
            meaning: c.meaning.clone(),
            name: c.name.clone(),
            unit: c.unit.clone(),
        }
    }
}

/// The facts of one run that its manifest records.
pub struct RunFacts {
    /// When the run started.
    pub started: SystemTime,
    /// Wall-clock seconds it took.
    pub wall_seconds: f64,
    /// Worker threads used.
    pub threads: usize,
    /// `"I/N"` for a shard, else None.
    pub shard: Option<String>,
    /// SHA-256 of the resolved `scenario.toml`.
    pub scenario_hash: String,
    /// The grid points run (a shard's slice, or the whole grid).
    pub points: Range<u64>,
    /// Points of the whole grid.
    pub grid_points: u64,
    /// For each CSV written, its columns in order.
    pub files: Vec<(String, Vec<Column>)>,
    /// SHA-256 (hex) of the CSVs hashed while they were written; the others are read back.
    pub sha256: BTreeMap<String, String>,
}

pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of the resolved scenario text (the identity of a result), hex.
pub fn scenario_hash(resolved_toml: &str) -> String {
    hex(&Sha256::digest(resolved_toml.as_bytes()))
}

/// SHA-256 of a file, hex (manifests record one per CSV: merge checks shards with it).
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut file, &mut block).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&block[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

impl Manifest {
    /// Records the SHA-256 of every CSV listed in `columns`: from `known` (hashed while
    /// written), else as found in `dir`.
    pub fn hash_files(
        &mut self,
        dir: &Path,
        known: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        self.sha256 = self
            .columns
            .keys()
            .map(|file| {
                let digest = match known.get(file) {
                    Some(d) => d.clone(),
                    None => sha256_file(&dir.join(file))?,
                };
                Ok((file.clone(), digest))
            })
            .collect::<Result<_, Error>>()?;
        Ok(())
    }

    /// The text of `manifest.json`: pretty JSON and a final line break.
    pub fn to_text(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(self).expect("a manifest serializes (string keys)");
        text.push('\n');
        text
    }
}

impl RunFacts {
    /// The run's manifest, with the SHA-256 of every CSV it lists as found in `dir`.
    pub fn manifest(&self, dir: &Path) -> Result<Manifest, Error> {
        let mut manifest = Manifest {
            columns: self
                .files
                .iter()
                .map(|(file, cols)| (file.clone(), cols.iter().map(ColumnEntry::from).collect()))
                .collect(),
            engine: ENGINE.into(),
            first_point: self.points.start,
            grid_points: self.grid_points,
            merged_from: None,
            points: self.points.end - self.points.start,
            scenario_hash: self.scenario_hash.clone(),
            sha256: BTreeMap::new(),
            shard: self.shard.clone(),
            started: humantime::format_rfc3339_millis(self.started).to_string(),
            threads: self.threads,
            version: VERSION.into(),
            wall_seconds: self.wall_seconds,
        };
        manifest.hash_files(dir, &self.sha256)?;
        Ok(manifest)
    }

    /// Writes `manifest.json` into `dir`, with the SHA-256 of every CSV listed.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let text = self.manifest(dir)?.to_text();
        let path = dir.join("manifest.json");
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(merged_from: Option<Vec<String>>) -> Manifest {
        let entry = |name: &str| ColumnEntry {
            meaning: format!("the {name}, \"quoted\""),
            name: name.into(),
            unit: "1".into(),
        };
        Manifest {
            columns: [
                ("summary.csv".to_string(), vec![entry("point"), entry("t")]),
                ("continuous.csv".to_string(), vec![entry("w1")]),
            ]
            .into(),
            engine: ENGINE.into(),
            first_point: 3,
            grid_points: 10,
            merged_from,
            points: 4,
            scenario_hash: scenario_hash("name = \"x\"\n"),
            sha256: [("summary.csv".to_string(), "ab".to_string())].into(),
            shard: Some("2/3".into()),
            started: "2025-01-02T03:04:05.678Z".into(),
            threads: 2,
            version: VERSION.into(),
            wall_seconds: 0.25,
        }
    }

    #[test]
    fn keys_are_written_in_sorted_order_and_read_back() {
        // The file's key order is that of a sorted JSON map (how it was once built).
        for m in [sample(None), sample(Some(vec!["shards/1-of-3".into()]))] {
            let sorted = serde_json::to_value(&m).unwrap();
            let mut want = serde_json::to_string_pretty(&sorted).unwrap();
            want.push('\n');
            assert_eq!(m.to_text(), want);
            assert_eq!(serde_json::from_str::<Manifest>(&m.to_text()).unwrap(), m);
        }
        assert!(!sample(None).to_text().contains("merged_from"));
    }

    #[test]
    fn scenario_hash_is_hex_sha256() {
        assert_eq!(
            scenario_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
