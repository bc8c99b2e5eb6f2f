//! Markdown or Backlog notation, with untrusted text made inert in either.

use crate::core::text::collapse_whitespace;
use crate::model::backlog::TextFormat;

/// Markdown or Backlog notation, with untrusted text made inert in either.
pub(super) struct Writer {
    format: TextFormat,
    lines: Vec<String>,
}

impl Writer {
    pub(super) fn new(format: TextFormat) -> Self {
        Self {
            format,
            lines: Vec::new(),
        }
    }

    pub(super) fn heading(&mut self, text: &str) {
        let mark = match self.format {
            TextFormat::Markdown => "###",
            TextFormat::Backlog => "**",
        };
        self.lines.push(format!("{mark} {text}"));
    }

    pub(super) fn line(&mut self, text: String) {
        self.lines.push(text);
    }

    pub(super) fn item(&mut self, depth: usize, text: String) {
        let line = match self.format {
            TextFormat::Markdown => format!("{}- {text}", "  ".repeat(depth)),
            TextFormat::Backlog => format!("{} {text}", "-".repeat(depth + 1)),
        };
        self.lines.push(line);
    }

    pub(super) fn bold(&self, text: &str) -> String {
        match self.format {
            TextFormat::Markdown => format!("**{}**", self.text(text)),
            TextFormat::Backlog => format!("''{}''", self.text(text)),
        }
    }

    /// A value (name, id, commit): inline code in Markdown; Backlog notation has none.
    pub(super) fn value(&self, text: &str) -> String {
        let text = collapse_whitespace(text);
        match self.format {
            TextFormat::Markdown => format!("`{}`", text.replace('`', "'")),
            TextFormat::Backlog => self.text(&text),
        }
    }

    pub(super) fn link(&self, url: &str, label: &str) -> String {
        match self.format {
            TextFormat::Markdown => format!("[{}]({url})", self.text(label)),
            TextFormat::Backlog => format!("[[{}>{url}]]", self.text(label).replace('>', "›")),
        }
    }

    /// Untrusted text on one line, unable to format, link or quote.
    pub(super) fn text(&self, text: &str) -> String {
        let text = collapse_whitespace(text);
        match self.format {
            TextFormat::Markdown => {
                let mut escaped = String::with_capacity(text.len());
                for c in text.chars() {
                    if "\\`*_{}[]<>#|~!@".contains(c) {
                        escaped.push('\\');
                    }
                    escaped.push(c);
                }
                escaped
            }
            // Notation has no escape: break every markup sequence with a zero-width space.
            TextFormat::Backlog => {
                let mut text = text;
                for markup in [
                    "''",
                    "%%",
                    "[[",
                    "]]",
                    "{code",
                    "{quote",
                    "{/",
                    "&color",
                    "&br",
                    "#image",
                    "#thumbnail",
                    "#attach",
                    "#contents",
                    "#rev",
                    "##",
                ] {
                    let mut chars = markup.chars();
                    let first = chars.next().unwrap_or_default();
                    let broken = format!("{first}\u{200B}{}", chars.as_str());
                    // Until none is left: `'''` or `[[[` still hold a pair after one pass.
                    while text.contains(markup) {
                        text = text.replace(markup, &broken);
                    }
                }
                // Never at the start of a line (each line starts with the bot's own markup),
                // so list, heading and quote marks need no breaking.
                text
            }
        }
    }

    /// Joins the lines, cutting whole lines with a visible "…N more" so the marker (the last
    /// line) always survives.
    pub(super) fn finish(self, marker: &str, max: usize) -> String {
        let marker_line = match self.format {
            TextFormat::Markdown => format!("<sub>{marker}</sub>"),
            TextFormat::Backlog => marker.to_string(),
        };
        let budget = max.saturating_sub(marker_line.len() + 120);
        let mut kept = Vec::new();
        let mut used = 0;
        for (index, line) in self.lines.iter().enumerate() {
            if used + line.len() + 1 > budget {
                kept.push(format!(
                    "…{} more line(s): see the Slack thread or `aws cloudformation describe-change-set`",
                    self.lines.len() - index
                ));
                break;
            }
            used += line.len() + 1;
            kept.push(line.clone());
        }
        kept.push(String::new());
        kept.push(marker_line);
        kept.join("\n")
    }
}
