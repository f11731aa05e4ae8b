//! Fault injection (cargo feature `fault-injection`): a storage error on demand, for tests of
//! what the daemons do when the disk fills (BAD_INPUTS 25).
//!
//! Unarmed, it lets everything through, so a build with the feature but no call to
//! `inject_failure_after` behaves exactly like one without it.

use std::sync::{Mutex, PoisonError};

/// How many more writes may succeed; `None` while unarmed.
#[derive(Debug, Default)]
pub(crate) struct Fault {
    remaining: Mutex<Option<u64>>,
}

impl Fault {
    /// Lets `writes` more writes succeed; every write and flush after them fails.
    pub(crate) fn arm(&self, writes: u64) {
        *self.lock() = Some(writes);
    }

    /// Takes one write from the allowance, or fails if it is used up.
    pub(crate) fn take_write(&self) -> Result<(), String> {
        let mut remaining = self.lock();
        match remaining.as_mut() {
            None => Ok(()),
            Some(0) => Err(message()),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
        }
    }

    /// Fails once the allowance is used up.
    pub(crate) fn check_flush(&self) -> Result<(), String> {
        match *self.lock() {
            Some(0) => Err(message()),
            _ => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.remaining
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn message() -> String {
    "injected storage fault (fault-injection: no space left on device)".to_owned()
}
