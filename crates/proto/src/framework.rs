//! Framework documents to and from the wire.
//!
//! A framework that arrives over the wire is checked with [`Framework::check`] as part of the
//! conversion: a node validates reports with whatever version the hub sent it, so a framework
//! that does not hang together must never get that far.

use alliance_core::framework::{ActionPoint, Dimension, DimensionValue, Framework, Indicator};

use crate::enums;
use crate::error::{WireError, Within, parse};
use crate::pb;

impl TryFrom<pb::Framework> for Framework {
    type Error = WireError;

    fn try_from(framework: pb::Framework) -> Result<Self, WireError> {
        let converted = Framework {
            version: framework.version,
            period_kind: enums::period_kind(framework.period_kind).within("period_kind")?,
            deadline_days: framework.deadline_days,
            action_points: framework
                .action_points
                .into_iter()
                .map(|a| ActionPoint {
                    id: a.id,
                    title: a.title,
                })
                .collect(),
            dimensions: framework.dimensions.into_iter().map(dimension).collect(),
            indicators: framework
                .indicators
                .into_iter()
                .enumerate()
                .map(|(index, i)| indicator(i).within_at("indicators", index))
                .collect::<Result<_, _>>()?,
        };
        // The domain's own check names the ids involved, so the message as a whole is the field.
        converted.check().map_err(WireError::problem)?;
        Ok(converted)
    }
}

impl From<&Framework> for pb::Framework {
    fn from(framework: &Framework) -> Self {
        pb::Framework {
            version: framework.version,
            period_kind: enums::period_kind_to_i32(framework.period_kind),
            deadline_days: framework.deadline_days,
            action_points: framework
                .action_points
                .iter()
                .map(|a| pb::ActionPoint {
                    id: a.id.clone(),
                    title: a.title.clone(),
                })
                .collect(),
            dimensions: framework
                .dimensions
                .iter()
                .map(|d| pb::Dimension {
                    id: d.id.clone(),
                    title: d.title.clone(),
                    values: d
                        .values
                        .iter()
                        .map(|v| pb::DimensionValue {
                            id: v.id.clone(),
                            title: v.title.clone(),
                        })
                        .collect(),
                })
                .collect(),
            indicators: framework
                .indicators
                .iter()
                .map(|i| pb::Indicator {
                    id: i.id.to_string(),
                    title: i.title.clone(),
                    kind: enums::value_kind_to_i32(i.kind),
                    temporal: enums::temporal_to_i32(i.temporal),
                    breakdowns: i.breakdowns.clone(),
                    sensitive: i.sensitive,
                    retired: i.retired,
                })
                .collect(),
        }
    }
}

fn dimension(dimension: pb::Dimension) -> Dimension {
    Dimension {
        id: dimension.id,
        title: dimension.title,
        values: dimension
            .values
            .into_iter()
            .map(|v| DimensionValue {
                id: v.id,
                title: v.title,
            })
            .collect(),
    }
}

fn indicator(indicator: pb::Indicator) -> Result<Indicator, WireError> {
    Ok(Indicator {
        id: parse(&indicator.id).within("id")?,
        title: indicator.title,
        kind: enums::value_kind(indicator.kind).within("kind")?,
        temporal: enums::temporal(indicator.temporal).within("temporal")?,
        breakdowns: indicator.breakdowns,
        sensitive: indicator.sensitive,
        retired: indicator.retired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_round_trips_and_still_hangs_together() {
        let v1 = Framework::v1();
        let back = Framework::try_from(pb::Framework::from(&v1)).unwrap();
        assert_eq!(back, v1);
        back.check().unwrap();
    }

    #[test]
    fn a_broken_framework_is_refused() {
        let mut wire = pb::Framework::from(&Framework::v1());
        wire.indicators[3].kind = 0;
        let e = Framework::try_from(wire).unwrap_err();
        assert_eq!(e.field(), Some("indicators[3].kind"));

        let mut wire = pb::Framework::from(&Framework::v1());
        wire.indicators[0].id = "nodot".into();
        assert_eq!(
            Framework::try_from(wire).unwrap_err().field(),
            Some("indicators[0].id")
        );

        let mut wire = pb::Framework::from(&Framework::v1());
        wire.indicators[0].breakdowns.push("nope".into());
        let e = Framework::try_from(wire).unwrap_err();
        assert_eq!(e.field(), Some(""));
        assert!(e.to_string().contains("nope"), "{e}");

        let mut wire = pb::Framework::from(&Framework::v1());
        wire.period_kind = 0;
        assert_eq!(
            Framework::try_from(wire).unwrap_err().field(),
            Some("period_kind")
        );
    }
}
