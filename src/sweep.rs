//! Grid points in parallel, rows in grid order: worker threads take chunks of consecutive
//! point indices in increasing order, format each point's rows on the worker, and hand each
//! chunk's rows to a reorder window that appends them to the output as soon as every
//! earlier chunk is written.
//!
//! Memory stays bounded whatever the grid size: a worker does not start a point more than
//! [`WINDOW`] points ahead of the last one written, so at most that many points' rows wait
//! in memory. Output is the same bytes for any thread count (a point's rows depend only on
//! its index). Shards are contiguous slices of the grid, for job arrays.
//!
//! This module knows nothing of the physics: it runs a closure per chunk of point indices.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::error::Error;
use crate::output::{CsvFile, Rows};

/// Most points a worker may run ahead of the last point written (the reorder window).
pub const WINDOW: u64 = 8192;

/// One of N contiguous slices of a grid (1-based, SPEC "Sharding").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// I, from 1.
    pub index: u64,
    /// N ≥ I.
    pub count: u64,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a shard cannot be made: of [`Shard::new`], [`Shard::parse`] (`--shard I/N`) or
/// [`Shard::from_env`] (a Slurm job array). Displays as the message the user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// N = 0.
    #[error("N must be >= 1")]
    NoSlices,
    /// I outside `1..=N`.
    #[error("I must be between 1 and N = {count}, got {index}")]
    IndexOutOfRange {
        /// The I given.
        index: u64,
        /// The N given.
        count: u64,
    },
    /// Text that is not `I/N` with whole numbers.
    #[error("expected I/N with whole numbers 1 <= I <= N, got \"{text}\"")]
    Syntax {
        /// The text given.
        text: String,
    },
    /// `I/N` read from `text`, but not a shard.
    #[error("{reason} (in \"{text}\")")]
    Invalid {
        /// The text given.
        text: String,
        /// [`ShardError::NoSlices`] or [`ShardError::IndexOutOfRange`].
        reason: Box<ShardError>,
    },
    /// Half a job array's environment (it would run the whole grid in every task).
    #[error("{set} is set but {unset} is not; give --shard I/N")]
    HalfArray {
        /// The variable set.
        set: &'static str,
        /// The one missing.
        unset: &'static str,
    },
    /// A variable that is not a whole number.
    #[error("{name}={value} is not a whole number")]
    NotWhole {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A task ID that is not in the array `MIN, MIN + STEP, ...`.
    #[error("SLURM_ARRAY_TASK_ID={id} is not in the array {min}, {}, ... (step {step})", min + step)]
    NotInArray {
        /// SLURM_ARRAY_TASK_ID.
        id: u64,
        /// SLURM_ARRAY_TASK_MIN (1 when unset).
        min: u64,
        /// SLURM_ARRAY_TASK_STEP (1 when unset).
        step: u64,
    },
    /// The job array's task is not a shard.
    #[error("from SLURM_ARRAY_TASK_*: {reason}")]
    FromSlurm {
        /// [`ShardError::NoSlices`] or [`ShardError::IndexOutOfRange`].
        reason: Box<ShardError>,
    },
}

impl Shard {
    /// A shard `I/N` with `1 ≤ I ≤ N`.
    pub fn new(index: u64, count: u64) -> Result<Self, ShardError> {
        if count == 0 {
            Err(ShardError::NoSlices)
        } else if index == 0 || index > count {
            Err(ShardError::IndexOutOfRange { index, count })
        } else {
            Ok(Shard { index, count })
        }
    }

    /// Parses `I/N`.
    pub fn parse(text: &str) -> Result<Self, ShardError> {
        let bad = || ShardError::Syntax { text: text.into() };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse::<u64>().map_err(|_| bad())?;
        let n = n.trim().parse::<u64>().map_err(|_| bad())?;
        Shard::new(i, n).map_err(|e| ShardError::Invalid {
            text: text.into(),
            reason: Box::new(e),
        })
    }

    /// The shard a job-array task runs: `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`,
    /// and where set `SLURM_ARRAY_TASK_MIN` and `SLURM_ARRAY_TASK_STEP`
    /// (`I = (ID − MIN)/STEP + 1`, so `--array=0-3` and `--array=1-7:2` work too). None
    /// outside a job array.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ShardError> {
        const ID: &str = "SLURM_ARRAY_TASK_ID";
        const COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
        let (id, count) = match (var(ID), var(COUNT)) {
            (Some(id), Some(count)) => (id, count),
            (None, None) => return Ok(None),
            // Half a job array would run the whole grid in every task: refuse.
            (Some(_), None) => {
                return Err(ShardError::HalfArray {
                    set: ID,
                    unset: COUNT,
                });
            }
            (None, Some(_)) => {
                return Err(ShardError::HalfArray {
                    set: COUNT,
                    unset: ID,
                });
            }
        };
        let num = |name: &'static str, text: &str| {
            text.trim()
                .parse::<u64>()
                .map_err(|_| ShardError::NotWhole {
                    name,
                    value: text.into(),
                })
        };
        let id = num(ID, &id)?;
        let count = num(COUNT, &count)?;
        let min = match var("SLURM_ARRAY_TASK_MIN") {
            Some(m) => num("SLURM_ARRAY_TASK_MIN", &m)?,
            None => 1,
        };
        let step = match var("SLURM_ARRAY_TASK_STEP") {
            Some(s) => num("SLURM_ARRAY_TASK_STEP", &s)?.max(1),
            None => 1,
        };
        if id < min || (id - min) % step != 0 {
            return Err(ShardError::NotInArray { id, min, step });
        }
        // Saturating: a task id near 2⁶⁴ is out of range, not shard 0.
        Shard::new(((id - min) / step).saturating_add(1), count)
            .map(Some)
            .map_err(|e| ShardError::FromSlurm {
                reason: Box::new(e),
            })
    }

    /// The points of this shard among `points`: N slices in order, sizes differing by at
    /// most one (the first `points mod N` one larger).
    pub fn range(&self, points: u64) -> Range<u64> {
        let (q, r) = (points / self.count, points % self.count);
        let i = self.index - 1;
        let start = i * q + i.min(r);
        let len = q + u64::from(i < r);
        start..start + len
    }

    /// The shard's folder name, `I-of-N`.
    pub fn folder(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }

    /// Reads a folder name `I-of-N`, as [`Self::folder`] writes it (no leading zeros).
    pub fn from_folder(name: &str) -> Option<Self> {
        Self::from_digits(name).filter(|s| s.folder() == name)
    }

    /// A folder name `I-of-N` written otherwise than [`Self::folder`] writes it (`01-of-3`):
    /// the shard it would name.
    pub fn misnamed(name: &str) -> Option<Self> {
        Self::from_digits(name).filter(|s| s.folder() != name)
    }

    fn from_digits(name: &str) -> Option<Self> {
        let (i, n) = name.split_once("-of-")?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(i) || !digits(n) {
            return None;
        }
        Shard::new(i.parse().ok()?, n.parse().ok()?).ok()
    }
}

/// Whether Slurm requeued this job (`SLURM_RESTART_COUNT` > 0: preempted, or out of time
/// with `--requeue`): then `run` resumes the sweep its last attempt left.
pub fn requeued(var: impl Fn(&str) -> Option<String>) -> bool {
    var("SLURM_RESTART_COUNT")
        .and_then(|n| n.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

/// A progress bar on stderr (points done, rate, ETA), hidden when `enabled` is false or
/// stderr is not a terminal.
pub fn progress_bar(name: &str, points: u64, enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(points), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {human_pos}/{human_len} points · {rate} · ETA {eta}",
    )
    .map(|s| {
        s.progress_chars("=> ")
            .with_key("rate", |state: &ProgressState, w: &mut dyn fmt::Write| {
                let _ = write!(w, "{:.0} points/s", state.per_sec());
            })
    })
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(name.to_string());
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// A spinner for a scenario's set-up (building its potential) expected to take about
/// `seconds`, on stderr when it is a terminal and `enabled`.
pub fn setup_spinner(name: &str, what: &str, seconds: f64, enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let template = format!("{{prefix}} set-up {{spinner}} {{elapsed}} of ~{seconds:.0} s: {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.set_prefix(name.to_string());
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// The reorder window shared by the workers: each chunk's output (a `Vec<T>`) waits here
/// for the chunks before it; `E` is the sink's error.
struct Window<T, E> {
    /// The next point to hand over: the start of a chunk.
    next: u64,
    /// Outputs of the finished chunks past `next`, by their first point, each with its end.
    done: BTreeMap<u64, (u64, Vec<T>)>,
    /// Outputs the sink is done with, reused (their memory).
    spare: Vec<Vec<T>>,
    /// A worker is handing chunks over (outside this lock); the others only file theirs.
    writing: bool,
    error: Option<E>,
    /// A point's work panicked (an engine bug): everyone stops, the panic goes on after.
    panic: Option<Box<dyn Any + Send>>,
}

impl<T, E> Window<T, E> {
    fn stopped(&self) -> bool {
        self.error.is_some() || self.panic.is_some()
    }

    /// The chunks now complete in order from `next` on, taken out (`next` moves past them).
    fn take_ready(&mut self) -> Vec<Vec<T>> {
        let mut ready = Vec::new();
        while let Some((end, output)) = self.done.remove(&self.next) {
            ready.push(output);
            self.next = end;
        }
        ready
    }
}

/// Files the output of the chunk `points`; unless another worker is handing over already,
/// hands every chunk complete in order to `sink`, each in one piece, with the window
/// unlocked (so that the other workers never wait on the sink), until none is left.
fn deposit<T, E>(
    window: &Mutex<Window<T, E>>,
    sink: &Mutex<impl FnMut(&mut Vec<T>) -> Result<(), E>>,
    room: &Condvar,
    points: Range<u64>,
    output: Vec<T>,
) {
    let mut w = window.lock().expect("window lock");
    w.done.insert(points.start, (points.end, output));
    if w.writing {
        return;
    }
    w.writing = true;
    loop {
        let mut ready = w.take_ready();
        if ready.is_empty() {
            w.writing = false;
            return;
        }
        let failed = w.error.is_some();
        drop(w);
        room.notify_all();
        let mut error = None;
        if !failed {
            let mut sink = sink.lock().expect("sink lock");
            error = ready.iter_mut().find_map(|output| sink(output).err());
        }
        w = window.lock().expect("window lock");
        if let Some(e) = error {
            w.error.get_or_insert(e);
            room.notify_all();
        }
        w.spare.extend(ready);
    }
}

/// Points a worker takes at a time: enough for the continuous lanes to keep 89% of their
/// slots busy on W1 (see `dynamics::dopri_lanes`; 71% with 64), few enough that uneven
/// points still spread over the workers (W1 at N = 100: 40 chunks for 2 workers). The
/// discrete sweep runs as fast with 64 (docs/speed.md).
pub const CHUNK: u64 = 256;

/// The smallest chunk of a sweep's tail (see [`chunk_len`]).
const MIN_CHUNK: u64 = 32;

/// The chunk a worker takes when `remaining` points are left: [`CHUNK`] while each worker
/// has four or more ahead, then shorter, down to [`MIN_CHUNK`], so that the workers finish
/// together (W1's heaviest points come last in its grid: a last full chunk left one
/// worker running alone). Results do not depend on it: each point is computed alone.
pub(crate) fn chunk_len(remaining: u64, threads: usize) -> u64 {
    (remaining / (4 * threads as u64))
        .clamp(MIN_CHUNK, CHUNK)
        .min(remaining)
}

/// Claims the next chunk of `range` for a worker ([`chunk_len`] points from
/// `next_index`); None once every point is taken.
fn claim(next_index: &AtomicU64, range: &Range<u64>, threads: usize) -> Option<Range<u64>> {
    let mut start = next_index.load(Ordering::Relaxed);
    loop {
        if start >= range.end {
            return None;
        }
        let end = start + chunk_len(range.end - start, threads);
        match next_index.compare_exchange_weak(start, end, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some(start..end),
            Err(now) => start = now,
        }
    }
}

/// Waits until a chunk ending at `end` is inside the window (the points before it are all
/// taken by running workers, so the window always moves on); false if the sweep stopped.
fn wait_for_room<T, E>(window: &Mutex<Window<T, E>>, room: &Condvar, end: u64) -> bool {
    let mut w = window.lock().expect("window lock");
    while end > w.next + WINDOW && !w.stopped() {
        w = room.wait(w).expect("window lock");
    }
    !w.stopped()
}

/// An emptied output of the window's (a new one when it has none), for a worker's next chunk.
fn spare<T, E>(window: &Mutex<Window<T, E>>) -> Vec<T> {
    let spare = window.lock().expect("window lock").spare.pop();
    let mut output = spare.unwrap_or_default();
    output.clear();
    output
}

/// Runs `work(points, rows)` over `range` in chunks of up to [`CHUNK`] consecutive points
/// on `threads` workers (`rows` receives the chunk's rows, point by point in order) and
/// appends them to `out` in grid order, streaming. `work` writes whole rows.
pub fn stream(
    range: Range<u64>,
    threads: usize,
    progress: &ProgressBar,
    work: impl Fn(Range<u64>, &mut Rows) + Sync,
    out: &mut CsvFile,
) -> Result<(), Error> {
    let format = |points, bytes: &mut Vec<u8>| {
        let mut rows = Rows::over(std::mem::take(bytes));
        work(points, &mut rows);
        *bytes = rows.into_bytes();
    };
    in_order(threads, range, progress, format, |bytes: &mut Vec<u8>| {
        out.write_rows(bytes)
    })
}

/// Workers worth starting for `range` on `threads`: at least one, and no more than its
/// chunks of [`MIN_CHUNK`] points (a worker without a chunk only costs its start; 4096
/// threads asked for a 10⁴-point sweep are 313).
pub(crate) fn worth(threads: usize, range: &Range<u64>) -> usize {
    let chunks = range
        .end
        .saturating_sub(range.start)
        .div_ceil(MIN_CHUNK)
        .max(1);
    threads.clamp(1, usize::try_from(chunks).unwrap_or(usize::MAX))
}

/// Runs `work(points, output)` over `range` in chunks of up to [`CHUNK`] consecutive points
/// on [`worth`]`(threads)` workers, scoped threads `heavyball-<i>` (one the system cannot
/// start leaves the others the work; the calling thread works only if it starts none; a
/// worker of its own, the calling thread ran ~5% slower on W1's discrete sweep: the main
/// heap's allocator), where `output` comes empty,
/// with the memory of an earlier chunk's, and hands each chunk's output to `sink` in grid
/// order as soon as the chunks before it are handed over, while the workers go on (at most
/// [`WINDOW`] points ahead). `sink` may empty the output (take it) or leave it to be
/// reused. The first error of `sink` stops the workers after the chunks in hand and is
/// returned; a panic of `work` stops them too and goes on once they are done.
pub(crate) fn in_order<T: Send, E: Send>(
    threads: usize,
    range: Range<u64>,
    progress: &ProgressBar,
    work: impl Fn(Range<u64>, &mut Vec<T>) + Sync,
    sink: impl FnMut(&mut Vec<T>) -> Result<(), E> + Send,
) -> Result<(), E> {
    let threads = worth(threads, &range);
    let next_index = AtomicU64::new(range.start);
    let window = Mutex::new(Window {
        next: range.start,
        done: BTreeMap::new(),
        spare: Vec::new(),
        writing: false,
        error: None,
        panic: None,
    });
    let sink = Mutex::new(sink);
    let room = Condvar::new();
    let worker = || {
        while let Some(chunk) = claim(&next_index, &range, threads) {
            let len = chunk.end - chunk.start;
            if !wait_for_room(&window, &room, chunk.end) {
                return;
            }
            let mut output = spare(&window);
            // A panicking chunk would never be handed over and would stall the window for
            // good: stop everyone instead, and re-raise it once the workers are done.
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| work(chunk.clone(), &mut output)))
            {
                let mut w = window.lock().expect("window lock");
                w.panic.get_or_insert(panic);
                room.notify_all();
                return;
            }
            deposit(&window, &sink, &room, chunk, output);
            progress.inc(len);
        }
    };
    std::thread::scope(|scope| {
        let started = (0..threads)
            .filter(|i| {
                std::thread::Builder::new()
                    .name(format!("heavyball-{i}"))
                    .spawn_scoped(scope, worker)
                    .is_ok()
            })
            .count();
        if started == 0 {
            worker();
        }
    });
    progress.finish_and_clear();
    let w = window.into_inner().expect("window lock");
    if let Some(panic) = w.panic {
        resume_unwind(panic);
    }
    match w.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_contiguous_and_balanced() {
        for points in [0u64, 1, 5, 100, 101, 10_000] {
            for n in [1u64, 2, 3, 7, 16] {
                let mut next = 0;
                for i in 1..=n {
                    let r = Shard::new(i, n).unwrap().range(points);
                    assert_eq!(r.start, next);
                    let len = r.end - r.start;
                    assert!(len == points / n || len == points / n + 1);
                    next = r.end;
                }
                assert_eq!(next, points);
            }
        }
    }

    #[test]
    fn shard_from_slurm_environment() {
        let env = |id: &str, count: &str, min: Option<&str>, step: Option<&str>| {
            let vars: Vec<(&str, Option<String>)> = vec![
                ("SLURM_ARRAY_TASK_ID", Some(id.to_string())),
                ("SLURM_ARRAY_TASK_COUNT", Some(count.to_string())),
                ("SLURM_ARRAY_TASK_MIN", min.map(str::to_string)),
                ("SLURM_ARRAY_TASK_STEP", step.map(str::to_string)),
            ];
            Shard::from_env(|k| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .and_then(|(_, v)| v.clone())
            })
        };
        assert_eq!(
            env("3", "4", Some("1"), None),
            Ok(Some(Shard { index: 3, count: 4 }))
        );
        assert_eq!(
            env("0", "4", Some("0"), None),
            Ok(Some(Shard { index: 1, count: 4 }))
        );
        assert_eq!(
            env("5", "4", Some("1"), Some("2")),
            Ok(Some(Shard { index: 3, count: 4 }))
        );
        assert!(env("5", "4", Some("1"), None).is_err());
        assert!(env("x", "4", None, None).is_err());
        let past = env("18446744073709551615", "4", Some("0"), None).unwrap_err();
        assert!(past.to_string().contains("18446744073709551615"), "{past}");
        assert_eq!(Shard::from_env(|_| None), Ok(None));
        let only_id = |k: &str| (k == "SLURM_ARRAY_TASK_ID").then(|| "2".to_string());
        assert!(Shard::from_env(only_id).is_err());
    }

    fn numbered_rows(threads: usize, panic_at: Option<u64>) -> std::thread::Result<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        let mut out = CsvFile::create(&path, &["i".to_string()]).unwrap();
        let run = catch_unwind(AssertUnwindSafe(|| {
            stream(
                0..3 * WINDOW + 5,
                threads,
                &ProgressBar::hidden(),
                |points, rows| {
                    for i in points {
                        assert_ne!(Some(i), panic_at, "a bug at point {i}");
                        // Uneven work, so that the workers finish out of order.
                        if i % 7 == 0 {
                            std::thread::yield_now();
                        }
                        rows.field(crate::output::Field::Int(i));
                        rows.end_row();
                    }
                },
                &mut out,
            )
            .unwrap()
        }));
        run.map(|()| {
            out.finish().unwrap();
            std::fs::read_to_string(&path).unwrap()
        })
    }

    #[test]
    fn rows_come_out_in_grid_order_for_any_thread_count() {
        let expected: String = std::iter::once("i".to_string())
            .chain((0..3 * WINDOW + 5).map(|i| i.to_string()))
            .map(|l| l + "\n")
            .collect();
        for threads in [1, 2, 5] {
            assert!(
                numbered_rows(threads, None).unwrap() == expected,
                "{threads} threads"
            );
        }
    }

    /// Full chunks while each worker has four ahead, then a quarter of each worker's share,
    /// never under 32 points (unless fewer remain); the chunks tile the range.
    /// No more workers than chunks of 32 points: 4096 threads asked for 10⁴ points start
    /// 313 (rayon's 4096 took 47 s there, spinning), 20 points one.
    #[test]
    fn workers_are_no_more_than_the_chunks() {
        assert_eq!(worth(4096, &(0..10_000)), 313);
        assert_eq!(worth(2, &(0..10_000)), 2);
        assert_eq!(worth(2, &(0..20)), 1);
        assert_eq!(worth(0, &(5..5)), 1);
    }

    #[test]
    fn the_tail_of_a_sweep_comes_in_shorter_chunks() {
        assert_eq!(chunk_len(10_000, 2), 256);
        assert_eq!(chunk_len(2_048, 2), 256);
        assert_eq!(chunk_len(2_000, 2), 250);
        assert_eq!(chunk_len(300, 2), 37);
        assert_eq!(chunk_len(100, 2), 32);
        assert_eq!(chunk_len(20, 2), 20);
        assert_eq!(chunk_len(1_000, 1), 250);
        let (mut at, mut lens) = (0, Vec::new());
        while at < 10_000 {
            lens.push(chunk_len(10_000 - at, 2));
            at += lens.last().unwrap();
        }
        assert_eq!(at, 10_000);
        assert_eq!(lens.iter().filter(|&&l| l == 256).count(), 32);
        assert_eq!(lens.len(), 55);
        assert_eq!(lens[30..39], [256, 256, 226, 197, 173, 151, 132, 116, 101]);
    }

    #[test]
    fn a_panicking_point_stops_the_stream_instead_of_hanging_it() {
        // Point 5 never arrives; without the catch the others would wait for it forever.
        assert!(numbered_rows(4, Some(5)).is_err());
    }

    #[test]
    fn shard_names() {
        assert_eq!(Shard::parse("2/7"), Ok(Shard { index: 2, count: 7 }));
        assert!(Shard::parse("0/7").is_err());
        assert!(Shard::parse("8/7").is_err());
        assert!(Shard::parse("2").is_err());
        // The messages `--shard` and a job array's environment give, word for word.
        let said = |e: ShardError| e.to_string();
        assert_eq!(
            said(Shard::parse("0/7").unwrap_err()),
            "I must be between 1 and N = 7, got 0 (in \"0/7\")"
        );
        assert_eq!(
            said(Shard::parse("1/0").unwrap_err()),
            "N must be >= 1 (in \"1/0\")"
        );
        assert_eq!(
            said(Shard::parse("a/b").unwrap_err()),
            "expected I/N with whole numbers 1 <= I <= N, got \"a/b\""
        );
        let env = |pairs: &'static [(&str, &str)]| {
            let var = |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.to_string());
            said(Shard::from_env(var).unwrap_err())
        };
        assert_eq!(
            env(&[("SLURM_ARRAY_TASK_ID", "2")]),
            "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; give --shard I/N"
        );
        assert_eq!(
            env(&[("SLURM_ARRAY_TASK_COUNT", "2")]),
            "SLURM_ARRAY_TASK_COUNT is set but SLURM_ARRAY_TASK_ID is not; give --shard I/N"
        );
        assert_eq!(
            env(&[
                ("SLURM_ARRAY_TASK_ID", "x"),
                ("SLURM_ARRAY_TASK_COUNT", "2")
            ]),
            "SLURM_ARRAY_TASK_ID=x is not a whole number"
        );
        assert_eq!(
            env(&[
                ("SLURM_ARRAY_TASK_ID", "6"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
                ("SLURM_ARRAY_TASK_STEP", "2")
            ]),
            "SLURM_ARRAY_TASK_ID=6 is not in the array 1, 3, ... (step 2)"
        );
        assert_eq!(
            env(&[
                ("SLURM_ARRAY_TASK_ID", "9"),
                ("SLURM_ARRAY_TASK_COUNT", "4")
            ]),
            "from SLURM_ARRAY_TASK_*: I must be between 1 and N = 4, got 9"
        );
        assert_eq!(Shard { index: 2, count: 7 }.folder(), "2-of-7");
        assert_eq!(
            Shard::from_folder("2-of-7"),
            Some(Shard { index: 2, count: 7 })
        );
        assert_eq!(Shard::from_folder("9-of-7"), None);
        assert_eq!(Shard::from_folder(".2-of-7.partial-12"), None);
    }
}
