//! Execution: the store (sled index + content-addressed blobs), the
//! scheduler, the step runner and progress reporting.

pub mod augment_steps;
pub mod data_steps;
pub mod decode;
pub mod device_check;
pub mod engine;
pub mod error;
pub mod eval_steps;
pub mod events;
pub mod executor;
pub mod export;
pub mod finetune_step;
pub mod fingerprint;
pub mod gsimclr_steps;
pub mod memory;
pub mod report_page;
pub mod report_steps;
pub mod runner;
pub mod saliency_batch;
pub mod segmentation_step;
pub mod slurm;
pub mod stepfile;
pub mod store;
pub mod train_steps;
pub mod worker;

pub use error::{StepError, StepFailure};
pub use events::{Event, Progress, Quiet};
pub use executor::{Outcome, RunOptions, RunSummary, StepCtx, StepOutput, StepRunner};
pub use store::{Store, StoreError};
