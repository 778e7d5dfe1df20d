//! Markdown structure: headings (outside code fences), GitHub-style anchors,
//! links, and tables of contents. Pure functions over text.

/// A heading: its level (1–6), text, anchor and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    pub level: usize,
    pub text: String,
    pub anchor: String,
    pub line: usize,
}

/// The headings of `text`, with anchors made unique the way GitHub does
/// (`intro`, `intro-1`, …).
pub fn headings(text: &str) -> Vec<Heading> {
    let mut found = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (index, line) in lines_outside_fences(text) {
        let trimmed = line.trim_start();
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&level) || !trimmed[level..].starts_with([' ', '\t']) {
            continue;
        }
        let heading = trimmed[level..]
            .trim()
            .trim_end_matches('#')
            .trim()
            .to_string();
        let base = slug(&heading);
        let count = seen.iter().filter(|s| **s == base).count();
        seen.push(base.clone());
        let anchor = if count == 0 {
            base
        } else {
            format!("{base}-{count}")
        };
        found.push(Heading {
            level,
            text: heading,
            anchor,
            line: index + 1,
        });
    }
    found
}

/// Lines with their 0-based index, skipping fenced code blocks.
pub fn lines_outside_fences(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut kept = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = if trimmed.starts_with("```") {
            Some("```")
        } else if trimmed.starts_with("~~~") {
            Some("~~~")
        } else {
            None
        };
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => kept.push((index, line)),
            _ => {}
        }
    }
    kept
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to `-`.
pub fn slug(heading: &str) -> String {
    let plain = heading.replace(['`', '*'], "");
    plain
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Inline links and images `[text](target)` with their 1-based line.
pub fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in lines_outside_fences(text) {
        let mut rest = line;
        while let Some(open) = rest.find("](") {
            let after = &rest[open + 2..];
            let Some(close) = after.find(')') else { break };
            let target = after[..close].split_whitespace().next().unwrap_or("");
            let target = target.trim_start_matches('<').trim_end_matches('>');
            if !target.is_empty() && !in_inline_code(line, line.len() - rest.len() + open) {
                found.push((index + 1, target.to_string()));
            }
            rest = &after[close..];
        }
    }
    found
}

/// Whether byte `at` of `line` is inside an inline code span.
fn in_inline_code(line: &str, at: usize) -> bool {
    line[..at].matches('`').count() % 2 == 1
}

/// Markers around a generated table of contents.
pub const TOC_START: &str = "<!-- toc -->";
pub const TOC_END: &str = "<!-- tocstop -->";

/// `text` with the table of contents between the markers regenerated from
/// headings of levels 2 to `max_depth`, and the number of entries; `None`
/// when the markers are missing or out of order.
pub fn with_toc(text: &str, max_depth: usize) -> Option<(String, usize)> {
    let start = text.find(TOC_START)?;
    let end = text[start..].find(TOC_END)? + start;
    let entries: Vec<String> = headings(text)
        .into_iter()
        .filter(|h| (2..=max_depth).contains(&h.level))
        .map(|h| format!("{}- [{}](#{})", "  ".repeat(h.level - 2), h.text, h.anchor))
        .collect();
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start + TOC_START.len()]);
    out.push('\n');
    for entry in &entries {
        out.push_str(entry);
        out.push('\n');
    }
    out.push_str(&text[end..]);
    Some((out, entries.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Title\n\n<!-- toc -->\nold\n<!-- tocstop -->\n\n## Getting started\n\n```sh\n# not a heading\n```\n\n### The `run` command\n\n## Getting started\n\nSee [usage](#getting-started-1) and `[code](x)`.\n";

    #[test]
    fn headings_and_anchors() {
        let found = headings(DOC);
        let anchors: Vec<&str> = found.iter().map(|h| h.anchor.as_str()).collect();
        assert_eq!(
            anchors,
            [
                "title",
                "getting-started",
                "the-run-command",
                "getting-started-1"
            ]
        );
    }

    #[test]
    fn table_of_contents() {
        let (out, entries) = with_toc(DOC, 3).expect("markers");
        assert_eq!(entries, 3);
        assert!(out.contains("<!-- toc -->\n- [Getting started](#getting-started)\n  - [The `run` command](#the-run-command)\n- [Getting started](#getting-started-1)\n<!-- tocstop -->"), "{out}");
        assert_eq!(
            with_toc(&out, 3).expect("again").0,
            out,
            "regenerating is stable"
        );
        assert_eq!(with_toc("no markers", 3), None);
    }

    #[test]
    fn links_outside_code() {
        assert_eq!(links(DOC), [(17, "#getting-started-1".to_string())]);
        assert_eq!(
            links("![logo](img/logo.png \"Logo\")"),
            [(1, "img/logo.png".to_string())]
        );
    }
}
