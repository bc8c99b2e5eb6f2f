//! Untrusted text (commit messages, branch and author names, template values) made inert for
//! Slack's mrkdwn, which Amazon Q renders custom notifications with.

/// Escapes text for a mrkdwn body: `&`, `<` and `>` (so `<!channel>`, `<@U…>` and
/// `<http://…|…>` cannot form mentions or links), and breaks `@channel`, `@here`,
/// `@everyone` (any case) with a word joiner (U+2060) so no client turns them into broadcasts.
/// Newlines and other control characters become spaces: one value stays on one line.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    break_broadcasts(&out)
}

/// `@here` → `@\u{2060}here`, for each broadcast word in any case.
fn break_broadcasts(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in lower.match_indices('@') {
        let rest = &lower[at + 1..];
        if ["channel", "here", "everyone"]
            .iter()
            .any(|word| rest.starts_with(word))
        {
            out.push_str(&text[last..=at]);
            out.push('\u{2060}');
            last = at + 1;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Untrusted text as inline code: escaped, and with backticks replaced by a look-alike so the
/// value cannot close the code span and format what follows. Inside code, `*bold*` and
/// `_italic_` stay literal.
pub fn code(text: &str) -> String {
    let inner = escape(text).replace('`', "\u{02CB}");
    if inner.is_empty() {
        "` `".to_owned()
    } else {
        format!("`{inner}`")
    }
}

/// A link whose label is untrusted: the URL is ours (built from settings and validated ids);
/// the label is escaped and may not contain `|`.
pub fn link(url: &str, label: &str) -> String {
    format!("<{url}|{}>", escape(label).replace('|', "\u{FF5C}"))
}

/// Raw (not yet escaped) text is clipped before escaping.
pub use crate::core::text::{clip, clip_middle};

/// Cuts escaped text to at most `max` characters, ending with "…" when cut, never inside an
/// escape such as `&amp;`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    if let Some(amp) = cut.rfind('&')
        && !cut[amp..].contains(';')
    {
        cut.truncate(amp);
    }
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_links_and_formatting_arrive_inert() {
        let message = "<!channel> *x* <http://evil|y> <@U123> @here @HERE @Channel `rm -rf` & done";
        let escaped = escape(message);
        for dangerous in [
            "<!channel>",
            "<http",
            "<@U123>",
            "@here",
            "@HERE",
            "@Channel",
        ] {
            assert!(!escaped.contains(dangerous), "{dangerous} in {escaped}");
        }
        assert!(escaped.starts_with("&lt;!channel&gt; *x* &lt;http://evil|y&gt;"));
        let coded = code(message);
        assert_eq!(
            coded.matches('`').count(),
            2,
            "backticks cannot close the span: {coded}"
        );
        assert!(coded.starts_with('`') && coded.ends_with('`'));
        assert_eq!(code(""), "` `");
        assert_eq!(escape("line one\nline two"), "line one line two");
    }

    #[test]
    fn links_keep_our_url_and_escape_the_label() {
        assert_eq!(
            link(
                "https://space.backlog.com/git/INFRA/r/pullRequests/57",
                "#57 <b>|x"
            ),
            "<https://space.backlog.com/git/INFRA/r/pullRequests/57|#57 &lt;b&gt;\u{FF5C}x>"
        );
    }

    #[test]
    fn truncation_counts_characters_and_never_splits_an_escape() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("テンプレート", 3), "テン…");
        assert_eq!(truncate("ab&amp;cd", 5), "ab…");
        assert_eq!(
            clip("Fix A & B", 8),
            "Fix A &…",
            "raw text keeps its ampersands"
        );
    }
}
