//! The command line of `alliance-hub` (DESIGN.md §8). Every command takes `--data DIR`; every
//! command that shows something takes `--json`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The ITUC hub of the Global Trade Union Alliance against Forced Labour and Trafficking:
/// verifies signed reports from affiliates and merges them into the alliance-wide view.
#[derive(Debug, Parser)]
#[command(name = "alliance-hub", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data directory: database, signing key, TLS material and config.
    Init(InitArgs),
    /// Run the hub: gRPC over TLS for ingest and enrollment, admin API on a Unix socket.
    Serve(ServeArgs),
    /// Manage the registry of organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Show the alliance-wide view of progress.
    View(ViewArgs),
    /// Show who has and has not reported for a period.
    Coverage(CoverageArgs),
    /// Write the view of a period as CSV, JSON or SDMX-CSV.
    Export(ExportArgs),
    /// Import envelopes carried by hand.
    Import(ImportArgs),
    /// Set the reporting deadline of a period.
    Deadline(DeadlineArgs),
    /// Show admin actions and refusals.
    Audit(AuditArgs),
}

impl Command {
    /// The data directory the command works on.
    pub fn data_dir(&self) -> &std::path::Path {
        let data = match self {
            Command::Init(a) => &a.show.data,
            Command::Serve(a) => &a.data,
            Command::Org(OrgCommand::Add(a)) => &a.show.data,
            Command::Org(OrgCommand::Import(a)) => &a.show.data,
            Command::Org(OrgCommand::List(a)) => &a.show.data,
            Command::Org(OrgCommand::Show(a)) => &a.show.data,
            Command::Org(OrgCommand::Reissue(a)) => &a.show.data,
            Command::Org(OrgCommand::RevokeKey(a)) => &a.show.data,
            Command::Org(OrgCommand::Deactivate(a)) => &a.show.data,
            Command::View(a) => &a.show.data,
            Command::Coverage(a) => &a.show.data,
            Command::Export(a) => &a.data,
            Command::Import(a) => &a.show.data,
            Command::Deadline(a) => &a.show.data,
            Command::Audit(a) => &a.show.data,
        };
        &data.data
    }

    /// The command's name as typed, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init(_) => "init",
            Command::Serve(_) => "serve",
            Command::Org(OrgCommand::Add(_)) => "org add",
            Command::Org(OrgCommand::Import(_)) => "org import",
            Command::Org(OrgCommand::List(_)) => "org list",
            Command::Org(OrgCommand::Show(_)) => "org show",
            Command::Org(OrgCommand::Reissue(_)) => "org reissue",
            Command::Org(OrgCommand::RevokeKey(_)) => "org revoke-key",
            Command::Org(OrgCommand::Deactivate(_)) => "org deactivate",
            Command::View(_) => "view",
            Command::Coverage(_) => "coverage",
            Command::Export(_) => "export",
            Command::Import(_) => "import",
            Command::Deadline(_) => "deadline",
            Command::Audit(_) => "audit",
        }
    }
}

/// The data directory every command works on.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The hub's data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

/// A data directory and the choice of machine-readable output.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// Address to listen on for ingest and enrollment.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7443")]
    pub listen: String,
    /// Address nodes reach the hub at, written into join codes and into the generated server
    /// certificate. Default: the listen address; when that is unspecified (0.0.0.0 or [::]),
    /// this machine's host name with the listen port.
    #[arg(long, value_name = "HOST:PORT")]
    pub public_addr: Option<String>,
    /// The operator's TLS certificate chain (PEM), instead of generating one.
    #[arg(long, value_name = "PEM", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The CA certificate that issued --tls-cert (PEM); its fingerprint goes into join codes.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// How log lines are written to standard error (filter them with RUST_LOG).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormatArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Register an organisation and print its one-time join code.
    Add(OrgAddArgs),
    /// Register many organisations from a CSV file: all rows or none.
    Import(OrgImportArgs),
    /// List the registered organisations.
    List(OrgListArgs),
    /// Show one organisation, its keys and its reports.
    Show(OrgIdArgs),
    /// Issue a new join code for an organisation that lost its key.
    Reissue(OrgIdArgs),
    /// Revoke a key at once.
    RevokeKey(RevokeKeyArgs),
    /// Stop expecting reports from an organisation; its history stays.
    Deactivate(DeactivateArgs),
}

#[derive(Debug, Args)]
pub struct OrgAddArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// Stable organisation id (a-z, 0-9, '-', '_').
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum)]
    pub kind: OrgKindArg,
    /// ISO 3166-1 alpha-2 country code (none for GUFs).
    #[arg(long)]
    pub country: Option<String>,
    /// The ITUC region (GUFs: global). When omitted, the hub decides from the country and
    /// kind, or refuses.
    #[arg(long, value_enum)]
    pub region: Option<RegionArg>,
    /// Sectors a GUF covers, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub sector: Vec<String>,
    /// The relay the organisation reports through.
    #[arg(long, value_name = "RELAY")]
    pub via: Option<String>,
    /// The relay hosts the organisation (holds its key by delegation).
    #[arg(long, requires = "via")]
    pub hosted: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum OrgKindArg {
    NationalCentre,
    RegionalOrganisation,
    Guf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum RegionArg {
    Africa,
    Americas,
    AsiaPacific,
    Europe,
    Global,
}

#[derive(Debug, Args)]
pub struct OrgImportArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// CSV with a header row: id,name,kind,country,region,sectors,via,hosted.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct OrgListArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// Also list deactivated organisations.
    #[arg(long)]
    pub include_deactivated: bool,
}

#[derive(Debug, Args)]
pub struct OrgIdArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// The organisation id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RevokeKeyArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// The organisation id.
    pub id: String,
    /// The key id to revoke.
    #[arg(long)]
    pub key: String,
    /// Why, for the audit log.
    #[arg(long, default_value = "")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct DeactivateArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// The organisation id.
    pub id: String,
    /// Why, for the audit log.
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ViewArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// A period (2009) or a span of periods (2008..2010).
    #[arg(long)]
    pub period: String,
    #[arg(long, value_enum, default_value = "alliance")]
    pub by: GroupByArg,
    /// Only this action point.
    #[arg(long, value_name = "A")]
    pub action_point: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GroupByArg {
    Alliance,
    Region,
    Country,
    Kind,
    Sector,
    Org,
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    #[arg(long)]
    pub period: String,
    /// Judge against this deadline instead of the period's own, for this question only:
    /// RFC 3339 (2010-03-31T23:59:59Z), or a date (2010-03-31), meaning the end of that day UTC.
    #[arg(long, value_name = "DATE")]
    pub deadline: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeadlineArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// The period, such as 2009.
    #[arg(long)]
    pub period: String,
    /// The new deadline: RFC 3339 (2010-03-31T23:59:59Z), or a date (2010-03-31), meaning the
    /// end of that day UTC.
    #[arg(long, value_name = "DATE")]
    pub at: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long)]
    pub period: String,
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    SdmxCsv,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// Envelope files (JSON envelope form or protobuf).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// Show at most this many entries, newest first (default: all that are kept).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Only this kind of entry.
    #[arg(long, value_enum)]
    pub kind: Option<AuditKindArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuditKindArg {
    /// Something the operator did.
    Admin,
    /// Something refused from the network.
    Refusal,
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
        assert!(
            parse("alliance-hub init --data d --listen 127.0.0.1:0 --public-addr hub:7443").is_ok()
        );
        assert!(parse("alliance-hub org add --data d --id cut-brazil --name CUT --kind national_centre --country BR --region americas").is_ok());
        assert!(parse("alliance-hub view --data d --period 2008..2010 --by region --json").is_ok());
        assert!(parse("alliance-hub export --data d --period 2009 --format sdmx-csv").is_ok());
        assert!(
            parse("alliance-hub org add --data d --id x --name X --kind guf --hosted").is_err()
        );
        assert!(parse("alliance-hub init --data d --tls-cert c.pem").is_err());
        assert!(parse("alliance-hub serve --data d --log-format json").is_ok());
        assert!(
            parse("alliance-hub org add --data d --id x --name X --kind guf --region mars")
                .is_err()
        );
        assert!(parse("alliance-hub org deactivate --data d x --reason merged").is_ok());
        assert!(
            parse("alliance-hub org revoke-key --data d x --key k --reason lost --json").is_ok()
        );
        assert!(parse("alliance-hub deadline --data d --period 2009 --at 2010-04-30").is_ok());
        assert!(
            parse("alliance-hub coverage --data d --period 2009 --deadline 2010-04-30").is_ok()
        );
        assert!(parse("alliance-hub audit --data d --limit 10 --kind refusal --json").is_ok());
    }
}
