//! Fuzzes the parser and the formatter: no input may make them panic, and
//! whenever formatting succeeds the result must be idempotent and mean the
//! same as the input.
//!
//! Run with `cargo +nightly fuzz run parse_fmt` from the crate root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sslp::lang::fmt::format_source;
use sslp::lang::{FileId, parser};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let (mut before, _) = parser::parse(FileId(0), src);
    let Ok(once) = format_source(src) else {
        return;
    };
    let twice = format_source(&once);
    assert_eq!(
        twice.as_deref(),
        Ok(once.as_str()),
        "formatting is not idempotent"
    );
    let (mut after, _) = parser::parse(FileId(0), &once);
    before.clear_spans();
    after.clear_spans();
    assert_eq!(before, after, "formatting changed the meaning");
});
