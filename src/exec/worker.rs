//! `sslp worker STEPFILE`: runs one step from its step file against the
//! store's shared files, and finishes by writing the step's blobs and its
//! completion record (done, or failed with its message). It is how every
//! cluster job runs a step, with the same [`executor::compute`] and
//! [`executor::commit`] the local executor uses.

use super::engine::Engine;
use super::error::StepError;
use super::events::Progress;
use super::executor::{self, Finished, StepCtx};
use super::stepfile::{ContentError, StepFile, StepFileError};
use super::store::{Status, Store, StoreError};
use crate::plan::Key;
use crate::train::device::DeviceError;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// What a worker did with its step.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerOutcome {
    /// The store already had the step done (a requeued job that had finished): nothing ran.
    AlreadyDone,
    /// The step ran and its completion record is written.
    Done {
        /// Wall seconds.
        seconds: f64,
    },
    /// The step failed; its failed record (with this message) is written.
    Failed {
        /// Why.
        message: String,
    },
    /// Stopped by a signal before it finished; no record is written, and a
    /// rerun resumes from the step's last checkpoint.
    Interrupted,
}

/// Why a worker could not run its step at all.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The step file is unreadable or invalid.
    #[error(transparent)]
    StepFile(#[from] StepFileError),
    /// The step file is not in a store's `steps/` folder and no store was named.
    #[error("step file {path} is not in a store's `steps/` folder; name the store with --store")]
    NoStore {
        /// The step file.
        path: PathBuf,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The device the step file names cannot be used here.
    #[error("step file {path}: {error}")]
    Device {
        /// The step file.
        path: PathBuf,
        /// The device problem.
        error: DeviceError,
    },
}

/// The store a step file belongs to: the folder above its `steps/` folder.
pub fn store_of(step_file: &Path) -> Option<PathBuf> {
    let steps = step_file.parent()?;
    (steps.file_name()? == "steps").then(|| steps.parent().map(Path::to_path_buf))?
}

/// Runs the step of `step_file` and records its result in the store (`store`,
/// or the one the file sits in), computing on the file's number of threads
/// (see [`StepFile::threads`]; it pins the process's thread pool).
pub fn run(
    step_file: &Path,
    store: Option<&Path>,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<(Key, WorkerOutcome), WorkerError> {
    let file = StepFile::read(step_file)?;
    let (plan, target) = file.plan().map_err(|reason| StepFileError::Content {
        path: step_file.to_path_buf(),
        reason,
    })?;
    let dir = match store {
        Some(d) => d.to_path_buf(),
        None => store_of(step_file).ok_or_else(|| WorkerError::NoStore {
            path: step_file.to_path_buf(),
        })?,
    };
    // Pinned, so the outputs do not depend on the node's core count (a no-op
    // when this process already built its pool).
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(file.threads)
        .build_global();
    let store = Store::open_shared(&dir)?;
    if store.is_done(&target)? {
        return Ok((target, WorkerOutcome::AlreadyDone));
    }
    let mut engine = Engine::new(file.base.clone());
    if let Some(device) = &file.device {
        engine = engine
            .with_device_named(device)
            .map_err(|error| WorkerError::Device {
                path: step_file.to_path_buf(),
                error,
            })?;
    }
    let step = plan
        .step(&target)
        .ok_or_else(|| StepFileError::Content {
            path: step_file.to_path_buf(),
            reason: ContentError::NoTarget(target),
        })?
        .clone();
    let ctx = StepCtx {
        store: &store,
        plan: &plan,
        cancel,
        progress,
    };
    let Finished { result, timing } = executor::compute(&step, &ctx, &engine);
    let outcome = match result {
        Ok(out) => {
            executor::commit(&store, &step, out, timing)?;
            WorkerOutcome::Done {
                seconds: timing.duration_ms as f64 / 1000.0,
            }
        }
        Err(StepError::Interrupted) => WorkerOutcome::Interrupted,
        Err(error) => {
            let message = error.to_string();
            executor::record_failure(&store, &step, &message, timing)?;
            WorkerOutcome::Failed { message }
        }
    };
    Ok((target, outcome))
}

/// The status a step's completion record gives, if it has one.
pub fn recorded(store: &Store, key: &Key) -> Result<Option<Status>, StoreError> {
    Ok(store.get(key)?.map(|r| r.status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_file_belongs_to_the_store_above_its_folder() {
        assert_eq!(
            store_of(Path::new("/shared/run/.sslp/steps/ab.json")),
            Some(PathBuf::from("/shared/run/.sslp"))
        );
        assert_eq!(store_of(Path::new("/tmp/ab.json")), None);
    }
}
