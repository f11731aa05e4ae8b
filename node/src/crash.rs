//! Named crash points for the windows that matter (BAD_INPUTS 23), with the `fail` crate.
//!
//! Built with the `failpoints` feature, a point named in the `FAILPOINTS` environment variable
//! with the action `return` (`FAILPOINTS=after-signing=return`) aborts the process there, as a
//! `kill -9` would: no destructor runs, nothing more is flushed. Without the feature every point
//! compiles to nothing.

/// After a new revision's draft is stored and flushed, before it is signed.
pub const AFTER_REVISION_STORED: &str = "after-revision-stored";
/// After the report is signed and queued, before the outbox is told.
pub const AFTER_SIGNING: &str = "after-signing";
/// After the upstream answered a submission, before the answer is looked at.
pub const AFTER_SENDING: &str = "after-sending";
/// After the hub's receipt is verified, before it is stored.
pub const BEFORE_RECEIPT_STORED: &str = "before-receipt-stored";
/// In relay mode, after an affiliate's envelope and its custody receipt are stored and flushed,
/// before the custody receipt is answered: the affiliate sends it again after the restart.
pub const RELAY_AFTER_CUSTODY_STORED: &str = "relay-after-custody-stored";

/// Every named point, for tests and documentation.
pub const ALL: [&str; 5] = [
    AFTER_REVISION_STORED,
    AFTER_SIGNING,
    AFTER_SENDING,
    BEFORE_RECEIPT_STORED,
    RELAY_AFTER_CUSTODY_STORED,
];

/// Aborts the process if the point `name` is armed.
pub fn point(name: &'static str) {
    if armed(name) {
        eprintln!("alliance-node: crash point {name} reached: aborting");
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
