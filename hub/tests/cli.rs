//! The binary answers `--help` with the command line of DESIGN.md §8 and reports usage errors
//! on stderr. What the commands do is tested in `init.rs` and `serve.rs` beside this file.

use std::process::{Command, Output};

fn hub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alliance-hub"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("alliance-hub starts")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_lists_every_command() {
    let help = hub(&["--help"]);
    assert!(help.status.success(), "{help:?}");
    for command in [
        "init", "serve", "org", "view", "coverage", "export", "import", "deadline", "audit",
    ] {
        assert!(
            stdout(&help).contains(&format!("\n  {command} ")),
            "no {command} in {help:?}"
        );
    }
    let org = hub(&["org", "--help"]);
    for command in [
        "add",
        "import",
        "list",
        "show",
        "reissue",
        "revoke-key",
        "deactivate",
    ] {
        assert!(
            stdout(&org).contains(&format!("\n  {command} ")),
            "no org {command} in {org:?}"
        );
    }
}

#[test]
fn usage_errors_go_to_stderr_with_code_2() {
    let run = hub(&["view", "--period", "2009"]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("--data"),
        "{run:?}"
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn a_command_on_a_directory_without_a_hub_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("hub");
    let data = data.to_str().expect("UTF-8 path");
    let run = hub(&["org", "list", "--data", data]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.starts_with("alliance-hub: "), "{stderr}");
    assert!(stderr.contains("holds no hub"), "{stderr}");
    assert!(stderr.contains("alliance-hub init"), "{stderr}");
    assert!(run.stdout.is_empty());
    assert!(
        !std::path::Path::new(data).exists(),
        "the data directory must not be created"
    );
}
