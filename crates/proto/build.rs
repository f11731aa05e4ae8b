//! Compiles `proto/alliance/v1/*.proto` with protox, a protobuf compiler in Rust (so the build
//! needs no system `protoc`), then generates the prost messages and tonic services from the
//! resulting descriptors. The encoded descriptor set is written next to the generated code for
//! gRPC server reflection.

use std::error::Error;
use std::path::{Path, PathBuf};

/// Where the descriptor set goes inside `OUT_DIR`; `src/lib.rs` includes it by this name.
const DESCRIPTOR_FILE: &str = "alliance_v1_descriptor.bin";

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let include = manifest_dir.join("../../proto");
    let files = proto_files(&include, "alliance/v1")?;

    // The directory itself is watched too, so that adding or removing a file rebuilds.
    println!(
        "cargo:rerun-if-changed={}",
        include.join("alliance/v1").display()
    );
    for file in &files {
        println!("cargo:rerun-if-changed={}", include.join(file).display());
    }

    let mut compiler = protox::Compiler::new([&include])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(&files)?;
    std::fs::write(
        out_dir.join(DESCRIPTOR_FILE),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

/// The `.proto` files of one package directory, as names relative to the include directory
/// (the form protox resolves like an `import`), sorted so the build is reproducible.
fn proto_files(include: &Path, package_dir: &str) -> Result<Vec<String>, Box<dyn Error>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(include.join(package_dir))? {
        let name = entry?.file_name();
        let name = name.to_str().ok_or("non-UTF-8 file name in proto/")?;
        if name.ends_with(".proto") {
            files.push(format!("{package_dir}/{name}"));
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("no .proto files in {}", include.join(package_dir).display()).into());
    }
    Ok(files)
}
