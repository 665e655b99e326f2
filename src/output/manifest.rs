//! `manifest.json`: what produced a result folder and what every CSV column means.

use std::ops::Range;
use std::path::Path;
use std::time::SystemTime;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::columns::Column;
use crate::error::Error;

/// The facts of one run that the manifest records.
pub struct Manifest {
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
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

impl Manifest {
    /// The manifest as JSON.
    pub fn to_json(&self) -> Value {
        let columns: serde_json::Map<String, Value> = self
            .files
            .iter()
            .map(|(file, cols)| {
                let list: Vec<Value> = cols
                    .iter()
                    .map(|c| json!({"name": c.name, "meaning": c.meaning, "unit": c.unit}))
                    .collect();
                (file.clone(), Value::Array(list))
            })
            .collect();
        json!({
            "engine": env!("CARGO_PKG_NAME"),
            "version": env!("CARGO_PKG_VERSION"),
            "started": humantime::format_rfc3339_millis(self.started).to_string(),
            "wall_seconds": self.wall_seconds,
            "threads": self.threads,
            "shard": self.shard,
            "scenario_hash": self.scenario_hash,
            "points": self.points.end - self.points.start,
            "first_point": self.points.start,
            "grid_points": self.grid_points,
            "columns": Value::Object(columns),
        })
    }

    /// Writes `manifest.json` into `dir`, with the SHA-256 of every CSV listed.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let mut json = self.to_json();
        let mut sums = serde_json::Map::new();
        for (file, _) in &self.files {
            sums.insert(file.clone(), Value::String(sha256_file(&dir.join(file))?));
        }
        json["sha256"] = Value::Object(sums);
        let path = dir.join("manifest.json");
        let mut text = serde_json::to_string_pretty(&json)
            .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    }
}
