//! What the hub's binary tests share: running `alliance-hub` and reading what it printed.

use std::process::{Command, Output};

/// Runs the built `alliance-hub` with `args` to completion, without the caller's `RUST_LOG`.
pub fn hub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alliance-hub"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("alliance-hub starts")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// What a `--json` command printed.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}
