//! Finding `alliance-hub` and `alliance-node` next to the demo's own executable, and building
//! them first under `cargo run` when they are missing or older than the demo.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::process::Tool;

const NAMES: [&str; 2] = ["alliance-hub", "alliance-node"];

/// The two binaries the demo runs.
#[derive(Debug)]
pub struct Binaries {
    pub hub: Tool,
    pub node: Tool,
}

pub fn locate() -> Result<Binaries> {
    let exe = std::env::current_exe().context("finding the demo's executable")?;
    let dir = exe
        .parent()
        .context("the demo's executable has no directory")?
        .to_owned();
    let demo_built = modified(&exe).context("reading the demo executable's time")?;
    let paths = NAMES.map(|n| dir.join(n));
    let stale: Vec<&PathBuf> = paths
        .iter()
        .filter(|p| modified(p).is_none_or(|t| t < demo_built))
        .collect();
    let release = !cfg!(debug_assertions);
    let build_args: &[&str] = if release {
        &["build", "--release", "--workspace", "--bins"]
    } else {
        &["build", "--workspace", "--bins"]
    };
    let command = format!("cargo {}", build_args.join(" "));
    if !stale.is_empty() {
        let stale = stale
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match std::env::var_os("CARGO") {
            // Under `cargo run`: the whole workspace's binaries, as CI builds them, so that the
            // node is built with the same features as for the end-to-end tests and no build
            // undoes another. A no-op when they are up to date.
            Some(cargo) => {
                let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
                println!("==> {stale} missing or older than the demo: running `{command}`");
                let status = Command::new(cargo)
                    .args(build_args)
                    .arg("--manifest-path")
                    .arg(&manifest)
                    .status()
                    .context("running cargo build")?;
                if !status.success() {
                    bail!("`{command}` failed ({status})");
                }
            }
            // Run directly: cargo relinks only what changed, so an older binary may well be up
            // to date. Use it, and say how to rebuild.
            None if paths.iter().all(|p| p.is_file()) => {
                println!(
                    "note: {stale} older than the demo; if the sources changed, run `{command}`"
                );
            }
            None => bail!("{stale} missing or older than the demo; build them with `{command}`"),
        }
    }
    for path in &paths {
        if !path.is_file() {
            bail!("{} not found; build it with `{command}`", path.display());
        }
    }
    let [hub, node] = paths;
    Ok(Binaries {
        hub: Tool { path: hub },
        node: Tool { path: node },
    })
}

fn modified(path: &Path) -> Option<SystemTime> {
    path.metadata().and_then(|m| m.modified()).ok()
}
