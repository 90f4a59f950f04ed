//! The `sslp` command line.

use clap::{Parser, Subcommand, ValueEnum};
use sslp::cli;
use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(feature = "cuda")]
mod cuda_shim;

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

/// Where the cache lives.
#[derive(clap::Args, Debug, Clone)]
struct StoreArgs {
    /// The store directory (default: `.sslp` beside the pipeline).
    #[arg(long, env = "SSLP_STORE")]
    store: Option<PathBuf>,
    /// Wait for a store another process holds, instead of failing.
    #[arg(long)]
    wait: bool,
}

#[derive(Subcommand)]
enum CacheCmd {
    /// List every entry.
    Ls,
    /// Show one entry (by key prefix) as JSON.
    Show {
        /// Key prefix (at least a few hex digits).
        key: String,
    },
    /// Remove blobs that no entry refers to.
    Gc,
    /// Re-hash every blob and report damage.
    Verify,
    /// Write one output of an entry to a file or stdout.
    Cat {
        /// Key prefix.
        key: String,
        /// Output name (`images`, `grid`, ...).
        output: String,
        /// Destination file (default: stdout).
        #[arg(short = 'o', long)]
        out: Option<PathBuf>,
    },
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
        /// Treat warnings as errors (exit 1), for CI.
        #[arg(long)]
        deny_warnings: bool,
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
        /// Treat warnings as errors (exit 1), for CI.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Semantic diff of two pipeline designs.
    Diff {
        /// OLD NEW: the two pipeline files. With --git: git's external-diff arguments,
        /// PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE (and NEW-PATH INFO for a rename).
        #[arg(required = true, num_args = 2.., value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Act as git's external diff driver (`git config diff.sslp.command "sslp diff --git"`).
        #[arg(long)]
        git: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: cli::DiffFormat,
        /// The store whose records estimate the compute (markdown; default: `.sslp` beside NEW).
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// One line per arm of a pipeline, for git's textconv driver (`git diff` shows design changes).
    Textconv {
        /// The pipeline file (git's copy of one version).
        file: PathBuf,
    },
    /// Run a pipeline: execute every step the store does not have yet.
    Run {
        /// The pipeline file.
        file: PathBuf,
        /// Only print what would run.
        #[arg(long)]
        dry_run: bool,
        /// Steps run at once.
        #[arg(long, short = 'j', default_value_t = 1)]
        jobs: usize,
        /// Only arms whose names contain this (repeatable).
        #[arg(long = "arm")]
        arms: Vec<String>,
        /// Train on this device instead of the pipeline's: `cpu`, `cuda`, `cuda:N`.
        #[arg(long)]
        device: Option<String>,
        /// Treat warnings as errors: do not run a pipeline with warnings (for CI).
        #[arg(long)]
        deny_warnings: bool,
        /// Progress output: `human` (stderr), or `json`: one event per line on stdout.
        #[arg(long, value_enum, default_value = "human")]
        format: cli::EventFormat,
        /// Where steps run: `local` (this machine), or `slurm` (one job per step,
        /// all queued at once) [default: the file's `set executor`, else local].
        #[arg(long, value_enum)]
        executor: Option<cli::ExecutorChoice>,
        /// Slurm: the partition jobs go to (overrides `set executor`).
        #[arg(long)]
        partition: Option<String>,
        /// Slurm: the account jobs are charged to (overrides `set executor`).
        #[arg(long)]
        account: Option<String>,
        /// Slurm: at most this many of the pipeline's jobs queued or running at once.
        #[arg(long)]
        max_jobs: Option<usize>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show each arm's state: done, queued, running, failed (with why), or not run.
    ///
    /// Reads the store without taking it, so it works while a coordinator runs.
    Status {
        /// The pipeline file.
        file: PathBuf,
        /// Only arms whose names contain this (repeatable).
        #[arg(long = "arm")]
        arms: Vec<String>,
        /// The store directory (default: `.sslp` beside the pipeline).
        #[arg(long, env = "SSLP_STORE")]
        store: Option<PathBuf>,
    },
    /// Run one step from its step file (what each cluster job runs).
    ///
    /// The step file (`STORE/steps/KEY.json`, written by `sslp run --executor slurm`)
    /// holds the step and what it depends on; the worker reads its inputs from the
    /// store, writes its outputs and a completion record there, and exits 0 when the
    /// step is done, 1 when it failed, 2 when it could not run.
    Worker {
        /// The step file.
        step_file: PathBuf,
        /// The store (default: the folder above the step file's `steps/`).
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Render the first images of a dataset through a policy as a grid PNG.
    Preview {
        /// The pipeline file.
        file: PathBuf,
        /// The policy (a name declared or imported in the file).
        #[arg(long)]
        policy: String,
        /// The images: `parts.train`, a dataset name (default: the first split's train part).
        #[arg(long)]
        data: Option<String>,
        /// How many images [default: the `preview` report's, 40].
        #[arg(short = 'n', long)]
        count: Option<u32>,
        /// Grid columns [default: 8].
        #[arg(long)]
        cols: Option<u32>,
        /// Smallest cell side in pixels; smaller views are enlarged by a whole factor [default: 128].
        #[arg(long)]
        tile: Option<u32>,
        /// Which epoch's random draws [default: 0].
        #[arg(long)]
        epoch: Option<u32>,
        /// Output PNG.
        #[arg(short = 'o', long)]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Inspect and maintain the cache.
    Cache {
        #[command(subcommand)]
        command: CacheCmd,
        /// The store directory.
        #[arg(long, global = true, env = "SSLP_STORE", default_value = ".sslp")]
        store: PathBuf,
        /// Wait for a store another process holds.
        #[arg(long, global = true)]
        wait: bool,
    },
    /// Write a pretraining run's backbone weights as a file PyTorch loads.
    ///
    /// RUN is a pretrain (or init_backbone) step: its key, a unique key prefix, or its
    /// declaration's name when one run has it (`sslp cache ls` lists the store's steps).
    /// With `--format torchvision` (the default) the file has torchvision's ResNet names
    /// or timm's ViT names and layouts, without the classifier, and the command prints the
    /// Python lines that build the model and load the file with
    /// `load_state_dict(..., strict=True)`: `model.fc = torch.nn.Identity()` for
    /// torchvision, `num_classes=0` for timm, and, for `cifar_stem: true`, a 3x3 stride-1
    /// `conv1` and no `maxpool`. `tiny_convnet` has no PyTorch counterpart: use
    /// `--format safetensors` (burn's names).
    Export {
        /// The run: a step key, a unique prefix of one, or a declaration name.
        run: String,
        /// Whose parameter names the file uses.
        #[arg(long, value_enum, default_value = "torchvision")]
        format: cli::ExportFormat,
        /// The file to write [default: DECL-KEY.FORMAT.safetensors in the current folder].
        #[arg(short = 'o', long)]
        out: Option<PathBuf>,
        /// The store directory.
        #[arg(long, env = "SSLP_STORE", default_value = ".sslp")]
        store: PathBuf,
        /// Wait for a store another process holds.
        #[arg(long)]
        wait: bool,
    },
    /// Salient-region detection: HC/RC maps or SaliencyCut masks as PNGs, optionally scored.
    Saliency {
        /// Images, or folders of images.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// What to compute.
        #[arg(long, value_enum, default_value = "cut")]
        method: cli::SaliencyMethod,
        /// The CVPR 2011 variant (no centre or border prior) instead of the TPAMI code's.
        #[arg(long)]
        cvpr2011: bool,
        /// Write `<stem>_<method>.png` here.
        #[arg(short = 'o', long)]
        out: Option<PathBuf>,
        /// Score against same-stem PNG masks in this folder (MSRA10K / ECSSD layout).
        #[arg(long)]
        eval: Option<PathBuf>,
    },
    /// Collect the results of a pipeline's arms into tables, plots and an HTML page.
    Report {
        /// The pipeline file.
        file: PathBuf,
        /// Output folder (default: `reports/<file stem>` beside the pipeline).
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Check that training on a device computes what it computes on the CPU, and time it.
    ///
    /// Four stages, each writing its JSON to DIR as soon as it ends (so a check cut short
    /// still leaves the finished ones): 1-losses.json (every SSL loss and its gradients
    /// against float64 reference vectors, in f32 and f16/bf16), 2-backbones.json (forward and
    /// backward of each backbone against the CPU, same weights and batch), 3-training.json
    /// (the first steps of the quickstart's SimCLR run beside the same steps on the CPU, both
    /// loss curves), 4-throughput.json (images/s and peak memory of SimCLR steps of ResNet-18
    /// and ResNet-50, and the ratio to PyTorch when python3 can import torch), then
    /// summary.json. On the CPU the device is compared with a separately built copy of
    /// itself. Exit 0 when every stage passes or is skipped, 1 on any mismatch, 2 when the
    /// device cannot be used.
    #[command(name = "device-check")]
    DeviceCheck {
        /// The device to check: `cpu`, `cuda` or `cuda:N`.
        #[arg(long)]
        device: String,
        /// Folder for the JSON results (created if missing).
        #[arg(long, default_value = "device-check")]
        out: PathBuf,
        /// Folder with `ssl_losses.json` and, optionally, the PyTorch peer `peer_step.py`
        /// [default: the project's tests/vectors].
        #[arg(long)]
        inputs: Option<PathBuf>,
        /// How much work: `small` (default on cpu) or `full` (default on cuda).
        #[arg(long, value_enum)]
        profile: Option<cli::CheckProfile>,
    },
    /// Explain a kind (op, method, backbone, ...): its parameters and defaults.
    Explain {
        /// The kind's name; omit to list every kind.
        name: Option<String>,
    },
    /// Run the language server on stdin/stdout (for editors).
    Lsp {
        /// Instead of serving: time re-checking this file after an edit, a hover and a completion.
        #[arg(long, value_name = "FILE")]
        bench: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Logs go to stderr, filtered by SSLP_LOG (e.g. `SSLP_LOG=info`); quiet by default.
    let filter = tracing_subscriber::EnvFilter::try_from_env("SSLP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let code = match args.command {
        Command::Check {
            files,
            format,
            deny_warnings,
        } => {
            let format = match format {
                DiagFormat::Human => cli::DiagOutput::Human,
                DiagFormat::Short => cli::DiagOutput::Short,
                DiagFormat::Json => cli::DiagOutput::Json,
            };
            cli::check(&files, format, deny_warnings)
        }
        Command::Fmt { files, check } => cli::fmt(&files, check),
        Command::Plan {
            file,
            format,
            deny_warnings,
        } => cli::plan(&file, format, deny_warnings),
        Command::Diff {
            files,
            git: true,
            format,
            store,
        } => cli::diff_git(&files, format, store.as_deref()),
        Command::Diff {
            files,
            git: false,
            format,
            store,
        } => match files.as_slice() {
            [old, new] => cli::diff(old, new, format, store.as_deref()),
            _ => {
                eprintln!(
                    "error: `sslp diff` takes two files, OLD and NEW (or git's arguments after --git)"
                );
                cli::USAGE
            }
        },
        Command::Textconv { file } => cli::textconv(&file),
        Command::Run {
            file,
            dry_run,
            jobs,
            arms,
            device,
            deny_warnings,
            format,
            executor,
            partition,
            account,
            max_jobs,
            store,
        } => cli::run(
            &file,
            &cli::RunArgs {
                dry_run,
                jobs,
                arms,
                device,
                store: store.store,
                wait: store.wait,
                deny_warnings,
                events: format,
                executor,
                partition,
                account,
                max_jobs,
            },
        ),
        Command::Status { file, arms, store } => cli::status(&file, store.as_deref(), &arms),
        Command::Worker { step_file, store } => cli::worker(&step_file, store.as_deref()),
        Command::Preview {
            file,
            policy,
            data,
            count,
            cols,
            tile,
            epoch,
            out,
            store,
        } => cli::preview(
            &file,
            &cli::PreviewArgs {
                policy,
                data,
                count,
                cols,
                tile,
                epoch,
                out,
                run: cli::RunArgs {
                    jobs: 1,
                    store: store.store,
                    wait: store.wait,
                    ..Default::default()
                },
            },
        ),
        Command::Cache {
            command,
            store,
            wait,
        } => {
            let cmd = match command {
                CacheCmd::Ls => cli::CacheCommand::Ls,
                CacheCmd::Show { key } => cli::CacheCommand::Show(key),
                CacheCmd::Gc => cli::CacheCommand::Gc,
                CacheCmd::Verify => cli::CacheCommand::Verify,
                CacheCmd::Cat { key, output, out } => cli::CacheCommand::Cat { key, output, out },
            };
            cli::cache(&store, wait, &cmd)
        }
        Command::Export {
            run,
            format,
            out,
            store,
            wait,
        } => cli::export(&store, wait, &run, format, out.as_deref()),
        Command::Report { file, out, store } => cli::report(
            &file,
            out.as_deref(),
            &cli::RunArgs {
                jobs: 1,
                store: store.store,
                wait: store.wait,
                ..Default::default()
            },
        ),
        Command::Explain { name } => cli::explain(name.as_deref()),
        Command::Lsp { bench } => cli::lsp(bench.as_deref()),
        Command::DeviceCheck {
            device,
            out,
            inputs,
            profile,
        } => cli::device_check(&cli::DeviceCheckArgs {
            device,
            out,
            inputs,
            profile,
        }),
        Command::Saliency {
            inputs,
            method,
            cvpr2011,
            out,
            eval,
        } => cli::saliency(&cli::SaliencyArgs {
            inputs,
            method,
            cvpr2011,
            out,
            eval,
        }),
    };
    ExitCode::from(code)
}
