//! Result folders that appear whole or not at all: work happens in a hidden sibling
//! `OUT/.<name>.partial-<pid>/`, renamed into place only when complete (SPEC, atomic folders).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use crate::error::Error;

/// A result folder under construction.
pub struct ResultDir {
    target: PathBuf,
    partial: PathBuf,
    done: bool,
    /// Taken over from a killed run ([`Self::resume`]): its grid points are not this run's
    /// to delete, so a failure leaves the folder for another `--resume`.
    resumed: bool,
    /// This process's hold on `target` (released after the folder's own drop).
    _claim: Claim,
}

/// The targets this process is building: the partial folder is named by the pid, so two
/// threads of one process building the same result (the Python API's `write` from a
/// thread pool) would share it, and each delete the other's. The second waits for the
/// first to commit or give up; the last one stands whole, as between processes.
static BUILDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static BUILT: Condvar = Condvar::new();

/// A hold on a target in [`BUILDING`], released when dropped.
struct Claim(PathBuf);

impl Claim {
    fn take(target: &Path) -> Claim {
        let mut building = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
        while building.iter().any(|t| t == target) {
            building = BUILT.wait(building).unwrap_or_else(|p| p.into_inner());
        }
        building.push(target.to_path_buf());
        Claim(target.to_path_buf())
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut building = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
        building.retain(|t| *t != self.0);
        BUILT.notify_all();
    }
}

impl ResultDir {
    /// Starts building `root/name`: removes leftovers of killed runs of the same scenario
    /// and creates a fresh partial folder.
    /// A regular file (or anything but a folder) where the result goes is refused before
    /// any work, and left as it is.
    pub fn begin(root: &Path, name: &str) -> Result<Self, Error> {
        fs::create_dir_all(root).map_err(|e| {
            // `create_dir_all` says "File exists" of a file where the folder should be, and
            // of a link to nothing.
            let dangling = !root.exists() && fs::symlink_metadata(root).is_ok();
            let e = if root.exists() && !root.is_dir() {
                std::io::Error::other("not a folder: the output folder is a file")
            } else if dangling {
                let to = fs::read_link(root).unwrap_or_default();
                std::io::Error::other(format!(
                    "a link to {}, which does not exist: create that folder, or choose another --out",
                    to.display()
                ))
            } else {
                e
            };
            Error::io(root, e)
        })?;
        let target = root.join(name);
        let claim = Claim::take(&target);
        refuse_foreign(&target)?;
        refuse_live_shards(&target)?;
        remove_leftovers(root, name)?;
        let partial = root.join(format!(".{name}.partial-{}", std::process::id()));
        if partial.exists() {
            fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
        }
        fs::create_dir(&partial).map_err(|e| {
            // Name the folder the user chose; the hidden one is ours.
            let why = format!(
                "cannot create a folder here (the result's hidden working folder {}): {e}",
                file_name(&partial)
            );
            Error::io(root, std::io::Error::other(why))
        })?;
        Ok(ResultDir {
            target,
            partial,
            done: false,
            resumed: false,
            _claim: claim,
        })
    }

    /// Takes over the partial folder of a killed run of the same scenario under `root`
    /// (its process gone, its `scenario.toml` byte for byte `resolved`), renamed to this
    /// process's own partial name so that no other run takes it too; None when there is
    /// none. A partial folder of another scenario is never taken (and is removed by
    /// [`Self::begin`] as any leftover).
    pub fn resume(root: &Path, name: &str, resolved: &str) -> Result<Option<Self>, Error> {
        let Ok(entries) = fs::read_dir(root) else {
            return Ok(None);
        };
        let claim = Claim::take(&root.join(name));
        refuse_foreign(&root.join(name))?;
        refuse_live_shards(&root.join(name))?;
        let prefix = format!(".{name}.partial-");
        let own = root.join(format!("{prefix}{}", std::process::id()));
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = file
                .strip_prefix(&prefix)
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let same = fs::read_to_string(entry.path().join("scenario.toml"))
                .is_ok_and(|text| text == resolved);
            // Our own pid's folder is a dead run's that had it (a container's pid 1).
            let live = pid != std::process::id() && alive(pid);
            if live || !same || fs::rename(entry.path(), &own).is_err() {
                continue;
            }
            keep_own_files(&own)?;
            return Ok(Some(ResultDir {
                target: root.join(name),
                partial: own,
                done: false,
                resumed: true,
                _claim: claim,
            }));
        }
        Ok(None)
    }

    /// The partial folders of `name` under `root` that other processes, still running, are
    /// writing: what [`Self::resume`] leaves to them (and a fresh run leaves in place).
    pub fn running_partials(root: &Path, name: &str) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(root) else {
            return Vec::new();
        };
        let prefix = format!(".{name}.partial-");
        let mut running: Vec<PathBuf> = entries
            .flatten()
            .filter(|entry| {
                let file = entry.file_name().to_string_lossy().into_owned();
                file.strip_prefix(&prefix)
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_some_and(|pid| pid != std::process::id() && alive(pid))
            })
            .map(|entry| entry.path())
            .collect();
        running.sort();
        running
    }

    /// Where files are written while the folder is being built.
    pub fn path(&self) -> &Path {
        &self.partial
    }

    /// The final location.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// An I/O error inside the partial folder, said of the result folder instead: the failed
    /// run's partial folder is removed with it, so its hidden name would point at nothing.
    /// A resumed folder stays, and is named for the next `--resume`.
    pub fn said_of_target(&self, e: Error) -> Error {
        use crate::error::printable;
        match e {
            Error::Io { path, source } => match path.strip_prefix(&self.partial) {
                Ok(rest) => {
                    let target = self.target.display().to_string();
                    let target = printable(&target);
                    let why = match self.resumed {
                        false => format!(
                            "{source} (nothing of this run was kept; {target} is as it was)"
                        ),
                        true => format!(
                            "{source} ({target} is as it was; the resumed grid points stay in {}: run with --resume again)",
                            printable(&self.partial.display().to_string())
                        ),
                    };
                    Error::io(
                        self.target.join(rest),
                        std::io::Error::new(source.kind(), why),
                    )
                }
                Err(_) => Error::Io { path, source },
            },
            e => e,
        }
    }

    /// Moves the finished folder into place, replacing an existing result only now. Runs
    /// of one scenario into one folder may finish together: each moves whatever result
    /// stands aside and retries until its own is in place, so the last to commit stands
    /// whole and none fails for the other.
    pub fn commit(mut self) -> Result<PathBuf, Error> {
        let mut aside = Vec::new();
        let result = self.swap_in(&mut aside);
        if result.is_ok() {
            self.done = true;
        } else if let Some(last) = aside.last()
            && !self.target.exists()
        {
            // Put the previous result back rather than leave nothing.
            let _ = fs::rename(last, &self.target);
        }
        for old in &aside {
            if old.exists() {
                fs::remove_dir_all(old).map_err(|e| Error::io(old, e))?;
            }
        }
        result.map(|()| self.target.clone())
    }

    /// Renames the partial folder onto the target, moving what stands there into `aside`.
    fn swap_in(&self, aside: &mut Vec<PathBuf>) -> Result<(), Error> {
        const ATTEMPTS: usize = 100;
        for attempt in 0..ATTEMPTS {
            if self.target.exists() {
                let old = self.partial.with_file_name(format!(
                    ".{}.old-{}-{attempt}",
                    file_name(&self.target),
                    std::process::id()
                ));
                match fs::rename(&self.target, &old) {
                    Ok(()) => aside.push(old),
                    // Another run moved it first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&self.target, e)),
                }
            }
            match fs::rename(&self.partial, &self.target) {
                Ok(()) => return Ok(()),
                // Another run's result arrived in between: move it aside too.
                Err(e) if self.target.exists() && attempt + 1 < ATTEMPTS => drop(e),
                Err(e) => return Err(Error::io(&self.target, e)),
            }
        }
        unreachable!("the last attempt returns")
    }
}

impl Drop for ResultDir {
    fn drop(&mut self) {
        if !self.done && !self.resumed {
            // A failed run leaves nothing that could be mistaken for a result. A resumed
            // one keeps the killed run's points (hidden; whole rows are kept by the next resume).
            let _ = fs::remove_dir_all(&self.partial);
        }
    }
}

/// Of a killed run's partial folder, taken over by [`ResultDir::resume`], keeps only plain
/// files of its own: a link (symbolic, or a second name of a file elsewhere) would have the
/// resumed run cut back and append to, or write over, a file outside the result; anything
/// else (a folder, a FIFO) is no file the run wrote. Each such entry is removed — the link,
/// never what it points to — and the run writes that file afresh.
fn keep_own_files(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
        if meta.is_file() && meta.nlink() == 1 {
            continue;
        }
        let removed = if meta.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// Anything but a folder where the result goes (a user's file), and a folder that is not
/// an earlier result (a user's folder, which replacing would delete), is refused before any
/// work.
pub(crate) fn refuse_foreign(target: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let Ok(mut meta) = fs::symlink_metadata(target) else {
        return Ok(());
    };
    // Another run of the scenario may be committing: its result moved aside between our
    // look at the folder and at its manifest, the new one renamed in. A folder that stays
    // the same folder (inode) while it is read is judged; one that changed is looked at again.
    let mut verdict = replaceable(target);
    for _ in 0..8 {
        match fs::symlink_metadata(target) {
            Err(_) => return Ok(()),
            Ok(now) if (now.dev(), now.ino()) == (meta.dev(), meta.ino()) => break,
            Ok(now) => {
                meta = now;
                verdict = replaceable(target);
            }
        }
    }
    let why = if !meta.is_dir() {
        "is not a folder, so no result can be written there; nothing was run \
         and it was left as it is: move it away or choose another --out"
    } else {
        match verdict {
            Some(true) => return Ok(()),
            None => {
                "is a folder that cannot be read, so whether it is an earlier result cannot \
                 be told; nothing was run and it was left as it is: move it away or choose \
                 another --out"
            }
            Some(false) => {
                "is a folder that is not a heavyball result (no manifest.json of ours in it), \
                 and a new result would replace it; nothing was run and it was left as it is: \
                 move it away or choose another --out"
            }
        }
    };
    Err(Error::io(target, std::io::Error::other(why)))
}

/// Whether a folder may be replaced by a new result: it is empty, or an earlier result (its
/// `manifest.json` names this engine), or a sharded sweep's folder (its `shards/`, before
/// or after the merge). None when it cannot be read.
fn replaceable(folder: &Path) -> Option<bool> {
    let mut entries = fs::read_dir(folder).ok()?;
    if entries.next().is_none() {
        return Some(true);
    }
    let ours = fs::read_to_string(folder.join("manifest.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|m| m["engine"] == super::ENGINE);
    // Not through a link: `shards/` must be the folder's own.
    let shards = fs::symlink_metadata(folder.join("shards")).is_ok_and(|m| m.is_dir());
    Some(ours || shards)
}

/// A result folder whose `shards/` holds a shard another live process is still writing is
/// refused (a new result would replace the folder and delete that work), as a folder of
/// the user's is.
fn refuse_live_shards(target: &Path) -> Result<(), Error> {
    let Some(pid) = live_shard(target) else {
        return Ok(());
    };
    let why = format!(
        "holds a shard that process {pid} is still writing (in shards/), whose work a \
         result here would delete; nothing was run: wait for it, or choose another --out"
    );
    Err(Error::io(target, std::io::Error::other(why)))
}

/// The pid of another live process building a shard under `folder/shards/` (its hidden
/// `.I-of-N.partial-<pid>`), if any.
fn live_shard(folder: &Path) -> Option<u32> {
    let entries = fs::read_dir(folder.join("shards")).ok()?;
    entries.flatten().find_map(|entry| {
        let file = entry.file_name().to_string_lossy().into_owned();
        let (_, pid) = file.strip_prefix('.')?.split_once(".partial-")?;
        let pid = pid.parse::<u32>().ok()?;
        (pid != std::process::id() && alive(pid)).then_some(pid)
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether a process with this pid is alive (Linux: /proc).
pub(crate) fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes `.<name>.partial-<pid>` and `.<name>.old-<pid>-<attempt>` folders of processes
/// that are gone.
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
                .and_then(|p| p.split('-').next()?.parse::<u32>().ok())
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

#[cfg(test)]
mod tests {
    use super::ResultDir;

    /// Threads of one process building the same result (one pid, so one partial name)
    /// take turns: every build commits, and the result is one build's whole folder.
    #[test]
    fn threads_of_one_process_build_one_result_in_turn() {
        let root = tempfile::tempdir().unwrap();
        let builds: Vec<_> = (0..8)
            .map(|i| {
                let root = root.path().to_path_buf();
                std::thread::spawn(move || {
                    let dir = ResultDir::begin(&root, "r")?;
                    for file in ["a", "b"] {
                        std::fs::write(dir.path().join(file), format!("{i}")).unwrap();
                    }
                    // An earlier result is ours to replace by its manifest.
                    let manifest = serde_json::json!({ "engine": crate::output::ENGINE });
                    std::fs::write(dir.path().join("manifest.json"), manifest.to_string()).unwrap();
                    dir.commit()
                })
            })
            .collect();
        for build in builds {
            build.join().unwrap().unwrap();
        }
        let read = |f: &str| std::fs::read_to_string(root.path().join("r").join(f)).unwrap();
        assert_eq!(read("a"), read("b"));
        let names: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["r"]);
    }
}
