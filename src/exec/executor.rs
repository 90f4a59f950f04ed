//! The scheduler: walks the plan's DAG, skips what the store already has,
//! runs the rest on a pool of workers, and records results atomically.
//!
//! Only this module decides what runs when. Workers compute; the
//! coordinating thread alone writes records, after the step's blobs are on
//! disk, so an interrupted run leaves finished steps finished and nothing
//! half-written. A failed step marks its dependents skipped; other arms go on.

use super::error::{StepError, StepFailure};
use super::events::{Epoch, Event};
pub use super::events::{Progress, Quiet};
use super::store::{Output, Record, Status, Store, StoreError};
pub use crate::notes::StepNote;
use crate::plan::{Key, Plan, Step};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A value a step produces.
#[derive(Debug, Clone, PartialEq)]
pub enum OutValue {
    /// Small: kept in the index.
    Inline(serde_json::Value),
    /// Large: written as a blob.
    Bytes(Vec<u8>),
}

/// What a step returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepOutput {
    /// Named outputs.
    pub outputs: BTreeMap<String, OutValue>,
    /// Scalar results.
    pub metrics: BTreeMap<String, f64>,
    /// Fallbacks and clamps that happened (also those counted through [`crate::notes`]).
    pub notes: Vec<StepNote>,
}

/// What a step gets to work with.
pub struct StepCtx<'a> {
    /// The store, for reading inputs (and offline-op results).
    pub store: &'a Store,
    /// The whole plan, for looking at input steps.
    pub plan: &'a Plan,
    /// Set when the user interrupts; long steps should stop early.
    pub cancel: &'a AtomicBool,
    /// Where long steps report how they are doing (epochs, losses).
    pub progress: &'a dyn Progress,
}

impl StepCtx<'_> {
    /// Reports a finished training epoch of a running step.
    pub fn epoch(&self, step: &Step, epoch: &Epoch) {
        self.progress.event(&Event::Epoch { step, epoch });
    }
}

/// Runs one step. Implementations are plain functions of the step and its inputs.
pub trait StepRunner: Sync {
    /// Computes a step's outputs, or says why it cannot.
    fn run(&self, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError>;
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Steps run at once.
    pub jobs: usize,
    /// Only the arms whose names contain one of these (all when empty).
    pub arms: Vec<String>,
    /// Only these steps and what they need (all when empty; combined with `arms`).
    pub targets: Vec<Key>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 1,
            arms: vec![],
            targets: vec![],
        }
    }
}

/// What happened to one step.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// Found in the store.
    Cached,
    /// Computed now.
    Ran {
        /// Wall time in seconds.
        seconds: f64,
        /// Peak resident bytes while it ran (see [`super::memory`]), where the OS reports it.
        peak_rss: Option<u64>,
    },
    /// Failed with this message.
    Failed(String),
    /// Not run because an input failed.
    Skipped,
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Steps computed now.
    pub ran: Vec<Key>,
    /// Steps found in the store.
    pub cached: Vec<Key>,
    /// Steps that failed, with why.
    pub failed: Vec<StepFailure>,
    /// Steps not run because an input failed.
    pub skipped: Vec<Key>,
    /// True when the run stopped early on an interrupt.
    pub interrupted: bool,
    /// Steps that ran now and used fallbacks or clamps, with their notes.
    pub notes: Vec<(Key, Vec<StepNote>)>,
    /// The step that ran now with the highest peak resident memory, and that peak in bytes.
    pub peak_rss: Option<(Key, u64)>,
}

impl RunSummary {
    /// True when every needed step is done.
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.interrupted
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

/// The steps needed for the selected arms and targets (all steps when neither is given), by index.
pub fn needed_steps(plan: &Plan, arms: &[String], targets: &[Key]) -> BTreeSet<usize> {
    let index: BTreeMap<Key, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.key, i))
        .collect();
    if arms.is_empty() && targets.is_empty() {
        return (0..plan.steps.len()).collect();
    }
    let mut out = BTreeSet::new();
    for arm in plan
        .arms
        .iter()
        .filter(|a| arms.iter().any(|f| a.name.contains(f.as_str())))
    {
        out.extend(arm.lineage.iter().filter_map(|k| index.get(k).copied()));
    }
    let mut stack: Vec<usize> = targets
        .iter()
        .filter_map(|k| index.get(k).copied())
        .collect();
    while let Some(i) = stack.pop() {
        if out.insert(i) {
            stack.extend(
                plan.steps[i]
                    .inputs
                    .values()
                    .filter_map(|k| index.get(k).copied()),
            );
        }
    }
    out
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// When a step ran, for how long, and its peak resident memory.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Start, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Peak resident bytes while it ran, where the OS reports it.
    pub peak_rss: Option<u64>,
}

/// A step computed, not yet recorded.
pub struct Finished {
    /// Its outputs, or why it failed.
    pub result: Result<StepOutput, StepError>,
    /// When and how long it ran.
    pub timing: Timing,
}

/// Computes one step the way every executor does (the local pool's threads
/// and `sslp worker` alike): panics caught, fallback notes tallied, time and
/// peak memory measured. Nothing is written.
pub fn compute(step: &Step, ctx: &StepCtx, runner: &dyn StepRunner) -> Finished {
    let started = now_ms();
    let t = Instant::now();
    super::memory::step_started();
    let tally = Some(Arc::new(crate::notes::Tally::default()));
    let result = crate::notes::within(&tally, || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(step, ctx)))
    })
    .unwrap_or_else(|_| Err(StepError::Panicked { kind: step.kind }))
    .map(|mut out| {
        if let Some(t) = &tally {
            merge_notes(&mut out.notes, t.notes());
        }
        out
    });
    let peak_rss = super::memory::step_ended();
    Finished {
        result,
        timing: Timing {
            started_ms: started,
            duration_ms: t.elapsed().as_millis() as u64,
            peak_rss,
        },
    }
}

/// Records a step that failed, with its message (a later run retries it).
pub fn record_failure(
    store: &Store,
    step: &Step,
    message: &str,
    timing: Timing,
) -> Result<(), StoreError> {
    store.put(
        &step.key,
        &record_for(
            step,
            Status::Failed,
            BTreeMap::new(),
            BTreeMap::new(),
            vec![],
            timing,
            Some(message.to_string()),
        ),
    )
}

fn record_for(
    step: &Step,
    status: Status,
    outputs: BTreeMap<String, Output>,
    metrics: BTreeMap<String, f64>,
    notes: Vec<StepNote>,
    timing: Timing,
    message: Option<String>,
) -> Record {
    Record {
        kind: step.kind.as_str().to_string(),
        decl: step.decl.clone(),
        status,
        params: serde_json::to_value(&step.params).unwrap_or_default(),
        inputs: step
            .inputs
            .iter()
            .map(|(n, k)| (n.clone(), k.hex()))
            .collect(),
        outputs,
        metrics,
        notes,
        started_ms: timing.started_ms,
        duration_ms: timing.duration_ms,
        peak_rss: timing.peak_rss,
        message,
    }
}

/// Writes a step's blobs, then its completion record.
pub fn commit(
    store: &Store,
    step: &Step,
    out: StepOutput,
    timing: Timing,
) -> Result<(), StoreError> {
    let mut outputs = BTreeMap::new();
    for (name, v) in out.outputs {
        let o = match v {
            OutValue::Inline(value) => Output::Inline { value },
            OutValue::Bytes(bytes) => Output::Blob {
                blob: store.put_blob(&bytes)?,
            },
        };
        outputs.insert(name, o);
    }
    store.put(
        &step.key,
        &record_for(
            step,
            Status::Done,
            outputs,
            out.metrics,
            out.notes,
            timing,
            None,
        ),
    )
}

/// Adds counted notes to a step's own, summing counts of the same code.
fn merge_notes(into: &mut Vec<StepNote>, counted: Vec<StepNote>) {
    for n in counted {
        match into.iter_mut().find(|m| m.code == n.code) {
            Some(m) => {
                m.count += n.count;
                if let Some(c) = crate::notes::NoteCode::ALL
                    .iter()
                    .find(|c| c.as_str() == m.code)
                {
                    m.message = c.describe(m.count);
                }
            }
            None => into.push(n),
        }
    }
}

type Task = usize;
/// A finished step: its index, result, start time (ms), wall seconds and peak resident bytes.
type Done = (usize, Result<StepOutput, StepError>, u64, f64, Option<u64>);

/// Runs the needed steps of a plan. Store errors abort the run; step errors do not.
pub fn run(
    plan: &Plan,
    store: &Store,
    runner: &dyn StepRunner,
    opts: &RunOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<RunSummary, StoreError> {
    let needed = needed_steps(plan, &opts.arms, &opts.targets);
    let index: BTreeMap<Key, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.key, i))
        .collect();
    let mut state = vec![State::Done; plan.steps.len()];
    let mut summary = RunSummary::default();
    for &i in &needed {
        if store.is_done(&plan.steps[i].key)? {
            summary.cached.push(plan.steps[i].key);
        } else {
            state[i] = State::Pending;
        }
    }
    // Consumers of each step, for skipping dependents of a failure.
    let mut consumers: Vec<Vec<usize>> = vec![vec![]; plan.steps.len()];
    for (i, s) in plan.steps.iter().enumerate() {
        for k in s.inputs.values() {
            if let Some(&j) = index.get(k) {
                consumers[j].push(i);
            }
        }
    }
    progress.event(&Event::Begin {
        total: needed.len(),
        cached: summary.cached.len(),
    });
    for &i in &needed {
        if state[i] == State::Done {
            progress.event(&Event::Ended {
                step: &plan.steps[i],
                outcome: &Outcome::Cached,
            });
        }
    }
    let jobs = opts.jobs.max(1);
    let (task_tx, task_rx) = mpsc::channel::<Task>();
    let task_rx = Arc::new(Mutex::new(task_rx));
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let ctx = StepCtx {
        store,
        plan,
        cancel,
        progress,
    };
    std::thread::scope(|scope| -> Result<(), StoreError> {
        for _ in 0..jobs {
            let rx = Arc::clone(&task_rx);
            let tx = done_tx.clone();
            let ctx = &ctx;
            scope.spawn(move || {
                loop {
                    let next = rx.lock().map(|r| r.recv());
                    let Ok(Ok(i)) = next else { break };
                    let step = &ctx.plan.steps[i];
                    let Finished { result, timing } = compute(step, ctx, runner);
                    let seconds = timing.duration_ms as f64 / 1000.0;
                    let (started, peak) = (timing.started_ms, timing.peak_rss);
                    if tx.send((i, result, started, seconds, peak)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut running = 0usize;
        loop {
            if !cancel.load(Ordering::SeqCst) {
                for &i in &needed {
                    if running >= jobs {
                        break;
                    }
                    if state[i] != State::Pending {
                        continue;
                    }
                    let ready = plan.steps[i]
                        .inputs
                        .values()
                        .all(|k| index.get(k).is_none_or(|&j| state[j] == State::Done));
                    if ready {
                        state[i] = State::Running;
                        running += 1;
                        tracing::debug!(key = %plan.steps[i].key.short(), kind = %plan.steps[i].kind, "step started");
                        progress.event(&Event::Started {
                            step: &plan.steps[i],
                        });
                        if task_tx.send(i).is_err() {
                            running -= 1;
                            state[i] = State::Pending;
                        }
                    }
                }
            }
            if running == 0 {
                break;
            }
            let Ok((i, result, started, seconds, peak_rss)) = done_rx.recv() else {
                break;
            };
            running -= 1;
            let step = &plan.steps[i];
            match result {
                Ok(out) => {
                    tracing::info!(key = %step.key.short(), kind = %step.kind, decl = %step.decl, seconds, "step done");
                    let notes = out.notes.clone();
                    let timing = Timing {
                        started_ms: started,
                        duration_ms: (seconds * 1000.0) as u64,
                        peak_rss,
                    };
                    commit(store, step, out, timing)?;
                    if let Some(bytes) = peak_rss
                        && summary.peak_rss.is_none_or(|(_, top)| bytes > top)
                    {
                        summary.peak_rss = Some((step.key, bytes));
                    }
                    if !notes.is_empty() {
                        progress.event(&Event::Notes {
                            step,
                            notes: &notes,
                        });
                        summary.notes.push((step.key, notes));
                    }
                    state[i] = State::Done;
                    summary.ran.push(step.key);
                    progress.event(&Event::Ended {
                        step,
                        outcome: &Outcome::Ran { seconds, peak_rss },
                    });
                }
                Err(error) => {
                    let message = error.to_string();
                    tracing::warn!(key = %step.key.short(), kind = %step.kind, %message, "step failed");
                    record_failure(
                        store,
                        step,
                        &message,
                        Timing {
                            started_ms: started,
                            duration_ms: (seconds * 1000.0) as u64,
                            peak_rss,
                        },
                    )?;
                    state[i] = State::Failed;
                    summary.failed.push(StepFailure {
                        key: step.key,
                        kind: step.kind,
                        decl: step.decl.clone(),
                        arms: plan
                            .arms
                            .iter()
                            .filter(|a| a.lineage.contains(&step.key))
                            .map(|a| a.name.clone())
                            .collect(),
                        error,
                    });
                    progress.event(&Event::Ended {
                        step,
                        outcome: &Outcome::Failed(message),
                    });
                    // Skip everything downstream.
                    let mut stack = consumers[i].clone();
                    while let Some(j) = stack.pop() {
                        if state[j] == State::Pending {
                            state[j] = State::Skipped;
                            summary.skipped.push(plan.steps[j].key);
                            progress.event(&Event::Ended {
                                step: &plan.steps[j],
                                outcome: &Outcome::Skipped,
                            });
                            stack.extend(consumers[j].iter().copied());
                        }
                    }
                }
            }
        }
        drop(task_tx);
        Ok(())
    })?;
    summary.interrupted =
        cancel.load(Ordering::SeqCst) && needed.iter().any(|&i| state[i] == State::Pending);
    Ok(summary)
}
