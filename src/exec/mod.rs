//! Execution: the store (sled index + content-addressed blobs), the
//! scheduler, the step runner and progress reporting.

pub mod augment_steps;
pub mod executor;
pub mod progress;
pub mod runner;
pub mod store;

pub use executor::{Outcome, Progress, RunOptions, RunSummary, StepCtx, StepOutput, StepRunner};
pub use store::{Store, StoreError};
