//! Shared pieces of the benchmarks: a release daemon on a scratch socket, and result files in the
//! format of DESIGN.md. Used by `s3dlio-bench` and `shm-bench`.

pub mod harness;
