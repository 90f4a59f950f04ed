//! Fuzzes the checker and the planner: no input may make them panic, and a program the checker
//! accepts must plan or report an error. The body is shared with `tests/plan_props.rs`, which
//! runs it on the bundled programs and on generated ones in the normal test suite.
//!
//! Run with `cargo +nightly fuzz run check_plan` from the crate root.

#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../check_plan_body.rs");

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        check_and_plan(src);
    }
});
