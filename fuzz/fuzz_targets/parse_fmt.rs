//! Fuzzes the parser and the formatter: no input may make them panic, and
//! whenever formatting succeeds it must be idempotent.
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
    let _ = parser::parse(FileId(0), src);
    if let Ok(once) = format_source(src) {
        let twice = format_source(&once);
        assert_eq!(twice.as_deref(), Ok(once.as_str()), "formatting is not idempotent");
    }
});
