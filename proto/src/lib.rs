//! The gRPC API of s3dliod, package `s3dlio.v1`, shared by the daemon and every client.
//!
//! This crate holds only what both sides must agree on: the generated messages and service
//! stubs (payload fields are `bytes::Bytes`, so chunks are never copied into `Vec`s), the
//! descriptor set served by gRPC reflection, and the socket/metadata conventions.
//! It depends on none of the project's other crates.

mod socket;

pub use socket::{default_socket_path, SOCKET_ENV};

/// Generated code for package `s3dlio.v1`.
pub mod v1 {
    tonic::include_proto!("s3dlio.v1");
}

/// Encoded `FileDescriptorSet` of `s3dlio.v1`, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("s3dlio_v1_descriptor");

/// gRPC metadata key a client may send to name its session (shown by `s3dlioctl sessions`
/// and recorded in the op-log); without it the session is named `pid@uid`.
pub const CLIENT_NAME_HEADER: &str = "x-s3dlio-client";

/// Largest inline payload chunk the daemon sends, and the default when a request asks for 0.
pub const MAX_INLINE_CHUNK: u32 = 4 * 1024 * 1024;
/// Default inline chunk: well under gRPC's default 4 MiB message limit.
pub const DEFAULT_INLINE_CHUNK: u32 = 1024 * 1024;
/// Largest gRPC message either side accepts (a max chunk plus framing).
pub const MAX_MESSAGE_SIZE: usize = MAX_INLINE_CHUNK as usize + 64 * 1024;
