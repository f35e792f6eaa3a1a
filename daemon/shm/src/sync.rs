//! The atomics the ring uses, behind one shim so that a model checker (loom) can replace them
//! without touching the ring code. Today the ring is checked with a multi-threaded stress test
//! (see `ring.rs`); building with `--cfg loom` is the hook for a loom model.

pub use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
