//! Feeds arbitrary bytes to the expression parser and compiler; any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sentrace_rules::check_expression(text);
    }
});
