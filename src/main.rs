//! The `sslp` command line.

use clap::{Parser, Subcommand, ValueEnum};
use sslp::cli;
use std::path::PathBuf;
use std::process::ExitCode;

/// A declarative pipeline language for self-supervised learning experiments on images.
#[derive(Parser)]
#[command(name = "sslp", version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

/// How diagnostics are printed.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum DiagFormat {
    /// Rich reports with source excerpts.
    Human,
    /// One line per problem: file:line:col: error[code]: message.
    Short,
    /// A JSON array, for editors and CI.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check pipeline files: syntax, names, types, ranges, cycles, sweeps.
    Check {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format for diagnostics.
        #[arg(long, value_enum, default_value = "human")]
        format: DiagFormat,
    },
    /// Format pipeline files canonically (in place, or check with --check).
    Fmt {
        /// Files to format.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Do not write; exit 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Show the plan: the DAG of content-addressed steps and the arms using them.
    Plan {
        /// The pipeline file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: cli::PlanFormat,
    },
    /// Semantic diff of two pipeline designs.
    Diff {
        /// The old pipeline file.
        old: PathBuf,
        /// The new pipeline file.
        new: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: cli::DiffFormat,
    },
    /// Run a pipeline (use --dry-run to list the steps that would run).
    Run {
        /// The pipeline file.
        file: PathBuf,
        /// Only print what would run.
        #[arg(long)]
        dry_run: bool,
    },
    /// Explain a kind (op, method, backbone, ...): its parameters and defaults.
    Explain {
        /// The kind's name; omit to list every kind.
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let code = match args.command {
        Command::Check { files, format } => {
            let format = match format {
                DiagFormat::Human => cli::DiagOutput::Human,
                DiagFormat::Short => cli::DiagOutput::Short,
                DiagFormat::Json => cli::DiagOutput::Json,
            };
            cli::check(&files, format)
        }
        Command::Fmt { files, check } => cli::fmt(&files, check),
        Command::Plan { file, format } => cli::plan(&file, format),
        Command::Diff { old, new, format } => cli::diff(&old, &new, format),
        Command::Run { file, dry_run } => cli::run(&file, dry_run),
        Command::Explain { name } => cli::explain(name.as_deref()),
    };
    ExitCode::from(code)
}
