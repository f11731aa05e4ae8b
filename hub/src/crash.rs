//! Named crash points of the hub for the windows that matter (BAD_INPUTS 23), with the `fail`
//! crate, as the node has them (`alliance_node::crash`).
//!
//! Built with the `failpoints` feature, a point named in the `FAILPOINTS` environment variable
//! with the action `return` (`FAILPOINTS=hub-after-store=return`) aborts the process there, as a
//! `kill -9` would: no destructor runs, nothing more is flushed. Without the feature every point
//! compiles to nothing. Only the end-to-end test package turns the feature on.

/// After a submission's report is stored and flushed, before its receipt is answered: the
/// sender never hears of it and sends it again after the restart.
pub const AFTER_STORE: &str = "hub-after-store";

/// Every named point, for tests and documentation.
pub const ALL: [&str; 1] = [AFTER_STORE];

/// Aborts the process if the point `name` is armed.
pub fn point(name: &'static str) {
    if armed(name) {
        eprintln!("alliance-hub: crash point {name} reached: aborting");
        std::process::abort();
    }
}

/// Reads the `FAILPOINTS` environment variable; call once at the start of `main`. The returned
/// guard must live as long as the process.
pub fn setup() -> fail::FailScenario<'static> {
    fail::FailScenario::setup()
}

// `fail_point!` returns from the enclosing function with the closure's value when the point is
// armed with `return`; without the feature it expands to nothing.
fn armed(name: &'static str) -> bool {
    fail::fail_point!(name, |_| true);
    let _ = name;
    false
}
