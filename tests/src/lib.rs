//! The harness for alliance's end-to-end tests: it finds the real binaries the workspace built,
//! runs them on temporary data directories and captures what they print.
//!
//! The binaries are built before the tests run (`cargo build --workspace --bins`, as `.ci/run`
//! does); a missing binary fails the test with that instruction rather than testing something
//! stale or nothing at all.
//!
//! - [`Binary`] runs a binary to completion and captures what it printed.
//! - [`HubProcess`] is a running `alliance-hub` on a temporary data directory, reached over TLS
//!   (pinning the CA its `init` made) and through its command line, with [`EnrolledOrg`]s whose
//!   keys the tests hold.
//! - [`NodeProcess`] is a running `alliance-node` on a temporary data directory, enrolled at a
//!   [`HubProcess`] and driven through its command line.
//! - [`ReportBuilder`] makes framework-version-1 reports to sign and submit.
//! - [`relay`] starts a relay (a node with `init --relay`) and affiliates registered `--via` it.
//! - [`wire`] makes protobuf bytes by hand (reordered, unknown or deeply nested fields) and sends
//!   them as raw gRPC requests.

pub mod fault;
mod hub;
pub mod node;
mod process;
pub mod relay;
mod report;
pub mod view;
pub mod wire;

pub use hub::{
    EnrolledOrg, HubProcess, admin_channel, assert_refusal, enroll_request, hex, is_serving,
    join_code_in, now, read_ca, tls_channel,
};
pub use node::NodeProcess;
pub use process::READY_TIMEOUT;
pub use report::{PREPARED_AT, ReportBuilder, sign_report};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use tempfile::TempDir;

/// One of the workspace's binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Hub,
    Node,
    Demo,
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Binary {
    pub fn name(self) -> &'static str {
        match self {
            Binary::Hub => "alliance-hub",
            Binary::Node => "alliance-node",
            Binary::Demo => "alliance-demo",
        }
    }

    /// The path of the built binary, from the same build profile as the tests.
    pub fn path(self) -> PathBuf {
        let path = target_dir().join(profile()).join(self.name());
        assert!(
            path.is_file(),
            "{} is missing: build the binaries first with `cargo build --workspace --bins`",
            path.display()
        );
        path
    }

    /// Runs the binary with `args` to completion, with no standard input.
    pub fn run<I, S>(self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = Command::new(self.path())
            .args(args)
            .stdin(std::process::Stdio::null())
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", self.name()));
        Run::from(output)
    }
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A fresh temporary directory that is removed when dropped.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("alliance-test-")
        .tempdir()
        .unwrap_or_else(|e| panic!("could not create a temporary directory: {e}"))
}

/// The workspace's root directory.
pub fn workspace_root() -> &'static Path {
    // This package lives in `tests/` directly below the root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}
