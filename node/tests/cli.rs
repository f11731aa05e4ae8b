//! The binary answers `--help` with the command line of DESIGN.md §8, and refuses what it cannot
//! do with a message that says why.

use std::process::{Command, Output};

fn node(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alliance-node"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("alliance-node starts")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_lists_every_command() {
    let help = node(&["--help"]);
    assert!(help.status.success(), "{help:?}");
    for command in ["init", "serve", "org", "record", "report", "status", "key"] {
        assert!(
            stdout(&help).contains(&format!("\n  {command} ")),
            "no {command} in {help:?}"
        );
    }
    let report = node(&["report", "--help"]);
    for command in ["preview", "submit", "withdraw", "export"] {
        assert!(
            stdout(&report).contains(&format!("\n  {command} ")),
            "no report {command}"
        );
    }
    let add = node(&["record", "add", "--help"]);
    for flag in [
        "--value",
        "--status",
        "--flag",
        "--amount",
        "--currency",
        "--sex",
        "--migrant",
        "--sector",
        "--org",
    ] {
        assert!(
            stdout(&add).contains(flag),
            "no {flag} in record add --help"
        );
    }
}

#[test]
fn a_record_takes_exactly_one_value() {
    let base = [
        "record",
        "add",
        "--data",
        "d",
        "--date",
        "2009-03-01",
        "--indicator",
        "awareness.activities",
    ];
    let none = node(&base);
    assert_eq!(none.status.code(), Some(2), "{none:?}");
    let two = node(&[&base[..], &["--value", "1", "--flag", "yes"]].concat());
    assert_eq!(two.status.code(), Some(2), "{two:?}");
    assert!(
        String::from_utf8_lossy(&two.stderr).contains("cannot be used with"),
        "{two:?}"
    );
}

#[test]
fn a_directory_without_a_node_says_to_run_init() {
    let run = node(&["status", "--data", "/nonexistent/alliance-node"]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("there is no node in /nonexistent/alliance-node"),
        "{run:?}"
    );
    assert!(stderr.contains("alliance-node init"), "{run:?}");
}

#[test]
fn relay_mode_needs_a_listen_and_a_public_address() {
    let run = node(&[
        "init",
        "--data",
        "/nonexistent/relay",
        "--join",
        "x",
        "--relay",
    ]);
    assert_eq!(run.status.code(), Some(2), "a usage error: {run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("--listen") && stderr.contains("--public-addr"),
        "{run:?}"
    );
    // With both, the join code is what is wrong here, and nothing is created.
    let run = node(&[
        "init",
        "--data",
        "/nonexistent/relay",
        "--join",
        "x",
        "--relay",
        "--listen",
        "127.0.0.1:0",
        "--public-addr",
        "relay.example:7444",
    ]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("join code"),
        "{run:?}"
    );
    assert!(!std::path::Path::new("/nonexistent/relay").exists());
}
