//! Compiles `proto/baton/v1/*.proto` with protox (pure Rust, no protoc) and tonic-prost-build,
//! and writes the encoded file descriptor set for gRPC reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        root.join("baton/v1/worker.proto"),
        root.join("baton/v1/api.proto"),
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("baton_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    // No `WorkerServiceClient::connect(url)` constructor: it would clash with the `Connect` rpc.
    // Clients build a `Channel` and call `WorkerServiceClient::new`. `google.protobuf` types
    // (Timestamp) come from prost-types.
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
