//! Text conventions shared by every stage: how messages write a duration (probe details,
//! config errors, command output, logs; pages say durations in their own language, in
//! `site`), and which characters XML output can carry.

use std::time::Duration;

/// A duration for a message: `850ms`, `5s`, `1.5s` under a minute; from a minute on, in
/// whole seconds by unit: `2m`, `1m 30s`, `1h 5m`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        if ms.is_multiple_of(1000) {
            format!("{}s", ms / 1000)
        } else {
            format!("{:.1}s", d.as_secs_f64())
        }
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

/// Whether XML 1.0 (and so every feed and badge) can carry `c`: not a control character
/// other than tab and line breaks, not U+FFFE or U+FFFF.
pub fn xml_char(c: char) -> bool {
    !(c < ' ' && !matches!(c, '\t' | '\n' | '\r') || matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

/// `xml` without the characters XML cannot carry: applied to every XML document written,
/// so no input can make a feed that readers drop (markup never uses them, so removing
/// them cannot change the structure).
pub fn xml_clean(xml: String) -> String {
    if xml.chars().all(xml_char) {
        xml
    } else {
        xml.chars().filter(|c| xml_char(*c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let s = |ms: u64| duration(Duration::from_millis(ms));
        assert_eq!(s(850), "850ms");
        assert_eq!(s(5_000), "5s");
        assert_eq!(s(1_500), "1.5s");
        assert_eq!(s(90_000), "1m 30s");
        assert_eq!(s(120_400), "2m");
        assert_eq!(s(3_900_000), "1h 5m");
    }

    #[test]
    fn xml_output_never_carries_control_characters() {
        assert_eq!(
            xml_clean("<a>b\u{1}c\td\u{FFFF}</a>".into()),
            "<a>bc\td</a>"
        );
        assert!(xml_char('\n') && !xml_char('\u{0}') && !xml_char('\u{1b}'));
    }
}
