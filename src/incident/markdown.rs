//! Step 4b (incidents): markdown → sanitised HTML. Raw HTML in a post is allowed only as
//! far as the sanitiser (ammonia) lets it: no script, no event handlers, no `javascript:`.

use pulldown_cmark::{Options, Parser, html};

/// The markdown options every post is parsed with. No footnotes: their links need `id`
/// attributes, which the sanitiser removes, so they would only give dead links.
pub fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// The deepest a post may nest block quotes, lists and HTML elements: far beyond what
/// any update needs, and short of what makes rendering and sanitising slow.
pub const MAX_NESTING: usize = 32;

/// How deeply the markdown events seen so far nest, for [`MAX_NESTING`].
#[derive(Debug, Default)]
pub struct Nesting {
    markdown: usize,
    html: usize,
}

/// Elements that never have content, so never nest.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

impl Nesting {
    /// Take in one more event; whether the nesting is now deeper than [`MAX_NESTING`].
    pub fn too_deep_after(&mut self, event: &pulldown_cmark::Event<'_>) -> bool {
        use pulldown_cmark::Event;
        match event {
            Event::Start(_) => self.markdown += 1,
            Event::End(_) => self.markdown = self.markdown.saturating_sub(1),
            Event::Html(h) | Event::InlineHtml(h) => self.html_tags(h),
            _ => {}
        }
        self.markdown > MAX_NESTING || self.html > MAX_NESTING
    }

    /// Count the elements raw HTML opens and closes (an upper bound: a browser would close
    /// some on its own).
    fn html_tags(&mut self, html: &str) {
        for (i, _) in html.match_indices('<') {
            let rest = &html[i + 1..];
            if let Some(closing) = rest.strip_prefix('/') {
                if closing.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    self.html = self.html.saturating_sub(1);
                }
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_lowercase();
            let self_closing = rest.split('>').next().is_some_and(|tag| tag.ends_with('/'));
            if !name.is_empty() && !VOID.contains(&name.as_str()) && !self_closing {
                self.html += 1;
            }
        }
    }
}

/// Render markdown to HTML that is safe to put on the page.
pub fn render(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, Parser::new_ext(markdown, options()));
    SANITISER.clean(&out).to_string()
}

/// The sanitiser's rules, made once: building them (sets of tags, attributes and URL
/// schemes) cost more than cleaning a short update.
static SANITISER: std::sync::LazyLock<ammonia::Builder<'static>> = std::sync::LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.link_rel(Some("noopener noreferrer"));
    b
});

/// Markdown to plain text, for feed titles and summaries that must not carry markup.
pub fn plain_text(markdown: &str) -> String {
    use pulldown_cmark::{Event, TagEnd};
    let mut out = String::new();
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item) => out.push(' '),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_script_and_handlers() {
        let html = render(
            "Hi <script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("alert(1)"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
    }

    fn deepest(markdown: &str) -> bool {
        let mut n = Nesting::default();
        Parser::new_ext(markdown, options()).any(|e| n.too_deep_after(&e))
    }

    #[test]
    fn nesting_is_bounded_for_markdown_and_raw_html() {
        assert!(!deepest("> > > quoted\n\n- a\n  - b\n    - c\n"));
        assert!(deepest(&format!("{} deep\n", "> ".repeat(MAX_NESTING + 1))));
        assert!(deepest(&"<div>".repeat(MAX_NESTING + 1)));
        let flat = "<div>x</div>".repeat(200) + &"<br>".repeat(200) + &"<img src=x/>".repeat(50);
        assert!(!deepest(&flat), "siblings and void elements do not nest");
    }

    #[test]
    fn keeps_ordinary_markdown() {
        let html = render("**bold** and [docs](https://example.com)\n\n| a |\n|---|\n| b |");
        assert!(html.contains("<strong>bold</strong>"));
        assert!(html.contains("rel=\"noopener noreferrer\""));
        assert!(html.contains("<table>"));
        assert_eq!(
            plain_text("We are **looking** into it.\n\nMore."),
            "We are looking into it. More."
        );
    }
}
