//! A report payload as the hub receives it inside a verified envelope: protobuf bytes decoded
//! into the domain `Report` (refusing what is structurally unsound), then checked against the
//! framework version it names. Neither step may panic, whatever the bytes.
//!
//! Property: a report that decodes encodes to bytes that decode to the same report. A node
//! encodes the reports it builds, so anything the hub can read must survive that trip.

#![no_main]

use std::sync::LazyLock;

use alliance_core::validate::Frameworks;
use libfuzzer_sys::fuzz_target;

static FRAMEWORKS: LazyLock<Frameworks> = LazyLock::new(Frameworks::builtin);

fuzz_target!(|data: &[u8]| {
    let Ok(report) = alliance_proto::decode_report(data) else {
        return;
    };
    let _ = FRAMEWORKS.check_report(&report);
    let again = alliance_proto::decode_report(&alliance_proto::encode_report(&report));
    assert_eq!(again.as_ref(), Ok(&report), "protobuf round trip");
});
