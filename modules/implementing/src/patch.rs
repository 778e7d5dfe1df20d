//! Unified diffs: parsing, and applying hunks to text with offsets. Pure
//! functions; the module writes the results only when every hunk applied.

/// One file's part of a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePatch {
    /// `None` for `/dev/null` (the file is created).
    pub old_path: Option<String>,
    /// `None` for `/dev/null` (the file is deleted).
    pub new_path: Option<String>,
    pub hunks: Vec<Hunk>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// 1-based line the hunk starts at in the old file.
    pub old_start: usize,
    pub header: String,
    pub lines: Vec<Line>,
    /// The new file ends without a newline after this hunk.
    pub no_newline_at_end: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Context(String),
    Removed(String),
    Added(String),
}

/// Parse a unified diff; `strip` path components are dropped (`None`: 1
/// when both paths start with `a/` and `b/`, else 0).
pub fn parse(patch: &str, strip: Option<u32>) -> Result<Vec<FilePatch>, String> {
    let lines: Vec<&str> = patch.lines().collect();
    let mut files = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let Some(old) = lines[index].strip_prefix("--- ") else {
            index += 1;
            continue;
        };
        let new = lines
            .get(index + 1)
            .and_then(|l| l.strip_prefix("+++ "))
            .ok_or_else(|| format!("line {}: `--- ` is not followed by `+++ `", index + 1))?;
        let (old, new) = (path_of(old), path_of(new));
        let strip = strip.unwrap_or_else(|| {
            let git = |p: &Option<String>, prefix: &str| {
                p.as_deref().is_none_or(|p| p.starts_with(prefix))
            };
            u32::from(git(&old, "a/") && git(&new, "b/"))
        });
        let old_path = old.map(|p| stripped(&p, strip)).transpose()?;
        let new_path = new.map(|p| stripped(&p, strip)).transpose()?;
        index += 2;
        let mut hunks = Vec::new();
        while index < lines.len() && lines[index].starts_with("@@") {
            let header = lines[index].to_string();
            let (old_start, old_len, new_len) = hunk_header(&header).ok_or_else(|| {
                format!(
                    "line {}: `{header}` is not a hunk header like `@@ -1,3 +1,4 @@`",
                    index + 1
                )
            })?;
            index += 1;
            let (mut seen_old, mut seen_new) = (0, 0);
            let mut hunk = Hunk {
                old_start,
                header,
                lines: Vec::new(),
                no_newline_at_end: false,
            };
            while index < lines.len()
                && (seen_old < old_len || seen_new < new_len || lines[index].starts_with('\\'))
            {
                let line = lines[index];
                match line.chars().next() {
                    Some(' ') | None => {
                        hunk.lines
                            .push(Line::Context(line.get(1..).unwrap_or("").to_string()));
                        seen_old += 1;
                        seen_new += 1;
                    }
                    Some('-') => {
                        hunk.lines.push(Line::Removed(line[1..].to_string()));
                        seen_old += 1;
                    }
                    Some('+') => {
                        hunk.lines.push(Line::Added(line[1..].to_string()));
                        seen_new += 1;
                    }
                    Some('\\') => {
                        if matches!(hunk.lines.last(), Some(Line::Added(_) | Line::Context(_))) {
                            hunk.no_newline_at_end = true;
                        }
                    }
                    _ => {
                        return Err(format!(
                            "line {}: unexpected `{line}` inside hunk `{}`",
                            index + 1,
                            hunk.header
                        ));
                    }
                }
                index += 1;
            }
            if seen_old != old_len || seen_new != new_len {
                return Err(format!(
                    "hunk `{}` is truncated: the patch ends early",
                    hunk.header
                ));
            }
            hunks.push(hunk);
        }
        if hunks.is_empty() {
            return Err(format!(
                "the patch for `{}` has no hunks",
                new_path.as_deref().or(old_path.as_deref()).unwrap_or("?")
            ));
        }
        files.push(FilePatch {
            old_path,
            new_path,
            hunks,
        });
    }
    if files.is_empty() {
        return Err("no `--- `/`+++ ` file headers: this is not a unified diff".into());
    }
    Ok(files)
}

/// The path of a `---`/`+++` line without its timestamp; `None` for /dev/null.
fn path_of(header: &str) -> Option<String> {
    let path = header.split('\t').next().unwrap_or(header).trim();
    (path != "/dev/null").then(|| path.to_string())
}

fn stripped(path: &str, strip: u32) -> Result<String, String> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let kept = parts.get(strip as usize..).unwrap_or(&[]);
    if kept.is_empty() || kept.contains(&"..") || path.starts_with('/') && strip == 0 {
        return Err(format!(
            "`{path}` (strip {strip}) is not a path inside the workspace"
        ));
    }
    Ok(kept.join("/"))
}

/// `@@ -12,3 +12,4 @@` → (12, 3, 4); a missing count means 1.
fn hunk_header(header: &str) -> Option<(usize, usize, usize)> {
    let inner = header.strip_prefix("@@ ")?.split(" @@").next()?;
    let mut ranges = inner.split(' ');
    let old = ranges.next()?.strip_prefix('-')?;
    let new = ranges.next()?.strip_prefix('+')?;
    let range = |text: &str| -> Option<(usize, usize)> {
        match text.split_once(',') {
            Some((start, len)) => Some((start.parse().ok()?, len.parse().ok()?)),
            None => Some((text.parse().ok()?, 1)),
        }
    };
    let (old_start, old_len) = range(old)?;
    let (_, new_len) = range(new)?;
    Some((old_start, old_len, new_len))
}

/// Text as lines, and whether it ends with a newline.
pub fn split(text: &str) -> (Vec<String>, bool) {
    (
        text.lines().map(str::to_string).collect(),
        text.is_empty() || text.ends_with('\n'),
    )
}

/// Apply `hunks` to `text`: the new text and how many hunks applied at an
/// offset, or the hunk that did not apply.
pub fn apply(text: &str, hunks: &[Hunk]) -> Result<(String, u32), String> {
    let (mut lines, mut trailing_newline) = split(text);
    let mut delta: isize = 0;
    let mut floor = 0usize;
    let mut offsets = 0;
    for hunk in hunks {
        let old: Vec<&str> = hunk
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Context(t) | Line::Removed(t) => Some(t.as_str()),
                Line::Added(_) => None,
            })
            .collect();
        let new: Vec<String> = hunk
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Context(t) | Line::Added(t) => Some(t.clone()),
                Line::Removed(_) => None,
            })
            .collect();
        // An empty old side (a new file, or insertion at 0) starts at old_start.
        let wanted = if old.is_empty() {
            hunk.old_start
        } else {
            hunk.old_start.saturating_sub(1)
        };
        let wanted = (wanted as isize + delta).max(0) as usize;
        let at = find(&lines, &old, wanted, floor).ok_or_else(|| hunk.header.clone())?;
        if at != wanted {
            offsets += 1;
        }
        let new_len = new.len();
        lines.splice(at..at + old.len(), new);
        delta += new_len as isize - old.len() as isize;
        floor = at + new_len;
        if hunk.no_newline_at_end && floor == lines.len() {
            trailing_newline = false;
        } else if floor == lines.len() && !hunk.no_newline_at_end {
            trailing_newline = true;
        }
    }
    let mut out = lines.join("\n");
    if trailing_newline && !lines.is_empty() {
        out.push('\n');
    }
    Ok((out, offsets))
}

/// Where `needle` occurs in `lines` at or after `floor`, nearest to `wanted`.
fn find(lines: &[String], needle: &[&str], wanted: usize, floor: usize) -> Option<usize> {
    let fits = |at: usize| {
        at >= floor
            && at + needle.len() <= lines.len()
            && lines[at..at + needle.len()]
                .iter()
                .zip(needle)
                .all(|(a, b)| a == b)
    };
    if needle.is_empty() {
        return Some(wanted.clamp(floor, lines.len()));
    }
    (0..=lines.len()).find_map(|distance| {
        [wanted.checked_add(distance), wanted.checked_sub(distance)]
            .into_iter()
            .flatten()
            .find(|at| fits(*at))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "diff --git a/src/lib.rs b/src/lib.rs\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,3 +1,3 @@\n pub fn add(a: i32, b: i32) -> i32 {\n-    a - b\n+    a + b\n }\n--- /dev/null\n+++ b/NOTES.md\n@@ -0,0 +1,2 @@\n+# Notes\n+Fixed add.\n";

    #[test]
    fn parses_files_and_hunks() {
        let files = parse(PATCH, None).expect("valid");
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].new_path.as_deref(), Some("src/lib.rs"));
        assert_eq!(files[1].old_path, None);
        assert_eq!(files[1].new_path.as_deref(), Some("NOTES.md"));
    }

    #[test]
    fn applies_at_an_offset() {
        let files = parse(PATCH, None).expect("valid");
        let text = "// header\n// more\npub fn add(a: i32, b: i32) -> i32 {\n    a - b\n}\n";
        let (out, offsets) = apply(text, &files[0].hunks).expect("applies");
        assert_eq!(
            out,
            "// header\n// more\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n"
        );
        assert_eq!(offsets, 1);
        let (created, _) = apply("", &files[1].hunks).expect("new file");
        assert_eq!(created, "# Notes\nFixed add.\n");
    }

    #[test]
    fn conflicts_name_the_hunk() {
        let files = parse(PATCH, None).expect("valid");
        let error = apply("pub fn add() {\n    a * b\n}\n", &files[0].hunks).expect_err("conflict");
        assert_eq!(error, "@@ -1,3 +1,3 @@");
    }

    #[test]
    fn refuses_what_is_not_a_patch() {
        assert!(
            parse("hello", None)
                .expect_err("no headers")
                .contains("not a unified diff")
        );
        assert!(
            parse("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n", None)
                .expect_err("short")
                .contains("truncated")
        );
        assert!(
            parse("--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n", None)
                .expect_err("escape")
                .contains("not a path inside")
        );
    }

    #[test]
    fn no_newline_at_end() {
        let patch = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n\\ No newline at end of file\n";
        let files = parse(patch, None).expect("valid");
        assert_eq!(apply("old\n", &files[0].hunks).expect("applies").0, "new");
    }
}
