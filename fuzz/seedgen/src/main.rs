//! Writes the seed corpora of the fuzz targets: a few valid inputs each, so that the fuzzer
//! starts inside the formats instead of having to discover protobuf, DSSE and CSV from nothing.
//!
//! Run from `fuzz/` with `cargo run -p alliance-fuzz-seedgen`; it replaces `seeds/<target>/`.
//! Everything is deterministic (keys come from fixed seeds, and Ed25519 signing is
//! deterministic), so running it again writes the same files.

use std::collections::BTreeMap;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use alliance_core::framework::ConventionStatus;
use alliance_core::receipt::{Outcome, OutcomeKind, Receipt, ReportId};
use alliance_core::report::{Cell, CountValue, Currency, FlagValue, Report, Value};
use alliance_core::timestamp::Timestamp;
use alliance_envelope::{Envelope, JoinCode, SigningKey, payload_type, sign};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> Result<()> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    write_reports(&seeds.join("report"))?;
    write_envelopes(&seeds.join("envelope"))?;
    write_join_codes(&seeds.join("join_code"))?;
    write_csv(&seeds.join("csv_import"))?;
    Ok(())
}

/// Empties `dir` and writes each `(name, bytes)` as `seed-<name>`.
fn write_all(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    for (name, bytes) in files {
        let path: PathBuf = dir.join(format!("seed-{name}"));
        fs::write(&path, bytes)?;
    }
    println!("{}: {} seeds", dir.display(), files.len());
    Ok(())
}

/// A report that passes version 1 of the framework with every kind of value, suppressed cells
/// and a narrative.
fn full_report() -> Result<Report> {
    let mut values = BTreeMap::new();
    values.insert(
        "awareness.activities".parse()?,
        Value::Count(CountValue::total(12)),
    );
    let sex = BTreeMap::from([
        ("female".to_owned(), Cell::Published(7)),
        ("male".to_owned(), Cell::Suppressed),
        ("unknown".to_owned(), Cell::Suppressed),
    ]);
    values.insert(
        "exposure.cases_documented".parse()?,
        Value::Count(CountValue {
            total: Cell::Published(12),
            breakdowns: BTreeMap::from([("sex".to_owned(), sex)]),
        }),
    );
    values.insert(
        "ratification.convention_status".parse()?,
        Value::Status(BTreeMap::from([
            ("c29".to_owned(), ConventionStatus::Ratified),
            ("c105".to_owned(), ConventionStatus::RatifiedWithGaps),
        ])),
    );
    values.insert(
        "gufs.sectors_targeted".parse()?,
        Value::Flag(FlagValue {
            value: true,
            breakdowns: BTreeMap::from([(
                "sector".to_owned(),
                BTreeMap::from([("mining".to_owned(), true)]),
            )]),
        }),
    );
    values.insert(
        "internal_support.budget_allocated".parse()?,
        Value::Amount(BTreeMap::from([
            ("EUR".parse::<Currency>()?, 100_000),
            ("USD".parse::<Currency>()?, 250),
        ])),
    );
    Ok(Report {
        org: "cut-brazil".parse()?,
        period: "2009".parse()?,
        framework_version: 1,
        revision: 1,
        prepared_at: Timestamp(1_262_304_000),
        prepared_by: "cut-brazil".parse()?,
        disclosure_threshold: 5,
        withdrawn: false,
        narratives: BTreeMap::from([("awareness".to_owned(), "Campaign in São Paulo.".to_owned())]),
        values,
    })
}

/// A later revision that withdraws the report, prepared by a relay on the affiliate's behalf.
fn withdrawn_report() -> Result<Report> {
    Ok(Report {
        revision: 2,
        prepared_by: "ituc-americas".parse()?,
        withdrawn: true,
        narratives: BTreeMap::new(),
        values: BTreeMap::new(),
        ..full_report()?
    })
}

/// A report the framework refuses (the cells do not add up), which still decodes.
fn inconsistent_report() -> Result<Report> {
    let mut report = full_report()?;
    report.values.insert(
        "awareness.people_reached".parse()?,
        Value::Count(CountValue {
            total: Cell::Published(10),
            breakdowns: BTreeMap::from([(
                "sex".to_owned(),
                BTreeMap::from([
                    ("female".to_owned(), Cell::Published(4)),
                    ("male".to_owned(), Cell::Published(5)),
                ]),
            )]),
        }),
    );
    Ok(report)
}

fn write_reports(dir: &Path) -> Result<()> {
    write_all(
        dir,
        &[
            ("full", alliance_proto::encode_report(&full_report()?)),
            (
                "withdrawn",
                alliance_proto::encode_report(&withdrawn_report()?),
            ),
            (
                "inconsistent",
                alliance_proto::encode_report(&inconsistent_report()?),
            ),
        ],
    )
}

/// The keys the envelope target knows come from these seeds: the hub's, a node's, another's.
fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

fn write_envelopes(dir: &Path) -> Result<()> {
    let (hub, node, other) = (key(1), key(7), key(9));
    let report = sign(
        &node,
        payload_type::REPORT,
        alliance_proto::encode_report(&full_report()?),
    );
    let mut rotated = sign(
        &node,
        payload_type::REPORT,
        alliance_proto::encode_report(&withdrawn_report()?),
    );
    rotated.add_signature(&other);
    let receipt = sign(
        &hub,
        payload_type::RECEIPT,
        alliance_proto::encode_receipt(&Receipt {
            report_id: ReportId(alliance_envelope::report_id(&report)),
            org: "cut-brazil".parse()?,
            period: "2009".parse()?,
            revision: 1,
            outcome: Outcome {
                kind: OutcomeKind::Accepted,
                winning_revision: 1,
                winning_report_id: ReportId(alliance_envelope::report_id(&report)),
            },
            issued_at: Timestamp(1_262_304_100),
            first_received_at: Timestamp(1_262_304_050),
        }),
    );
    // Signed by a key the verifiers do not know, and one without signatures.
    let stranger = sign(&key(42), payload_type::REPORT, b"\x0a\x03abc".to_vec());
    let unsigned = Envelope::unsigned(payload_type::REPORT, b"\x0a\x03abc".to_vec());
    let protobuf = |envelope: &Envelope| alliance_proto::encode_envelope(envelope);
    let json = |envelope: &Envelope| envelope.to_json().into_bytes();
    write_all(
        dir,
        &[
            ("report.pb", protobuf(&report)),
            ("two-signatures.pb", protobuf(&rotated)),
            ("receipt.pb", protobuf(&receipt)),
            ("stranger.pb", protobuf(&stranger)),
            ("report.json", json(&report)),
            ("receipt.json", json(&receipt)),
            ("unsigned.json", json(&unsigned)),
            // The URL-safe alphabet without padding, which readers accept too.
            (
                "url-safe.json",
                json(&report)
                    .iter()
                    .filter(|&&b| b != b'=')
                    .map(|&b| match b {
                        b'+' => b'-',
                        b'/' => b'_',
                        other => other,
                    })
                    .collect(),
            ),
        ],
    )
}

fn write_join_codes(dir: &Path) -> Result<()> {
    let code = JoinCode {
        org_id: "ke-cotu".into(),
        upstream: "hub.example.org:7443".into(),
        ca_fingerprint: [1; 32],
        hub_key_fingerprint: [2; 32],
        token: "ab".repeat(32),
        expires_at_unix_seconds: 1_800_000_000,
    };
    let relayed = JoinCode {
        org_id: "cut-brazil".into(),
        upstream: "[::1]:8443".into(),
        expires_at_unix_seconds: -1,
        ..code.clone()
    };
    let text = code.to_string();
    // The join_code target reads an input starting with a 0 byte as the body of a code and adds
    // the checksum itself; these are the same codes in that form.
    let body = |code: &JoinCode| -> Result<Vec<u8>> {
        let encoded = code
            .to_string()
            .strip_prefix(alliance_envelope::JOIN_CODE_PREFIX)
            .ok_or("a formatted code starts with the prefix")?
            .to_owned();
        let raw = alliance_envelope::text::decode_base64(&encoded)?;
        // Drop the 8 hex digits of the checksum that end the code.
        let end = raw
            .len()
            .checked_sub(8)
            .ok_or("a code ends in a checksum")?;
        let mut seed = vec![0];
        seed.extend_from_slice(&raw[..end]);
        Ok(seed)
    };
    write_all(
        dir,
        &[
            ("code", text.clone().into_bytes()),
            ("pasted", format!("  {text}\n").into_bytes()),
            (
                "url-safe",
                text.replace('+', "-").replace('/', "_").into_bytes(),
            ),
            ("relayed", relayed.to_string().into_bytes()),
            ("body-code", body(&code)?),
            ("body-relayed", body(&relayed)?),
        ],
    )
}

fn write_csv(dir: &Path) -> Result<()> {
    let every_kind = "\u{feff}indicator,date,value,status,flag,amount,currency,sex,migrant_status,\
sector,convention,agreement_kind,authority,scope,note
awareness.people_reached,2009-03-01,40,,,,,female,,,,,,,
ratification.convention_status,2009-04-01,,ratified,,,,,,,C29,,,,
gufs.sectors_targeted,2009-05-01,,,yes,,,,,mining,,,,,
internal_support.budget_allocated,2009-06-01,,,,1200.50,EUR,,,,,,,,\"a note
on two lines, with a comma\"
authorities.referrals,2009-07-01,2,,,,,,,,,,police,,
cooperation.union_agreements,2009-08-01,1,,,,,,,,,,,regional,
negotiation.agreements_with_clauses,2009-09-01,1,,,,,,,,,bipartite,,,
";
    let short = "date,indicator,value,note
2009-01-01,awareness.activities,1,\"first
second\"
2009-01-02,awareness.activities,2,
";
    let header_only = "date,indicator,value\n";
    write_all(
        dir,
        &[
            ("every-kind.csv", every_kind.as_bytes().to_vec()),
            ("short.csv", short.as_bytes().to_vec()),
            ("header-only.csv", header_only.as_bytes().to_vec()),
        ],
    )
}
