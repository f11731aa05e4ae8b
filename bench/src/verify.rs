//! The ceiling for ingest: signature verification alone, on as many threads as the hub has
//! worker threads, over the same kind of envelopes it receives.
//!
//! Two figures. *Bare* `verify_strict` is ed25519-dalek's primitive over the PAE bytes with
//! the public key already parsed: nothing the hub does per report can be cheaper, so it is the
//! reference the targets name. *Envelope* verification is `alliance_envelope::verify_signed`
//! with raw public keys: it also builds the PAE, decompresses the key and hashes the report id.
//!
//! A third, shown with the progress on stderr: envelope verification under keys decompressed
//! beforehand (`verify_signed_with` and `alliance_envelope::PublicKey`), the call the hub makes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alliance_envelope::{Envelope, PublicKey, payload_type, verify_signed, verify_signed_with};
use anyhow::{Context, Result, anyhow, bail};
use ed25519_dalek::{Signature, VerifyingKey};

/// Verifications per second: bare primitive and whole envelope.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRates {
    pub bare_per_s: f64,
    pub envelope_per_s: f64,
}

/// Runs both measurements for `duration` each on `threads` threads, over envelopes given with
/// their signer's public key. Every envelope must verify; one that does not means the fixture is
/// wrong, and is an error.
pub fn measure(
    signed: &[(Envelope, [u8; 32])],
    threads: usize,
    duration: Duration,
) -> Result<VerifyRates> {
    if signed.is_empty() {
        bail!("nothing to verify");
    }
    let bare: Vec<(VerifyingKey, Vec<u8>, Signature)> = signed
        .iter()
        .map(|(e, key)| {
            let signature = e
                .signatures
                .first()
                .context("an envelope without signature")?;
            let key = VerifyingKey::from_bytes(key).context("a fixture key does not parse")?;
            let sig = Signature::from_slice(&signature.sig).context("a bad fixture signature")?;
            Ok((key, e.pae(), sig))
        })
        .collect::<Result<_>>()?;
    let bare_per_s = on_threads(threads, duration, |i| {
        let (key, message, sig) = &bare[i % bare.len()];
        key.verify_strict(message, sig).is_ok()
    })?;

    // The hub looks keys up by key id in a map; so does this.
    let keys: HashMap<&str, [u8; 32]> = signed
        .iter()
        .filter_map(|(e, key)| Some((e.signatures.first()?.keyid.as_str(), *key)))
        .collect();
    let envelope_per_s = on_threads(threads, duration, |i| {
        let (envelope, _) = &signed[i % signed.len()];
        verify_signed(envelope, payload_type::REPORT, |id| keys.get(id).copied()).is_ok()
    })?;

    let decompressed: HashMap<&str, PublicKey> = keys
        .iter()
        .map(|(id, key)| Ok((*id, PublicKey::from_bytes(key)?)))
        .collect::<Result<_, alliance_envelope::EnvelopeError>>()
        .context("a fixture key is not a usable public key")?;
    let decompressed_per_s = on_threads(threads, duration, |i| {
        let (envelope, _) = &signed[i % signed.len()];
        verify_signed_with(envelope, payload_type::REPORT, |id| {
            decompressed.get(id).copied()
        })
        .is_ok()
    })?;
    eprintln!(
        "      bare verify_strict {bare_per_s:.0}/s; envelope verify_signed {envelope_per_s:.0}/s \
         with raw keys, {decompressed_per_s:.0}/s with keys decompressed beforehand"
    );
    Ok(VerifyRates {
        bare_per_s,
        envelope_per_s,
    })
}

/// Calls `verify(i)` for i = 0, 1, ... on each of `threads` threads until `duration` has passed;
/// returns calls per second over the wall time of the whole run.
fn on_threads(
    threads: usize,
    duration: Duration,
    verify: impl Fn(usize) -> bool + Sync,
) -> Result<f64> {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let counts = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (verify, stop) = (&verify, &stop);
                scope.spawn(move || {
                    // Each thread starts at another envelope, as concurrent requests would.
                    let mut i = t * 7919;
                    let mut done: u64 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..64 {
                            if !verify(i) {
                                return Err(anyhow!("a fixture envelope does not verify"));
                            }
                            i += 1;
                            done += 1;
                        }
                    }
                    Ok(done)
                })
            })
            .collect();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| anyhow!("a verify thread panicked"))?)
            .collect::<Result<Vec<u64>>>()
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    if elapsed <= 0.0 {
        bail!("no time passed");
    }
    Ok(counts.iter().sum::<u64>() as f64 / elapsed)
}
