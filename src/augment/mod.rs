//! Augmentation: ops with probabilities, policies, multi-view generation,
//! deterministic RNG, and the offline (content-hash) cache mechanism.
