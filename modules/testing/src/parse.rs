//! Test runners' output → counts and failures. Pure functions over text, so
//! every format is unit-tested natively with real output samples.

use std::sync::LazyLock;

use regex::Regex;

/// What the output of one runner says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub runner: &'static str,
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    /// Failing tests: (name, message excerpt).
    pub failures: Vec<(String, String)>,
    /// What could not run at all (a collection or compile error): (where,
    /// the runner's reason). Not test failures.
    pub errors: Vec<(String, String)>,
}

impl Parsed {
    fn new(runner: &'static str) -> Self {
        Self {
            runner,
            ..Self::default()
        }
    }

    /// Add `n` tests a summary calls `word` (`passed`, `failed`, `skipped`…).
    fn count(&mut self, word: &str, n: u32) {
        match word {
            "passed" | "xpassed" | "pass" => self.passed += n,
            "failed" | "error" | "errors" | "fail" | "cancelled" => self.failed += n,
            _ => self.skipped += n,
        }
    }

    /// Record a failing test once, however many times the output names it.
    fn fail(&mut self, name: String, message: String) {
        if !self.failures.iter().any(|(n, _)| *n == name) {
            self.failures.push((name, message));
        }
    }
}

/// Longest message excerpt kept per failure.
pub const MESSAGE_BYTES: usize = 2048;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the patterns here are valid")
}

/// Each match of `heading` with the text after it, up to the next match:
/// a runner's per-failure blocks.
fn blocks<'o>(heading: &Regex, output: &'o str) -> Vec<(regex::Captures<'o>, &'o str)> {
    let found: Vec<regex::Captures<'o>> = heading.captures_iter(output).collect();
    let ends: Vec<usize> = found
        .iter()
        .skip(1)
        .filter_map(|caps| caps.get(0).map(|m| m.start()))
        .chain([output.len()])
        .collect();
    found
        .into_iter()
        .zip(ends)
        .map(|(caps, end)| {
            let start = caps.get(0).map_or(end, |m| m.end());
            (caps, &output[start..end])
        })
        .collect()
}

fn number(text: &str) -> u32 {
    text.parse().unwrap_or(0)
}

/// Try each runner's format, most specific first; `None` when the output
/// is in no format this module knows.
pub fn parse(output: &str) -> Option<Parsed> {
    [
        nextest, cargo, pytest, jest, vitest, go, node, unittest, generic,
    ]
    .into_iter()
    .find_map(|parser| parser(output))
}

/// `Summary [   0.012s] 3 tests run: 2 passed, 1 failed, 0 skipped`
fn nextest(output: &str) -> Option<Parsed> {
    static SUMMARY: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"Summary \[[^\]]*\]\s+(\d+) tests? run: (\d+) passed(?:[^,\n]*)?(?:, (\d+) failed)?(?:, (\d+) skipped)?",
        )
    });
    static FAIL: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?m)^\s*FAIL \[[^\]]*\] (?:\([^)]*\) )?(\S+)(?: (\S+))?\s*$"));
    let summary = SUMMARY.captures_iter(output).last()?;
    let mut parsed = Parsed::new("nextest");
    parsed.passed = number(&summary[2]);
    parsed.failed = summary.get(3).map_or(0, |m| number(m.as_str()));
    parsed.skipped = summary.get(4).map_or(0, |m| number(m.as_str()));
    for caps in FAIL.captures_iter(output) {
        let name = match caps.get(2) {
            Some(test) => format!("{} {}", &caps[1], test.as_str()),
            None => caps[1].to_string(),
        };
        parsed.fail(name, String::new());
    }
    Some(parsed)
}

/// `test result: FAILED. 1 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out`
/// (one per test binary, summed), failures from `---- name stdout ----` blocks.
fn cargo(output: &str) -> Option<Parsed> {
    static RESULT: LazyLock<Regex> =
        LazyLock::new(|| re(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored"));
    static BLOCK: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^---- (\S+) stdout ----$"));
    static FAILED_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^test (\S+) \.\.\. FAILED$"));
    let mut parsed = Parsed::new("cargo");
    let mut found = false;
    for caps in RESULT.captures_iter(output) {
        found = true;
        parsed.passed += number(&caps[1]);
        parsed.failed += number(&caps[2]);
        parsed.skipped += number(&caps[3]);
    }
    if !found {
        return None;
    }
    for (caps, body) in blocks(&BLOCK, output) {
        let body = body.split("\nfailures:\n").next().unwrap_or(body);
        parsed.failures.push((caps[1].to_string(), excerpt(body)));
    }
    for caps in FAILED_LINE.captures_iter(output) {
        parsed.fail(caps[1].to_string(), String::new());
    }
    Some(parsed)
}

/// `==== 1 failed, 2 passed, 1 skipped in 0.12s ====` and
/// `FAILED tests/test_x.py::test_y - AssertionError: ...`
fn pytest(output: &str) -> Option<Parsed> {
    static SUMMARY: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?m)^(?:=+ )?((?:\d+ (?:passed|failed|skipped|errors?|deselected|xfailed|xpassed|warnings?)(?:, )?)+) in [\d.]+s(?: \([^)]*\))?(?: =+)?$",
        )
    });
    static COUNT: LazyLock<Regex> =
        LazyLock::new(|| re(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)"));
    static FAILED: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?m)^(?:FAILED|ERROR) (\S+)(?: - (.*))?$"));
    let summary = SUMMARY.captures_iter(output).last()?;
    let mut parsed = Parsed::new("pytest");
    for caps in COUNT.captures_iter(&summary[1]) {
        // Errors are counted by the lines that name them, below.
        if !caps[2].starts_with("error") {
            parsed.count(&caps[2], number(&caps[1]));
        }
    }
    let reasons = pytest_reasons(output);
    for caps in FAILED.captures_iter(output) {
        let name = caps[1].to_string();
        let inline = caps.get(2).map_or("", |m| m.as_str());
        let is_error = caps[0].starts_with("ERROR");
        // The short summary's message, else the `E` line of the test's (or
        // the collection's) section.
        let title = if is_error {
            format!("ERROR collecting {name}")
        } else {
            name.rsplit("::").next().unwrap_or(&name).to_string()
        };
        let message = if inline.is_empty() {
            reasons.get(&title).cloned().unwrap_or_default()
        } else {
            inline.to_string()
        };
        if is_error {
            parsed.errors.push((name, excerpt(&message)));
        } else {
            parsed.failures.push((name, excerpt(&message)));
        }
    }
    Some(parsed)
}

/// pytest's long report: each `____ title ____` section's first `E ` line
/// (the assertion, the exception), by title (`test_subtract`, `ERROR
/// collecting tests/test_a.py`).
fn pytest_reasons(output: &str) -> std::collections::HashMap<String, String> {
    static SECTION: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^_{3,} (.+?) _{3,}$"));
    static REASON: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^E\s+(.+)$"));
    let sections: Vec<(usize, usize, String)> = SECTION
        .captures_iter(output)
        .filter_map(|caps| {
            let whole = caps.get(0)?;
            Some((whole.start(), whole.end(), caps[1].to_string()))
        })
        .collect();
    let mut reasons = std::collections::HashMap::new();
    for (index, (_, body_start, title)) in sections.iter().enumerate() {
        let body_end = sections.get(index + 1).map_or(output.len(), |next| next.0);
        let body = &output[*body_start..body_end];
        if let Some(reason) = REASON.captures(body) {
            reasons
                .entry(title.clone())
                .or_insert_with(|| reason[1].trim().to_string());
        }
    }
    reasons
}

/// `Tests:       1 failed, 2 passed, 3 total` and `● Suite › test name`
fn jest(output: &str) -> Option<Parsed> {
    static SUMMARY: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^Tests:\s+(.*?)(\d+) total\s*$"));
    static COUNT: LazyLock<Regex> = LazyLock::new(|| re(r"(\d+) (passed|failed|skipped|todo)"));
    static BULLET: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s*● (.+?)\s*$"));
    static AT: LazyLock<Regex> = LazyLock::new(|| re(r"\(([^()\s]+:\d+:\d+)\)"));
    let summary = SUMMARY.captures_iter(output).last()?;
    let mut parsed = Parsed::new("jest");
    for caps in COUNT.captures_iter(&summary[1]) {
        parsed.count(&caps[2], number(&caps[1]));
    }
    for (caps, block) in blocks(&BULLET, output) {
        let name = caps[1].to_string();
        if name == "Console" {
            continue;
        }
        // The matcher's words (`expect(received).toBe(expected)`, then
        // `Expected: …` / `Received: …`), and where.
        let words: Vec<&str> = block
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take_while(|l| {
                !l.starts_with('>')
                    && !l.starts_with("at ")
                    && !l.chars().next().is_some_and(|c| c.is_ascii_digit())
            })
            .take(4)
            .collect();
        let mut reason = words.join("\n");
        if let Some(at) = AT.captures(block) {
            reason.push_str(&format!("\nat {}", &at[1]));
        }
        parsed.fail(name, excerpt(&reason));
    }
    Some(parsed)
}

/// `Tests  1 failed | 2 passed (3)`; each failure's block ` FAIL  file >
/// suite > name`, its error line and its ` ❯ file:line:col`; or, without
/// blocks, the `× suite > name` lines.
fn vitest(output: &str) -> Option<Parsed> {
    static SUMMARY: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s*Tests\s+(.*?)\((\d+)\)\s*$"));
    static COUNT: LazyLock<Regex> = LazyLock::new(|| re(r"(\d+) (passed|failed|skipped|todo)"));
    static BLOCK: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s*FAIL\s+(.+? > .+?)\s*$"));
    static MARK: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?m)^\s*(?:×|✗)\s+(.+? > .+?)(?:\s+\d+ms)?\s*$"));
    static AT: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s*❯\s+(\S+:\d+:\d+)\s*$"));
    let summary = SUMMARY.captures_iter(output).last()?;
    let mut parsed = Parsed::new("vitest");
    for caps in COUNT.captures_iter(&summary[1]) {
        parsed.count(&caps[2], number(&caps[1]));
    }
    let failed = blocks(&BLOCK, output);
    for (caps, block) in &failed {
        let mut reason = block
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default()
            .to_string();
        if let Some(at) = AT.captures(block) {
            reason.push_str(&format!("\nat {}", &at[1]));
        }
        parsed.fail(caps[1].trim().to_string(), excerpt(&reason));
    }
    if failed.is_empty() {
        for caps in MARK.captures_iter(output) {
            parsed.fail(caps[1].trim().to_string(), String::new());
        }
    }
    Some(parsed)
}

/// `--- PASS: TestAdd (0.00s)`, `--- FAIL: TestSub (0.00s)`, `--- SKIP: …`
/// (`go test -v`), or only `ok pkg 0.01s` / `FAIL pkg 0.01s` lines.
fn go(output: &str) -> Option<Parsed> {
    static RESULT: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s*--- (PASS|FAIL|SKIP): (\S+)"));
    static PACKAGE: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?m)^(ok|FAIL)\s+\S+\s+(?:[\d.]+s|\(cached\))"));
    let mut parsed = Parsed::new("go");
    let mut found = false;
    for caps in RESULT.captures_iter(output) {
        found = true;
        match &caps[1] {
            "PASS" => parsed.passed += 1,
            "FAIL" => {
                parsed.failed += 1;
                let start = caps.get(0).map_or(0, |m| m.end());
                let message = output[start..]
                    .lines()
                    .skip(1)
                    .take_while(|l| l.starts_with("    "))
                    .collect::<Vec<_>>()
                    .join("\n");
                parsed
                    .failures
                    .push((caps[2].to_string(), excerpt(message.trim())));
            }
            _ => parsed.skipped += 1,
        }
    }
    if found {
        return Some(parsed);
    }
    for caps in PACKAGE.captures_iter(output) {
        found = true;
        if &caps[1] == "FAIL" {
            parsed.failed += 1;
        }
    }
    found.then_some(parsed)
}

/// `node --test` (TAP): `# tests 3`, `# pass 2`, `# fail 1`, `# skipped 0`,
/// and `not ok 2 - name`.
fn node(output: &str) -> Option<Parsed> {
    static COUNT: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?m)^(?:# |ℹ )(tests|pass|fail|skipped|todo|cancelled) (\d+)\s*$"));
    static NOT_OK: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s*not ok \d+ - (.+?)\s*$"));
    static FAILED_MARK: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?m)^\s*✖ (.+?)(?: \([\d.]+ms\))?\s*$"));
    let mut parsed = Parsed::new("node");
    let mut found = false;
    for caps in COUNT.captures_iter(output) {
        found = true;
        let n = number(&caps[2]);
        match &caps[1] {
            "pass" => parsed.passed = n,
            "fail" | "cancelled" => parsed.failed += n,
            "skipped" | "todo" => parsed.skipped += n,
            _ => {}
        }
    }
    if !found {
        return None;
    }
    for caps in NOT_OK.captures_iter(output) {
        let after = caps.get(0).map_or(output.len(), |m| m.end());
        parsed.fail(caps[1].to_string(), excerpt(&tap_reason(&output[after..])));
    }
    for caps in FAILED_MARK.captures_iter(output) {
        let name = caps[1].to_string();
        if name != "failing tests:" {
            parsed.fail(name, String::new());
        }
    }
    Some(parsed)
}

/// The reason in the YAML block that follows a TAP `not ok` line: its
/// `error` (one line, or a `|-` block) and its `location`.
fn tap_reason(after: &str) -> String {
    let mut lines = after.lines().skip(1);
    if lines.next().map(str::trim) != Some("---") {
        return String::new();
    }
    let block: Vec<&str> = lines.take_while(|l| l.trim() != "...").collect();
    let field = |name: &str| -> Option<String> {
        let at = block
            .iter()
            .position(|l| l.trim_start().starts_with(&format!("{name}:")))?;
        let line = block[at];
        let indent = line.len() - line.trim_start().len();
        let value = line.trim_start()[name.len() + 1..].trim();
        if value.starts_with('|') || value.starts_with('>') {
            let text: Vec<&str> = block[at + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .collect();
            Some(text.join("\n"))
        } else {
            Some(value.trim_matches('\'').to_string())
        }
    };
    match (field("error"), field("location")) {
        (Some(error), Some(location)) => format!("{error}\nat {location}"),
        (Some(error), None) => error,
        (None, Some(location)) => format!("at {location}"),
        (None, None) => String::new(),
    }
}

/// Python's unittest: `Ran 3 tests in 0.001s` then `OK` or
/// `FAILED (failures=1, errors=1, skipped=1)`, and `FAIL: test_x (module.Class)`.
fn unittest(output: &str) -> Option<Parsed> {
    static RAN: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^Ran (\d+) tests? in [\d.]+s$"));
    static OUTCOME: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^(OK|FAILED)(?: \((.*)\))?\s*$"));
    static COUNT: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(failures|errors|skipped|expected failures|unexpected successes)=(\d+)")
    });
    static FAIL: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^(?:FAIL|ERROR): (\S+) \(([^)]+)\)"));
    let ran = number(&RAN.captures_iter(output).last()?[1]);
    let mut parsed = Parsed::new("unittest");
    if let Some(outcome) = OUTCOME.captures_iter(output).last()
        && let Some(details) = outcome.get(2)
    {
        for caps in COUNT.captures_iter(details.as_str()) {
            let n = number(&caps[2]);
            match &caps[1] {
                "failures" | "errors" | "unexpected successes" => parsed.failed += n,
                _ => parsed.skipped += n,
            }
        }
    }
    parsed.passed = ran.saturating_sub(parsed.failed + parsed.skipped);
    for caps in FAIL.captures_iter(output) {
        // Python 3.11+ prints `test_x (module.Class.test_x)`, older ones `(module.Class)`.
        let name = if caps[2].ends_with(&caps[1]) {
            caps[2].to_string()
        } else {
            format!("{}.{}", &caps[2], &caps[1])
        };
        parsed.failures.push((name, String::new()));
    }
    Some(parsed)
}

/// The plain `N passed, N failed` (and `N skipped`) line many tools print.
fn generic(output: &str) -> Option<Parsed> {
    static LINE: LazyLock<Regex> = LazyLock::new(|| re(r"(?mi)^.*\b(\d+) (?:tests? )?passed\b.*$"));
    static COUNT: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?i)(\d+) (?:tests? )?(passed|failed|skipped)"));
    let line = LINE.find_iter(output).last()?;
    let mut parsed = Parsed::new("generic");
    for caps in COUNT.captures_iter(line.as_str()) {
        let n = number(&caps[1]);
        match caps[2].to_lowercase().as_str() {
            "passed" => parsed.passed = n,
            "failed" => parsed.failed = n,
            _ => parsed.skipped = n,
        }
    }
    Some(parsed)
}

/// The start of a message, trimmed, at most [`MESSAGE_BYTES`].
pub fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.len() <= MESSAGE_BYTES {
        return text.to_string();
    }
    let mut end = MESSAGE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The last lines of `output`, at most `bytes` long.
pub fn tail(output: &str, bytes: usize) -> String {
    if output.len() <= bytes {
        return output.to_string();
    }
    let mut start = output.len() - bytes;
    while !output.is_char_boundary(start) {
        start += 1;
    }
    let rest = &output[start..];
    match rest.find('\n') {
        Some(newline) => rest[newline + 1..].to_string(),
        None => rest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (runner, output, passed, failed, skipped, failing test names)
    type Case = (
        &'static str,
        &'static str,
        u32,
        u32,
        u32,
        &'static [&'static str],
    );
    const CASES: &[Case] = &[
        (
            "cargo",
            "running 3 tests\ntest tests::adds ... ok\ntest tests::subtracts ... FAILED\ntest tests::later ... ignored\n\nfailures:\n\n---- tests::subtracts stdout ----\n\nthread 'tests::subtracts' panicked at src/lib.rs:9:9:\nassertion `left == right` failed\n  left: 1\n right: 2\n\n\nfailures:\n    tests::subtracts\n\ntest result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\nrunning 1 test\ntest doc ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n",
            2,
            1,
            1,
            &["tests::subtracts"],
        ),
        (
            "nextest",
            "    Starting 3 tests across 1 binary\n        PASS [   0.003s] calc tests::adds\n        FAIL [   0.004s] calc tests::subtracts\n------------\n     Summary [   0.005s] 3 tests run: 2 passed, 1 failed, 0 skipped\n        FAIL [   0.004s] calc tests::subtracts\n",
            2,
            1,
            0,
            &["calc tests::subtracts"],
        ),
        (
            "pytest",
            "============================= test session starts ==============================\ncollected 4 items\n\ntests/test_calc.py .F.s                                                  [100%]\n\n=================================== FAILURES ===================================\n=========================== short test summary info ============================\nFAILED tests/test_calc.py::test_sub - assert 1 == 2\n==================== 1 failed, 2 passed, 1 skipped in 0.05s ====================\n",
            2,
            1,
            1,
            &["tests/test_calc.py::test_sub"],
        ),
        (
            "go",
            "=== RUN   TestAdd\n--- PASS: TestAdd (0.00s)\n=== RUN   TestSub\n    calc_test.go:12: got 1, want 2\n--- FAIL: TestSub (0.00s)\n    calc_test.go:12: got 1, want 2\n=== RUN   TestLater\n--- SKIP: TestLater (0.00s)\nFAIL\nFAIL\texample.com/calc\t0.002s\n",
            1,
            1,
            1,
            &["TestSub"],
        ),
        (
            "node",
            "TAP version 13\n# Subtest: adds\nok 1 - adds\n# Subtest: subtracts\nnot ok 2 - subtracts\n  ---\n  ...\n1..2\n# tests 2\n# suites 0\n# pass 1\n# fail 1\n# cancelled 0\n# skipped 0\n# todo 0\n# duration_ms 40.1\n",
            1,
            1,
            0,
            &["subtracts"],
        ),
        (
            "jest",
            " FAIL  ./calc.test.js\n  calc\n    ✓ adds (2 ms)\n    ✕ subtracts (1 ms)\n\n  ● calc › subtracts\n\n    expect(received).toBe(expected)\n\nTest Suites: 1 failed, 1 total\nTests:       1 failed, 1 passed, 2 total\nSnapshots:   0 total\nTime:        0.5 s\n",
            1,
            1,
            0,
            &["calc › subtracts"],
        ),
        (
            "vitest",
            " ❯ calc.test.ts (2 tests | 1 failed) 3ms\n   × calc > subtracts 2ms\n\n FAIL  calc.test.ts > calc > subtracts\nAssertionError: expected 1 to be 2\n\n Test Files  1 failed (1)\n      Tests  1 failed | 1 passed (2)\n",
            1,
            1,
            0,
            &["calc.test.ts > calc > subtracts"],
        ),
        (
            "unittest",
            ".F.s\n======================================================================\nFAIL: test_sub (test_calc.CalcTest.test_sub)\n----------------------------------------------------------------------\nAssertionError: 1 != 2\n\n----------------------------------------------------------------------\nRan 4 tests in 0.001s\n\nFAILED (failures=1, skipped=1)\n",
            2,
            1,
            1,
            &["test_calc.CalcTest.test_sub"],
        ),
        (
            "pytest",
            "..F\nFAILED tests/test_calc.py::test_subtract - assert 8 == 2\n1 failed, 2 passed in 0.03s\n",
            2,
            1,
            0,
            &["tests/test_calc.py::test_subtract"],
        ),
        (
            "generic",
            "checking...\n5 passed, 2 failed, 1 skipped\n",
            5,
            2,
            1,
            &[],
        ),
    ];

    #[test]
    fn every_runner() {
        for (runner, output, passed, failed, skipped, names) in CASES {
            let parsed = parse(output).unwrap_or_else(|| panic!("{runner}: not parsed"));
            assert_eq!(parsed.runner, *runner, "{runner}");
            assert_eq!(
                (parsed.passed, parsed.failed, parsed.skipped),
                (*passed, *failed, *skipped),
                "{runner}"
            );
            let found: Vec<&str> = parsed.failures.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(found, *names, "{runner}");
        }
    }

    /// A collection error is an error with its reason, not a failure named
    /// after a file with an empty message; a failure without a message in
    /// the short summary gets its `E` line.
    #[test]
    fn pytest_errors_and_failures_carry_their_reasons() {
        let output = "\
============================= test session starts ==============================
collected 3 items / 1 error

==================================== ERRORS ====================================
_____________________ ERROR collecting tests/test_io.py ______________________
ImportError while importing test module '/w/tests/test_io.py'.
tests/test_io.py:1: in <module>
    import missing
E   ModuleNotFoundError: No module named 'missing'
=================================== FAILURES ===================================
________________________________ test_subtract _________________________________

    def test_subtract():
>       assert subtract(8, 2) == 2
E       assert 6 == 2
E        +  where 6 = subtract(8, 2)

tests/test_calc.py:7: AssertionError
=========================== short test summary info ============================
FAILED tests/test_calc.py::test_subtract
ERROR tests/test_io.py
==================== 1 failed, 2 passed, 1 error in 0.05s =====================
";
        let parsed = parse(output).expect("pytest");
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (2, 1, 0));
        assert_eq!(
            parsed.failures,
            [(
                "tests/test_calc.py::test_subtract".to_string(),
                "assert 6 == 2".to_string()
            )]
        );
        assert_eq!(
            parsed.errors,
            [(
                "tests/test_io.py".to_string(),
                "ModuleNotFoundError: No module named 'missing'".to_string()
            )]
        );
    }

    #[test]
    fn node_failures_carry_the_error_and_where() {
        let output = "TAP version 13\n# Subtest: subtracts\nnot ok 2 - subtracts\n  ---\n  duration_ms: 1.29\n  location: '/w/test/calc.test.js:9:1'\n  failureType: 'testCodeFailure'\n  error: |-\n    Expected values to be strictly equal:\n    \n    10 !== 6\n    \n  code: 'ERR_ASSERTION'\n  ...\n# Subtest: other\nnot ok 3 - other\n  ---\n  error: 'boom'\n  ...\n1..3\n# tests 3\n# pass 1\n# fail 2\n";
        let parsed = parse(output).expect("node");
        assert_eq!(
            parsed.failures,
            [
                (
                    "subtracts".to_string(),
                    "Expected values to be strictly equal:\n10 !== 6\nat /w/test/calc.test.js:9:1"
                        .to_string()
                ),
                ("other".to_string(), "boom".to_string()),
            ]
        );
    }

    #[test]
    fn vitest_and_jest_failures_carry_the_error_and_where() {
        // vitest 3.2.4, as `vitest run` prints it off a terminal.
        let vitest = " RUN  v3.2.4 /w/vitest-calc\n\n ❯ calc.test.js (3 tests | 1 failed) 9ms\n   ✓ calc > adds 1ms\n   × calc > subtracts 6ms\n     → expected 10 to be 6 // Object.is equality\n   ✓ calc > adds negatives 0ms\n\n⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯\n\n FAIL  calc.test.js > calc > subtracts\nAssertionError: expected 10 to be 6 // Object.is equality\n\n\u{1b}[32m- Expected\u{1b}[39m\n\u{1b}[31m+ Received\u{1b}[39m\n\n ❯ calc.test.js:10:28\n      8| \n     10|     expect(subtract(8, 2)).toBe(6);\n\n⎯⎯⎯⎯[1/1]⎯\n\n Test Files  1 failed (1)\n      Tests  1 failed | 2 passed (3)\n";
        let parsed = parse(vitest).expect("vitest");
        assert_eq!(
            (parsed.runner, parsed.passed, parsed.failed),
            ("vitest", 2, 1)
        );
        assert_eq!(
            parsed.failures,
            [(
                "calc.test.js > calc > subtracts".to_string(),
                "AssertionError: expected 10 to be 6 // Object.is equality\nat calc.test.js:10:28"
                    .to_string()
            )]
        );
        let jest = " FAIL  ./calc.test.js\n  calc\n    ✓ adds (2 ms)\n    ✕ subtracts (1 ms)\n\n  ● calc › subtracts\n\n    expect(received).toBe(expected) // Object.is equality\n\n    Expected: 6\n    Received: 10\n\n       8 |\n       9 |   test(\"subtracts\", () => {\n    > 10 |     expect(subtract(8, 2)).toBe(6);\n         |                            ^\n\n      at Object.toBe (calc.test.js:10:28)\n\nTest Suites: 1 failed, 1 total\nTests:       1 failed, 2 passed, 3 total\n";
        let parsed = parse(jest).expect("jest");
        assert_eq!(
            parsed.failures,
            [(
                "calc › subtracts".to_string(),
                "expect(received).toBe(expected) // Object.is equality\nExpected: 6\nReceived: 10\nat calc.test.js:10:28"
                    .to_string()
            )]
        );
    }

    #[test]
    fn cargo_failure_messages_are_kept() {
        let parsed = parse(CASES[0].1).expect("cargo");
        assert!(
            parsed.failures[0]
                .1
                .contains("assertion `left == right` failed"),
            "{:?}",
            parsed.failures
        );
    }

    #[test]
    fn unknown_output_is_not_guessed() {
        assert_eq!(parse("error: could not compile `calc`\n"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn tails_keep_whole_lines() {
        assert_eq!(tail("one\ntwo\nthree\n", 8), "three\n");
        assert_eq!(tail("short", 100), "short");
    }
}
