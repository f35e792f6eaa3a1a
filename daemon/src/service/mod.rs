//! gRPC services: `Storage` (data), `Admin` (operations); each method lives in its own file.

mod admin;
mod delete;
mod get;
mod get_many;
mod list;
mod put;
mod storage;

pub use admin::AdminService;
pub use storage::StorageService;
