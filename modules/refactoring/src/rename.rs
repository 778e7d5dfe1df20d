//! Whole-word identifier renaming that leaves strings and comments alone in
//! the languages it knows. Pure functions over text.

/// A language's lexical rules, as far as renaming needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    JavaScript,
    /// Unknown: every whole-word occurrence changes.
    Plain,
}

impl Lang {
    pub fn of(path: &str) -> Self {
        match path.rsplit_once('.').map(|(_, ext)| ext) {
            Some("rs") => Self::Rust,
            Some("py" | "pyi") => Self::Python,
            Some("js" | "jsx" | "mjs" | "cjs" | "ts" | "tsx" | "mts" | "cts") => Self::JavaScript,
            _ => Self::Plain,
        }
    }
}

/// Whether `name` is an identifier (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `text` with `from` renamed to `to` in code, and how many were renamed.
pub fn rename(text: &str, lang: Lang, from: &str, to: &str) -> (String, u32) {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let skip_to = skip_non_code(bytes, i, lang);
        if skip_to > i {
            i = skip_to;
            continue;
        }
        let c = bytes[i];
        if is_ident_char(c) {
            let start = i;
            while i < bytes.len() && is_ident_char(bytes[i]) {
                i += 1;
            }
            // Rust raw identifiers `r#name` count as `name`.
            if &text[start..i] == from && !(start > 0 && is_ident_char(bytes[start - 1])) {
                out.push_str(&text[copied..start]);
                out.push_str(to);
                copied = i;
                count += 1;
            }
            continue;
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    (out, count)
}

/// If a comment or string starts at `i`, the index just after it; else `i`.
fn skip_non_code(b: &[u8], i: usize, lang: Lang) -> usize {
    let at = |s: &str| b[i..].starts_with(s.as_bytes());
    let line_end = |from: usize| {
        b[from..]
            .iter()
            .position(|c| *c == b'\n')
            .map_or(b.len(), |p| from + p)
    };
    match lang {
        Lang::Plain => i,
        Lang::Rust | Lang::JavaScript if at("//") => line_end(i),
        Lang::Rust if at("/*") => {
            // Rust block comments nest.
            let (mut depth, mut j) = (0, i);
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        return j;
                    }
                } else {
                    j += 1;
                }
            }
            b.len()
        }
        Lang::JavaScript if at("/*") => find(b, i + 2, b"*/").map_or(b.len(), |p| p + 2),
        Lang::Python if at("#") => line_end(i),
        Lang::Python if at("\"\"\"") || at("'''") => {
            find(b, i + 3, &b[i..i + 3]).map_or(b.len(), |p| p + 3)
        }
        Lang::Rust if at("r\"") || at("r#") || at("br\"") || at("br#") => {
            let start = if b[i] == b'b' { i + 2 } else { i + 1 };
            let hashes = b[start..].iter().take_while(|c| **c == b'#').count();
            if b.get(start + hashes) != Some(&b'"') || (i > 0 && is_ident_char(b[i - 1])) {
                return i;
            }
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            find(b, start + hashes + 1, &close).map_or(b.len(), |p| p + close.len())
        }
        Lang::Rust if b[i] == b'\'' => {
            // A char literal ('a', '\n', '\u{1F600}'), not a lifetime ('a).
            if b.get(i + 1) == Some(&b'\\') {
                find(b, i + 2, b"'").map_or(b.len(), |p| p + 1)
            } else {
                let next = std::str::from_utf8(&b[i + 1..])
                    .ok()
                    .and_then(|s| s.chars().next());
                match next {
                    Some(c) if b.get(i + 1 + c.len_utf8()) == Some(&b'\'') => i + 2 + c.len_utf8(),
                    _ => i,
                }
            }
        }
        _ if b[i] == b'"'
            || (b[i] == b'\'' && lang != Lang::Rust)
            || (b[i] == b'`' && lang == Lang::JavaScript) =>
        {
            let quote = b[i];
            let mut j = i + 1;
            while j < b.len() {
                match b[j] {
                    b'\\' => j += 2,
                    c if c == quote => return j + 1,
                    b'\n' if quote != b'`' && lang != Lang::Rust => return j,
                    _ => j += 1,
                }
            }
            b.len()
        }
        _ => i,
    }
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (language, before, after, renamed) renaming `total` to `sum`.
    const CASES: &[(Lang, &str, &str, u32)] = &[
        (
            Lang::Rust,
            "fn total(v: &[i32]) -> i32 { // total of v\n    let s = \"total\"; /* total /* nested total */ */ v.iter().sum() }\nlet t = total(&x); let r = r#\"total\"#; let c = 't'; fn f<'total>() {}\nlet subtotal = total_2 + total;\n",
            "fn sum(v: &[i32]) -> i32 { // total of v\n    let s = \"total\"; /* total /* nested total */ */ v.iter().sum() }\nlet t = sum(&x); let r = r#\"total\"#; let c = 't'; fn f<'sum>() {}\nlet subtotal = total_2 + sum;\n",
            4,
        ),
        (
            Lang::Python,
            "def total(xs):\n    \"\"\"Return the total.\"\"\"\n    # total here\n    return total_of(xs) + total  # total\nprint('total', f\"{total}\")\n",
            "def sum(xs):\n    \"\"\"Return the total.\"\"\"\n    # total here\n    return total_of(xs) + sum  # total\nprint('total', f\"{total}\")\n",
            2,
        ),
        (
            Lang::JavaScript,
            "const total = (a) => a; // total\nconsole.log(`total ${total}`, 'total', total(1)); /* total */\n",
            "const sum = (a) => a; // total\nconsole.log(`total ${total}`, 'total', sum(1)); /* total */\n",
            2,
        ),
        (
            Lang::Plain,
            "total: the total (totals)\n",
            "sum: the sum (totals)\n",
            2,
        ),
    ];

    #[test]
    fn each_language() {
        for (lang, before, after, renamed) in CASES {
            let (out, count) = rename(before, *lang, "total", "sum");
            assert_eq!(out, *after, "{lang:?}");
            assert_eq!(count, *renamed, "{lang:?}");
        }
    }

    #[test]
    fn identifiers_and_languages() {
        assert!(is_identifier("snake_case2") && !is_identifier("2x") && !is_identifier("a-b"));
        assert_eq!(Lang::of("src/main.rs"), Lang::Rust);
        assert_eq!(Lang::of("web/app.tsx"), Lang::JavaScript);
        assert_eq!(Lang::of("README.md"), Lang::Plain);
    }
}
