//! The environment variable that arms a daemon's storage fault injection, for the end-to-end
//! tests of a full or failing disk (BAD_INPUTS 25).
//!
//! Only builds of `alliance-hub` and `alliance-node` with their `fault-injection` feature act on
//! it (the end-to-end test package turns the feature on, so the binaries `cargo build --workspace`
//! makes for the tests have it); other builds log that they ignore it.

/// `ALLIANCE_FAULT_AFTER_WRITES=N`: after N more writes to the daemon's store, every write and
/// flush fails as on a full disk, and the daemon must stop acknowledging and exit.
pub const FAULT_AFTER_WRITES: &str = "ALLIANCE_FAULT_AFTER_WRITES";

/// How many writes [`FAULT_AFTER_WRITES`] allows, when it is set. A value that is not a number
/// is an error naming the variable, so that a mistyped test fails instead of running without the
/// fault it meant to cause.
pub fn fault_after_writes() -> Result<Option<u64>, String> {
    let Some(value) = std::env::var_os(FAULT_AFTER_WRITES) else {
        return Ok(None);
    };
    value
        .to_str()
        .and_then(|text| text.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| format!("{FAULT_AFTER_WRITES} must be a number of writes, not {value:?}"))
}
