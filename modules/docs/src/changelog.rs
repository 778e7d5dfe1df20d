//! Keep a Changelog (<https://keepachangelog.com>) editing. Pure functions.

/// Sections in the order Keep a Changelog lists them.
pub const SECTIONS: &[&str] = &[
    "Added",
    "Changed",
    "Deprecated",
    "Removed",
    "Fixed",
    "Security",
];

/// A new changelog's header.
pub const HEADER: &str = "# Changelog\n\nAll notable changes to this project are documented in this file.\nThe format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/).\n";

/// The canonical spelling of `section`, if it is one.
pub fn section_name(section: &str) -> Option<&'static str> {
    SECTIONS
        .iter()
        .copied()
        .find(|s| s.eq_ignore_ascii_case(section.trim()))
}

/// Whether `line` is the `## ` heading of `release` (`Unreleased`, `1.2.0`),
/// bracketed or not, with or without a date.
fn is_release_heading(line: &str, release: &str) -> bool {
    let Some(rest) = line.strip_prefix("## ") else {
        return false;
    };
    let name = rest.trim().trim_start_matches('[');
    name.len() >= release.len()
        && name[..release.len()].eq_ignore_ascii_case(release)
        && name[release.len()..]
            .chars()
            .next()
            .is_none_or(|c| matches!(c, ']' | ' ' | '-'))
}

/// `text` with `- entry` added under `release` / `section` (both created
/// when missing), and whether it was added (false: already there).
pub fn add(text: &str, release: &str, section: &str, entry: &str) -> (String, bool) {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let bullet = format!("- {}", entry.trim());
    // The release block: from its heading to the next `## `.
    let release_at = match lines.iter().position(|l| is_release_heading(l, release)) {
        Some(at) => at,
        None => {
            // New releases go above the first existing one.
            let at = lines
                .iter()
                .position(|l| l.starts_with("## "))
                .unwrap_or(lines.len());
            let heading = if release.eq_ignore_ascii_case("unreleased") {
                "## [Unreleased]".to_string()
            } else {
                format!("## [{release}]")
            };
            let mut block = vec![heading, String::new()];
            if at > 0 && !lines[at - 1].trim().is_empty() {
                block.insert(0, String::new());
            }
            let block_len = block.len();
            lines.splice(at..at, block);
            at + block_len - 2
        }
    };
    let release_end = lines[release_at + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| release_at + 1 + i);
    let heading = format!("### {section}");
    let section_at = lines[release_at..release_end]
        .iter()
        .position(|l| l.trim() == heading)
        .map(|i| release_at + i);
    let section_at = match section_at {
        Some(at) => at,
        None => {
            // Keep the canonical order: before the first later section.
            let rank = SECTIONS
                .iter()
                .position(|s| *s == section)
                .unwrap_or(SECTIONS.len());
            let at = lines[release_at..release_end]
                .iter()
                .position(|l| {
                    l.strip_prefix("### ")
                        .and_then(|name| SECTIONS.iter().position(|s| *s == name.trim()))
                        .is_some_and(|other| other > rank)
                })
                .map_or(release_end, |i| release_at + i);
            let mut insert_at = at;
            while insert_at > release_at + 1 && lines[insert_at - 1].trim().is_empty() {
                insert_at -= 1;
            }
            let block = vec![String::new(), heading, String::new()];
            lines.splice(insert_at..insert_at, block);
            insert_at + 1
        }
    };
    let section_end = lines[section_at + 1..]
        .iter()
        .position(|l| l.starts_with("## ") || l.starts_with("### "))
        .map_or(lines.len(), |i| section_at + 1 + i);
    if lines[section_at..section_end]
        .iter()
        .any(|l| l.trim() == bullet)
    {
        return (text.to_string(), false);
    }
    let mut insert_at = section_end;
    while insert_at > section_at + 1 && lines[insert_at - 1].trim().is_empty() {
        insert_at -= 1;
    }
    if insert_at == section_at + 1 {
        lines.insert(insert_at, String::new());
        insert_at += 1;
    }
    lines.insert(insert_at, bullet);
    if insert_at + 1 < lines.len()
        && !lines[insert_at + 1].trim().is_empty()
        && !lines[insert_at + 1].starts_with("- ")
    {
        lines.insert(insert_at + 1, String::new());
    }
    (tidy(&lines), true)
}

/// One blank line around every heading and none doubled: the layout Keep a
/// Changelog files use, whatever the insertions above left.
fn tidy(lines: &[String]) -> String {
    let mut out: Vec<&str> = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let blank = line.trim().is_empty();
        let heading = line.starts_with('#');
        if blank && out.last().is_none_or(|last| last.trim().is_empty()) {
            continue;
        }
        if heading && out.last().is_some_and(|last| !last.trim().is_empty()) {
            out.push("");
        }
        out.push(line);
        let next_blank = lines
            .get(index + 1)
            .is_none_or(|next| next.trim().is_empty());
        if heading && !next_blank {
            out.push("");
        }
    }
    while out.last().is_some_and(|last| last.trim().is_empty()) {
        out.pop();
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn into_a_new_file() {
        let (out, added) = add(HEADER, "Unreleased", "Added", "A `fix-loop` workflow.");
        assert!(added);
        assert!(
            out.ends_with("\n## [Unreleased]\n\n### Added\n\n- A `fix-loop` workflow.\n"),
            "{out}"
        );
    }

    #[test]
    fn into_existing_sections_in_order() {
        let text = "# Changelog\n\n## [Unreleased]\n\n### Fixed\n\n- A crash.\n\n## [1.0.0] - 2026-01-01\n\n### Added\n\n- Everything.\n";
        let (out, _) = add(text, "Unreleased", "Added", "Locks.");
        let (out, _) = add(&out, "Unreleased", "Fixed", "Another crash.");
        assert_eq!(
            out,
            "# Changelog\n\n## [Unreleased]\n\n### Added\n\n- Locks.\n\n### Fixed\n\n- A crash.\n- Another crash.\n\n## [1.0.0] - 2026-01-01\n\n### Added\n\n- Everything.\n"
        );
        let (again, added) = add(&out, "unreleased", "Fixed", "Another crash.");
        assert!(!added);
        assert_eq!(again, out);
        let (versioned, _) = add(&out, "1.0.0", "Security", "Pinned digests.");
        assert!(
            versioned
                .ends_with("### Added\n\n- Everything.\n\n### Security\n\n- Pinned digests.\n"),
            "{versioned}"
        );
    }
}
