//! The `heavyball` command line: arguments in, library calls, exit code out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use heavyball::run::{self, Outcome, RunOptions};
use heavyball::sweep::Shard;

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
        /// SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT, SLURM_ARRAY_TASK_MIN).
        #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
        shard: Option<Shard>,
        /// Print nothing but errors (no progress bars).
        #[arg(long)]
        quiet: bool,
    },
    /// Join the shards of a sharded sweep (OUT/<name>/shards/I-of-N) into OUT/<name>/.
    Merge {
        /// The scenario's result folder, OUT/<name>.
        dir: PathBuf,
    },
    /// Validate scenario files without running them.
    Check {
        /// Scenario files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
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
    let mut tally = Tally::default();
    match cli.command {
        Command::Run {
            paths,
            out,
            threads,
            shard,
            quiet,
        } => {
            let shard = match shard {
                Some(s) => Some(s),
                None => match Shard::from_env(|k| std::env::var(k).ok()) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                },
            };
            let threads = threads.map_or_else(
                || std::thread::available_parallelism().map_or(1, |n| n.get()),
                |n| n as usize,
            );
            let options = RunOptions {
                out,
                threads,
                shard,
                progress: !quiet,
            };
            run::run_paths(&paths, &options, |o: Outcome| match &o.result {
                Ok(dir) if !quiet => println!("{}: wrote {}", o.input.display(), dir.display()),
                Ok(_) => {}
                Err(e) => tally.error(e),
            });
        }
        Command::Merge { dir } => match heavyball::merge::merge(&dir) {
            Ok(dir) => println!("merged the shards into {}", dir.display()),
            Err(e) => tally.error(&e),
        },
        Command::Check { paths } => {
            let ok = run::load_all(&paths, |o: Outcome| {
                if let Err(e) = &o.result {
                    tally.error(e);
                }
            });
            for (path, s) in ok {
                println!("{}: ok ({})", path.display(), s.name);
            }
        }
    }
    tally.code()
}
