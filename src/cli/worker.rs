//! `sslp worker STEPFILE`: run one step from its step file (what a cluster job runs).

use super::pipeline::{INTERRUPTED, install_interrupt_handler};
use super::progress::Printer;
use super::{OK, PROBLEMS, USAGE};
use crate::exec::worker::{self, WorkerOutcome};
use std::path::Path;

/// Runs the step, says how it ended; exit 0 done, 1 failed or interrupted, 2 could not run.
pub fn worker(step_file: &Path, store: Option<&Path>) -> u8 {
    install_interrupt_handler();
    let printer = Printer::new();
    let result = worker::run(step_file, store, &printer, &INTERRUPTED);
    printer.finish();
    match result {
        Ok((key, WorkerOutcome::AlreadyDone)) => {
            eprintln!("step {}: already done in the store", key.short());
            OK
        }
        Ok((key, WorkerOutcome::Done { seconds })) => {
            eprintln!("step {}: done in {seconds:.1} s", key.short());
            OK
        }
        Ok((key, WorkerOutcome::Failed { message })) => {
            eprintln!("step {}: failed: {message}", key.short());
            PROBLEMS
        }
        Ok((key, WorkerOutcome::Interrupted)) => {
            eprintln!(
                "step {}: interrupted; it resumes from its last checkpoint when run again",
                key.short()
            );
            PROBLEMS
        }
        Err(e) => {
            eprintln!("error: {e}");
            USAGE
        }
    }
}
