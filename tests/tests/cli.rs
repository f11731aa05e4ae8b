//! The two binaries answer `--help` with the command line of DESIGN.md §8, and refuse what they
//! cannot do yet with a message that names the command.

use alliance_tests::{Binary, temp_dir};

#[test]
fn hub_help_lists_every_command() {
    let run = Binary::Hub.run(["--help"]);
    assert!(run.success(), "{run:?}");
    for command in [
        "init", "serve", "org", "view", "coverage", "export", "import", "audit",
    ] {
        assert!(
            run.stdout.contains(&format!("\n  {command} ")),
            "no {command} in {}",
            run.stdout
        );
    }
    let org = Binary::Hub.run(["org", "--help"]);
    for command in ["add", "import", "list", "show", "reissue", "revoke-key"] {
        assert!(
            org.stdout.contains(&format!("\n  {command} ")),
            "no org {command} in {}",
            org.stdout
        );
    }
}

#[test]
fn node_help_lists_every_command() {
    let run = Binary::Node.run(["--help"]);
    assert!(run.success(), "{run:?}");
    for command in ["init", "serve", "org", "record", "report", "status", "key"] {
        assert!(
            run.stdout.contains(&format!("\n  {command} ")),
            "no {command} in {}",
            run.stdout
        );
    }
    let report = Binary::Node.run(["report", "--help"]);
    for command in ["preview", "submit", "withdraw", "export"] {
        assert!(
            report.stdout.contains(&format!("\n  {command} ")),
            "no report {command} in {}",
            report.stdout
        );
    }
    let add = Binary::Node.run(["record", "add", "--help"]);
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
        assert!(add.stdout.contains(flag), "no {flag} in {}", add.stdout);
    }
}

#[test]
fn usage_errors_go_to_stderr_with_a_failure_code() {
    let run = Binary::Hub.run(["view", "--period", "2009"]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("--data"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn commands_not_built_yet_say_so_and_fail() {
    let dir = temp_dir();
    let data = dir.path().join("hub");
    let run = Binary::Hub.run(["serve", "--data"]).code;
    assert_eq!(run, Some(2));
    let run = Binary::Hub.run(["serve".as_ref(), "--data".as_ref(), data.as_os_str()]);
    assert!(!run.success());
    assert!(
        run.stderr.contains("`serve` is not available"),
        "{}",
        run.stderr
    );
    assert!(
        !data.exists(),
        "a command that cannot run must not create the data directory"
    );
}
