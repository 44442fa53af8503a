//! Step 4b (incidents): markdown → sanitised HTML. Raw HTML in a post is allowed only as
//! far as the sanitiser (ammonia) lets it: no script, no event handlers, no `javascript:`.

use pulldown_cmark::{Options, Parser, html};

/// The markdown options every post is parsed with. No footnotes: their links need `id`
/// attributes, which the sanitiser removes, so they would only give dead links.
pub fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// Render markdown to HTML that is safe to put on the page.
pub fn render(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, Parser::new_ext(markdown, options()));
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .clean(&out)
        .to_string()
}

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
