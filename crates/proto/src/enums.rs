//! Protobuf enums to and from the domain's.
//!
//! prost stores an enum field as an `i32`, so the way in is a function from `i32` that refuses
//! both values this build does not know and the `_UNSPECIFIED` zero (which is what a sender that
//! forgot the field sends). The way out is a `From` impl on the generated enum, used as
//! `pb::OrgKind::from(kind) as i32`, or the `*_to_i32` shorthands below.

use alliance_core::framework::{ConventionStatus, Temporal, ValueKind};
use alliance_core::org::{OrgKind, Region};
use alliance_core::period::PeriodKind;
use alliance_core::receipt::OutcomeKind;

use crate::error::WireError;
use crate::pb;

/// Declares, for one enum, the function from `i32` and the `From` impl from the domain, from a
/// single table so that the two directions cannot drift apart.
macro_rules! enum_conversions {
    (
        $(#[$doc:meta])*
        $from_i32:ident, $to_i32:ident, $pb:ident, $domain:ident {
            $($pb_variant:ident <=> $domain_variant:ident),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        pub fn $from_i32(value: i32) -> Result<$domain, WireError> {
            match pb::$pb::try_from(value) {
                $(Ok(pb::$pb::$pb_variant) => Ok($domain::$domain_variant),)+
                Ok(pb::$pb::Unspecified) => Err(WireError::problem(concat!(
                    "unspecified: a ",
                    stringify!($pb),
                    " value is required"
                ))),
                Err(_) => Err(WireError::problem(format_args!(
                    "unknown {} value {value}",
                    stringify!($pb)
                ))),
            }
        }

        #[doc = concat!("The wire value of a [`", stringify!($domain), "`].")]
        pub fn $to_i32(value: $domain) -> i32 {
            pb::$pb::from(value) as i32
        }

        impl From<$domain> for pb::$pb {
            fn from(value: $domain) -> Self {
                match value {
                    $($domain::$domain_variant => pb::$pb::$pb_variant,)+
                }
            }
        }
    };
}

enum_conversions! {
    /// A convention status from the wire.
    convention_status, convention_status_to_i32, ConventionStatus, ConventionStatus {
        NotRatified <=> NotRatified,
        CampaignUnderWay <=> CampaignUnderWay,
        Ratified <=> Ratified,
        RatifiedWithGaps <=> RatifiedWithGaps,
    }
}

enum_conversions! {
    /// A period kind from the wire.
    period_kind, period_kind_to_i32, PeriodKind, PeriodKind {
        Year <=> Year,
        Half <=> Half,
        Quarter <=> Quarter,
    }
}

enum_conversions! {
    /// A value kind from the wire.
    value_kind, value_kind_to_i32, ValueKind, ValueKind {
        Count <=> Count,
        Status <=> Status,
        Flag <=> Flag,
        Amount <=> Amount,
    }
}

enum_conversions! {
    /// A temporal rule (flow or stock) from the wire.
    temporal, temporal_to_i32, Temporal, Temporal {
        Flow <=> Flow,
        Stock <=> Stock,
    }
}

enum_conversions! {
    /// An organisation kind from the wire.
    org_kind, org_kind_to_i32, OrgKind, OrgKind {
        NationalCentre <=> NationalCentre,
        RegionalOrganisation <=> RegionalOrganisation,
        Guf <=> Guf,
    }
}

enum_conversions! {
    /// A region from the wire.
    region, region_to_i32, Region, Region {
        Africa <=> Africa,
        Americas <=> Americas,
        AsiaPacific <=> AsiaPacific,
        Europe <=> Europe,
        Global <=> Global,
    }
}

enum_conversions! {
    /// An outcome from the wire.
    outcome_kind, outcome_kind_to_i32, Outcome, OutcomeKind {
        Accepted <=> Accepted,
        Superseded <=> Superseded,
        Equivocation <=> Equivocation,
        Duplicate <=> Duplicate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips() {
        for s in ConventionStatus::ALL {
            assert_eq!(convention_status(convention_status_to_i32(s)), Ok(s));
        }
        for k in OrgKind::ALL {
            assert_eq!(org_kind(org_kind_to_i32(k)), Ok(k));
        }
        for r in Region::ALL {
            assert_eq!(region(region_to_i32(r)), Ok(r));
        }
        for k in [PeriodKind::Year, PeriodKind::Half, PeriodKind::Quarter] {
            assert_eq!(period_kind(period_kind_to_i32(k)), Ok(k));
        }
        for k in [
            OutcomeKind::Accepted,
            OutcomeKind::Superseded,
            OutcomeKind::Equivocation,
            OutcomeKind::Duplicate,
        ] {
            assert_eq!(outcome_kind(outcome_kind_to_i32(k)), Ok(k));
        }
    }

    #[test]
    fn unspecified_and_unknown_values_are_refused() {
        let unspecified = org_kind(0).unwrap_err().to_string();
        assert!(unspecified.contains("unspecified"), "{unspecified}");
        let unknown = region(99).unwrap_err().to_string();
        assert!(unknown.contains("unknown Region value 99"), "{unknown}");
        assert!(outcome_kind(-1).is_err());
    }
}
