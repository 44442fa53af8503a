//! A region's state file, any schema, truncated or damaged: it parses or says why, and
//! whatever parses is written and read back the same.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(state) = pharos::state::parse(text, "r1.json") {
        let mut out = Vec::new();
        if pharos::state::write_json(&state, &mut out).is_ok() {
            let again = String::from_utf8(out).expect("state is written as UTF-8");
            pharos::state::parse(&again, "r1.json").expect("a written state reads back");
        }
    }
});
