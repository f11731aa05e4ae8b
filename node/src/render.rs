//! What the command line prints: text for people, `--json` for scripts. Both are built from
//! the answers of the admin service, so the daemon and direct mode print the same.
//!
//! Sensitive indicators (counts that can identify victims) are marked with `†` in text, and
//! with `"sensitive": true` in JSON.

use serde_json::{Value as Json, json};

use alliance_proto::pb;

use crate::init::InitSummary;

/// The mark of a sensitive indicator in text output.
pub const SENSITIVE_MARK: &str = "†";

pub fn print_json(value: &Json) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("alliance-node: printing JSON: {error}"),
    }
}

pub fn print_init(summary: &InitSummary) {
    println!("enrolled {} with key {}", summary.org, summary.key_id);
    println!("  data directory   {}", summary.data_dir.display());
    println!("  upstream         {}", summary.upstream);
    println!("  hub key          {}", summary.hub_key_fingerprint);
    println!("  framework        version {}", summary.framework_version);
    if let Some(relay) = &summary.relay {
        println!(
            "  relaying on      {} (affiliates reach it at {})",
            relay.listen, relay.public_address
        );
        println!("  relay CA         {}", relay.ca_fingerprint);
    }
    for (period, revision) in &summary.winning_revisions {
        println!("  the hub holds revision {revision} of {period}: new revisions go past it");
    }
    println!(
        "next: `alliance-node serve --data {}` (see README.md for a systemd unit)",
        summary.data_dir.display()
    );
}

/// A time as RFC 3339 in UTC.
pub fn time(unix_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix_seconds.to_string())
}

pub fn records_json(response: &pb::ListRecordsResponse) -> Json {
    Json::Array(
        response
            .records
            .iter()
            .map(|r| {
                let breakdowns: serde_json::Map<String, Json> = r
                    .breakdowns
                    .iter()
                    .map(|b| (b.dimension.clone(), json!(b.value)))
                    .collect();
                json!({
                    "id": r.id,
                    "org": r.org_id,
                    "date": r.date,
                    "indicator": r.indicator,
                    "sensitive": response.sensitive_indicators.contains(&r.indicator),
                    "value": record_value_json(r.value.as_ref()),
                    "breakdowns": breakdowns,
                    "note": r.note,
                    "recorded_at": time(r.recorded_at_unix_seconds),
                })
            })
            .collect(),
    )
}

pub fn print_records(response: &pb::ListRecordsResponse) {
    if response.records.is_empty() {
        println!("no records");
        return;
    }
    println!(
        "{:>6}  {:<10}  {:<42}  {:<24}  breakdown / note",
        "id", "date", "indicator", "value"
    );
    for r in &response.records {
        let mark = if response.sensitive_indicators.contains(&r.indicator) {
            SENSITIVE_MARK
        } else {
            ""
        };
        let breakdown: Vec<String> = r
            .breakdowns
            .iter()
            .map(|b| format!("{}={}", b.dimension, b.value))
            .collect();
        let mut tail = breakdown.join(" ");
        if !r.note.is_empty() {
            tail = format!("{tail}  # {}", r.note);
        }
        println!(
            "{:>6}  {:<10}  {:<42}  {:<24}  {}",
            r.id,
            r.date,
            format!("{}{mark}", r.indicator),
            record_value_text(r.value.as_ref()),
            tail.trim()
        );
    }
    if !response.sensitive_indicators.is_empty() {
        println!(
            "{SENSITIVE_MARK} sensitive: disclosure control applies before anything leaves the node"
        );
    }
}

pub fn preview_json(response: &pb::PreviewReportResponse) -> Json {
    let report = response.report.as_ref();
    json!({
        "report": report.map(report_json),
        "warnings": response.warnings.iter().map(|w| json!({"field": w.field, "message": w.message})).collect::<Vec<_>>(),
    })
}

pub fn print_preview(response: &pb::PreviewReportResponse) {
    let Some(report) = response.report.as_ref() else {
        println!("no report");
        return;
    };
    println!(
        "report of {} for {}: revision {}, framework version {}, disclosure threshold {}{}",
        report.org_id,
        report.period,
        report.revision,
        report.framework_version,
        report.disclosure_threshold,
        if report.withdrawn { ", withdrawn" } else { "" }
    );
    println!(
        "this is exactly what would leave the node (\"withheld\" = suppressed by disclosure control):"
    );
    for value in &report.values {
        println!("  {:<44} {}", value.indicator, indicator_value_text(value));
    }
    for narrative in &report.narratives {
        println!("  narrative {}: {}", narrative.action_point, narrative.text);
    }
    for warning in &response.warnings {
        if warning.field.is_empty() {
            println!("warning: {}", warning.message);
        } else {
            println!("warning: {}: {}", warning.field, warning.message);
        }
    }
}

pub fn status_json(response: &pb::GetStatusResponse, running: bool) -> Json {
    json!({
        "running": running,
        "upstream": response.upstream,
        "last_error": (!response.last_error.is_empty()).then_some(&response.last_error),
        "last_error_at": response.last_error_at_unix_seconds.map(time),
        "last_contact_at": response.last_contact_at_unix_seconds.map(time),
        "relayed": response.relayed.as_ref().map(|r| json!({
            "pending": r.pending,
            "decided": r.decided,
            "set_aside": r.set_aside,
        })),
        "organisations": response.organisations.iter().map(|org| {
            let count = |state: pb::DeliveryState| org.reports.iter().filter(|r| r.state() == state).count();
            json!({
                "org": org.org_id,
                "key_id": org.key_id,
                "pending": count(pb::DeliveryState::Pending),
                "held_by_relay": count(pb::DeliveryState::HeldByRelay),
                "decided": count(pb::DeliveryState::Decided),
                "set_aside": count(pb::DeliveryState::SetAside),
                "reports": org.reports.iter().map(report_status_json).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
    })
}

pub fn print_status(response: &pb::GetStatusResponse, running: bool) {
    println!(
        "upstream {}{}",
        response.upstream,
        if running {
            ""
        } else {
            " (the node is not running: nothing is being sent)"
        }
    );
    if let Some(at) = response.last_contact_at_unix_seconds {
        println!("last contact   {}", time(at));
    }
    if !response.last_error.is_empty() {
        let at = response
            .last_error_at_unix_seconds
            .map(time)
            .unwrap_or_default();
        println!("last error     {at} {}", response.last_error);
    }
    if let Some(r) = &response.relayed {
        println!(
            "relayed        {} pending, {} decided, {} set aside",
            r.pending, r.decided, r.set_aside
        );
    }
    for org in &response.organisations {
        println!("\n{} (key {})", org.org_id, org.key_id);
        if org.reports.is_empty() {
            println!("  no reports signed yet");
        }
        for r in &org.reports {
            println!(
                "  {:<8} rev {:<3} {:<14} {}{}",
                r.period,
                r.revision,
                state_name(r.state()),
                short_id(&r.report_id),
                report_detail(r)
            );
        }
    }
}

fn report_status_json(r: &pb::ReportStatus) -> Json {
    json!({
        "report_id": hex::encode(&r.report_id),
        "period": r.period,
        "revision": r.revision,
        "withdrawn": r.withdrawn,
        "state": state_name(r.state()),
        "queued_at": time(r.queued_at_unix_seconds),
        "attempts": r.attempts,
        "receipt": r.receipt.as_ref().map(|receipt| json!({
            "outcome": outcome_name(receipt.outcome()),
            "revision": receipt.revision,
            "winning_revision": receipt.winning_revision,
            "winning_report_id": hex::encode(&receipt.winning_report_id),
            "issued_at": time(receipt.issued_at_unix_seconds),
            "first_received_at": time(receipt.first_received_at_unix_seconds),
        })),
        "custody_receipt": r.custody_receipt.as_ref().map(|c| json!({
            "relay": c.relay_id,
            "received_at": time(c.received_at_unix_seconds),
        })),
        "refusal": r.refusal.as_ref().map(|refusal| json!({
            "reason": refusal.reason().as_str_name(),
            "message": refusal.message,
        })),
    })
}

fn report_detail(r: &pb::ReportStatus) -> String {
    if let Some(receipt) = &r.receipt {
        let outcome = outcome_name(receipt.outcome());
        return if receipt.winning_revision == r.revision {
            format!("  {outcome}")
        } else {
            format!("  {outcome} (revision {} wins)", receipt.winning_revision)
        };
    }
    if let Some(refusal) = &r.refusal {
        return format!("  set aside: {}", refusal.message);
    }
    if let Some(custody) = &r.custody_receipt {
        return format!(
            "  held by relay {} since {}",
            custody.relay_id,
            time(custody.received_at_unix_seconds)
        );
    }
    format!("  {} attempts", r.attempts)
}

fn state_name(state: pb::DeliveryState) -> &'static str {
    match state {
        pb::DeliveryState::Unspecified => "unknown",
        pb::DeliveryState::Pending => "pending",
        pb::DeliveryState::HeldByRelay => "held_by_relay",
        pb::DeliveryState::Decided => "decided",
        pb::DeliveryState::SetAside => "set_aside",
    }
}

fn outcome_name(outcome: pb::Outcome) -> &'static str {
    match outcome {
        pb::Outcome::Unspecified => "unknown",
        pb::Outcome::Accepted => "accepted",
        pb::Outcome::Superseded => "superseded",
        pb::Outcome::Equivocation => "equivocation",
        pb::Outcome::Duplicate => "duplicate",
    }
}

fn short_id(id: &[u8]) -> String {
    hex::encode(id.get(..6).unwrap_or(id))
}

fn record_value_json(value: Option<&pb::record::Value>) -> Json {
    match value {
        Some(pb::record::Value::Count(n)) => json!({"count": n}),
        Some(pb::record::Value::Status(s)) => json!({"status": status_name(*s)}),
        Some(pb::record::Value::Flag(f)) => json!({"flag": f}),
        Some(pb::record::Value::Amount(m)) => {
            json!({"amount": money_text(m), "currency": m.currency})
        }
        None => Json::Null,
    }
}

fn record_value_text(value: Option<&pb::record::Value>) -> String {
    match value {
        Some(pb::record::Value::Count(n)) => n.to_string(),
        Some(pb::record::Value::Status(s)) => status_name(*s).to_owned(),
        Some(pb::record::Value::Flag(f)) => if *f { "yes" } else { "no" }.to_owned(),
        Some(pb::record::Value::Amount(m)) => format!("{} {}", m.currency, money_text(m)),
        None => String::new(),
    }
}

fn status_name(status: i32) -> &'static str {
    match pb::ConventionStatus::try_from(status) {
        Ok(pb::ConventionStatus::NotRatified) => "not_ratified",
        Ok(pb::ConventionStatus::CampaignUnderWay) => "campaign_under_way",
        Ok(pb::ConventionStatus::Ratified) => "ratified",
        Ok(pb::ConventionStatus::RatifiedWithGaps) => "ratified_with_gaps",
        _ => "unknown",
    }
}

fn money_text(m: &pb::Money) -> String {
    format!("{}.{:02}", m.hundredths / 100, m.hundredths % 100)
}

fn cell_json(cell: Option<&pb::Cell>) -> Json {
    match cell.and_then(|c| c.state.as_ref()) {
        Some(pb::cell::State::Published(n)) => json!(n),
        Some(pb::cell::State::Suppressed(_)) => json!("withheld"),
        None => Json::Null,
    }
}

fn cell_text(cell: Option<&pb::Cell>) -> String {
    match cell.and_then(|c| c.state.as_ref()) {
        Some(pb::cell::State::Published(n)) => n.to_string(),
        Some(pb::cell::State::Suppressed(_)) => "withheld".to_owned(),
        None => "?".to_owned(),
    }
}

fn report_json(report: &pb::Report) -> Json {
    let values: serde_json::Map<String, Json> = report
        .values
        .iter()
        .map(|v| (v.indicator.clone(), indicator_value_json(v)))
        .collect();
    let narratives: serde_json::Map<String, Json> = report
        .narratives
        .iter()
        .map(|n| (n.action_point.clone(), json!(n.text)))
        .collect();
    json!({
        "org": report.org_id,
        "period": report.period,
        "revision": report.revision,
        "framework_version": report.framework_version,
        "prepared_at": time(report.prepared_at_unix_seconds),
        "prepared_by": report.prepared_by,
        "disclosure_threshold": report.disclosure_threshold,
        "withdrawn": report.withdrawn,
        "narratives": narratives,
        "values": values,
    })
}

fn indicator_value_json(value: &pb::IndicatorValue) -> Json {
    match &value.value {
        Some(pb::indicator_value::Value::Count(count)) => {
            let breakdowns: serde_json::Map<String, Json> = count
                .breakdowns
                .iter()
                .map(|b| {
                    let cells: serde_json::Map<String, Json> = b
                        .cells
                        .iter()
                        .map(|c| (c.value.clone(), cell_json(c.cell.as_ref())))
                        .collect();
                    (b.dimension.clone(), Json::Object(cells))
                })
                .collect();
            json!({"total": cell_json(count.total.as_ref()), "breakdowns": breakdowns})
        }
        Some(pb::indicator_value::Value::Status(status)) => {
            let entries: serde_json::Map<String, Json> = status
                .entries
                .iter()
                .map(|e| (e.key.clone(), json!(status_name(e.status))))
                .collect();
            json!({"status": entries})
        }
        Some(pb::indicator_value::Value::Flag(flag)) => {
            let breakdowns: serde_json::Map<String, Json> = flag
                .breakdowns
                .iter()
                .map(|b| {
                    let cells: serde_json::Map<String, Json> = b
                        .cells
                        .iter()
                        .map(|c| (c.value.clone(), json!(c.yes)))
                        .collect();
                    (b.dimension.clone(), Json::Object(cells))
                })
                .collect();
            json!({"flag": flag.value, "breakdowns": breakdowns})
        }
        Some(pb::indicator_value::Value::Amount(amount)) => {
            let amounts: serde_json::Map<String, Json> = amount
                .amounts
                .iter()
                .map(|m| (m.currency.clone(), json!(money_text(m))))
                .collect();
            json!({"amount": amounts})
        }
        None => Json::Null,
    }
}

fn indicator_value_text(value: &pb::IndicatorValue) -> String {
    match &value.value {
        Some(pb::indicator_value::Value::Count(count)) => {
            let mut text = cell_text(count.total.as_ref());
            for b in &count.breakdowns {
                let cells: Vec<String> = b
                    .cells
                    .iter()
                    .map(|c| format!("{} {}", c.value, cell_text(c.cell.as_ref())))
                    .collect();
                text.push_str(&format!("; by {}: {}", b.dimension, cells.join(", ")));
            }
            text
        }
        Some(pb::indicator_value::Value::Status(status)) => status
            .entries
            .iter()
            .map(|e| format!("{} {}", e.key, status_name(e.status)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(pb::indicator_value::Value::Flag(flag)) => {
            let mut text = if flag.value { "yes" } else { "no" }.to_owned();
            for b in &flag.breakdowns {
                let yes: Vec<&str> = b
                    .cells
                    .iter()
                    .filter(|c| c.yes)
                    .map(|c| c.value.as_str())
                    .collect();
                text.push_str(&format!("; {}: {}", b.dimension, yes.join(", ")));
            }
            text
        }
        Some(pb::indicator_value::Value::Amount(amount)) => amount
            .amounts
            .iter()
            .map(|m| format!("{} {}", m.currency, money_text(m)))
            .collect::<Vec<_>>()
            .join(", "),
        None => String::new(),
    }
}
