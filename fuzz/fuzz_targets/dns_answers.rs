//! DNS answer validation: expected answers (values or /patterns/) as written in
//! probes.yaml, against answer lines as a server could send them. Input: the expected
//! answers (one per line), a NUL, the answer records (one per line).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pharos::config::ProbeKind;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some((expected, answers)) = text.split_once('\0') else {
        return;
    };
    let list: Vec<String> = expected
        .lines()
        .map(|l| serde_json::to_string(l).unwrap_or_default())
        .collect();
    let probes = format!(
        "regions:\n  - name: r1\nprobes:\n  - id: d\n    kind: dns\n    server: 127.0.0.1\n    name: example.test\n    record_type: A\n    expect_answers: [{}]\n    components: [web]\n",
        list.join(", ")
    );
    let components = "page:\n  title: T\n  base_url: https://s.test\ncomponents:\n  - id: web\n    name: Web\n";
    let examined = pharos::config::examine_texts(components, &probes);
    let Some(probing) = examined.probing else {
        return;
    };
    let Some(ProbeKind::Dns(spec)) = probing.probes.first().map(|p| &p.kind) else {
        return;
    };
    let info = pharos::state::DnsInfo {
        server: "127.0.0.1:53".into(),
        rcode: "NOERROR".into(),
        answers: answers.lines().map(str::to_string).collect(),
        authoritative: false,
        truncated: false,
        transport: "udp".into(),
    };
    let _ = pharos::probe::dns::check_answers(spec, &info);
});
