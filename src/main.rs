//! The `heavyball` command line: arguments in, library calls, exit code out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use heavyball::run::{self, Outcome, RunOptions};

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
        /// Print nothing but errors.
        #[arg(long)]
        quiet: bool,
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
        Command::Run { paths, out, quiet } => {
            let options = RunOptions { out, threads: 1 };
            run::run_paths(&paths, &options, |o: Outcome| match &o.result {
                Ok(dir) if !quiet => println!("{}: wrote {}", o.input.display(), dir.display()),
                Ok(_) => {}
                Err(e) => tally.error(e),
            });
        }
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
