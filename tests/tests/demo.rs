//! The README's demo, run as a user runs it (the binaries built in this profile): it must exit
//! 0, which it does only if every report it submitted was accepted exactly once, the view
//! equals its sample data and shows every action point, and coverage has everyone on time.

use std::process::Command;

use alliance_tests::{Binary, temp_dir};

#[test]
fn the_demo_runs_the_whole_federation_and_passes_its_checks() {
    let dir = temp_dir();
    let data = dir.path().join("demo");
    // Without CARGO the demo uses the binaries beside it as they are, rather than asking cargo
    // to rebuild them from inside a test run.
    let output = Command::new(Binary::Demo.path())
        .arg("--dir")
        .arg(&data)
        .env_remove("CARGO")
        .env_remove("RUST_LOG")
        .output()
        .expect("the demo starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the demo failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    for heading in [
        "The alliance-wide view",
        "Coverage of 2024",
        "Coverage of 2025",
        "Where the data is",
    ] {
        assert!(stdout.contains(heading), "no {heading:?} in:\n{stdout}");
    }
    // Every action point of the framework shows in the view it printed.
    for action_point in alliance_core::framework::Framework::v1().action_points {
        assert!(
            stdout.contains(&format!("{}.", action_point.id)),
            "no indicator of {} in the view",
            action_point.id
        );
    }
    assert!(
        data.join("hub").is_dir(),
        "the hub's data directory is kept"
    );
}
