//! Local records: the raw material of reports. They never leave the node.

use alliance_core::framework::IndicatorId;
use alliance_core::org::OrgId;
use alliance_core::period::Period;
use alliance_core::record::Record;

use super::{Node, NodeError, now};

impl Node {
    /// Checks `record` against the framework and stores it; the node assigns its id and
    /// recording time. Returns it as stored, on disk.
    pub async fn add_record(&self, mut record: Record) -> Result<Record, NodeError> {
        record.id = 0;
        record.recorded_at = now();
        record
            .check(&self.framework)
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let mut records = [record];
        self.store.put_records(&mut records)?;
        self.store.durable().await?;
        let [record] = records;
        Ok(record)
    }

    /// Stores records parsed from CSV: all or none.
    pub async fn import_records(&self, org: &OrgId, csv: &[u8]) -> Result<Vec<Record>, NodeError> {
        let mut records = crate::records::parse_csv(org, csv, &self.framework, now())
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        self.store.put_records(&mut records)?;
        self.store.durable().await?;
        Ok(records)
    }

    /// The records of `org`, optionally of one period or indicator, by date.
    pub fn list_records(
        &self,
        org: &OrgId,
        period: Option<Period>,
        indicator: Option<&IndicatorId>,
    ) -> Result<Vec<Record>, NodeError> {
        let mut records: Vec<Record> = self
            .store
            .records(org)?
            .into_iter()
            .filter(|r| period.is_none_or(|p| p.start() <= r.date && r.date < p.end_exclusive()))
            .filter(|r| indicator.is_none_or(|i| r.indicator == *i))
            .collect();
        records.sort_by_key(|r| (r.date, r.id));
        Ok(records)
    }

    /// Deletes one record; returns it.
    pub async fn delete_record(&self, org: &OrgId, id: u64) -> Result<Record, NodeError> {
        let record = self
            .store
            .delete_record(org, id)?
            .ok_or_else(|| NodeError::NotFound(format!("{org} has no record {id}")))?;
        self.store.durable().await?;
        Ok(record)
    }

    /// Whether the framework marks `indicator` sensitive.
    pub fn is_sensitive(&self, indicator: &IndicatorId) -> bool {
        self.framework
            .indicator(indicator)
            .is_some_and(|i| i.sensitive)
    }
}
