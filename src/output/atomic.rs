//! Result folders that appear whole or not at all: work happens in a hidden sibling
//! `OUT/.<name>.partial-<pid>/`, renamed into place only when complete (SPEC, atomic folders).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// A result folder under construction.
pub struct ResultDir {
    target: PathBuf,
    partial: PathBuf,
    done: bool,
}

impl ResultDir {
    /// Starts building `root/name`: removes leftovers of killed runs of the same scenario
    /// and creates a fresh partial folder.
    pub fn begin(root: &Path, name: &str) -> Result<Self, Error> {
        fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        remove_leftovers(root, name)?;
        let partial = root.join(format!(".{name}.partial-{}", std::process::id()));
        if partial.exists() {
            fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
        }
        fs::create_dir(&partial).map_err(|e| Error::io(&partial, e))?;
        Ok(ResultDir {
            target: root.join(name),
            partial,
            done: false,
        })
    }

    /// Where files are written while the folder is being built.
    pub fn path(&self) -> &Path {
        &self.partial
    }

    /// The final location.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the finished folder into place, replacing an existing result only now.
    pub fn commit(mut self) -> Result<PathBuf, Error> {
        let old = self.partial.with_file_name(format!(
            ".{}.old-{}",
            file_name(&self.target),
            std::process::id()
        ));
        let had_old = self.target.exists();
        if had_old {
            fs::rename(&self.target, &old).map_err(|e| Error::io(&self.target, e))?;
        }
        if let Err(e) = fs::rename(&self.partial, &self.target) {
            if had_old {
                // Put the previous result back rather than leave nothing.
                let _ = fs::rename(&old, &self.target);
            }
            return Err(Error::io(&self.target, e));
        }
        self.done = true;
        if had_old {
            fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(self.target.clone())
    }
}

impl Drop for ResultDir {
    fn drop(&mut self) {
        if !self.done {
            // A failed run leaves nothing that could be mistaken for a result.
            let _ = fs::remove_dir_all(&self.partial);
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether a process with this pid is alive (Linux: /proc).
fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes `.<name>.partial-<pid>` and `.<name>.old-<pid>` folders of processes that are gone.
fn remove_leftovers(root: &Path, name: &str) -> Result<(), Error> {
    let Ok(entries) = fs::read_dir(root) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        for kind in ["partial", "old"] {
            let prefix = format!(".{name}.{kind}-");
            if let Some(pid) = file
                .strip_prefix(&prefix)
                .and_then(|p| p.parse::<u32>().ok())
                && pid != std::process::id()
                && !alive(pid)
            {
                let p = entry.path();
                fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
    }
    Ok(())
}
