//! components.yaml and probes.yaml parsing and validation. An input with a NUL byte is
//! split into the two files; otherwise it is tried as each file beside a valid other.
#![no_main]
use libfuzzer_sys::fuzz_target;

const COMPONENTS: &str = "page:\n  title: T\n  base_url: https://s.test\ncomponents:\n  - id: web\n    name: Web\n    depends_on: [api]\n  - id: api\n    name: API\n";
const PROBES: &str = "regions:\n  - name: r1\nprobes:\n  - id: p\n    kind: http\n    url: https://x.test/\n    components: [web]\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.split_once('\0') {
        Some((components, probes)) => {
            let _ = pharos::config::examine_texts(components, probes);
        }
        None => {
            let _ = pharos::config::examine_texts(COMPONENTS, text);
            let _ = pharos::config::examine_texts(text, PROBES);
        }
    }
});
