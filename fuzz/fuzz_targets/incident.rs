//! An incident post: front matter, update headings, markdown and sanitising.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = pharos::incident::parse(
        text,
        "incidents/2026-11-20-fuzz.md",
        "2026-11-20-fuzz",
        Some(&["web", "api"]),
    );
});
