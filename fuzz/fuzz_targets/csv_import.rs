//! The node's `record import FILE.csv`: the bytes of a file an operator chose. Parsing must end
//! in records or an error naming the line, never a panic.
//!
//! Property: every record imported belongs to the importing organisation and fits the framework
//! (an import is all rows or none, and each row is checked).

#![no_main]

use std::sync::LazyLock;

use alliance_core::framework::Framework;
use alliance_core::{OrgId, Timestamp};
use alliance_node::records::parse_csv;
use libfuzzer_sys::fuzz_target;

static FRAMEWORK: LazyLock<Framework> = LazyLock::new(Framework::v1);

static ORG: LazyLock<OrgId> = LazyLock::new(|| match "cut-brazil".parse() {
    Ok(org) => org,
    Err(e) => panic!("a fixed, valid organisation id: {e}"),
});

fuzz_target!(|data: &[u8]| {
    let Ok(records) = parse_csv(&ORG, data, &FRAMEWORK, Timestamp(1_262_304_000)) else {
        return;
    };
    for record in &records {
        assert_eq!(&record.org, &*ORG);
        assert_eq!(record.check(&FRAMEWORK), Ok(()));
    }
});
