//! The outbox: signed reports pushed upstream in the order they were queued, until the hub's
//! verified receipt is stored (DESIGN.md §1, §7).
//!
//! Calls are made in queue order, up to [`IN_FLIGHT`] at once, so a relay draining a backlog
//! is not held to one round trip and one flush per envelope. The hub's merge rules make the
//! view independent of the order in which it receives envelopes; only the outcomes it names
//! may differ (revision 1 superseded at once rather than accepted first).
//!
//! - An entry leaves the outbox only in the transaction that stores the hub's receipt, or that
//!   sets it aside with the upstream's final refusal; the queue then goes on with the next entry
//!   (BAD_INPUTS 26).
//! - A transient failure (unreachable, overloaded, timed out, an answer that does not verify)
//!   stops the round (entries behind it whose answers were already stored have left): the same
//!   entry is tried again after a backoff that doubles up to the
//!   configured maximum, with jitter so that many nodes coming back after an outage do not all
//!   call at once.
//! - Memory is bounded: a round reads the outbox lazily a page of [`WINDOW`] entries at a time,
//!   and has at most [`IN_FLIGHT`] calls in flight, answers taken in queue order.
//! - On a relay, an entry of an organisation the node does not hold is an affiliate's envelope
//!   it relays: it goes upstream unchanged with the relay's custody receipt attached (in a
//!   batch, the custody receipts of all its relayed items as one custody batch, signed once),
//!   and its outcome (the hub's receipt, or the hub's final refusal) is what the affiliate is
//!   told.
//! - A relay's custody receipt is kept only once it verifies under a key of the relay the
//!   organisation reports through, in the hub's signed registry (fetched again if the relay's
//!   key is unknown); one that does not is an untrusted answer, retried and shown.
//! - A crash after sending and before storing the receipt sends the envelope again after the
//!   restart; the hub answers `duplicate`, and the node then fetches the receipt of the first
//!   delivery, so the status shows the real outcome and nothing is counted twice.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use rand_core::{OsRng, RngCore};
use tokio::sync::watch;

use alliance_core::receipt::{CustodyBatch, OutcomeKind, Receipt};
use alliance_envelope::{Envelope, payload_type, sign};
use alliance_proto::pb;
use alliance_store::{DeliveryState, ReportEntry, StoredRefusal};

use super::{Node, NodeError, now};
use crate::crash;
use crate::relay::verify::{CustodyProblem, check_custody};
use crate::upstream::{Delivery, UpstreamError, open_registry};

/// The page size the outbox is read in; the entries of a page waiting to be sent go upstream
/// in one `SubmitBatch`.
pub const WINDOW: usize = 32;

/// How many calls a round has in flight at once.
pub const IN_FLIGHT: usize = 16;

/// The most envelope bytes one batch carries, well under the hub's default message limit
/// (4 MiB); a larger envelope goes alone.
const BATCH_BYTES: usize = 1024 * 1024;

/// How often reports held by a relay are looked up at the upstream.
const HELD_POLL: Duration = Duration::from_secs(10);

/// What a round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Nothing is waiting to be sent.
    Idle,
    /// Entries left the outbox; go on at once.
    Moved,
    /// Only reports held by a relay are left; look them up again later.
    Held,
}

impl Node {
    /// Pushes the outbox until `stop` turns true. Returns the storage error that stopped it, if
    /// one did: after it the node acknowledges nothing more.
    pub async fn run_outbox(&self, mut stop: watch::Receiver<bool>) -> Result<(), NodeError> {
        let mut failures: u32 = 0;
        // Whether this round was started by a wake (a report queued) rather than by the end of
        // a backoff: a wake's failed round does not lengthen the backoff, or a relay taking
        // reports through an outage would reach the longest backoff within minutes and then
        // wait that long after the upstream came back.
        let mut woken = false;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let wait = match self.push_round().await {
                Ok(Round::Moved) => {
                    failures = 0;
                    continue;
                }
                Ok(Round::Idle) => {
                    failures = 0;
                    None
                }
                Ok(Round::Held) => {
                    failures = 0;
                    Some(HELD_POLL)
                }
                Err(NodeError::Upstream(error)) => {
                    if !woken || failures == 0 {
                        failures = failures.saturating_add(1);
                    }
                    let wait = self.backoff(failures);
                    tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "delivery failed; will retry");
                    Some(wait)
                }
                Err(error) => return Err(error),
            };
            let sleep = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            woken = tokio::select! {
                _ = stop.changed() => return Ok(()),
                () = self.outbox_wake.notified() => true,
                () = sleep => false,
            };
        }
    }

    /// Wakes the outbox, for a retry now rather than after the backoff.
    pub fn wake_outbox(&self) {
        self.outbox_wake.notify_one();
    }

    /// One pass over the head of the outbox, in order.
    async fn push_round(&self) -> Result<Round, NodeError> {
        // Reports a relay holds are looked up at most every HELD_POLL; the others are sent.
        let poll_held = self.held_poll_due();
        // The outbox is read lazily a page at a time (bounded memory, and a long backlog
        // behind many held reports still moves), and its entries go out in queue order with
        // up to IN_FLIGHT calls at once across pages, answers taken in queue order: a relay
        // draining a backlog is not held to one round trip and one flush per envelope. The
        // first failure ends the round; calls still in flight are dropped, and their entries,
        // still in the outbox, are sent again later.
        let store = self.store.clone();
        let pages = futures::stream::try_unfold(0u64, move |after| {
            let page = store.outbox_after(after, WINDOW);
            async move {
                let page = page?;
                Ok::<_, NodeError>(page.last().map(|(last, _)| *last).map(|last| (page, last)))
            }
        });
        let answers = pages
            .map_ok(|page| futures::stream::iter(jobs(page, poll_held).into_iter().map(Ok)))
            .try_flatten()
            .map_ok(|job| async move {
                match job {
                    Job::Send(entries) => self.send_all(entries).await,
                    Job::LookUp(mut entry) => Ok((self.look_up(&mut entry).await?, true)),
                    Job::Wait => Ok::<_, NodeError>((false, true)),
                }
            })
            .try_buffered(IN_FLIGHT);
        let mut answers = std::pin::pin!(answers);
        let (mut moved, mut held) = (false, false);
        while let Some(answer) = answers.next().await {
            let (left, was_held) = answer?;
            moved |= left;
            held |= was_held;
        }
        if poll_held && let Ok(mut polled) = self.held_polled.lock() {
            *polled = Some(Instant::now());
        }
        Ok(if moved {
            Round::Moved
        } else if held {
            Round::Held
        } else {
            Round::Idle
        })
    }

    /// Whether reports held by a relay are due to be looked up.
    fn held_poll_due(&self) -> bool {
        self.held_polled
            .lock()
            .map(|polled| polled.is_none_or(|at| at.elapsed() >= HELD_POLL))
            .unwrap_or(true)
    }

    /// Sends entries waiting in the outbox: one alone, several in one batch. Returns whether
    /// any left the outbox and whether any is now held by a relay; a transient failure is an
    /// error, which ends the round.
    async fn send_all(&self, mut entries: Vec<ReportEntry>) -> Result<(bool, bool), NodeError> {
        if let [entry] = entries.as_mut_slice() {
            let left = self.send(entry).await?;
            return Ok((left, entry.state == DeliveryState::HeldByRelay));
        }
        for entry in &mut entries {
            entry.attempts = entry.attempts.saturating_add(1);
        }
        let items: Vec<&Envelope> = entries.iter().map(|e| &e.envelope).collect();
        let custody = self.custody_batch(&entries);
        let answers = self.upstream.submit_batch(&items, custody.as_ref()).await;
        crash::point(crash::AFTER_SENDING);
        let answers = match answers {
            Ok(answers) => answers,
            // A refusal of the whole call (say, the batch is over the upstream's message
            // limit) names no item: each is sent alone, so that only the one at fault is set
            // aside.
            Err(UpstreamError::Refused(_)) => {
                let mut moved = (false, false);
                for mut entry in entries {
                    let left = self.send(&mut entry).await?;
                    moved.0 |= left;
                    moved.1 |= entry.state == DeliveryState::HeldByRelay;
                }
                return Ok(moved);
            }
            Err(error) => {
                self.note_error(&error);
                self.store.update_reports(&entries, false)?;
                return Err(error.into());
            }
        };
        self.note_contact();
        let (mut answered, mut held) = (Vec::new(), Vec::new());
        for (mut entry, answer) in entries.into_iter().zip(answers) {
            match answer {
                Ok(Delivery::Decided { receipt, envelope }) => {
                    let (receipt, envelope) = self.original_receipt(receipt, envelope).await;
                    self.note_decided(&mut entry, &receipt, envelope)?;
                    answered.push(entry);
                }
                Ok(Delivery::HeldByRelay { custody }) => {
                    if self.holds(&entry.org) {
                        if let Err(error) = self.check_custody(&entry, &custody).await {
                            self.note_error(&error);
                            return Err(error.into());
                        }
                        entry.custody_receipt = Some(custody);
                    }
                    entry.state = DeliveryState::HeldByRelay;
                    held.push(entry);
                }
                Err(refusal) => {
                    set_aside(&mut entry, refusal);
                    answered.push(entry);
                }
            }
        }
        crash::point(crash::BEFORE_RECEIPT_STORED);
        self.store.update_reports(&held, false)?;
        self.store.update_reports(&answered, true)?;
        self.store.durable().await?;
        Ok((!answered.is_empty(), !held.is_empty()))
    }

    /// The custody receipts of the envelopes of a batch this node relays, as one custody batch
    /// signed with its own key, so that the hub checks one signature for the batch rather than
    /// one per item; `None` when it relays none of them. A receipt that cannot be read back, or
    /// a key that cannot be had, leaves the custody out (logged): the hub then counts those
    /// reports from when it receives them, which only matters for one past its deadline.
    fn custody_batch(&self, entries: &[ReportEntry]) -> Option<Envelope> {
        let mut receipts = Vec::new();
        for entry in entries {
            let Some(custody) = self.custody_to_forward(entry) else {
                continue;
            };
            match alliance_proto::decode_custody_receipt(&custody.payload) {
                Ok(receipt) => receipts.push(receipt),
                Err(error) => tracing::warn!(
                    report = %entry.report_id,
                    %error,
                    "a stored custody receipt does not decode; forwarding without it"
                ),
            }
        }
        if receipts.is_empty() {
            return None;
        }
        match self.own_key() {
            Ok(key) => Some(sign(
                &key,
                payload_type::CUSTODY_BATCH,
                alliance_proto::encode_custody_batch(&CustodyBatch { receipts }),
            )),
            Err(error) => {
                tracing::warn!(%error, "no key to sign a custody batch; forwarding without it");
                None
            }
        }
    }

    /// The custody receipt to send with an entry: a relay's own, for an envelope it relays.
    fn custody_to_forward<'e>(&self, entry: &'e ReportEntry) -> Option<&'e Envelope> {
        if self.holds(&entry.org) {
            None
        } else {
            entry.custody_receipt.as_ref()
        }
    }

    /// Sends one entry. Returns whether it left the outbox; a transient failure is an error,
    /// which ends the round.
    async fn send(&self, entry: &mut ReportEntry) -> Result<bool, NodeError> {
        entry.attempts = entry.attempts.saturating_add(1);
        self.store.update_report(entry, false)?;
        let relayed = !self.holds(&entry.org);
        let custody = if relayed {
            entry.custody_receipt.as_ref()
        } else {
            None
        };
        let answer = self
            .upstream
            .submit_with_custody(&entry.envelope, custody)
            .await;
        crash::point(crash::AFTER_SENDING);
        match answer {
            Ok(Delivery::Decided { receipt, envelope }) => {
                self.note_contact();
                let (receipt, envelope) = self.original_receipt(receipt, envelope).await;
                self.decided(entry, &receipt, envelope).await?;
                Ok(true)
            }
            Ok(Delivery::HeldByRelay { custody }) => {
                if !relayed {
                    // A relay's own custody receipt of an envelope it relays stays the one
                    // its affiliate was given.
                    if let Err(error) = self.check_custody(entry, &custody).await {
                        self.note_error(&error);
                        return Err(error.into());
                    }
                    entry.custody_receipt = Some(custody);
                }
                self.note_contact();
                entry.state = DeliveryState::HeldByRelay;
                self.store.update_report(entry, false)?;
                self.store.durable().await?;
                Ok(false)
            }
            Err(UpstreamError::Refused(refusal)) => {
                self.note_contact();
                set_aside(entry, refusal);
                self.store.update_report(entry, true)?;
                self.store.durable().await?;
                Ok(true)
            }
            Err(error) => {
                self.note_error(&error);
                Err(error.into())
            }
        }
    }

    /// Asks the upstream for the hub's receipt of an entry a relay holds.
    async fn look_up(&self, entry: &mut ReportEntry) -> Result<bool, NodeError> {
        match self.upstream.receipt(entry.report_id).await {
            Ok(Some((receipt, envelope))) => {
                self.note_contact();
                self.decided(entry, &receipt, envelope).await?;
                Ok(true)
            }
            Ok(None) => {
                self.note_contact();
                Ok(false)
            }
            Err(UpstreamError::Refused(refusal)) => {
                set_aside(entry, refusal);
                self.store.update_report(entry, true)?;
                self.store.durable().await?;
                Ok(true)
            }
            Err(error) => {
                self.note_error(&error);
                Err(error.into())
            }
        }
    }

    /// For a duplicate (the node sent it before, then crashed before storing the answer), the
    /// receipt of the first delivery says what the report did; if it cannot be had, the
    /// duplicate receipt is kept, which is true too.
    async fn original_receipt(&self, receipt: Receipt, envelope: Envelope) -> (Receipt, Envelope) {
        if receipt.outcome.kind != OutcomeKind::Duplicate {
            return (receipt, envelope);
        }
        match self.upstream.receipt(receipt.report_id).await {
            Ok(Some((original, original_envelope)))
                if original.outcome.kind != OutcomeKind::Duplicate =>
            {
                (original, original_envelope)
            }
            _ => (receipt, envelope),
        }
    }

    /// Stores the hub's verified receipt and takes the entry out of the outbox.
    async fn decided(
        &self,
        entry: &mut ReportEntry,
        receipt: &Receipt,
        envelope: Envelope,
    ) -> Result<(), NodeError> {
        crash::point(crash::BEFORE_RECEIPT_STORED);
        self.note_decided(entry, receipt, envelope)?;
        self.store.update_report(entry, true)?;
        self.store.durable().await?;
        Ok(())
    }

    /// Puts the hub's verified receipt in `entry` (the caller stores it) and, for an
    /// organisation the node holds, notes the winning revision so that its next one is higher.
    fn note_decided(
        &self,
        entry: &mut ReportEntry,
        receipt: &Receipt,
        envelope: Envelope,
    ) -> Result<(), NodeError> {
        if self.holds(&entry.org) {
            self.store.note_hub_revision(
                &entry.org,
                entry.period,
                receipt.outcome.winning_revision,
            )?;
        }
        entry.state = DeliveryState::Decided;
        entry.receipt = Some(envelope);
        tracing::info!(report_id = %entry.report_id, outcome = receipt.outcome.kind.as_str(), winning_revision = receipt.outcome.winning_revision, "hub receipt received");
        Ok(())
    }

    /// Checks a relay's custody receipt for `entry` against the hub's registry the node holds,
    /// fetching the registry again (verified under the pinned hub key) if the relay's key is
    /// not in it.
    async fn check_custody(
        &self,
        entry: &ReportEntry,
        custody: &Envelope,
    ) -> Result<(), UpstreamError> {
        let registry = match self.store.registry() {
            Ok(Some(envelope)) => open_registry(&envelope, &self.setup.hub_public_key)
                .map(|r| r.registry)
                .unwrap_or_default(),
            _ => Default::default(),
        };
        let checked = check_custody(custody, &registry, &entry.org, entry.report_id, now());
        let problem = match checked {
            Ok(_) => return Ok(()),
            Err(CustodyProblem::Untrusted(message)) => {
                return Err(UpstreamError::Untrusted(message));
            }
            Err(CustodyProblem::UnknownKey(message)) => message,
        };
        tracing::info!(%problem, "fetching the hub's registry again to check a custody receipt");
        let (registry, envelope) = self.upstream.registry().await?;
        match check_custody(
            custody,
            &registry.registry,
            &entry.org,
            entry.report_id,
            now(),
        ) {
            Ok(_) => {
                if let Err(error) = self.store.put_registry(&envelope) {
                    tracing::warn!(%error, "could not store the hub's registry");
                }
                Ok(())
            }
            Err(CustodyProblem::Untrusted(message) | CustodyProblem::UnknownKey(message)) => {
                Err(UpstreamError::Untrusted(message))
            }
        }
    }

    /// The wait before attempt `failures + 1`: doubling from the minimum, capped, with jitter
    /// (between half and all of it).
    fn backoff(&self, failures: u32) -> Duration {
        let settings = &self.config.outbox;
        let min = settings.min_backoff_ms.max(1);
        let max = settings.max_backoff_seconds.saturating_mul(1000).max(min);
        let full = min
            .saturating_mul(1u64 << failures.saturating_sub(1).min(30))
            .min(max);
        let jitter = OsRng.next_u64() % (full / 2 + 1);
        Duration::from_millis(full - jitter)
    }
}

/// What a round does with part of the outbox.
enum Job {
    /// Send these entries, waiting to be sent, in one call.
    Send(Vec<ReportEntry>),
    /// Ask the upstream for the hub's receipt of an entry a relay holds.
    LookUp(Box<ReportEntry>),
    /// An entry a relay holds, not yet due to be looked up.
    Wait,
}

/// The jobs of one page of the outbox, in queue order: its entries waiting to be sent in
/// batches of at most [`BATCH_BYTES`] of envelopes, and those a relay holds.
fn jobs(page: Vec<(u64, ReportEntry)>, poll_held: bool) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut batch: Vec<ReportEntry> = Vec::new();
    let mut bytes = 0;
    for (_, entry) in page {
        if entry.state == DeliveryState::HeldByRelay {
            jobs.push(if poll_held {
                Job::LookUp(Box::new(entry))
            } else {
                Job::Wait
            });
            continue;
        }
        let size = entry.envelope.payload.len();
        if !batch.is_empty() && bytes + size > BATCH_BYTES {
            jobs.push(Job::Send(std::mem::take(&mut batch)));
            bytes = 0;
        }
        bytes += size;
        batch.push(entry);
    }
    if !batch.is_empty() {
        jobs.push(Job::Send(batch));
    }
    jobs
}

/// Marks an entry refused for good, with the upstream's reason; the caller stores it.
fn set_aside(entry: &mut ReportEntry, refusal: pb::Refusal) {
    tracing::warn!(report_id = %entry.report_id, reason = refusal.reason().as_str_name(), message = %refusal.message, "refused for good: set aside");
    entry.state = DeliveryState::SetAside;
    entry.refusal = Some(StoredRefusal {
        reason: refusal.reason().as_str_name().to_owned(),
        message: refusal.message,
    });
}
