//! Whole-word identifier renaming that leaves strings and comments alone in
//! the languages it knows — but not the code inside them that is compiled
//! or run: Rust doc comments' code blocks (doc tests) and intra-doc links,
//! Python docstrings' doctests. Each definition of the name is reported
//! with its kind, and a rename can be limited to one kind (a struct, not an
//! associated type of the same name). Pure functions over text.

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

/// What kind of definition a name has, as far as the text shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Struct,
    Enum,
    Union,
    Trait,
    TypeAlias,
    /// `type Name` inside a trait or impl; used as `Self::Name`, `T::Name`.
    AssociatedType,
    Function,
    /// A `fn` inside an impl or trait, a `def` inside a class; called as
    /// `x.name()` or `Type::name()`.
    Method,
    Constant,
    Static,
    Module,
    Macro,
    Class,
    Variable,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::Struct,
        Kind::Enum,
        Kind::Union,
        Kind::Trait,
        Kind::TypeAlias,
        Kind::AssociatedType,
        Kind::Function,
        Kind::Method,
        Kind::Constant,
        Kind::Static,
        Kind::Module,
        Kind::Macro,
        Kind::Class,
        Kind::Variable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Struct => "struct",
            Kind::Enum => "enum",
            Kind::Union => "union",
            Kind::Trait => "trait",
            Kind::TypeAlias => "type-alias",
            Kind::AssociatedType => "associated-type",
            Kind::Function => "function",
            Kind::Method => "method",
            Kind::Constant => "constant",
            Kind::Static => "static",
            Kind::Module => "module",
            Kind::Macro => "macro",
            Kind::Class => "class",
            Kind::Variable => "variable",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Reached through a value or a type (`x.name`, `Self::Name`), not by
    /// its bare name.
    fn is_member(self) -> bool {
        matches!(self, Kind::AssociatedType | Kind::Method)
    }
}

/// A definition of the renamed name: its kind and 1-based line.
pub type Definition = (Kind, u32);

/// What a rename did to one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    pub text: String,
    pub count: u32,
    /// Every definition of the name in the text, renamed or not.
    pub definitions: Vec<Definition>,
}

/// How an occurrence of the name is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occurrence {
    Defines(Kind),
    /// `x.name` (a method or a field).
    Member,
    /// `Self::name`, `T::name`, `<X as Y>::name`: an associated item.
    Associated,
    /// The bare name, or a path through modules (`crate::name`).
    Item,
}

impl Occurrence {
    /// Whether a rename limited to `only` changes this occurrence.
    fn renamed_for(self, only: Option<Kind>) -> bool {
        let Some(only) = only else {
            return true;
        };
        match self {
            Occurrence::Defines(kind) => kind == only,
            Occurrence::Member => only == Kind::Method,
            Occurrence::Associated => only.is_member(),
            Occurrence::Item => !only.is_member(),
        }
    }
}

/// `text` with `from` renamed to `to` in code — and, in Rust, in doc
/// comments' code blocks and intra-doc links; in Python, in docstrings'
/// doctests (`>>>`, `...`) — limited to occurrences that can be `only`'s.
pub fn rename(text: &str, lang: Lang, from: &str, to: &str, only: Option<Kind>) -> Renamed {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut count, mut i, mut copied) = (0, 0, 0);
    let mut definitions = Vec::new();
    let mut blocks = Blocks::default();
    // A doc comment's fenced block (`Some(true)`: Rust code), and where
    // the last doc line ended: a run of doc lines shares one fence.
    let mut fence: Option<bool> = None;
    let mut last_doc_end: Option<usize> = None;
    while i < bytes.len() {
        if lang == Lang::Rust
            && let Some((start, end)) = doc_line(bytes, i)
        {
            let continues = last_doc_end.is_some_and(|e| e <= i && text[e..i].trim().is_empty());
            if !continues {
                fence = None;
            }
            let (line, n) = rename_doc_line(&text[start..end], &mut fence, from, to, only);
            if n > 0 {
                out.push_str(&text[copied..start]);
                out.push_str(&line);
                copied = end;
                count += n;
            }
            last_doc_end = Some(end);
            i = end;
            continue;
        }
        if lang == Lang::Python
            && let Some((start, end)) = docstring(bytes, i)
        {
            let (inner, n) = rename_doctests(&text[start..end], from, to, only);
            if n > 0 {
                out.push_str(&text[copied..start]);
                out.push_str(&inner);
                copied = end;
                count += n;
            }
            i = skip_non_code(bytes, i, lang);
            continue;
        }
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
            let word = &text[start..i];
            if word == from && !(start > 0 && is_ident_char(bytes[start - 1])) {
                let occurrence = classify(text, start, lang, &blocks);
                if let Occurrence::Defines(kind) = occurrence {
                    let line = text[..start].matches('\n').count() as u32 + 1;
                    definitions.push((kind, line));
                }
                if occurrence.renamed_for(only) {
                    out.push_str(&text[copied..start]);
                    out.push_str(to);
                    copied = i;
                    count += 1;
                }
            } else {
                blocks.word(word);
            }
            continue;
        }
        blocks.punct(c);
        i += 1;
    }
    out.push_str(&text[copied..]);
    Renamed {
        text: out,
        count,
        definitions,
    }
}

/// Which kind of block each open `{` began (Rust): inside an `impl` or a
/// `trait`, `fn` defines a method and `type` an associated type.
#[derive(Default)]
struct Blocks {
    open: Vec<bool>,
    /// `impl` or `trait` seen since the last `;`, `{` or `}`.
    pending_impl: bool,
}

impl Blocks {
    fn word(&mut self, word: &str) {
        if word == "impl" || word == "trait" {
            self.pending_impl = true;
        }
    }

    fn punct(&mut self, c: u8) {
        match c {
            b'{' => self.open.push(std::mem::take(&mut self.pending_impl)),
            b'}' => {
                self.open.pop();
                self.pending_impl = false;
            }
            b';' => self.pending_impl = false,
            _ => {}
        }
    }

    fn in_impl(&self) -> bool {
        self.open.last().copied().unwrap_or(false)
    }
}

/// The identifier (or `macro_rules!`) that ends `text`, if any.
fn last_word(text: &str) -> &str {
    let start = text
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '!'))
        .map_or(0, |p| p + 1);
    &text[start..]
}

/// How the occurrence at `start` is reached: the keyword before it, or the
/// path or `.` that leads to it.
fn classify(text: &str, start: usize, lang: Lang, blocks: &Blocks) -> Occurrence {
    let before = text[..start].trim_end_matches([' ', '\t']);
    let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
    let indented = text[line_start..start].starts_with([' ', '\t']);
    let keyword = match (lang, last_word(before)) {
        (Lang::Rust, "struct") => Some(Kind::Struct),
        (Lang::Rust, "enum") => Some(Kind::Enum),
        (Lang::Rust, "union") => Some(Kind::Union),
        (Lang::Rust, "trait") => Some(Kind::Trait),
        (Lang::Rust, "type") if blocks.in_impl() => Some(Kind::AssociatedType),
        (Lang::Rust, "type") => Some(Kind::TypeAlias),
        (Lang::Rust, "fn") if blocks.in_impl() => Some(Kind::Method),
        (Lang::Rust, "fn") | (Lang::JavaScript, "function") => Some(Kind::Function),
        (Lang::Rust, "const") => Some(Kind::Constant),
        (Lang::Rust, "static") => Some(Kind::Static),
        (Lang::Rust, "mod") => Some(Kind::Module),
        (Lang::Rust, "macro_rules!") => Some(Kind::Macro),
        (Lang::Python | Lang::JavaScript, "class") => Some(Kind::Class),
        (Lang::Python, "def") if indented => Some(Kind::Method),
        (Lang::Python, "def") => Some(Kind::Function),
        (Lang::JavaScript, "const" | "let" | "var") | (Lang::Rust, "let") => Some(Kind::Variable),
        _ => None,
    };
    // The keyword must be followed by space (`struct Name`, not `struct_Name`).
    if let Some(kind) = keyword.filter(|_| before.len() < text[..start].len()) {
        return Occurrence::Defines(kind);
    }
    if before.ends_with('.') && !before.ends_with("..") {
        return Occurrence::Member;
    }
    if let Some(path) = before.strip_suffix("::") {
        let owner = last_word(path);
        if path.ends_with('>')
            || owner == "Self"
            || owner.starts_with(|c: char| c.is_ascii_uppercase())
        {
            return Occurrence::Associated;
        }
    }
    Occurrence::Item
}

/// A Rust doc comment line at `i` (`///` but not `////`, or `//!`): the
/// range of its text after the marker.
fn doc_line(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let rest = &b[i..];
    let doc = (rest.starts_with(b"///") && !rest.starts_with(b"////")) || rest.starts_with(b"//!");
    if !doc {
        return None;
    }
    let end = rest
        .iter()
        .position(|c| *c == b'\n')
        .map_or(b.len(), |p| i + p);
    Some((i + 3, end))
}

/// Whether rustdoc compiles a fence with this info string as Rust.
fn is_rust_fence(info: &str) -> bool {
    info.split([',', ' '])
        .map(str::trim)
        .filter(|word| !word.is_empty())
        .all(|word| {
            matches!(
                word,
                "rust" | "no_run" | "should_panic" | "ignore" | "compile_fail" | "test_harness"
            ) || word.starts_with("edition")
        })
}

/// One doc comment line: code in a Rust fence renamed as code, intra-doc
/// links in prose renamed as paths; fences opened and closed.
fn rename_doc_line(
    line: &str,
    fence: &mut Option<bool>,
    from: &str,
    to: &str,
    only: Option<Kind>,
) -> (String, u32) {
    if let Some(info) = line.trim_start().strip_prefix("```") {
        *fence = match fence {
            Some(_) => None,
            None => Some(is_rust_fence(info)),
        };
        return (line.to_string(), 0);
    }
    match fence {
        Some(true) => {
            let renamed = rename(line, Lang::Rust, from, to, only);
            (renamed.text, renamed.count)
        }
        Some(false) => (line.to_string(), 0),
        None => rename_links(line, from, to, only),
    }
}

/// Intra-doc links in a line of prose — `[`Name`]`, `[Name]`,
/// `[text](Name)`, `[text][Name]`, `[Name]: path` — renamed where they are
/// paths; prose and URLs are left alone.
fn rename_links(line: &str, from: &str, to: &str, only: Option<Kind>) -> (String, u32) {
    static LINK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\[([^\]\n]*)\](?:\(([^)\s]*)\)|\[([^\]\n]*)\]|:\s*(\S+))?")
            .expect("a valid pattern")
    });
    let path_like = |text: &str| {
        let text = text.trim_matches('`');
        let text = text.split_once('@').map_or(text, |(_, path)| path);
        !text.is_empty()
            && !text.contains("://")
            && text
                .trim_end_matches("()")
                .trim_end_matches('!')
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut out = String::with_capacity(line.len());
    let (mut copied, mut count) = (0, 0);
    for caps in LINK.captures_iter(line) {
        for group in 1..=4 {
            let Some(part) = caps.get(group) else {
                continue;
            };
            if !path_like(part.as_str()) {
                continue;
            }
            let renamed = rename(part.as_str(), Lang::Rust, from, to, only);
            if renamed.count > 0 {
                out.push_str(&line[copied..part.start()]);
                out.push_str(&renamed.text);
                copied = part.end();
                count += renamed.count;
            }
        }
    }
    out.push_str(&line[copied..]);
    (out, count)
}

/// A Python triple-quoted string at `i`: the range of its text.
fn docstring(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let rest = &b[i..];
    let quote: &[u8] = if rest.starts_with(b"\"\"\"") {
        b"\"\"\""
    } else if rest.starts_with(b"'''") {
        b"'''"
    } else {
        return None;
    };
    let end = find(b, i + 3, quote).unwrap_or(b.len());
    Some((i + 3, end))
}

/// Doctest lines (`>>> code`, `... code`) in a docstring renamed as Python.
fn rename_doctests(text: &str, from: &str, to: &str, only: Option<Kind>) -> (String, u32) {
    let mut count = 0;
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            match [">>> ", "... "].iter().find(|p| trimmed.starts_with(**p)) {
                Some(prompt) => {
                    let at = indent + prompt.len();
                    let renamed = rename(&line[at..], Lang::Python, from, to, only);
                    count += renamed.count;
                    format!("{}{}", &line[..at], renamed.text)
                }
                None => line.to_string(),
            }
        })
        .collect();
    (lines.join("\n"), count)
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
            let result = rename(before, *lang, "total", "sum", None);
            assert_eq!(result.text, *after, "{lang:?}");
            assert_eq!(result.count, *renamed, "{lang:?}");
        }
    }

    const BUFFER: &str = r#"//! A ring buffer: start with [`Buffer::new`]; see [the type](crate::Buffer)
//! and <https://example.com/Buffer>. A Buffer in prose stays.
//!
//! ```
//! let mut b = demo::Buffer::new(2); // a Buffer in a doc test
//! ```
//!
//! ```text
//! Buffer (not code)
//! ```

/// A bounded [`Buffer`]. [old]: crate::Buffer
//// Buffer in a plain comment.
pub struct Buffer;

impl Buffer {
    pub fn new() -> Buffer {
        Buffer
    }
}

trait Storage {
    type Buffer;
    fn take(&self) -> Self::Buffer;
}

impl Storage for Disk {
    type Buffer = Vec<u8>;
    fn take(&self) -> <Self as Storage>::Buffer {
        crate::Buffer::new();
        Vec::new()
    }
}
"#;

    #[test]
    fn doc_tests_and_intra_doc_links_are_renamed_and_prose_is_not() {
        let renamed = rename(BUFFER, Lang::Rust, "Buffer", "Ring", Some(Kind::Struct));
        let expected = BUFFER
            .replace("[`Buffer::new`]", "[`Ring::new`]")
            .replace("(crate::Buffer)", "(crate::Ring)")
            .replace("demo::Buffer::new(2)", "demo::Ring::new(2)")
            .replace("[`Buffer`]", "[`Ring`]")
            .replace("[old]: crate::Buffer", "[old]: crate::Ring")
            .replace("pub struct Buffer;", "pub struct Ring;")
            .replace("impl Buffer {", "impl Ring {")
            .replace(
                "-> Buffer {
        Buffer
",
                "-> Ring {
        Ring
",
            )
            .replace("crate::Buffer::new();", "crate::Ring::new();");
        assert_eq!(renamed.text, expected);
        assert_eq!(renamed.count, 10);
        assert_eq!(
            renamed.definitions,
            [
                (Kind::Struct, 14),
                (Kind::AssociatedType, 23),
                (Kind::AssociatedType, 28)
            ]
        );
    }

    #[test]
    fn a_rename_limited_to_a_kind_leaves_the_others() {
        let renamed = rename(
            BUFFER,
            Lang::Rust,
            "Buffer",
            "Bytes",
            Some(Kind::AssociatedType),
        );
        assert_eq!(renamed.count, 4, "{}", renamed.text);
        assert!(renamed.text.contains(
            "    type Bytes;
    fn take(&self) -> Self::Bytes;"
        ));
        assert!(renamed.text.contains("type Bytes = Vec<u8>;"));
        assert!(renamed.text.contains("<Self as Storage>::Bytes"));
        assert!(renamed.text.contains("pub struct Buffer;"));
        // Without a kind, everything named so is renamed.
        assert_eq!(rename(BUFFER, Lang::Rust, "Buffer", "X", None).count, 14);
    }

    #[test]
    fn python_doctests_are_renamed_and_docstring_prose_is_not() {
        let text = "def total(xs):\n    \"\"\"The total.\n\n    >>> total([1, 2])\n    3\n    >>> (total([])\n    ...  + total([1]))\n    1\n    \"\"\"\n    return sum(xs)\n";
        let renamed = rename(text, Lang::Python, "total", "sum_of", Some(Kind::Function));
        assert_eq!(
            renamed.text,
            "def sum_of(xs):\n    \"\"\"The total.\n\n    >>> sum_of([1, 2])\n    3\n    >>> (sum_of([])\n    ...  + sum_of([1]))\n    1\n    \"\"\"\n    return sum(xs)\n"
        );
        assert_eq!(renamed.definitions, [(Kind::Function, 1)]);
    }

    #[test]
    fn identifiers_and_languages() {
        assert!(is_identifier("snake_case2") && !is_identifier("2x") && !is_identifier("a-b"));
        assert_eq!(Lang::of("src/main.rs"), Lang::Rust);
        assert_eq!(Lang::of("web/app.tsx"), Lang::JavaScript);
        assert_eq!(Lang::of("README.md"), Lang::Plain);
    }
}
