//! What `alliance-hub` prints: every answer the command line gets over the admin socket, as an
//! aligned table for people ([`Render::text`]) and as stable JSON for scripts
//! ([`Render::json`], printed with `--json`).
//!
//! The JSON is a contract: scripts and tests rely on it, so a change to it is a change to the
//! command line's interface. Keys are snake_case; ids are strings (report ids and public keys
//! in lowercase hex); enums are lowercase words (`accepted`, `on_time`, `africa`,
//! `national_centre`, `ratified_with_gaps`); times are RFC 3339 strings (`2010-04-01T00:00:00Z`);
//! absent values are `null`. Keys of an object come out sorted.
//!
//! - `view`: `{"period": "2009", "group_by": "alliance", "rows": [ROW], "equivocations": [EQ]}`
//!   where ROW is `{"group", "indicator", "dimension": null | "sex", "value": null | "male",
//!   "organisations": 2, "kind": "count" | "status" | "flag" | "amount"}` plus, by kind:
//!   - `"count": {"lo": 9, "hi": 14, "exact": false, "suppressed_contributions": 1}`;
//!   - `"status": "ratified"`, or `"status": "conflict"` with
//!     `"conflict": [{"status": "ratified", "org_ids": ["cut-brazil"]}, ...]`;
//!   - `"flag": {"yes": 2, "no": 1}`;
//!   - `"amount": {"currency": "EUR", "hundredths": "133456", "value": "1334.56"}` (strings:
//!     a sum may exceed what a JSON number holds exactly);
//!
//!   and EQ is `{"org_id", "period", "revision", "report_ids": [hex, ...]}`, the winner first.
//! - `coverage`: `{"period", "deadline", "rows": [{"org_id", "name", "kind", "country": null |
//!   "BR", "region", "enrolled", "state": "on_time" | "late" | "missing" | "withdrawn",
//!   "received_at": null | time, "revision": null | 2}], "regions": [{"region", "expected",
//!   "on_time", "late", "missing", "withdrawn", "never_enrolled"}]}`.
//! - `org list`: `{"organisations": [ORG]}`; `org show`: `{"organisation": ORG,
//!   "open_join_codes": [CODE]}`, where ORG is `{"id", "name", "kind", "country", "region",
//!   "sectors": [..], "via_relay_id": null | id, "hosted", "registered_at", "enrolled_at",
//!   "deactivated_at", "keys": [{"key_id", "public_key": hex, "added_at", "state": "active" |
//!   "rotated" | "revoked", "grace_until", "revoked_at"}], "relay": null | {"public_address",
//!   "ca_certificate_der": hex}}` and CODE is `{"org_id", "join_code", "expires_at"}`.
//! - `org add`: `{"organisation": ORG, "join_code": CODE}`; `org import`:
//!   `{"organisations": [{"organisation": ORG, "join_code": CODE}]}`; `org reissue`: CODE.
//! - `audit`: `{"refusals_total": 3, "entries": [{"sequence", "at", "kind": "admin_action" |
//!   "refusal", "actor", "action", "org_id": null | id, "reason": null | "signature", "detail"}]}`.
//! - `import`: `{"results": [{"index": 0, "result": "stored", "receipt": {"report_id", "org_id",
//!   "period", "revision", "outcome": "accepted", "winning_revision", "winning_report_id",
//!   "issued_at", "first_received_at"}} | {"index": 1, "result": "refused", "refusal":
//!   {"reason": "signature", "message", "refused_at"}}]}`.

use std::fmt::Write as _;

use alliance_core::Timestamp;
use alliance_proto::pb;
use serde_json::{Value, json};

/// An answer the command line can print.
pub trait Render {
    /// For people: aligned columns, ranges as `12–16 (2 suppressed)`, conflicts spelled out.
    fn text(&self) -> String;
    /// For scripts: the stable JSON described in this module's documentation.
    fn json(&self) -> Value;
}

/// What the command line prints for `answer`: its text, or its JSON with `--json`; either way
/// ending in a newline.
pub fn output(answer: &impl Render, json: bool) -> String {
    let mut out = if json {
        // Pretty-printing a `Value` cannot fail: its keys are strings.
        serde_json::to_string_pretty(&answer.json()).unwrap_or_default()
    } else {
        answer.text()
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The view

impl Render for pb::ViewResponse {
    fn text(&self) -> String {
        let mut out = format!(
            "View of {}, by {}\n",
            self.period,
            group_by_word(self.group_by)
        );
        if self.rows.is_empty() {
            out.push_str("No reports count in this period.\n");
        } else {
            let mut table = Table::new(["GROUP", "INDICATOR", "BREAKDOWN", "ORGS", "VALUE"]);
            for row in &self.rows {
                let breakdown = if row.dimension.is_empty() {
                    String::new()
                } else {
                    format!("{}={}", row.dimension, row.dimension_value)
                };
                table.push([
                    row.group.clone(),
                    row.indicator.clone(),
                    breakdown,
                    row.organisations.to_string(),
                    row_value_text(row.value.as_ref()),
                ]);
            }
            out.push_str(&table.render());
        }
        if !self.equivocations.is_empty() {
            out.push_str("\nEquivocations (kept as evidence; the first report id wins):\n");
            for e in &self.equivocations {
                let ids: Vec<String> = e.report_ids.iter().map(|id| hex(id)).collect();
                let _ = writeln!(
                    out,
                    "  {} {} revision {}: {}",
                    e.org_id,
                    e.period,
                    e.revision,
                    ids.join(", ")
                );
            }
        }
        out
    }

    fn json(&self) -> Value {
        json!({
            "period": self.period,
            "group_by": group_by_word(self.group_by),
            "rows": self.rows.iter().map(view_row_json).collect::<Vec<_>>(),
            "equivocations": self.equivocations.iter().map(equivocation_json).collect::<Vec<_>>(),
        })
    }
}

/// One view row as JSON; shared with the JSON export.
pub fn view_row_json(row: &pb::ViewRow) -> Value {
    let mut object = json!({
        "group": row.group,
        "indicator": row.indicator,
        "dimension": non_empty(&row.dimension),
        "value": non_empty(&row.dimension_value),
        "organisations": row.organisations,
    });
    let (kind, fields) = match row.value.as_ref() {
        Some(pb::view_row::Value::Count(c)) => ("count", json!({ "count": count_json(c) })),
        Some(pb::view_row::Value::Status(s)) => ("status", status_json(s)),
        Some(pb::view_row::Value::Flag(f)) => {
            ("flag", json!({ "flag": { "yes": f.yes, "no": f.no } }))
        }
        Some(pb::view_row::Value::Amount(a)) => ("amount", json!({ "amount": amount_json(a) })),
        None => ("none", json!({})),
    };
    if let (Some(object), Value::Object(fields)) = (object.as_object_mut(), fields) {
        object.insert("kind".to_owned(), json!(kind));
        object.extend(fields);
    }
    object
}

fn count_json(c: &pb::CountRange) -> Value {
    json!({
        "lo": c.lo,
        "hi": c.hi,
        "exact": c.exact,
        "suppressed_contributions": c.suppressed_contributions,
    })
}

fn status_json(cell: &pb::StatusCell) -> Value {
    match &cell.state {
        Some(pb::status_cell::State::Status(s)) => json!({ "status": convention_status_word(*s) }),
        Some(pb::status_cell::State::Conflict(conflict)) => json!({
            "status": "conflict",
            "conflict": conflict
                .statuses
                .iter()
                .map(|s| json!({ "status": convention_status_word(s.status), "org_ids": s.org_ids }))
                .collect::<Vec<_>>(),
        }),
        None => json!({ "status": null }),
    }
}

fn amount_json(a: &pb::AmountSum) -> Value {
    json!({
        "currency": a.currency,
        "hundredths": a.hundredths,
        "value": decimal(&a.hundredths),
    })
}

fn equivocation_json(e: &pb::Equivocation) -> Value {
    json!({
        "org_id": e.org_id,
        "period": e.period,
        "revision": e.revision,
        "report_ids": e.report_ids.iter().map(|id| hex(id)).collect::<Vec<_>>(),
    })
}

/// The value column of a view row.
fn row_value_text(value: Option<&pb::view_row::Value>) -> String {
    match value {
        Some(pb::view_row::Value::Count(c)) => count_text(c),
        Some(pb::view_row::Value::Status(s)) => status_text(s),
        Some(pb::view_row::Value::Flag(f)) => format!("yes {}, no {}", f.yes, f.no),
        Some(pb::view_row::Value::Amount(a)) => {
            format!("{} {}", a.currency, decimal(&a.hundredths))
        }
        None => "?".to_owned(),
    }
}

/// An exact count as a number; a range as `12–16 (2 suppressed)`.
pub fn count_text(c: &pb::CountRange) -> String {
    if c.exact {
        c.lo.to_string()
    } else {
        format!(
            "{}–{} ({} suppressed)",
            c.lo, c.hi, c.suppressed_contributions
        )
    }
}

fn status_text(cell: &pb::StatusCell) -> String {
    match &cell.state {
        Some(pb::status_cell::State::Status(s)) => convention_status_word(*s),
        Some(pb::status_cell::State::Conflict(conflict)) => {
            let parts: Vec<String> = conflict
                .statuses
                .iter()
                .map(|s| {
                    format!(
                        "{} ({})",
                        convention_status_word(s.status),
                        s.org_ids.join(", ")
                    )
                })
                .collect();
            format!("CONFLICT: {}", parts.join("; "))
        }
        None => "?".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Coverage

impl Render for pb::CoverageResponse {
    fn text(&self) -> String {
        let mut out = format!(
            "Coverage of {}, deadline {}\n",
            self.period,
            time(self.deadline_unix_seconds)
        );
        let mut orgs = Table::new([
            "ORG", "NAME", "KIND", "COUNTRY", "REGION", "ENROLLED", "STATE", "RECEIVED", "REVISION",
        ]);
        for row in &self.rows {
            orgs.push([
                row.org_id.clone(),
                row.name.clone(),
                org_kind_word(row.kind),
                or_dash(&row.country),
                region_word(row.region),
                if row.enrolled { "yes" } else { "never" }.to_owned(),
                coverage_state_word(row.state).replace('_', " "),
                row.received_at_unix_seconds.map_or_else(dash, time),
                revision_text(row.revision),
            ]);
        }
        out.push_str(&orgs.render());
        out.push('\n');
        let mut regions = Table::new([
            "REGION",
            "EXPECTED",
            "ON TIME",
            "LATE",
            "MISSING",
            "WITHDRAWN",
            "NEVER ENROLLED",
        ]);
        let mut total = pb::RegionCoverage::default();
        for r in &self.regions {
            regions.push(region_counts(region_word(r.region), r));
            total.expected += r.expected;
            total.on_time += r.on_time;
            total.late += r.late;
            total.missing += r.missing;
            total.withdrawn += r.withdrawn;
            total.never_enrolled += r.never_enrolled;
        }
        regions.push(region_counts("total".to_owned(), &total));
        out.push_str(&regions.render());
        out
    }

    fn json(&self) -> Value {
        json!({
            "period": self.period,
            "deadline": time(self.deadline_unix_seconds),
            "rows": self.rows.iter().map(coverage_row_json).collect::<Vec<_>>(),
            "regions": self.regions.iter().map(region_json).collect::<Vec<_>>(),
        })
    }
}

fn coverage_row_json(row: &pb::CoverageRow) -> Value {
    json!({
        "org_id": row.org_id,
        "name": row.name,
        "kind": org_kind_word(row.kind),
        "country": non_empty(&row.country),
        "region": region_word(row.region),
        "enrolled": row.enrolled,
        "state": coverage_state_word(row.state),
        "received_at": row.received_at_unix_seconds.map(time),
        "revision": (row.revision != 0).then_some(row.revision),
    })
}

fn region_json(r: &pb::RegionCoverage) -> Value {
    json!({
        "region": region_word(r.region),
        "expected": r.expected,
        "on_time": r.on_time,
        "late": r.late,
        "missing": r.missing,
        "withdrawn": r.withdrawn,
        "never_enrolled": r.never_enrolled,
    })
}

fn region_counts(name: String, r: &pb::RegionCoverage) -> [String; 7] {
    [
        name,
        r.expected.to_string(),
        r.on_time.to_string(),
        r.late.to_string(),
        r.missing.to_string(),
        r.withdrawn.to_string(),
        r.never_enrolled.to_string(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Organisations and join codes

impl Render for pb::ListOrganisationsResponse {
    fn text(&self) -> String {
        if self.organisations.is_empty() {
            return "No organisations registered.\n".to_owned();
        }
        let mut table = Table::new([
            "ID", "NAME", "KIND", "COUNTRY", "REGION", "VIA", "ENROLLED", "STATUS",
        ]);
        for o in &self.organisations {
            table.push([
                o.id.clone(),
                o.name.clone(),
                org_kind_word(o.kind),
                or_dash(&o.country),
                region_word(o.region),
                via_text(o),
                o.enrolled_at_unix_seconds
                    .map_or_else(|| "never".to_owned(), time),
                o.deactivated_at_unix_seconds.map_or_else(
                    || "active".to_owned(),
                    |t| format!("deactivated {}", time(t)),
                ),
            ]);
        }
        table.render()
    }

    fn json(&self) -> Value {
        json!({
            "organisations": self.organisations.iter().map(organisation_json).collect::<Vec<_>>(),
        })
    }
}

impl Render for pb::GetOrganisationResponse {
    fn text(&self) -> String {
        let Some(o) = &self.organisation else {
            return "No such organisation.\n".to_owned();
        };
        let mut out = String::new();
        let sectors = o.sectors.join(", ");
        let fields = [
            ("id", o.id.clone()),
            ("name", o.name.clone()),
            ("kind", org_kind_word(o.kind)),
            ("country", or_dash(&o.country)),
            ("region", region_word(o.region)),
            ("sectors", or_dash(&sectors)),
            ("via", via_text(o)),
            ("registered", time(o.registered_at_unix_seconds)),
            (
                "enrolled",
                o.enrolled_at_unix_seconds
                    .map_or_else(|| "never".to_owned(), time),
            ),
            (
                "deactivated",
                o.deactivated_at_unix_seconds.map_or_else(dash, time),
            ),
        ];
        let mut table = Table::bare();
        for (name, value) in fields {
            table.push([format!("{name}:"), value]);
        }
        if let Some(relay) = &o.relay {
            table.push(["relay:".to_owned(), relay.public_address.clone()]);
        }
        out.push_str(&table.render());
        out.push('\n');
        if o.keys.is_empty() {
            out.push_str("No keys enrolled.\n");
        } else {
            let mut keys = Table::new(["KEY", "STATE", "ADDED", "UNTIL"]);
            for k in &o.keys {
                let until = k
                    .grace_until_unix_seconds
                    .or(k.revoked_at_unix_seconds)
                    .map_or_else(dash, time);
                keys.push([
                    k.key_id.clone(),
                    key_state_word(k.state),
                    time(k.added_at_unix_seconds),
                    until,
                ]);
            }
            out.push_str(&keys.render());
        }
        if !self.open_join_codes.is_empty() {
            out.push_str("\nOpen join codes:\n");
            for code in &self.open_join_codes {
                out.push_str(&code.text());
            }
        }
        out
    }

    fn json(&self) -> Value {
        json!({
            "organisation": self.organisation.as_ref().map(organisation_json),
            "open_join_codes": self.open_join_codes.iter().map(join_code_json).collect::<Vec<_>>(),
        })
    }
}

impl Render for pb::AddOrganisationResponse {
    fn text(&self) -> String {
        let mut out = match &self.organisation {
            Some(o) => format!(
                "Registered {} ({}), {}, {}, {}.\n",
                o.id,
                o.name,
                org_kind_word(o.kind),
                or_dash(&o.country),
                region_word(o.region)
            ),
            None => String::new(),
        };
        if let Some(code) = &self.join_code {
            out.push_str(&code.text());
        }
        out
    }

    fn json(&self) -> Value {
        json!({
            "organisation": self.organisation.as_ref().map(organisation_json),
            "join_code": self.join_code.as_ref().map(join_code_json),
        })
    }
}

impl Render for pb::ImportOrganisationsResponse {
    fn text(&self) -> String {
        let mut out = format!("Registered {} organisations.\n", self.organisations.len());
        let mut table = Table::new(["ORG", "EXPIRES", "JOIN CODE"]);
        for registered in &self.organisations {
            let id = registered.organisation.as_ref().map(|o| o.id.clone());
            let code = registered.join_code.as_ref();
            table.push([
                id.unwrap_or_default(),
                code.map_or_else(dash, |c| time(c.expires_at_unix_seconds)),
                code.map(|c| c.join_code.clone()).unwrap_or_default(),
            ]);
        }
        out.push_str(&table.render());
        out
    }

    fn json(&self) -> Value {
        let organisations: Vec<Value> = self
            .organisations
            .iter()
            .map(|r| {
                json!({
                    "organisation": r.organisation.as_ref().map(organisation_json),
                    "join_code": r.join_code.as_ref().map(join_code_json),
                })
            })
            .collect();
        json!({ "organisations": organisations })
    }
}

impl Render for pb::IssuedJoinCode {
    fn text(&self) -> String {
        format!(
            "Join code for {} (one use, expires {}):\n{}\n",
            self.org_id,
            time(self.expires_at_unix_seconds),
            self.join_code
        )
    }

    fn json(&self) -> Value {
        join_code_json(self)
    }
}

impl Render for pb::ReissueJoinCodeResponse {
    fn text(&self) -> String {
        self.join_code
            .as_ref()
            .map(Render::text)
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        self.join_code.as_ref().map_or(Value::Null, join_code_json)
    }
}

fn organisation_json(o: &pb::Organisation) -> Value {
    json!({
        "id": o.id,
        "name": o.name,
        "kind": org_kind_word(o.kind),
        "country": non_empty(&o.country),
        "region": region_word(o.region),
        "sectors": o.sectors,
        "via_relay_id": non_empty(&o.via_relay_id),
        "hosted": o.hosted,
        "registered_at": time(o.registered_at_unix_seconds),
        "enrolled_at": o.enrolled_at_unix_seconds.map(time),
        "deactivated_at": o.deactivated_at_unix_seconds.map(time),
        "keys": o.keys.iter().map(key_json).collect::<Vec<_>>(),
        "relay": o.relay.as_ref().map(|r| json!({
            "public_address": r.public_address,
            "ca_certificate_der": hex(&r.ca_certificate_der),
        })),
    })
}

fn key_json(k: &pb::OrgKey) -> Value {
    json!({
        "key_id": k.key_id,
        "public_key": hex(&k.public_key),
        "added_at": time(k.added_at_unix_seconds),
        "state": key_state_word(k.state),
        "grace_until": k.grace_until_unix_seconds.map(time),
        "revoked_at": k.revoked_at_unix_seconds.map(time),
    })
}

fn join_code_json(code: &pb::IssuedJoinCode) -> Value {
    json!({
        "org_id": code.org_id,
        "join_code": code.join_code,
        "expires_at": time(code.expires_at_unix_seconds),
    })
}

/// The relay an organisation reports through, and whether it is hosted there.
fn via_text(o: &pb::Organisation) -> String {
    match (o.via_relay_id.as_str(), o.hosted) {
        ("", _) => dash(),
        (relay, true) => format!("{relay} (hosted)"),
        (relay, false) => relay.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Audit

impl Render for pb::ListAuditResponse {
    fn text(&self) -> String {
        let mut out = String::new();
        if self.entries.is_empty() {
            out.push_str("No audit entries.\n");
        } else {
            let mut table = Table::new(["SEQ", "AT", "KIND", "ACTOR", "ACTION", "ORG", "DETAIL"]);
            for e in &self.entries {
                let detail = match refusal_reason(e.reason) {
                    Some(reason) => format!("{reason}: {}", e.detail),
                    None => e.detail.clone(),
                };
                table.push([
                    e.sequence.to_string(),
                    time(e.at_unix_seconds),
                    audit_kind_word(e.kind).replace('_', " "),
                    e.actor.clone(),
                    e.action.clone(),
                    or_dash(&e.org_id),
                    detail,
                ]);
            }
            out.push_str(&table.render());
        }
        let _ = writeln!(
            out,
            "\n{} refusals since the hub was initialised.",
            self.refusals_total
        );
        out
    }

    fn json(&self) -> Value {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                json!({
                    "sequence": e.sequence,
                    "at": time(e.at_unix_seconds),
                    "kind": audit_kind_word(e.kind),
                    "actor": e.actor,
                    "action": e.action,
                    "org_id": non_empty(&e.org_id),
                    "reason": refusal_reason(e.reason),
                    "detail": e.detail,
                })
            })
            .collect();
        json!({ "refusals_total": self.refusals_total, "entries": entries })
    }
}

// ---------------------------------------------------------------------------------------------
// Imported envelopes

impl Render for pb::ImportEnvelopesResponse {
    fn text(&self) -> String {
        let mut table = Table::new(["#", "RESULT", "ORG", "PERIOD", "REVISION", "DETAIL"]);
        for result in &self.results {
            let row = match &result.answer {
                Some(pb::imported_envelope::Answer::Receipt(r)) => [
                    outcome_word(r.outcome),
                    r.org_id.clone(),
                    r.period.clone(),
                    r.revision.to_string(),
                    receipt_detail(r),
                ],
                Some(pb::imported_envelope::Answer::Refusal(r)) => [
                    format!("refused ({})", refusal_reason_word(r.reason)),
                    dash(),
                    dash(),
                    dash(),
                    r.message.clone(),
                ],
                None => ["?".to_owned(), dash(), dash(), dash(), String::new()],
            };
            let [result_word, org, period, revision, detail] = row;
            table.push([
                result.index.to_string(),
                result_word,
                org,
                period,
                revision,
                detail,
            ]);
        }
        let stored = self
            .results
            .iter()
            .filter(|r| matches!(r.answer, Some(pb::imported_envelope::Answer::Receipt(_))))
            .count();
        let mut out = table.render();
        let _ = writeln!(
            out,
            "\n{stored} of {} envelopes stored.",
            self.results.len()
        );
        out
    }

    fn json(&self) -> Value {
        let results: Vec<Value> = self
            .results
            .iter()
            .map(|result| match &result.answer {
                Some(pb::imported_envelope::Answer::Receipt(r)) => json!({
                    "index": result.index,
                    "result": "stored",
                    "receipt": receipt_json(r),
                }),
                Some(pb::imported_envelope::Answer::Refusal(r)) => json!({
                    "index": result.index,
                    "result": "refused",
                    "refusal": {
                        "reason": refusal_reason_word(r.reason),
                        "message": r.message,
                        "refused_at": time(r.refused_at_unix_seconds),
                    },
                }),
                None => json!({ "index": result.index, "result": null }),
            })
            .collect();
        json!({ "results": results })
    }
}

fn receipt_json(r: &pb::Receipt) -> Value {
    json!({
        "report_id": hex(&r.report_id),
        "org_id": r.org_id,
        "period": r.period,
        "revision": r.revision,
        "outcome": outcome_word(r.outcome),
        "winning_revision": r.winning_revision,
        "winning_report_id": hex(&r.winning_report_id),
        "issued_at": time(r.issued_at_unix_seconds),
        "first_received_at": time(r.first_received_at_unix_seconds),
    })
}

/// The report id, and the winner when it is another report.
fn receipt_detail(r: &pb::Receipt) -> String {
    let mut detail = format!("report {}", hex(&r.report_id));
    if r.winning_report_id != r.report_id {
        let _ = write!(detail, "; revision {} wins", r.winning_revision);
    }
    detail
}

// ---------------------------------------------------------------------------------------------
// Words, times, numbers

/// Declares, per protobuf enum, the lowercase word of a wire value: the enum's protobuf name
/// without its prefix (`COVERAGE_STATE_ON_TIME` reads `on_time`); `unknown` for a value this
/// build does not know.
macro_rules! words {
    ($($name:ident: $pb:ident, $prefix:literal;)+) => {
        $(
            fn $name(value: i32) -> String {
                word(pb::$pb::try_from(value).ok().map(|e| e.as_str_name()), $prefix)
            }
        )+
    };
}

words! {
    org_kind_word: OrgKind, "ORG_KIND_";
    region_word: Region, "REGION_";
    coverage_state_word: CoverageState, "COVERAGE_STATE_";
    key_state_word: KeyState, "KEY_STATE_";
    audit_kind_word: AuditKind, "AUDIT_KIND_";
    refusal_reason_word: RefusalReason, "REFUSAL_REASON_";
    outcome_word: Outcome, "OUTCOME_";
    convention_status_word: ConventionStatus, "CONVENTION_STATUS_";
}

/// A grouping's word. The wire's `organisation` is `org` on the command line (`--by org`), and
/// an unspecified grouping is read as the alliance.
pub fn group_by_word(value: i32) -> String {
    match pb::GroupBy::try_from(value) {
        Ok(pb::GroupBy::Unspecified) => "alliance".to_owned(),
        Ok(pb::GroupBy::Organisation) => "org".to_owned(),
        other => word(other.ok().map(|g| g.as_str_name()), "GROUP_BY_"),
    }
}

/// A refusal reason, or none for an admin action.
fn refusal_reason(value: i32) -> Option<String> {
    (value != pb::RefusalReason::Unspecified as i32).then(|| refusal_reason_word(value))
}

fn word(name: Option<&str>, prefix: &str) -> String {
    match name {
        Some(name) => name
            .strip_prefix(prefix)
            .unwrap_or(name)
            .to_ascii_lowercase(),
        None => "unknown".to_owned(),
    }
}

/// RFC 3339, as the domain shows times.
pub fn time(unix_seconds: i64) -> String {
    Timestamp(unix_seconds).to_string()
}

/// Hundredths of a currency unit, in decimal digits, as units with two decimals:
/// `133456` is `1334.56`. Anything else is shown as it came.
pub fn decimal(hundredths: &str) -> String {
    if hundredths.is_empty() || !hundredths.bytes().all(|b| b.is_ascii_digit()) {
        return hundredths.to_owned();
    }
    let digits = format!("{hundredths:0>3}");
    let (units, cents) = digits.split_at(digits.len() - 2);
    format!("{units}.{cents}")
}

/// Lowercase hex, as ids are shown everywhere.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn revision_text(revision: u64) -> String {
    if revision == 0 {
        dash()
    } else {
        revision.to_string()
    }
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        dash()
    } else {
        text.to_owned()
    }
}

fn dash() -> String {
    "-".to_owned()
}

/// Columns aligned by the widest cell, two spaces apart; the last column is not padded.
struct Table {
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new<const N: usize>(header: [&str; N]) -> Self {
        Table {
            header: Some(header.iter().map(|h| (*h).to_owned()).collect()),
            rows: Vec::new(),
        }
    }

    /// A table without a header, for `name: value` lists.
    fn bare() -> Self {
        Table {
            header: None,
            rows: Vec::new(),
        }
    }

    fn push<const N: usize>(&mut self, row: [String; N]) {
        self.rows.push(row.into());
    }

    fn render(&self) -> String {
        let lines: Vec<&Vec<String>> = self.header.iter().chain(&self.rows).collect();
        let columns = lines.iter().map(|l| l.len()).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                lines
                    .iter()
                    .filter_map(|l| l.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for line in lines {
            let mut text = String::new();
            for (cell, width) in line.iter().zip(&widths) {
                let _ = write!(text, "{cell:<width$}  ");
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn view_text_aligns_columns_and_shows_ranges_conflicts_and_equivocations() {
        let text = sample_view().text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..8],
            [
                "View of 2009, by alliance",
                "GROUP     INDICATOR                          BREAKDOWN       ORGS  VALUE",
                "alliance  awareness.activities                               2     7",
                "alliance  exposure.cases_documented          sex=male        2     9–14 (1 suppressed)",
                "alliance  internal_support.policy_adopted                    3     yes 2, no 1",
                "alliance  internal_support.budget_allocated                  2     EUR 1334.56",
                "BR        ratification.convention_status     convention=c29  2     CONFLICT: ratified (cut-brazil); ratified_with_gaps (fs-brazil)",
                "GH        ratification.convention_status     convention=c29  1     not_ratified",
            ]
        );
        assert!(text.contains(&format!("ghana-tuc 2009 revision 1: {}, ", "04".repeat(32))));
    }

    #[test]
    fn view_json_has_the_documented_shape() {
        let json = sample_view().json();
        assert_eq!(json["period"], "2009");
        assert_eq!(json["group_by"], "alliance");
        assert_eq!(
            json["rows"][0],
            json!({
                "group": "alliance",
                "indicator": "awareness.activities",
                "dimension": null,
                "value": null,
                "organisations": 2,
                "kind": "count",
                "count": {"lo": 7, "hi": 7, "exact": true, "suppressed_contributions": 0},
            })
        );
        assert_eq!(json["rows"][1]["dimension"], "sex");
        assert_eq!(json["rows"][1]["value"], "male");
        assert_eq!(
            json["rows"][1]["count"],
            json!({"lo": 9, "hi": 14, "exact": false, "suppressed_contributions": 1})
        );
        assert_eq!(json["rows"][2]["flag"], json!({"yes": 2, "no": 1}));
        assert_eq!(
            json["rows"][3]["amount"],
            json!({"currency": "EUR", "hundredths": "133456", "value": "1334.56"})
        );
        assert_eq!(json["rows"][4]["status"], "conflict");
        assert_eq!(
            json["rows"][4]["conflict"][1],
            json!({"status": "ratified_with_gaps", "org_ids": ["fs-brazil"]})
        );
        assert_eq!(json["rows"][5]["status"], "not_ratified");
        assert_eq!(
            json["equivocations"][0],
            json!({
                "org_id": "ghana-tuc",
                "period": "2009",
                "revision": 1,
                "report_ids": ["04".repeat(32), "05".repeat(32)],
            })
        );
    }

    #[test]
    fn coverage_shows_states_regions_and_never_enrolled() {
        let coverage = pb::CoverageResponse {
            period: "2009".to_owned(),
            deadline_unix_seconds: 1_270_080_000,
            rows: vec![
                pb::CoverageRow {
                    org_id: "cut-brazil".to_owned(),
                    name: "CUT Brazil".to_owned(),
                    kind: pb::OrgKind::NationalCentre as i32,
                    country: "BR".to_owned(),
                    region: pb::Region::Americas as i32,
                    enrolled: true,
                    state: pb::CoverageState::OnTime as i32,
                    received_at_unix_seconds: Some(1_262_304_000),
                    revision: 2,
                },
                pb::CoverageRow {
                    org_id: "bwi".to_owned(),
                    name: "BWI".to_owned(),
                    kind: pb::OrgKind::Guf as i32,
                    country: String::new(),
                    region: pb::Region::Global as i32,
                    enrolled: false,
                    state: pb::CoverageState::Missing as i32,
                    received_at_unix_seconds: None,
                    revision: 0,
                },
            ],
            regions: vec![pb::RegionCoverage {
                region: pb::Region::Americas as i32,
                expected: 1,
                on_time: 1,
                ..Default::default()
            }],
        };
        let json = coverage.json();
        assert_eq!(json["deadline"], "2010-04-01T00:00:00Z");
        assert_eq!(
            json["rows"][0],
            json!({
                "org_id": "cut-brazil",
                "name": "CUT Brazil",
                "kind": "national_centre",
                "country": "BR",
                "region": "americas",
                "enrolled": true,
                "state": "on_time",
                "received_at": "2010-01-01T00:00:00Z",
                "revision": 2,
            })
        );
        assert_eq!(json["rows"][1]["country"], Value::Null);
        assert_eq!(json["rows"][1]["revision"], Value::Null);
        assert_eq!(json["regions"][0]["region"], "americas");
        assert_eq!(json["regions"][0]["on_time"], 1);

        let text = coverage.text();
        assert!(text.starts_with("Coverage of 2009, deadline 2010-04-01T00:00:00Z\n"));
        let bwi = text.lines().find(|l| l.starts_with("bwi")).unwrap_or("");
        assert!(bwi.contains("never") && bwi.contains("missing"), "{bwi}");
        assert!(text.lines().any(|l| l.starts_with("total")), "{text}");
    }

    #[test]
    fn organisations_keys_and_join_codes_render() {
        let org = pb::Organisation {
            id: "cut-brazil".to_owned(),
            name: "CUT Brazil".to_owned(),
            kind: pb::OrgKind::NationalCentre as i32,
            country: "BR".to_owned(),
            region: pb::Region::Americas as i32,
            via_relay_id: "csa".to_owned(),
            hosted: true,
            registered_at_unix_seconds: 0,
            enrolled_at_unix_seconds: Some(60),
            keys: vec![pb::OrgKey {
                key_id: "k1".to_owned(),
                public_key: vec![0xab; 32],
                added_at_unix_seconds: 60,
                state: pb::KeyState::Revoked as i32,
                grace_until_unix_seconds: None,
                revoked_at_unix_seconds: Some(120),
            }],
            ..Default::default()
        };
        let code = pb::IssuedJoinCode {
            org_id: "cut-brazil".to_owned(),
            join_code: "alliance-join:abc".to_owned(),
            expires_at_unix_seconds: 86_400,
        };
        let show = pb::GetOrganisationResponse {
            organisation: Some(org.clone()),
            open_join_codes: vec![code.clone()],
        };
        let json = show.json();
        assert_eq!(json["organisation"]["kind"], "national_centre");
        assert_eq!(json["organisation"]["via_relay_id"], "csa");
        assert_eq!(json["organisation"]["enrolled_at"], "1970-01-01T00:01:00Z");
        assert_eq!(json["organisation"]["deactivated_at"], Value::Null);
        assert_eq!(json["organisation"]["keys"][0]["state"], "revoked");
        assert_eq!(
            json["organisation"]["keys"][0]["public_key"],
            "ab".repeat(32)
        );
        assert_eq!(
            json["open_join_codes"][0],
            json!({"org_id": "cut-brazil", "join_code": "alliance-join:abc", "expires_at": "1970-01-02T00:00:00Z"})
        );
        let text = show.text();
        assert!(text.contains("via:          csa (hosted)"), "{text}");
        assert!(
            text.contains("k1   revoked  1970-01-01T00:01:00Z  1970-01-01T00:02:00Z"),
            "{text}"
        );
        assert!(text.contains("alliance-join:abc"), "{text}");

        let list = pb::ListOrganisationsResponse {
            organisations: vec![org.clone()],
        };
        assert_eq!(list.json()["organisations"][0]["id"], "cut-brazil");
        assert!(
            list.text()
                .lines()
                .nth(1)
                .is_some_and(|l| l.ends_with("active"))
        );

        let added = pb::AddOrganisationResponse {
            organisation: Some(org),
            join_code: Some(code),
        };
        let text = added.text();
        assert!(
            text.starts_with(
                "Registered cut-brazil (CUT Brazil), national_centre, BR, americas.\n"
            )
        );
        assert!(text.ends_with("alliance-join:abc\n"), "{text}");
        assert_eq!(added.json()["join_code"]["join_code"], "alliance-join:abc");
    }

    #[test]
    fn audit_and_import_render_outcomes_and_refusals_as_words() {
        let audit = pb::ListAuditResponse {
            entries: vec![
                pb::AuditEntry {
                    sequence: 2,
                    at_unix_seconds: 0,
                    kind: pb::AuditKind::Refusal as i32,
                    actor: "10.0.0.1:5000".to_owned(),
                    action: "submit".to_owned(),
                    org_id: "cut-brazil".to_owned(),
                    reason: pb::RefusalReason::Signature as i32,
                    detail: "bad signature".to_owned(),
                },
                pb::AuditEntry {
                    sequence: 1,
                    kind: pb::AuditKind::AdminAction as i32,
                    actor: "uid 1000".to_owned(),
                    action: "org add".to_owned(),
                    ..Default::default()
                },
            ],
            refusals_total: 1,
        };
        let json = audit.json();
        assert_eq!(json["refusals_total"], 1);
        assert_eq!(json["entries"][0]["kind"], "refusal");
        assert_eq!(json["entries"][0]["reason"], "signature");
        assert_eq!(json["entries"][1]["kind"], "admin_action");
        assert_eq!(json["entries"][1]["reason"], Value::Null);
        assert_eq!(json["entries"][1]["org_id"], Value::Null);
        assert!(audit.text().contains("signature: bad signature"));

        let import = pb::ImportEnvelopesResponse {
            results: vec![
                pb::ImportedEnvelope {
                    index: 0,
                    answer: Some(pb::imported_envelope::Answer::Receipt(pb::Receipt {
                        report_id: vec![1; 32],
                        org_id: "cut-brazil".to_owned(),
                        period: "2009".to_owned(),
                        revision: 1,
                        outcome: pb::Outcome::Superseded as i32,
                        winning_revision: 2,
                        winning_report_id: vec![2; 32],
                        ..Default::default()
                    })),
                },
                pb::ImportedEnvelope {
                    index: 1,
                    answer: Some(pb::imported_envelope::Answer::Refusal(pb::Refusal {
                        reason: pb::RefusalReason::UnknownKey as i32,
                        message: "no registered key".to_owned(),
                        refused_at_unix_seconds: 0,
                    })),
                },
            ],
        };
        let json = import.json();
        assert_eq!(json["results"][0]["result"], "stored");
        assert_eq!(json["results"][0]["receipt"]["outcome"], "superseded");
        assert_eq!(json["results"][0]["receipt"]["report_id"], "01".repeat(32));
        assert_eq!(json["results"][1]["refusal"]["reason"], "unknown_key");
        let text = import.text();
        assert!(text.contains("superseded"), "{text}");
        assert!(text.contains("revision 2 wins"), "{text}");
        assert!(text.contains("refused (unknown_key)"), "{text}");
        assert!(text.ends_with("1 of 2 envelopes stored.\n"), "{text}");
    }

    #[test]
    fn words_decimals_and_output() {
        assert_eq!(group_by_word(0), "alliance");
        assert_eq!(group_by_word(pb::GroupBy::Organisation as i32), "org");
        assert_eq!(group_by_word(pb::GroupBy::Region as i32), "region");
        assert_eq!(region_word(pb::Region::AsiaPacific as i32), "asia_pacific");
        assert_eq!(region_word(99), "unknown");
        assert_eq!(decimal("133456"), "1334.56");
        assert_eq!(decimal("5"), "0.05");
        assert_eq!(decimal("0"), "0.00");
        assert_eq!(decimal("x1"), "x1");
        let printed = output(&sample_view(), true);
        let parsed: Value = serde_json::from_str(&printed).unwrap_or_default();
        assert_eq!(parsed, sample_view().json());
        assert!(printed.ends_with('\n'));
    }

    /// A view with one row of every kind, a range, a conflict and an equivocation.
    pub(crate) fn sample_view() -> pb::ViewResponse {
        use pb::view_row::Value as V;
        let row =
            |group: &str, indicator: &str, dim: (&str, &str), orgs: u32, value: V| pb::ViewRow {
                group: group.to_owned(),
                indicator: indicator.to_owned(),
                dimension: dim.0.to_owned(),
                dimension_value: dim.1.to_owned(),
                organisations: orgs,
                value: Some(value),
            };
        let count = |lo, hi, suppressed| {
            V::Count(pb::CountRange {
                lo,
                hi,
                suppressed_contributions: suppressed,
                exact: suppressed == 0,
            })
        };
        let status = |s: pb::ConventionStatus| {
            V::Status(pb::StatusCell {
                state: Some(pb::status_cell::State::Status(s as i32)),
            })
        };
        let conflict = V::Status(pb::StatusCell {
            state: Some(pb::status_cell::State::Conflict(pb::StatusConflict {
                statuses: vec![
                    pb::StatusOrganisations {
                        status: pb::ConventionStatus::Ratified as i32,
                        org_ids: vec!["cut-brazil".to_owned()],
                    },
                    pb::StatusOrganisations {
                        status: pb::ConventionStatus::RatifiedWithGaps as i32,
                        org_ids: vec!["fs-brazil".to_owned()],
                    },
                ],
            })),
        });
        pb::ViewResponse {
            period: "2009".to_owned(),
            group_by: pb::GroupBy::Alliance as i32,
            rows: vec![
                row(
                    "alliance",
                    "awareness.activities",
                    ("", ""),
                    2,
                    count(7, 7, 0),
                ),
                row(
                    "alliance",
                    "exposure.cases_documented",
                    ("sex", "male"),
                    2,
                    count(9, 14, 1),
                ),
                row(
                    "alliance",
                    "internal_support.policy_adopted",
                    ("", ""),
                    3,
                    V::Flag(pb::FlagTally { yes: 2, no: 1 }),
                ),
                row(
                    "alliance",
                    "internal_support.budget_allocated",
                    ("", ""),
                    2,
                    V::Amount(pb::AmountSum {
                        currency: "EUR".to_owned(),
                        hundredths: "133456".to_owned(),
                    }),
                ),
                row(
                    "BR",
                    "ratification.convention_status",
                    ("convention", "c29"),
                    2,
                    conflict,
                ),
                row(
                    "GH",
                    "ratification.convention_status",
                    ("convention", "c29"),
                    1,
                    status(pb::ConventionStatus::NotRatified),
                ),
            ],
            equivocations: vec![pb::Equivocation {
                org_id: "ghana-tuc".to_owned(),
                period: "2009".to_owned(),
                revision: 1,
                report_ids: vec![vec![4; 32], vec![5; 32]],
            }],
        }
    }
}
