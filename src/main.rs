//! `main` parses, runs and maps the outcome to an exit code: 0 success, 1 a gate failed,
//! 2 the run could not be made, 128 + the signal's number when a signal interrupted the run (after
//! printing and writing what was measured).

use std::process::ExitCode;

use clap::Parser;
use connbench::cli::{one_line, Cli, Command};
use connbench::commands::{self, Failure};
use connbench::signals;

fn main() -> ExitCode {
    // Habits of other tools, met before clap: `connbench URL`, hey's `-h2`, a value that says whose flag it is.
    let args: Vec<String> = match std::env::args_os().map(|arg| arg.into_string()).collect() {
        Ok(args) => match connbench::habits::translate(args) {
            Ok(args) => args,
            Err(why) => {
                eprintln!("connbench: {why}");
                return ExitCode::from(2);
            }
        },
        // Not text: clap says so, naming the argument.
        Err(_) => Vec::new(),
    };
    let parsed = if args.is_empty() { Cli::try_parse() } else { Cli::try_parse_from(&args) };
    let cli = match parsed {
        Ok(cli) => cli,
        // The full help, when no subcommand was given, is more use than its first line.
        Err(err)
            if err.use_stderr() && err.kind() != clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            eprintln!("connbench: {}", one_line(&err));
            return ExitCode::from(2);
        }
        Err(err) => err.exit(),
    };
    let stop = signals::watch();
    let outcome = match &cli.command {
        Command::Run(args) => commands::run::run(args, std::env::args().collect(), stop).map(|result| result.complete),
        Command::Serve(args) => commands::serve::serve(args, stop).map(|()| true),
        Command::Compare(args) => commands::compare::compare(args).map(|()| true),
        Command::Merge(args) => commands::merge::merge(args).map(|()| true),
        Command::Report(args) => commands::report::report(args).map(|()| true),
        Command::Ports(args) => commands::ports::run(args).map(|()| true),
        Command::Probe(args) => connbench::probe::run(args).map(|()| true),
        Command::Page(args) => commands::page::page(args, std::env::args().collect(), stop),
        Command::Completions { shell } => {
            connbench::manual::completions(*shell, &mut std::io::stdout().lock()).map_err(Failure::Io).map(|()| true)
        }
        Command::Man => connbench::manual::man(&mut std::io::stdout().lock()).map_err(Failure::Io).map(|()| true),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(signals::exit_code()),
        // A closed pipe (`connbench ports | head`) is the reader's choice, not our failure.
        Err(Failure::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Gate(why)) => {
            eprintln!("connbench: {why}");
            ExitCode::from(1)
        }
        Err(failure) => {
            eprintln!("connbench: {failure}");
            ExitCode::from(2)
        }
    }
}
