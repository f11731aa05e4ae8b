//! The command line of `alliance-node` (DESIGN.md §8). Every command takes `--data DIR`; every
//! command that shows something takes `--json`; on a node that holds several organisations,
//! `--org ID` picks one.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The node of an affiliate, regional organisation or GUF of the Global Trade Union Alliance
/// against Forced Labour and Trafficking: keeps its records, sends signed aggregate reports.
#[derive(Debug, Parser)]
#[command(name = "alliance-node", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data directory and enroll with the join code from the hub.
    Init(InitArgs),
    /// Run the node: outbox, admin API on a Unix socket, and the relay service if enabled.
    Serve(ServeArgs),
    /// On a relay: take on a hosted affiliate.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Local records, which never leave the node.
    #[command(subcommand)]
    Record(RecordCommand),
    /// Reports built from the records.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Show the outbox: pending, delivered with receipts, outcomes, set aside, last error.
    Status(ShowArgs),
    /// Manage the node's signing key.
    #[command(subcommand)]
    Key(KeyCommand),
}

impl Command {
    /// The command's name as typed, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init(_) => "init",
            Command::Serve(_) => "serve",
            Command::Org(OrgCommand::Add(_)) => "org add",
            Command::Record(RecordCommand::Add(_)) => "record add",
            Command::Record(RecordCommand::Import(_)) => "record import",
            Command::Record(RecordCommand::List(_)) => "record list",
            Command::Record(RecordCommand::Delete(_)) => "record delete",
            Command::Report(ReportCommand::Preview(_)) => "report preview",
            Command::Report(ReportCommand::Submit(_)) => "report submit",
            Command::Report(ReportCommand::Withdraw(_)) => "report withdraw",
            Command::Report(ReportCommand::Export(_)) => "report export",
            Command::Report(ReportCommand::Narrative(_)) => "report narrative",
            Command::Status(_) => "status",
            Command::Key(KeyCommand::Rotate(_)) => "key rotate",
        }
    }
}

/// The data directory every command works on.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The node's data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// How log lines are written to standard error, text or json (filter them with RUST_LOG).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: alliance_daemon::logging::LogFormat,
}

/// A data directory and, on a node holding several organisations, which one.
#[derive(Debug, Args)]
pub struct OrgDataArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The organisation, on a node that holds several.
    #[arg(long, value_name = "ID")]
    pub org: Option<String>,
}

/// The common arguments of commands that show something.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub data: OrgDataArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The join code the hub operator gave you.
    #[arg(long, value_name = "CODE")]
    pub join: String,
    /// Relay for other affiliates (a regional organisation).
    #[arg(long, requires_all = ["listen", "public_addr"])]
    pub relay: bool,
    /// Where the relay listens for affiliates.
    #[arg(long, value_name = "ADDR", requires = "relay")]
    pub listen: Option<String>,
    /// Address affiliates reach the relay at, written into their join codes.
    #[arg(long, value_name = "HOST:PORT", requires = "relay")]
    pub public_addr: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Take on a hosted affiliate with the join code the hub issued for it.
    Add(OrgAddArgs),
}

#[derive(Debug, Args)]
pub struct OrgAddArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, value_name = "CODE")]
    pub join: String,
}

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Add one record.
    Add(Box<RecordAddArgs>),
    /// Add records from a CSV file: all rows or none.
    Import(RecordImportArgs),
    /// List records.
    List(RecordListArgs),
    /// Delete a record.
    Delete(RecordDeleteArgs),
}

#[derive(Debug, Args)]
pub struct RecordAddArgs {
    #[command(flatten)]
    pub data: OrgDataArgs,
    /// The day the record is about (YYYY-MM-DD).
    #[arg(long, value_name = "D")]
    pub date: String,
    /// The indicator, as action_point.indicator.
    #[arg(long, value_name = "AP.INDICATOR")]
    pub indicator: String,
    #[command(flatten)]
    pub value: RecordValueArgs,
    /// The ISO 4217 currency of --amount.
    #[arg(long, value_name = "C", requires = "amount")]
    pub currency: Option<String>,
    #[arg(long, value_name = "S")]
    pub sex: Option<String>,
    #[arg(long, value_name = "M")]
    pub migrant: Option<String>,
    #[arg(long, value_name = "X")]
    pub sector: Option<String>,
    #[arg(long, value_name = "C")]
    pub convention: Option<String>,
    /// Kind of agreement (bipartite, tripartite).
    #[arg(long, value_name = "K")]
    pub kind: Option<String>,
    /// Authority (labour_inspection, police, other).
    #[arg(long)]
    pub authority: Option<String>,
    /// Scope of agreement (bilateral, sectoral, regional).
    #[arg(long)]
    pub scope: Option<String>,
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

/// Exactly one value, of the kind the indicator takes.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RecordValueArgs {
    /// A count.
    #[arg(long, value_name = "N")]
    pub value: Option<u64>,
    /// A convention status (not_ratified, campaign_under_way, ratified, ratified_with_gaps).
    #[arg(long, value_name = "S")]
    pub status: Option<String>,
    /// yes or no.
    #[arg(long, value_name = "yes|no")]
    pub flag: Option<String>,
    /// An amount, with --currency.
    #[arg(long, value_name = "X", requires = "currency")]
    pub amount: Option<String>,
}

#[derive(Debug, Args)]
pub struct RecordImportArgs {
    #[command(flatten)]
    pub data: OrgDataArgs,
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct RecordListArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// Only records of this period.
    #[arg(long)]
    pub period: Option<String>,
    /// Only records of this indicator.
    #[arg(long, value_name = "AP.INDICATOR")]
    pub indicator: Option<String>,
}

#[derive(Debug, Args)]
pub struct RecordDeleteArgs {
    #[command(flatten)]
    pub data: OrgDataArgs,
    /// The record id, as `record list` shows it.
    pub id: u64,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Show exactly what would leave the node, disclosure control applied.
    Preview(PeriodShowArgs),
    /// Store a new revision, sign it and queue it for the upstream.
    Submit(PeriodArgs),
    /// Queue a signed retraction of the period's report.
    Withdraw(PeriodArgs),
    /// Write the signed envelope to a file, to carry by hand.
    Export(ReportExportArgs),
    /// Set the narrative of an action point (free text: not covered by disclosure control).
    Narrative(NarrativeArgs),
}

#[derive(Debug, Args)]
pub struct NarrativeArgs {
    #[command(flatten)]
    pub period: PeriodArgs,
    /// The action point, such as exposure.
    #[arg(long, value_name = "A")]
    pub action_point: String,
    /// The narrative; an empty text removes it.
    #[arg(long, value_name = "TEXT")]
    pub text: String,
}

#[derive(Debug, Args)]
pub struct PeriodArgs {
    #[command(flatten)]
    pub data: OrgDataArgs,
    #[arg(long, value_name = "P")]
    pub period: String,
}

#[derive(Debug, Args)]
pub struct PeriodShowArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    #[arg(long, value_name = "P")]
    pub period: String,
}

#[derive(Debug, Args)]
pub struct ReportExportArgs {
    #[command(flatten)]
    pub period: PeriodArgs,
    /// The revision to export; the latest by default.
    #[arg(long)]
    pub revision: Option<u64>,
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a new key, have the hub accept it, re-sign queued reports.
    Rotate(OrgDataArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_documented_shapes() {
        let parse = |line: &str| Cli::try_parse_from(line.split_whitespace());
        assert!(parse("alliance-node init --data d --join CODE").is_ok());
        assert!(parse("alliance-node init --data d --join CODE --relay --listen 0.0.0.0:7444 --public-addr r:7444").is_ok());
        assert!(parse("alliance-node init --data d --join CODE --relay").is_err());
        assert!(parse("alliance-node record add --data d --date 2009-03-01 --indicator awareness.activities --value 3").is_ok());
        assert!(parse("alliance-node record add --data d --org x --date 2009-03-01 --indicator internal_support.budget_allocated --amount 10.50 --currency EUR").is_ok());
        assert!(parse("alliance-node record add --data d --date 2009-03-01 --indicator awareness.activities").is_err());
        assert!(parse("alliance-node record add --data d --date 2009-03-01 --indicator a.b --value 1 --flag yes").is_err());
        assert!(parse("alliance-node report preview --data d --period 2009 --json").is_ok());
        assert!(parse("alliance-node key rotate --data d --org x").is_ok());
    }
}
