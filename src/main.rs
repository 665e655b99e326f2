//! The `heavyball` command line: arguments in, library calls, exit code out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use heavyball::run::{self, Outcome, RunOptions};
use heavyball::sweep::{Shard, requeued};

#[global_allocator]
static ALLOCATOR: heavyball::limits::RecordingAllocator = heavyball::limits::RecordingAllocator;

// std's f64 methods, in the solvers' crates too, on the `libm` crate: the same bits on
// every machine.
heavyball::portable_math!();

/// Gradient descent with momentum as a damped particle: continuous and discrete runs,
/// compared, with the closed-form theory beside every number.
#[derive(Parser)]
#[command(name = "heavyball", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files (a directory means every *.toml in it, in name order).
    Run {
        /// Scenario files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output root: each scenario writes OUT/<name>/.
        #[arg(long, default_value = "output")]
        out: PathBuf,
        /// Worker threads of a sweep (default: all cores).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
        threads: Option<u64>,
        /// Run only the I-th of N contiguous slices of each grid, into
        /// OUT/<name>/shards/I-of-N/ (default in a Slurm job array: from
        /// SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT, SLURM_ARRAY_TASK_MIN); `none`
        /// runs whole grids even in a job array.
        #[arg(long, value_name = "I/N|none", value_parser = shard_flag)]
        shard: Option<ShardFlag>,
        /// Print nothing but errors (no progress bars).
        #[arg(long)]
        quiet: bool,
        /// Continue a sweep that a killed run (kill -9, a time limit, preemption) left
        /// half-written: from the last grid point it wrote whole, to the same bytes as an
        /// uninterrupted run (default when Slurm requeued the job).
        #[arg(long)]
        resume: bool,
    },
    /// Join the shards of a sharded sweep (OUT/<name>/shards/I-of-N) into OUT/<name>/.
    Merge {
        /// The scenario's result folder, OUT/<name>.
        dir: PathBuf,
    },
    /// Draw the figures of a finished result folder into DIR/plots/, with DIR/index.html.
    ///
    /// Reads the CSVs and manifest.json (never re-runs): single runs get the criterion
    /// against t with the theory's decay, the path (n = 2) or coordinates, the energy and
    /// the continuous-discrete gap; sweeps get heat maps (two axes) or rate lines (one).
    Plot {
        /// The scenario's result folder, OUT/<name>.
        dir: PathBuf,
        /// svg: every figure as SVG; png: heat maps also as PNG rasters.
        #[arg(long, value_enum, default_value_t = PlotFormat::Svg)]
        format: PlotFormat,
    },
    /// Validate scenario files without running them.
    Check {
        /// Scenario files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print the closed-form analysis of a scenario (docs/theory.md §2-§5).
    ///
    /// Per Hessian eigenvalue the continuous roots, decay rate, speed-up and damping; per
    /// discrete entry ε, p, the roots σ, spectral radius, stability, optimal momentum and
    /// largest stable learning rate; Goh's global optimum.
    Theory {
        /// A scenario file (a directory: every *.toml in it; text format only).
        path: PathBuf,
        /// text: readable tables; csv: section,entry,component,quantity,value rows.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The grid point of a sweep to analyse, from 0.
        #[arg(long, value_name = "I", default_value_t = 0)]
        point: u64,
    },
}

/// Output format of `theory`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Aligned tables for people.
    Text,
    /// One number a row, for machines.
    Csv,
}

/// Image format of `plot`'s heat maps.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlotFormat {
    /// SVG only.
    Svg,
    /// Heat maps also as PNG rasters.
    Png,
}

/// SPEC exit codes: 2 if any input was rejected (even beside an I/O failure), else 1 if
/// any output could not be written, else 0.
#[derive(Default)]
struct Tally {
    input_errors: bool,
    io_errors: bool,
}

impl Tally {
    fn error(&mut self, e: &heavyball::Error) {
        eprintln!("error: {e}");
        match e.exit_code() {
            2 => self.input_errors = true,
            _ => self.io_errors = true,
        }
    }

    fn code(&self) -> ExitCode {
        if self.input_errors {
            ExitCode::from(2)
        } else if self.io_errors {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    heavyball::limits::file_size_limit_as_error();
    heavyball::limits::out_of_memory_as_error();
    heavyball::limits::keep_freed_memory();
    let mut tally = Tally::default();
    match cli.command {
        Command::Run {
            paths,
            out,
            threads,
            shard,
            quiet,
            resume,
        } => {
            let Some(options) = run_options(out, threads, shard, quiet, resume) else {
                return ExitCode::from(2);
            };
            run::run_paths(&paths, &options, |o: Outcome| match &o.result {
                Ok(w) if !quiet => println!(
                    "{}: wrote {}{}",
                    shown(&o.input),
                    shown(&w.folder),
                    resumed(w)
                ),
                Ok(_) => {}
                Err(e) => tally.error(e),
            });
        }
        Command::Merge { dir } => match heavyball::merge::merge(&dir) {
            Ok(dir) => println!("merged the shards into {}", shown(&dir)),
            Err(e) => tally.error(&e),
        },
        Command::Plot { dir, format } => plot(&dir, format, &mut tally),
        Command::Check { paths } => check(&paths, &mut tally),
        Command::Theory {
            path,
            format,
            point,
        } => theory(path, format, point, &mut tally),
    }
    tally.code()
}

/// What `--resume` did, for the `wrote` line: the points it kept, or the partial folders
/// it left to the processes still writing them.
fn resumed(w: &run::Written) -> String {
    match (w.resumed, &w.running[..]) {
        (Some(kept), _) => format!(" (resumed: {kept} grid points kept from the killed run)"),
        (None, []) => String::new(),
        (None, running) => {
            let names: Vec<String> = running.iter().map(|p| shown(p)).collect();
            format!(
                " (nothing resumed: {} still being written by a running process)",
                names.join(", ")
            )
        }
    }
}

/// `--shard`: a slice of each grid, or `none`, the whole grid whatever the environment
/// says (one scenario per task of a job array).
#[derive(Debug, Clone, Copy)]
enum ShardFlag {
    Whole,
    Slice(Shard),
}

/// Parses `--shard`'s `I/N` or `none`.
fn shard_flag(text: &str) -> Result<ShardFlag, String> {
    match text.trim() {
        "none" => Ok(ShardFlag::Whole),
        _ => Shard::parse(text)
            .map(ShardFlag::Slice)
            .map_err(|e| format!("{e}; or none, for whole grids")),
    }
}

/// `heavyball run`'s flags as [`RunOptions`]: the shard from `--shard` or Slurm's array
/// variables, all cores unless `--threads`, and `--resume` also when Slurm requeued the job.
/// None (after printing why) when the environment names a bad shard.
fn run_options(
    out: PathBuf,
    threads: Option<u64>,
    shard: Option<ShardFlag>,
    quiet: bool,
    resume: bool,
) -> Option<RunOptions> {
    let shard = match shard {
        Some(ShardFlag::Slice(s)) => Some(s),
        Some(ShardFlag::Whole) => None,
        None => match Shard::from_env(|k| std::env::var(k).ok()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return None;
            }
        },
    };
    let threads = threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    Some(RunOptions {
        out,
        threads,
        shard,
        progress: !quiet,
        resume: resume || requeued(|k| std::env::var(k).ok()),
    })
}

/// `heavyball plot`: the figures of one result folder.
fn plot(dir: &Path, format: PlotFormat, tally: &mut Tally) {
    let format = match format {
        PlotFormat::Svg => heavyball::figures::ImageFormat::Svg,
        PlotFormat::Png => heavyball::figures::ImageFormat::Png,
    };
    let options = heavyball::figures::PlotOptions { format };
    match heavyball::figures::plot_folder(dir, &options) {
        Ok(p) => println!(
            "drew {} figure file(s) into {} and wrote {}",
            p.files.len(),
            shown(&dir.join("plots")),
            shown(&p.index)
        ),
        Err(e) => tally.error(&e),
    }
}

/// `heavyball check`: each scenario validated, with its cost estimate.
fn check(paths: &[PathBuf], tally: &mut Tally) {
    let ok = run::load_runnable(paths, |o: Outcome| {
        if let Err(e) = &o.result {
            tally.error(e);
        }
    });
    for (path, s) in ok {
        let estimate = run::estimate(&s);
        println!("{}: ok ({}): {estimate}", shown(&path), s.name);
    }
}

/// `heavyball theory`: the report of each scenario under `path` on stdout.
fn theory(path: PathBuf, format: Format, point: u64, tally: &mut Tally) {
    use std::io::Write as _;
    let loaded = run::load_all(std::slice::from_ref(&path), |o: Outcome| {
        if let Err(e) = &o.result {
            tally.error(e);
        }
    });
    if format == Format::Csv && loaded.len() > 1 {
        tally.error(
            &heavyball::InputError {
                file: path.clone(),
                position: None,
                key: "path".into(),
                message: format!(
                    "--format csv reports one scenario, and this directory holds {} valid ones; give one file",
                    loaded.len()
                ),
            }
            .into(),
        );
        return;
    }
    let mut out = std::io::stdout().lock();
    let mut first = true;
    for (file, s) in loaded {
        let report = match heavyball::report::analyse(&file, &s, point) {
            Ok(r) => r,
            Err(e) => {
                tally.error(&e.into());
                continue;
            }
        };
        let bytes = match format {
            Format::Csv => report.to_csv(),
            Format::Text if first => report.to_text(&file).into_bytes(),
            Format::Text => format!("\n{}", report.to_text(&file)).into_bytes(),
        };
        first = false;
        if let Err(e) = out.write_all(&bytes).and_then(|()| out.flush()) {
            tally.error(&heavyball::Error::io("<stdout>", e));
            return;
        }
    }
}

/// A path as one line of output: the user's control characters escaped, as in errors.
fn shown(path: &Path) -> String {
    heavyball::error::printable(&path.display().to_string()).into_owned()
}
