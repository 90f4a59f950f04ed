//! The Slurm executor: hands every step that is not in the store to Slurm at
//! once, as one `sbatch` job per step chained by `--dependency=afterok:`, and
//! gets out of the way.
//!
//! A job runs `sslp worker` on the step file the coordinator wrote into the
//! store (`steps/KEY.json`); it ends by writing the step's completion record
//! (`records/`). The job id is kept beside it (`jobs/KEY.json`, with the
//! job's script `KEY.sh` and output `KEY.out`), so a later `run` never
//! submits a duplicate of a queued or running job, and recognises finished
//! ones by their records even when Slurm has forgotten them (`MinJobAge`, no
//! accounting). Everything here reads and writes only the store's folder and
//! calls only `sbatch`, `squeue` and `scontrol`.

use super::events::{Event, Progress};
use super::executor::{Outcome, needed_steps};
use super::stepfile::StepFile;
use super::store::{Status, Store, StoreError};
use crate::plan::{Key, Plan, Step, resources_of};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How steps are handed to Slurm (from `set executor = slurm(...)`, then the command line).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// At most this many of the pipeline's jobs queued or running at once (`--wait` tops up).
    pub max_jobs: Option<usize>,
    /// More `sbatch` options, written into every job script as they are.
    pub sbatch_args: Vec<String>,
    /// Only print the job scripts.
    pub dry_run: bool,
    /// The `sslp` binary the jobs run (on a path every node sees).
    pub sslp: PathBuf,
    /// The pipeline's folder: relative dataset paths start there.
    pub base: PathBuf,
    /// The device override of `sslp run --device`, if any.
    pub device: Option<String>,
    /// Only these arms (names containing one of these; all when empty).
    pub arms: Vec<String>,
}

/// The job a step was submitted as (`jobs/KEY.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEntry {
    /// Slurm's job id.
    pub job_id: String,
    /// When it was submitted, milliseconds since the Unix epoch.
    pub submitted_ms: u64,
}

/// A Slurm problem: a command that could not run or said no.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// A Slurm command could not be started (not installed, not on PATH).
    #[error("cannot run `{command}`: {message} (is Slurm's client installed and on PATH?)")]
    Missing {
        /// The command.
        command: String,
        /// What failed.
        message: String,
    },
    /// A Slurm command failed.
    #[error("`{command}` failed: {message}")]
    Failed {
        /// The command line.
        command: String,
        /// Its stderr.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a job is, as Slurm reports it (or the store, once Slurm forgot it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Waiting (for its inputs, or for resources).
    Queued {
        /// Slurm's reason (`Dependency`, `Resources`, ...).
        reason: String,
    },
    /// Running.
    Running,
    /// Slurm says it ended this way (`COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, ...).
    Ended {
        /// Slurm's state.
        state: String,
        /// Slurm's reason.
        reason: String,
    },
    /// Slurm does not know the job (it ended more than `MinJobAge` ago, or never existed).
    Unknown,
}

impl JobState {
    fn live(&self) -> bool {
        matches!(self, JobState::Queued { .. } | JobState::Running)
    }
}

/// One job state from `squeue`'s `%T` and `%r`.
fn parse_state(state: &str, reason: &str) -> JobState {
    match state {
        // Waiting on a job that failed: it will never run, and `--kill-on-invalid-dep`
        // is cancelling it.
        "PENDING" if reason == "DependencyNeverSatisfied" => JobState::Ended {
            state: "CANCELLED".into(),
            reason: reason.to_string(),
        },
        "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "SUSPENDED" | "RESV_DEL_HOLD"
        | "SPECIAL_EXIT" => JobState::Queued {
            reason: reason.to_string(),
        },
        "RUNNING" | "CONFIGURING" | "COMPLETING" | "RESIZING" | "SIGNALING" | "STAGE_OUT" => {
            JobState::Running
        }
        other => JobState::Ended {
            state: other.to_string(),
            reason: reason.to_string(),
        },
    }
}

fn run_command(program: &str, args: &[String]) -> Result<String, SlurmError> {
    let line = || format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| SlurmError::Missing {
            command: program.to_string(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(SlurmError::Failed {
            command: line(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The states of these jobs, in one `squeue` call (jobs Slurm does not know are absent).
pub fn job_states(ids: &[String]) -> Result<BTreeMap<String, JobState>, SlurmError> {
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(500) {
        let args = vec![
            "-h".into(),
            "-t".into(),
            "all".into(),
            "-o".into(),
            "%i|%T|%r".into(),
            "-j".into(),
            chunk.join(","),
        ];
        let text = match run_command("squeue", &args) {
            Ok(t) => t,
            // squeue refuses a list in which every id is unknown.
            Err(SlurmError::Failed { message, .. }) if message.contains("Invalid job id") => {
                continue;
            }
            Err(e) => return Err(e),
        };
        for line in text.lines() {
            let mut f = line.split('|');
            if let (Some(id), Some(state), Some(reason)) = (f.next(), f.next(), f.next()) {
                out.insert(
                    id.trim().to_string(),
                    parse_state(state.trim(), reason.trim()),
                );
            }
        }
    }
    Ok(out)
}

/// One job's state from `scontrol show job` (`None` when Slurm does not know it).
fn job_state(job_id: &str) -> Option<JobState> {
    let text = run_command(
        "scontrol",
        &["-o".into(), "show".into(), "job".into(), job_id.into()],
    )
    .ok()?;
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .map(str::to_string)
    };
    Some(parse_state(
        &field("JobState=")?,
        &field("Reason=").unwrap_or_default(),
    ))
}

/// The exit code Slurm recorded for a job (`ExitCode=3:0` → `3:0`), while it still knows it.
fn exit_code(job_id: &str) -> Option<String> {
    let text = run_command(
        "scontrol",
        &["-o".into(), "show".into(), "job".into(), job_id.into()],
    )
    .ok()?;
    text.split_whitespace()
        .find_map(|f| f.strip_prefix("ExitCode="))
        .map(str::to_string)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The files of a step's job in the store.
pub struct JobFiles {
    /// The step file (`steps/KEY.json`).
    pub step_file: PathBuf,
    /// The job script (`jobs/KEY.sh`).
    pub script: PathBuf,
    /// The job's output and errors (`jobs/KEY.out`).
    pub log: PathBuf,
    /// The job entry (`jobs/KEY.json`).
    pub entry: PathBuf,
}

impl JobFiles {
    /// The files of `key`'s job in the store at `dir`.
    pub fn of(dir: &Path, key: &Key) -> JobFiles {
        let hex = key.hex();
        JobFiles {
            step_file: dir.join("steps").join(format!("{hex}.json")),
            script: dir.join("jobs").join(format!("{hex}.sh")),
            log: dir.join("jobs").join(format!("{hex}.out")),
            entry: dir.join("jobs").join(format!("{hex}.json")),
        }
    }
}

/// The job entry of a step, if it was ever submitted.
pub fn job_entry(store: &Store, key: &Key) -> Option<JobEntry> {
    let bytes = std::fs::read(JobFiles::of(store.dir(), key).entry).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The last `lines` lines of a job's output (what a failure shows).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Seconds before the time limit at which a job is asked to requeue itself.
fn requeue_margin(time: Option<&str>) -> Option<u32> {
    let t = time?;
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (d.parse::<u32>().ok()?, r),
        None => (0, t),
    };
    let parts: Vec<u32> = rest
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let seconds = days * 86_400
        + match parts.as_slice() {
            [m] if days == 0 => m * 60,
            [h] => h * 3600,
            [m, s] if days == 0 => m * 60 + s,
            [h, m] => h * 3600 + m * 60,
            [h, m, s] => h * 3600 + m * 60 + s,
            _ => return None,
        };
    (seconds >= 600).then_some(120)
}

/// The job script for a step: `#SBATCH` lines from the options and the step's
/// resources, then `sslp worker` on its step file. A job that nears its time
/// limit requeues itself, and resumes from the step's last checkpoint.
pub fn job_script(
    step: &Step,
    files: &JobFiles,
    dependencies: &[String],
    opts: &SlurmOptions,
) -> String {
    let r = resources_of(step);
    let mut s = String::from("#!/bin/bash\n");
    let mut sb = |line: String| {
        let _ = writeln!(s, "#SBATCH {line}");
    };
    sb(format!(
        "--job-name=sslp-{}-{}",
        step.kind,
        step.key.short()
    ));
    sb(format!("--output={}", files.log.display()));
    sb("--open-mode=append".into());
    sb("--requeue".into());
    if !dependencies.is_empty() {
        sb(format!("--dependency=afterok:{}", dependencies.join(":")));
        sb("--kill-on-invalid-dep=yes".into());
    }
    if let Some(p) = &opts.partition {
        sb(format!("--partition={p}"));
    }
    if let Some(a) = &opts.account {
        sb(format!("--account={a}"));
    }
    sb("--nodes=1".into());
    sb("--ntasks=1".into());
    if let Some(r) = &r {
        sb(format!("--cpus-per-task={}", r.cpus));
        if r.gpus > 0 {
            sb(format!("--gpus-per-node={}", r.gpus));
        }
        sb(format!("--mem={}", r.mem));
        sb(format!("--time={}", r.time));
    }
    let margin = requeue_margin(r.as_ref().map(|r| r.time.as_str()));
    if let Some(m) = margin {
        sb(format!("--signal=B:USR1@{m}"));
    }
    for extra in &opts.sbatch_args {
        sb(extra.clone());
    }
    let _ = writeln!(
        s,
        "# sslp step {} ({} of `{}`), written by `sslp run --executor slurm`",
        step.key.hex(),
        step.kind,
        step.decl
    );
    s.push_str("set -u\n");
    let _ = writeln!(
        s,
        "echo \"sslp: job ${{SLURM_JOB_ID}} (restart ${{SLURM_RESTART_COUNT:-0}}) on $(hostname) at $(date -Is)\""
    );
    let _ = writeln!(
        s,
        "{} worker {} &\npid=$!",
        shell_quote(&opts.sslp.display().to_string()),
        shell_quote(&files.step_file.display().to_string())
    );
    if margin.is_some() {
        s.push_str(
            "trap 'echo \"sslp: time limit near: requeueing; the step resumes from its checkpoint\"; scontrol requeue \"$SLURM_JOB_ID\"' USR1\n",
        );
    }
    s.push_str(
        "wait \"$pid\"; rc=$?\nwhile [ \"$rc\" -gt 128 ] && kill -0 \"$pid\" 2>/dev/null; do wait \"$pid\"; rc=$?; done\nexit \"$rc\"\n",
    );
    s
}

/// What a submission did.
#[derive(Debug, Default)]
pub struct Submitted {
    /// Steps found done in the store.
    pub cached: Vec<Key>,
    /// Steps submitted now, with their job ids.
    pub submitted: Vec<(Key, String)>,
    /// Steps whose job was already queued or running (not submitted again).
    pub attached: Vec<(Key, String)>,
    /// Steps not submitted because of `max_jobs` (a later run or `--wait` submits them).
    pub held: Vec<Key>,
    /// With `dry_run`: each step's job script, in submission order.
    pub scripts: Vec<(Key, String)>,
}

/// Submits every needed step of `plan` that is neither done in the store nor
/// already queued or running, in dependency order, each with `afterok` on the
/// jobs of its inputs that are not done yet.
pub fn submit(plan: &Plan, store: &Store, opts: &SlurmOptions) -> Result<Submitted, SlurmError> {
    let needed = needed_steps(plan, &opts.arms, &[]);
    let mut out = Submitted::default();
    let mut pending: Vec<usize> = vec![];
    for &i in &needed {
        if store.is_done(&plan.steps[i].key)? {
            out.cached.push(plan.steps[i].key);
        } else {
            pending.push(i);
        }
    }
    let entries: BTreeMap<Key, JobEntry> = pending
        .iter()
        .filter_map(|&i| job_entry(store, &plan.steps[i].key).map(|e| (plan.steps[i].key, e)))
        .collect();
    let ids: Vec<String> = entries.values().map(|e| e.job_id.clone()).collect();
    let mut states = if ids.is_empty() || opts.dry_run {
        BTreeMap::new()
    } else {
        job_states(&ids)?
    };
    // A job squeue did not list is asked about once more, alone, before it is
    // taken for gone: submitting a duplicate of a live job is the one mistake
    // a resubmission must never make.
    if !opts.dry_run {
        for id in &ids {
            if !states.contains_key(id)
                && let Some(state) = job_state(id)
            {
                states.insert(id.clone(), state);
            }
        }
    }
    // The job each step not yet done waits on.
    let mut job_of: BTreeMap<Key, String> = BTreeMap::new();
    // Queued or running jobs are kept, unless an input is submitted anew below:
    // such a job waits on a job that ended without success and will never run.
    let mut keep: BTreeMap<Key, String> = BTreeMap::new();
    for &i in &pending {
        let key = plan.steps[i].key;
        if let Some(e) = entries.get(&key)
            && states.get(&e.job_id).is_some_and(JobState::live)
        {
            keep.insert(key, e.job_id.clone());
        }
    }
    let mut live = keep.len();
    let limit = opts.max_jobs.unwrap_or(usize::MAX);
    let mut held: BTreeSet<Key> = BTreeSet::new();
    let mut fresh: BTreeSet<Key> = BTreeSet::new();
    for &i in &pending {
        let step = &plan.steps[i];
        if let Some(id) = keep.get(&step.key) {
            if !step.inputs.values().any(|k| fresh.contains(k)) {
                job_of.insert(step.key, id.clone());
                out.attached.push((step.key, id.clone()));
                continue;
            }
            if !opts.dry_run {
                // Best effort: Slurm cancels it anyway once its old input's failure is seen.
                let _ = run_command("scancel", std::slice::from_ref(id));
            }
            live -= 1;
        }
        fresh.insert(step.key);
        // An input that is neither done nor has a job (held back): wait for it.
        let mut deps = vec![];
        let mut blocked = false;
        for k in step.inputs.values() {
            if let Some(id) = job_of.get(k) {
                deps.push(id.clone());
            } else if held.contains(k) {
                blocked = true;
            }
        }
        if blocked || live >= limit {
            held.insert(step.key);
            out.held.push(step.key);
            continue;
        }
        deps.sort();
        deps.dedup();
        let files = JobFiles::of(store.dir(), &step.key);
        let script = job_script(step, &files, &deps, opts);
        if opts.dry_run {
            let id = format!("<{}>", step.key.short());
            job_of.insert(step.key, id);
            out.scripts.push((step.key, script));
            continue;
        }
        let threads = resources_of(step).map_or(1, |r| r.cpus as usize);
        let file = StepFile::new(plan, &step.key, &opts.base, opts.device.clone(), threads);
        write_file(store, &files.step_file, &file.to_bytes())?;
        write_file(store, &files.script, script.as_bytes())?;
        let text = run_command(
            "sbatch",
            &["--parsable".into(), files.script.display().to_string()],
        )?;
        let job_id = text
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        if job_id.is_empty() {
            return Err(SlurmError::Failed {
                command: format!("sbatch --parsable {}", files.script.display()),
                message: "it printed no job id".into(),
            });
        }
        let entry = JobEntry {
            job_id: job_id.clone(),
            submitted_ms: now_ms(),
        };
        write_file(
            store,
            &files.entry,
            &serde_json::to_vec(&entry).unwrap_or_default(),
        )?;
        job_of.insert(step.key, job_id.clone());
        out.submitted.push((step.key, job_id));
        live += 1;
    }
    Ok(out)
}

fn write_file(store: &Store, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    store.write_file(path, bytes)
}

/// The needed steps of `plan` that a queued or running Slurm job is computing
/// (with the job id): a local run must not compute them a second time.
/// Slurm is asked only when some needed step has a job entry.
pub fn live_jobs(
    plan: &Plan,
    store: &Store,
    arms: &[String],
) -> Result<Vec<(Key, String)>, SlurmError> {
    let entries: Vec<(Key, JobEntry)> = needed_steps(plan, arms, &[])
        .into_iter()
        .filter_map(|i| job_entry(store, &plan.steps[i].key).map(|e| (plan.steps[i].key, e)))
        .collect();
    if entries.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<String> = entries.iter().map(|(_, e)| e.job_id.clone()).collect();
    let states = job_states(&ids)?;
    Ok(entries
        .into_iter()
        .filter(|(k, e)| {
            states.get(&e.job_id).is_some_and(JobState::live) && !store.is_done(k).unwrap_or(false)
        })
        .map(|(k, e)| (k, e.job_id))
        .collect())
}

/// The state of one needed step, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepStatus {
    /// Done in the store.
    Done,
    /// Its job waits in the queue.
    Queued {
        /// The job id.
        job: String,
        /// Slurm's reason.
        reason: String,
    },
    /// Its job runs.
    Running {
        /// The job id.
        job: String,
    },
    /// It failed: its record's message, or how its job ended.
    Failed {
        /// The job id, when a job ran it.
        job: Option<String>,
        /// Why.
        reason: String,
    },
    /// Its job was cancelled (by `scancel`, or by Slurm because an input failed).
    Cancelled {
        /// The job id.
        job: String,
        /// Slurm's reason.
        reason: String,
    },
    /// Not in the store and no job runs it.
    Missing,
}

impl StepStatus {
    /// True when nothing more will happen to the step without a new `run`.
    pub fn settled(&self) -> bool {
        !matches!(self, StepStatus::Queued { .. } | StepStatus::Running { .. })
    }
}

/// The status of each of these steps, from the store's records and one `squeue` call.
/// Slurm is asked only about steps that have a job entry; without Slurm the
/// states come from the records alone.
pub fn statuses(store: &Store, keys: &[Key]) -> Result<BTreeMap<Key, StepStatus>, SlurmError> {
    let mut out = BTreeMap::new();
    let mut jobs: Vec<(Key, JobEntry)> = vec![];
    for key in keys {
        match store.get(key)? {
            Some(r) if r.status == Status::Done && store.is_done(key)? => {
                out.insert(*key, StepStatus::Done);
            }
            record => {
                let entry = job_entry(store, key);
                let failed = record
                    .filter(|r| r.status == Status::Failed)
                    .and_then(|r| r.message);
                match (entry, failed) {
                    (Some(e), failed) => {
                        if let Some(message) = failed {
                            out.insert(
                                *key,
                                StepStatus::Failed {
                                    job: Some(e.job_id.clone()),
                                    reason: message,
                                },
                            );
                        }
                        jobs.push((*key, e));
                    }
                    (None, Some(message)) => {
                        out.insert(
                            *key,
                            StepStatus::Failed {
                                job: None,
                                reason: message,
                            },
                        );
                    }
                    (None, None) => {
                        out.insert(*key, StepStatus::Missing);
                    }
                }
            }
        }
    }
    if jobs.is_empty() {
        return Ok(out);
    }
    let ids: Vec<String> = jobs.iter().map(|(_, e)| e.job_id.clone()).collect();
    let states = job_states(&ids)?;
    for (key, entry) in jobs {
        let state = states
            .get(&entry.job_id)
            .cloned()
            .unwrap_or(JobState::Unknown);
        let job = entry.job_id.clone();
        let status = match state {
            // A job requeued after a failure recorded may run the step again.
            JobState::Queued { reason } => StepStatus::Queued { job, reason },
            JobState::Running => StepStatus::Running { job },
            _ if out.contains_key(&key) => continue,
            JobState::Ended { state, reason } if state == "CANCELLED" => {
                StepStatus::Cancelled { job, reason }
            }
            JobState::Ended { state, reason } => {
                let code = exit_code(&entry.job_id).unwrap_or_else(|| "?".into());
                let tail = log_tail(&JobFiles::of(store.dir(), &key).log, 5);
                StepStatus::Failed {
                    job: Some(job),
                    reason: format!(
                        "job {} ended {state} ({reason}, exit code {code}) without a record{}",
                        entry.job_id,
                        if tail.is_empty() {
                            String::new()
                        } else {
                            format!(":\n{tail}")
                        }
                    ),
                }
            }
            JobState::Unknown => StepStatus::Failed {
                job: Some(job),
                reason: format!(
                    "job {} ended without a record (Slurm no longer knows it: cancelled, or killed){}",
                    entry.job_id,
                    {
                        let tail = log_tail(&JobFiles::of(store.dir(), &key).log, 5);
                        if tail.is_empty() {
                            String::new()
                        } else {
                            format!(":\n{tail}")
                        }
                    }
                ),
            },
        };
        out.insert(key, status);
    }
    Ok(out)
}

/// Follows the submitted steps until every one is settled (done, failed or
/// cancelled), reporting starts and ends as progress events, and submitting
/// held steps as room frees up. Returns the last statuses.
pub fn wait(
    plan: &Plan,
    store: &Store,
    opts: &SlurmOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
    poll: Duration,
) -> Result<BTreeMap<Key, StepStatus>, SlurmError> {
    let needed = needed_steps(plan, &opts.arms, &[]);
    let keys: Vec<Key> = needed.iter().map(|&i| plan.steps[i].key).collect();
    let mut shown: BTreeMap<Key, StepStatus> = BTreeMap::new();
    let mut cached = 0;
    for k in &keys {
        if store.is_done(k)? {
            cached += 1;
            shown.insert(*k, StepStatus::Done);
        }
    }
    progress.event(&Event::Begin {
        total: keys.len(),
        cached,
    });
    let started: BTreeMap<Key, Instant> = BTreeMap::new();
    let mut started = started;
    loop {
        let now = statuses(store, &keys)?;
        // In plan order, so inputs are reported before what uses them.
        for (key, status) in keys.iter().filter_map(|k| now.get(k).map(|s| (k, s))) {
            if shown.get(key) == Some(status) {
                continue;
            }
            let Some(step) = plan.step(key) else { continue };
            match status {
                StepStatus::Running { .. } => {
                    started.insert(*key, Instant::now());
                    progress.event(&Event::Started { step });
                }
                StepStatus::Done => {
                    let seconds = store
                        .get(key)?
                        .map(|r| r.duration_ms as f64 / 1000.0)
                        .unwrap_or_default();
                    progress.event(&Event::Ended {
                        step,
                        outcome: &Outcome::Ran {
                            seconds,
                            peak_rss: None,
                        },
                    });
                }
                StepStatus::Failed { reason, .. } => progress.event(&Event::Ended {
                    step,
                    outcome: &Outcome::Failed(reason.clone()),
                }),
                StepStatus::Cancelled { job, reason } => progress.event(&Event::Ended {
                    step,
                    outcome: &Outcome::Failed(format!("job {job} was cancelled ({reason})")),
                }),
                StepStatus::Queued { .. } | StepStatus::Missing => {}
            }
            shown.insert(*key, status.clone());
        }
        let open = now.values().any(|s| !s.settled());
        let missing = now.values().any(|s| matches!(s, StepStatus::Missing));
        if missing && opts.max_jobs.is_some() && !cancel.load(Ordering::SeqCst) {
            // Held back by --max-jobs: submit what there is room for now.
            let more = submit(plan, store, opts)?;
            if !more.submitted.is_empty() {
                std::thread::sleep(poll);
                continue;
            }
        }
        if !open || cancel.load(Ordering::SeqCst) {
            return Ok(now);
        }
        std::thread::sleep(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_read_as_slurm_names_them() {
        assert!(parse_state("PENDING", "Dependency").live());
        assert!(parse_state("REQUEUED", "").live());
        assert!(!parse_state("PENDING", "DependencyNeverSatisfied").live());
        assert_eq!(parse_state("RUNNING", "None"), JobState::Running);
        assert_eq!(
            parse_state("CANCELLED", "DependencyNeverSatisfied"),
            JobState::Ended {
                state: "CANCELLED".into(),
                reason: "DependencyNeverSatisfied".into()
            }
        );
    }

    #[test]
    fn long_jobs_requeue_before_their_limit() {
        assert_eq!(requeue_margin(Some("12:00:00")), Some(120));
        assert_eq!(requeue_margin(Some("1-00")), Some(120));
        assert_eq!(requeue_margin(Some("5")), None);
        assert_eq!(requeue_margin(Some("30")), Some(120));
        assert_eq!(requeue_margin(None), None);
    }

    #[test]
    fn quotes_survive_the_shell() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
