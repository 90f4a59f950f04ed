//! `sslp status FILE`: each arm's state, from the store and the cluster's queue.

use super::pipeline::{plan_with_data, store_dir};
use super::{OK, PROBLEMS, USAGE, emit, plural};
use crate::exec::slurm::{self, StepStatus};
use crate::exec::{Store, executor::needed_steps};
use std::collections::BTreeMap;
use std::path::Path;

/// The state an arm shows: that of its most telling step (failed, cancelled,
/// running, queued, not run), or done when its output is.
fn arm_state(
    lineage: &[crate::plan::Key],
    states: &BTreeMap<crate::plan::Key, StepStatus>,
) -> StepStatus {
    let rank = |s: &StepStatus| match s {
        StepStatus::Failed { .. } => 0,
        StepStatus::Cancelled { .. } => 1,
        StepStatus::Running { .. } => 2,
        StepStatus::Queued { .. } => 3,
        StepStatus::Missing => 4,
        StepStatus::Done => 5,
    };
    lineage
        .iter()
        .filter_map(|k| states.get(k))
        .min_by_key(|s| rank(s))
        .cloned()
        .unwrap_or(StepStatus::Done)
}

/// Prints one line per arm and the counts; exit 1 when an arm failed.
pub fn status(path: &Path, store: Option<&Path>, arms: &[String]) -> u8 {
    let dir = store_dir(path, store);
    let (plan, _) = match plan_with_data(path, Some(&dir.join("fingerprints")), false) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let store = match Store::open_read(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let needed = needed_steps(&plan, arms, &[]);
    let keys: Vec<_> = needed.iter().map(|&i| plan.steps[i].key).collect();
    let states = match slurm::statuses(&store, &keys) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut text = String::new();
    let width = plan.arms.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for arm in plan
        .arms
        .iter()
        .filter(|a| arms.is_empty() || arms.iter().any(|f| a.name.contains(f.as_str())))
    {
        let state = arm_state(&arm.lineage, &states);
        let (word, detail) = match &state {
            StepStatus::Done => ("done", String::new()),
            StepStatus::Queued { job, reason } => ("queued", format!("job {job} ({reason})")),
            StepStatus::Running { job } => ("running", format!("job {job}")),
            StepStatus::Failed { job, reason } => (
                "failed",
                match job {
                    Some(j) => format!("job {j}: {}", first_line(reason)),
                    None => first_line(reason).to_string(),
                },
            ),
            StepStatus::Cancelled { job, reason } => ("cancelled", format!("job {job} ({reason})")),
            StepStatus::Missing => ("not run", String::new()),
        };
        *counts.entry(word).or_default() += 1;
        let line = format!("{:width$}  {word:9}  {detail}", arm.name);
        text.push_str(line.trim_end());
        text.push('\n');
    }
    emit(&text);
    let summary: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
    if !counts.is_empty() {
        eprintln!(
            "{}: {}",
            plural(counts.values().sum(), "arm"),
            summary.join(", ")
        );
    }
    let done = states
        .values()
        .filter(|s| matches!(s, StepStatus::Done))
        .count();
    eprintln!(
        "{}: {done} done in the store",
        plural(states.len(), "needed step")
    );
    if counts.contains_key("failed") || counts.contains_key("cancelled") {
        PROBLEMS
    } else {
        OK
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
