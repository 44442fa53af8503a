//! A Nagios/Mackerel plugin's output: summary and perfdata.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = pharos::probe::command::parse_output(&text);
    let _ = pharos::probe::command::parse_perfdata(&text);
});
