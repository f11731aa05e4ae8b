//! Reports: one organisation's values for one period.
//!
//! A [`Report`] here is the decoded, structurally sound form. Whether it fits a framework version
//! is checked by [`crate::validate`]; whether it is authentic is the envelope's business.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::framework::{ConventionStatus, IndicatorId};
use crate::org::OrgId;
use crate::period::Period;
use crate::timestamp::Timestamp;

/// The disclosure threshold nodes use unless configured otherwise.
pub const DEFAULT_DISCLOSURE_THRESHOLD: u64 = 5;

/// One organisation's report for one period, at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub org: OrgId,
    pub period: Period,
    pub framework_version: u32,
    /// Starts at 1 and rises strictly per (org, period); assigned by the node.
    pub revision: u64,
    pub prepared_at: Timestamp,
    /// The organisation whose node prepared the report: the organisation itself, or the relay
    /// that hosts it.
    pub prepared_by: OrgId,
    /// The threshold the node's disclosure control used; the hub needs it to bound suppressed
    /// cells in the view.
    pub disclosure_threshold: u64,
    /// A retraction: the report counts as empty.
    pub withdrawn: bool,
    /// A short free-text narrative per action point id. Not covered by disclosure control.
    pub narratives: BTreeMap<String, String>,
    pub values: BTreeMap<IndicatorId, Value>,
}

/// The value of one indicator in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Count(CountValue),
    /// Status per value of the indicator's breakdown (the convention).
    Status(BTreeMap<String, ConventionStatus>),
    Flag(FlagValue),
    /// Amounts in hundredths of the currency unit, per currency.
    Amount(BTreeMap<Currency, u64>),
}

/// A count that may have been withheld by disclosure control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cell {
    Published(u64),
    /// Withheld: known only to be at least zero.
    Suppressed,
}

/// A count with its marginal breakdowns: each breakdown splits the same total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountValue {
    pub total: Cell,
    /// Dimension id → dimension value id → cell. A breakdown lists the cells it publishes or
    /// withholds; a value it does not list is a published zero.
    pub breakdowns: BTreeMap<String, BTreeMap<String, Cell>>,
}

/// A yes/no value, optionally per value of a breakdown (such as sectors targeted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagValue {
    pub value: bool,
    /// Dimension id → dimension value id → yes/no; an unlisted value is no.
    pub breakdowns: BTreeMap<String, BTreeMap<String, bool>>,
}

/// An ISO 4217 currency code, such as `EUR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

/// A currency code that is not in ISO 4217.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an ISO 4217 currency code")]
pub struct CurrencyError(pub String);

impl Report {
    /// The key the merge rules group reports by.
    pub fn key(&self) -> (OrgId, Period) {
        (self.org.clone(), self.period)
    }
}

impl Cell {
    pub fn published(self) -> Option<u64> {
        match self {
            Cell::Published(v) => Some(v),
            Cell::Suppressed => None,
        }
    }

    pub fn is_suppressed(self) -> bool {
        self == Cell::Suppressed
    }
}

impl CountValue {
    /// A published count with no breakdown.
    pub fn total(value: u64) -> Self {
        CountValue {
            total: Cell::Published(value),
            breakdowns: BTreeMap::new(),
        }
    }
}

impl Currency {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.to_ascii_uppercase();
        if upper.len() == 3 && ISO_4217.split(' ').any(|c| c == upper) {
            let b = upper.as_bytes();
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(CurrencyError(s.to_owned()))
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Active ISO 4217 currency codes.
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB \
BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD \
FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR \
KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR \
MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK \
SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES \
VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies() {
        assert_eq!("eur".parse::<Currency>().unwrap().as_str(), "EUR");
        for bad in ["EU", "EURO", "XXX", "", "€"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad:?}");
        }
    }
}
