//! Step 7 (announce), the social services: posts for X, Bluesky and Mastodon that fit each
//! one's limit, counted as the service counts (X: weighted characters with every link as
//! 23; Bluesky: 300 graphemes, the link a facet in UTF-8 byte offsets; Mastodon: 500
//! characters with every link as 23), cut after a word with the link always kept, and the
//! references that make each incident one thread. Pure functions; the requests are in
//! [`super::send`].

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use unicode_segmentation::UnicodeSegmentation;

use crate::render::feeds::Item;

/// A post made on a service, as a reply must name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRef {
    /// The post's id (X, Mastodon) or its at:// URI (Bluesky).
    pub id: String,
    /// Bluesky: the record's content id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
}

/// One incident's thread on one target: its first post and its newest, which the next
/// update replies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    /// The first post.
    pub root: PostRef,
    /// The newest post.
    pub last: PostRef,
    /// When the newest post was made (a thread is forgotten with the ledger's old
    /// entries).
    pub at: DateTime<Utc>,
}

impl Thread {
    /// The thread after `post` was made in it (or began it) at `at`.
    pub fn grown(this: Option<&Thread>, post: PostRef, at: DateTime<Utc>) -> Thread {
        Thread {
            root: this.map_or_else(|| post.clone(), |t| t.root.clone()),
            last: post,
            at,
        }
    }
}

/// Which thread an item belongs to: its incident's page (every update of a post links
/// there; a detected outage's start and end share their anchor).
pub fn thread_key(item: &Item) -> &str {
    &item.link
}

/// `head`, then as much of `body` as fits, cut after a word (UAX #29 word boundaries, so
/// a Japanese sentence is cut between words too) and marked "…", then `tail`: the longest
/// such text that `fits`. If not even the head fits with the tail, the head is cut the
/// same way; the tail (the link) is always whole.
pub fn fit(head: &str, body: &str, tail: &str, fits: impl Fn(&str) -> bool) -> String {
    let whole = format!("{head}{body}{tail}");
    if fits(&whole) {
        return whole;
    }
    let cut_to = |text: &str, end: usize| format!("{}…", text[..end].trim_end());
    // Ends of words, shortest first; fitting is monotone in the length kept.
    let ends = |text: &str| -> Vec<usize> {
        text.split_word_bound_indices()
            .filter(|(_, w)| !w.trim().is_empty())
            .map(|(i, w)| i + w.len())
            .collect()
    };
    let longest = |text: &str, make: &dyn Fn(usize) -> String| -> Option<String> {
        let ends = ends(text);
        let n = ends.partition_point(|&end| fits(&make(end)));
        n.checked_sub(1).map(|i| make(ends[i]))
    };
    let with_body = |end: usize| format!("{head}{}{tail}", cut_to(body, end));
    if let Some(text) = longest(body, &with_body) {
        return text;
    }
    let with_head = |end: usize| format!("{}{tail}", cut_to(head, end));
    longest(head, &with_head).unwrap_or_else(|| tail.trim_start().to_string())
}

/// X's count of `text`, by twitter-text's published configuration v3 (the one X's own
/// clients use): a code point in U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F or
/// U+2032–U+2037 weighs 1, any other 2; an emoji sequence (flags, skin tones, ZWJ
/// families) 2 in all; a link 23 whatever its length; a post may weigh 280. (The
/// twitter-text crate links C++ through `cxx`, which the static musl build cannot take.)
/// Where this differs from X it counts more, never less: a word that only looks like a
/// bare domain counts as at least a link, and a combining accent as a character of its own
/// (X composes it first).
pub fn x_length(text: &str) -> usize {
    static LINK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)\bhttps?://\S+|\b(?:[\p{L}\p{N}-]+\.)+\p{L}{2,}(?::\d+)?(?:/\S*)?")
            .unwrap_or_else(|_| unreachable!("a valid pattern"))
    });
    let mut total = 0;
    let mut rest = 0;
    for m in LINK.find_iter(text) {
        total += weighed(&text[rest..m.start()]);
        let scheme = m
            .as_str()
            .get(..4)
            .is_some_and(|s| s.eq_ignore_ascii_case("http"));
        total += if scheme {
            X_LINK
        } else {
            X_LINK.max(weighed(m.as_str()))
        };
        rest = m.end();
    }
    total + weighed(&text[rest..])
}

/// How much X counts any link.
pub const X_LINK: usize = 23;

/// X's weight of text with no link in it.
fn weighed(text: &str) -> usize {
    let light = |c: char| matches!(u32::from(c), 0..=0x10FF | 0x2000..=0x200D | 0x2010..=0x201F | 0x2032..=0x2037);
    let emoji = |g: &str| {
        g.chars().nth(1).is_some()
            && g.chars().any(|c| {
                matches!(u32::from(c), 0xFE0F | 0x200D | 0x20E3 | 0x1F000..=0x1FAFF | 0xE0020..=0xE007F)
            })
    };
    text.graphemes(true)
        .map(|g| {
            if emoji(g) {
                2
            } else {
                g.chars().map(|c| if light(c) { 1 } else { 2 }).sum()
            }
        })
        .sum()
}

/// X's limit.
pub const X_MAX: usize = 280;

/// A post for X: title, text, link, within [`X_MAX`].
pub fn x_text(item: &Item) -> String {
    fit(
        &format!("{}\n\n", item.title),
        item.text.trim(),
        &format!("\n\n{}", item.link),
        |t| x_length(t) <= X_MAX,
    )
}

/// The body of `POST /2/tweets`, a reply to the thread's newest post if there is one.
pub fn x_body(item: &Item, thread: Option<&Thread>) -> Value {
    let mut body = json!({"text": x_text(item)});
    if let Some(t) = thread {
        body["reply"] = json!({"in_reply_to_tweet_id": t.last.id});
    }
    body
}

/// Bluesky's limits on a post's text (app.bsky.feed.post: maxGraphemes, maxLength).
pub const BLUESKY_GRAPHEMES: usize = 300;
const BLUESKY_BYTES: usize = 3000;

/// An `app.bsky.feed.post` record: the text within 300 graphemes, the link a facet over
/// its UTF-8 bytes, replying to the thread's root and newest post if there is a thread.
/// `createdAt` is the update's time, so a repeat is the same record.
pub fn bluesky_record(item: &Item, thread: Option<&Thread>) -> Value {
    let text = fit(
        &format!("{}\n\n", item.title),
        item.text.trim(),
        &format!("\n\n{}", item.link),
        |t| t.graphemes(true).count() <= BLUESKY_GRAPHEMES && t.len() <= BLUESKY_BYTES,
    );
    let start = text.len() - item.link.len();
    let mut record = json!({
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": item.published.to_rfc3339_opts(SecondsFormat::Millis, true),
        "facets": [{
            "index": {"byteStart": start, "byteEnd": text.len()},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": item.link}],
        }],
    });
    if let Some(t) = thread {
        let strong = |p: &PostRef| json!({"uri": p.id, "cid": p.cid});
        record["reply"] = json!({"root": strong(&t.root), "parent": strong(&t.last)});
    }
    record
}

/// The record key of an item's Bluesky post: a TID (53 bits of microseconds since 1970
/// and 10 bits of clock id, in base32-sortable) made from the update's time and id, so a
/// send repeated after a crash names the same record and can be looked up, not made
/// twice.
pub fn tid(item: &Item) -> String {
    use std::hash::Hasher;
    const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
    let mut h = siphasher::sip::SipHasher13::new();
    h.write(item.id.as_bytes());
    let h = h.finish();
    // Items of one second (two posts' updates) differ in the microseconds and clock id.
    let micros = u64::try_from(item.published.timestamp_micros()).unwrap_or(0) + h % 1_000_000;
    let v = ((micros & ((1 << 53) - 1)) << 10) | ((h >> 32) & 0x3ff);
    (0..13)
        .rev()
        .map(|i| char::from(ALPHABET[usize::try_from((v >> (5 * i)) & 31).unwrap_or(0)]))
        .collect()
}

/// How many characters Mastodon counts for any link.
pub const MASTODON_LINK: usize = 23;
/// Mastodon's default status limit.
pub const MASTODON_MAX: usize = 500;

/// A Mastodon status: title, text, link, within the limit (the link counts as 23).
pub fn mastodon_status(item: &Item) -> String {
    let link = item.link.chars().count();
    fit(
        &format!("{}\n\n", item.title),
        item.text.trim(),
        &format!("\n\n{}", item.link),
        |t| t.chars().count() + MASTODON_LINK <= MASTODON_MAX + link,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(title: &str, text: &str) -> Item {
        Item {
            id: "https://status.test/incidents/x/#2027-01-15T08:00:00Z-investigating".into(),
            title: title.into(),
            link: "https://status.test/incidents/2027-01-15-api-outage/".into(),
            published: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
            html: String::new(),
            text: text.into(),
            components: vec![],
            derived: false,
            post: None,
        }
    }

    #[test]
    fn x_counts_as_x_does() {
        // Counted by hand from configuration v3: Latin and the dashes and quotes weigh 1,
        // "…" (U+2026, outside the ranges) and CJK 2, an emoji sequence 2, a link 23.
        assert_eq!(x_length("hello"), 5);
        assert_eq!(x_length("Café — “quoted”…"), 17);
        assert_eq!(x_length("障害"), 4);
        assert_eq!(x_length("🔥"), 2);
        assert_eq!(x_length("😷👾"), 4);
        assert_eq!(
            x_length("👨\u{200d}👩\u{200d}👧\u{200d}👦"),
            2,
            "a ZWJ family"
        );
        assert_eq!(x_length("🧕🏾"), 2, "with a skin tone");
        assert_eq!(x_length("🇯🇵"), 2, "a flag");
        assert_eq!(
            x_length("see https://status.test/a/very/long/path/indeed/yes"),
            27
        );
        assert_eq!(
            x_length("https://a.test/"),
            23,
            "a short link counts 23 too"
        );
        assert_eq!(x_length("at status.acme.example/x now"), 3 + 23 + 4);
        assert_eq!(
            x_length("詳細 https://status.test/incidents/x/"),
            4 + 1 + 23
        );
    }

    #[test]
    fn long_updates_are_cut_after_a_word_and_keep_the_link() {
        let long = "The database cluster failed over twice. ".repeat(40);
        let i = item("API outage — Investigating", &long);
        let x = x_text(&i);
        assert!(x_length(&x) <= X_MAX, "{}", x_length(&x));
        assert!(x.ends_with("…\n\nhttps://status.test/incidents/2027-01-15-api-outage/"));
        // Cut after a whole word: what precedes "…" is the text's own beginning.
        let kept = x
            .strip_prefix("API outage — Investigating\n\n")
            .and_then(|x| x.split_once('…'))
            .map(|(kept, _)| kept)
            .unwrap_or_default();
        assert!(long.starts_with(kept) && !kept.is_empty(), "{x}");
        assert!(long[kept.len()..].starts_with(' '), "a word was cut: {x}");
        // The longest fit: one more word would not fit.
        assert!(x_length(&x) + " cluster".len() > X_MAX, "{}", x_length(&x));
        let m = mastodon_status(&i);
        assert!(m.chars().count() - i.link.chars().count() + MASTODON_LINK <= MASTODON_MAX);
        assert!(m.ends_with(&i.link));
    }

    #[test]
    fn japanese_fits_in_graphemes_and_the_facet_covers_the_link_bytes() {
        let i = item(
            "API 障害 — 調査中",
            &"データベースのフェイルオーバーが発生しました。🔧 ".repeat(30),
        );
        let r = bluesky_record(&i, None);
        let text = r["text"].as_str().unwrap_or_default();
        assert!(text.graphemes(true).count() <= BLUESKY_GRAPHEMES);
        assert!(text.starts_with("API 障害 — 調査中\n\n"));
        let start = r["facets"][0]["index"]["byteStart"].as_u64().unwrap_or(0) as usize;
        let end = r["facets"][0]["index"]["byteEnd"].as_u64().unwrap_or(0) as usize;
        assert_eq!(&text.as_bytes()[start..end], i.link.as_bytes());
        assert!(
            start > text.chars().position(|c| c == 'h').unwrap_or(0),
            "bytes, not characters"
        );
        // X weighs each of these characters 2: about half as many fit.
        let x = x_text(&i);
        assert!(
            x_length(&x) <= X_MAX && x.chars().count() < 200,
            "{}",
            x.chars().count()
        );
    }

    #[test]
    fn replies_name_the_root_and_the_newest_post() {
        let root = PostRef {
            id: "at://did:plc:a/app.bsky.feed.post/3k".into(),
            cid: Some("bafyroot".into()),
        };
        let first = Thread::grown(None, root.clone(), Utc::now());
        let second = PostRef {
            id: "at://did:plc:a/app.bsky.feed.post/3l".into(),
            cid: Some("bafysecond".into()),
        };
        let thread = Thread::grown(Some(&first), second, Utc::now());
        let r = bluesky_record(&item("t", "x"), Some(&thread));
        assert_eq!(r["reply"]["root"]["cid"], "bafyroot");
        assert_eq!(r["reply"]["parent"]["cid"], "bafysecond");
        let x = x_body(&item("t", "x"), Some(&thread));
        assert_eq!(x["reply"]["in_reply_to_tweet_id"], thread.last.id);
        assert!(x_body(&item("t", "x"), None).get("reply").is_none());
    }

    #[test]
    fn tids_are_stable_valid_and_differ_per_item() {
        let a = item("t", "x");
        let mut b = a.clone();
        b.id.push('b');
        assert_eq!(tid(&a), tid(&a));
        assert_ne!(tid(&a), tid(&b));
        let t = tid(&a);
        assert_eq!(t.len(), 13);
        assert!("234567abcdefghij".contains(&t[..1]), "{t}");
        assert!(
            t.bytes()
                .all(|c| b"234567abcdefghijklmnopqrstuvwxyz".contains(&c))
        );
    }

    #[test]
    fn a_title_too_long_for_the_limit_is_cut_and_the_link_stays() {
        let i = item(&"Outage ".repeat(100), "text");
        let x = x_text(&i);
        assert!(x_length(&x) <= X_MAX);
        assert!(
            x.starts_with("Outage Outage") && x.ends_with(&i.link),
            "{x}"
        );
        assert!(
            x.contains("Outage…\n\nhttps://"),
            "one blank line before the link: {x}"
        );
    }
}
