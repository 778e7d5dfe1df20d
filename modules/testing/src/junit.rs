//! JUnit XML reports (`<testsuites>`/`<testsuite>`/`<testcase>`), as
//! written by cargo nextest, pytest `--junitxml`, jest-junit, go-junit-report
//! and most CI tools.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::parse::{Parsed, excerpt};

/// Counts, failures and the total time in milliseconds of a JUnit report.
pub fn parse(xml: &str) -> Result<(Parsed, u64), String> {
    let mut reader = Reader::from_str(xml);
    let mut state = State::default();
    loop {
        match reader.read_event() {
            Err(error) => {
                return Err(format!(
                    "not valid XML at byte {}: {error}",
                    reader.error_position()
                ));
            }
            Ok(Event::Eof) => break,
            Ok(Event::Start(element)) => state.start(&element),
            Ok(Event::Empty(element)) => {
                state.start(&element);
                if element.name().as_ref() == b"testcase" {
                    state.finish_case();
                }
            }
            Ok(Event::Text(text)) => {
                if let Ok(text) = text.decode() {
                    state.message_text(&text);
                }
            }
            Ok(Event::CData(text)) => state.message_text(&String::from_utf8_lossy(&text)),
            Ok(Event::End(element)) => {
                if element.name().as_ref() == b"testcase" {
                    state.finish_case();
                }
            }
            Ok(_) => {}
        }
    }
    if !state.saw_testsuite {
        return Err("no <testsuite> element: this is not a JUnit report".into());
    }
    let seconds = if state.suites_seconds > 0.0 {
        state.suites_seconds
    } else {
        state.case_seconds
    };
    let mut parsed = state.parsed;
    parsed.runner = "junit";
    Ok((parsed, (seconds * 1000.0).round() as u64))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Outcome {
    #[default]
    Passed,
    Failed,
    Skipped,
}

/// What has been read so far.
#[derive(Debug, Default)]
struct State {
    parsed: Parsed,
    /// The test case being read, by name.
    case: Option<String>,
    outcome: Outcome,
    message: String,
    saw_testsuite: bool,
    case_seconds: f64,
    suites_seconds: f64,
}

fn attribute(element: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

fn seconds(element: &BytesStart<'_>) -> Option<f64> {
    attribute(element, b"time").and_then(|t| t.parse::<f64>().ok())
}

impl State {
    fn start(&mut self, element: &BytesStart<'_>) {
        match element.name().as_ref() {
            b"testsuites" => {
                self.saw_testsuite = true;
                if let Some(time) = seconds(element) {
                    self.suites_seconds = time;
                }
            }
            b"testsuite" => self.saw_testsuite = true,
            b"testcase" => {
                let name = attribute(element, b"name").unwrap_or_default();
                let class = attribute(element, b"classname").unwrap_or_default();
                self.case = Some(if class.is_empty() {
                    name
                } else {
                    format!("{class}::{name}")
                });
                self.outcome = Outcome::Passed;
                self.message.clear();
                self.case_seconds += seconds(element).unwrap_or(0.0);
            }
            b"failure" | b"error" if self.case.is_some() => {
                self.outcome = Outcome::Failed;
                if let Some(text) = attribute(element, b"message") {
                    self.message.push_str(&text);
                    self.message.push('\n');
                }
            }
            b"skipped" if self.case.is_some() => self.outcome = Outcome::Skipped,
            _ => {}
        }
    }

    /// Text inside a failing case's `<failure>`: its message and trace.
    fn message_text(&mut self, text: &str) {
        if self.case.is_some()
            && self.outcome == Outcome::Failed
            && self.message.len() < crate::parse::MESSAGE_BYTES
        {
            self.message.push_str(text);
        }
    }

    fn finish_case(&mut self) {
        let Some(name) = self.case.take() else { return };
        match self.outcome {
            Outcome::Passed => self.parsed.passed += 1,
            Outcome::Skipped => self.parsed.skipped += 1,
            Outcome::Failed => {
                self.parsed.failed += 1;
                self.parsed.failures.push((name, excerpt(&self.message)));
            }
        }
        self.message.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_with_every_outcome() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="calc" tests="4" failures="1" errors="1" time="0.250">
  <testsuite name="calc" tests="4">
    <testcase classname="calc.tests" name="adds" time="0.010"/>
    <testcase classname="calc.tests" name="subtracts" time="0.020">
      <failure message="assertion failed" type="AssertionError"><![CDATA[left: 1
right: 2]]></failure>
    </testcase>
    <testcase classname="calc.tests" name="crashes"><error message="boom"/></testcase>
    <testcase classname="calc.tests" name="later"><skipped/></testcase>
  </testsuite>
</testsuites>"#;
        let (parsed, ms) = parse(xml).expect("valid");
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (1, 2, 1));
        assert_eq!(ms, 250);
        assert_eq!(parsed.failures[0].0, "calc.tests::subtracts");
        assert!(parsed.failures[0].1.contains("assertion failed"));
        assert!(parsed.failures[0].1.contains("right: 2"));
        assert_eq!(parsed.failures[1].0, "calc.tests::crashes");
    }

    #[test]
    fn not_junit() {
        assert!(
            parse("<html></html>")
                .expect_err("not junit")
                .contains("not a JUnit report")
        );
        assert!(parse("<testsuite><testcase").is_err());
    }
}
