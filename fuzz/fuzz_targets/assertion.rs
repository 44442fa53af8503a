//! The assertion language: the parser, and what it reports about a parsed assertion.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(a) = pharos::config::assertion::parse(text, false) {
        let _ = pharos::config::assertion::roots(&a);
    }
});
