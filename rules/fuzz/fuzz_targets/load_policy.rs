//! Feeds arbitrary bytes to the policy loader as a YAML policy file; any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ =
            sentrace_rules::Policy::load_sources(&[("fuzz.policy".to_string(), text.to_string())]);
    }
});
