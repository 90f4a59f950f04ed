//! Execution: the store (sled index + content-addressed blobs) and the scheduler.
