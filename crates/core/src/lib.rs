//! The domain of alliance: the reporting framework, periods, organisations, reports, the hub's
//! merge rules and the node's disclosure control.
//!
//! This crate does no I/O: no files, no sockets, no clock, no async runtime, no protobuf and no
//! database. Everything here is a pure function of its arguments, which is what lets the merge
//! rules and disclosure control be tested with properties over generated input.

pub mod disclosure;
pub mod framework;
pub mod merge;
pub mod org;
pub mod period;
pub mod receipt;
pub mod record;
pub mod report;
pub mod timestamp;
pub mod validate;

pub use framework::{Framework, IndicatorId};
pub use org::{OrgId, Organisation, Registry};
pub use period::{Period, PeriodKind, PeriodSpan};
pub use receipt::{Outcome, OutcomeKind, Receipt, ReportId};
pub use record::{Record, RecordValue};
pub use report::{Cell, CountValue, Report, Value};
pub use timestamp::Timestamp;
