//! The harness finds the binaries the workspace built and runs them: the ground the end-to-end
//! tests stand on.

use alliance_tests::{Binary, temp_dir};

#[test]
fn both_binaries_are_found_and_run() {
    for binary in [Binary::Hub, Binary::Node] {
        let run = binary.run(["--version"]);
        assert!(run.success(), "{run:?}");
        assert_eq!(
            run.stdout.trim(),
            format!("{} {}", binary.name(), env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn failures_are_captured_with_their_code_and_stderr() {
    let dir = temp_dir();
    let run = Binary::Node.run([
        "key".as_ref(),
        "rotate".as_ref(),
        "--data".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("there is no node in"), "{run:?}");
    assert!(run.stdout.is_empty());
}
