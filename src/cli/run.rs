//! `sslp run`: fingerprint the data, say what changed, run what is not cached.

use super::pipeline::{
    ExecutorChoice, RunArgs, execute, open_store, plan_for_executor, print_summary, store_dir,
};
use super::submit;
use super::{OK, emit, plural};
use crate::exec::{self, report_page::training_rows};
use crate::plan::{self, Plan};
use std::path::Path;

/// Prints, per dataset whose files changed since the last run, which files
/// and how many steps that re-runs; with `record`, remembers the new file
/// manifests as the last run's.
fn report_data_changes(
    plan: &Plan,
    fingerprints: &exec::fingerprint::Fingerprinted,
    store: &exec::Store,
    arms: &[String],
    record: bool,
) {
    use exec::fingerprint::Manifest;
    let needed: std::collections::BTreeSet<usize> = exec::executor::needed_steps(plan, arms, &[])
        .into_iter()
        .collect();
    for d in &fingerprints.datasets {
        let new = &d.fingerprint.manifest;
        let old = store
            .dataset_manifest(&d.identity)
            .ok()
            .flatten()
            .and_then(|bytes| Manifest::decode(&bytes));
        if let Some(old) = &old
            && old.fingerprint != new.fingerprint
        {
            let start = plan.steps.iter().position(|s| {
                matches!(s.fingerprint, plan::Fingerprint::Content { pending, .. } if pending == d.pending)
            });
            let mut rerun = 0;
            if let Some(start) = start {
                let mut dfs =
                    petgraph::visit::Dfs::new(&plan.graph, petgraph::graph::NodeIndex::new(start));
                while let Some(node) = dfs.next(&plan.graph) {
                    let i = plan.graph[node];
                    if needed.contains(&i) && !store.is_done(&plan.steps[i].key).unwrap_or(false) {
                        rerun += 1;
                    }
                }
            }
            let mut why = new.changes_since(old).describe(new.files.len());
            if new.missing != old.missing && new.missing.len() > old.missing.len() {
                why.push_str(&format!(", {} missing", new.missing.len()));
            }
            eprintln!(
                "dataset {}: {why}; {} to re-run",
                d.decl,
                plural(rerun, "step")
            );
        }
        if record
            && old
                .as_ref()
                .is_none_or(|o| o.fingerprint != new.fingerprint)
            && let Err(e) = store.put_dataset_manifest(&d.identity, &new.encode())
        {
            eprintln!(
                "warning: cannot record the files of dataset `{}`: {e}",
                d.decl
            );
        }
    }
}

/// `sslp run FILE`: fingerprints the data, says which datasets changed since
/// the last run, and runs what is not cached.
pub fn run(path: &Path, args: &RunArgs) -> u8 {
    let dir = store_dir(path, args.store.as_deref());
    let (plan, fingerprints) = match plan_for_executor(
        path,
        Some(&dir.join("fingerprints")),
        args.deny_warnings,
        args.executor.map(ExecutorChoice::kind),
    ) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let store = match open_store(&dir, args.wait) {
        Ok(s) => s,
        Err(code) => return code,
    };
    report_data_changes(&plan, &fingerprints, &store, &args.arms, !args.dry_run);
    if plan.executor.kind == plan::ExecutorKind::Slurm {
        return match submit::options(&plan, path, args) {
            Ok(opts) => submit::submit(&plan, &store, &opts, args),
            Err(code) => code,
        };
    }
    // Steps a cluster job is computing are not computed here a second time.
    match exec::slurm::live_jobs(&plan, &store, &args.arms) {
        Ok(live) if !live.is_empty() => {
            eprintln!(
                "error: {} of this run {} queued or running as Slurm jobs (first: step {}, job {}); follow them with `sslp status {}`, or cancel them (scancel) to run here",
                plural(live.len(), "step"),
                if live.len() == 1 { "is" } else { "are" },
                live[0].0.short(),
                live[0].1,
                path.display()
            );
            return super::USAGE;
        }
        Ok(_) => {}
        // No Slurm here: the job entries are from elsewhere, and nothing of theirs runs here.
        Err(exec::slurm::SlurmError::Missing { .. }) => {}
        Err(e) => {
            eprintln!("error: {e}");
            return super::USAGE;
        }
    }
    if args.dry_run {
        let needed = exec::executor::needed_steps(&plan, &args.arms, &[]);
        let mut text = String::new();
        let mut to_run = 0;
        for &i in &needed {
            let s = &plan.steps[i];
            let cached = store.is_done(&s.key).unwrap_or(false);
            if !cached {
                to_run += 1;
            }
            text.push_str(&format!(
                "  {}  {:7}  {} {}\n",
                s.key.short(),
                if cached { "cached" } else { "run" },
                s.kind,
                s.decl
            ));
        }
        emit(&format!(
            "would run {} of {} needed steps ({}):\n{text}",
            to_run,
            needed.len(),
            plural(plan.arms.len(), "arm")
        ));
        return OK;
    }
    match execute(&plan, path, args, vec![], store) {
        Ok((store, summary)) => {
            let code = print_summary(&summary);
            print_collapses(&plan, &store, &summary);
            code
        }
        Err(code) => code,
    }
}

/// Says which pretraining runs of this run (ran or cached) collapsed.
fn print_collapses(plan: &Plan, store: &exec::Store, summary: &exec::RunSummary) {
    let seen: std::collections::BTreeSet<String> = summary
        .ran
        .iter()
        .chain(&summary.cached)
        .map(|k| k.short())
        .collect();
    for row in training_rows(plan, store) {
        if row.collapsed && seen.contains(&row.key) {
            eprintln!(
                "warning: pretrain {} ({}) collapsed: final embedding std {:.5}, {}",
                row.arm,
                row.key,
                row.embedding_std.unwrap_or(f64::NAN),
                row.status().to_lowercase()
            );
        }
    }
}
