//! JUnit XML reports (`<testsuites>`/`<testsuite>`/`<testcase>`), as
//! written by cargo nextest, pytest `--junitxml`, jest-junit, go-junit-report
//! and most CI tools.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::parse::{Parsed, excerpt};

/// Counts, failures and the total time in milliseconds of a JUnit report.
pub fn parse(xml: &str) -> Result<(Parsed, u64), String> {
    let mut reader = Reader::from_str(xml);
    let mut parsed = Parsed {
        runner: "junit",
        ..Parsed::default()
    };
    let mut seconds = 0.0_f64;
    let mut suites_time = 0.0_f64;
    let mut depth_in_case: Option<String> = None;
    let mut case_outcome = Outcome::Passed;
    let mut message = String::new();
    let mut saw_testsuite = false;
    loop {
        match reader.read_event() {
            Err(error) => {
                return Err(format!(
                    "not valid XML at byte {}: {error}",
                    reader.error_position()
                ));
            }
            Ok(Event::Eof) => break,
            Ok(Event::Start(element)) => {
                handle_start(
                    &element,
                    &mut depth_in_case,
                    &mut case_outcome,
                    &mut message,
                    &mut saw_testsuite,
                    &mut seconds,
                    &mut suites_time,
                );
            }
            Ok(Event::Empty(element)) => {
                let is_case = element.name().as_ref() == b"testcase";
                handle_start(
                    &element,
                    &mut depth_in_case,
                    &mut case_outcome,
                    &mut message,
                    &mut saw_testsuite,
                    &mut seconds,
                    &mut suites_time,
                );
                if is_case {
                    finish_case(
                        &mut parsed,
                        &mut depth_in_case,
                        &mut case_outcome,
                        &mut message,
                    );
                }
            }
            Ok(Event::Text(text)) => {
                if depth_in_case.is_some()
                    && case_outcome == Outcome::Failed
                    && message.len() < crate::parse::MESSAGE_BYTES
                    && let Ok(text) = text.decode()
                {
                    message.push_str(&text);
                }
            }
            Ok(Event::CData(text)) => {
                if depth_in_case.is_some()
                    && case_outcome == Outcome::Failed
                    && message.len() < crate::parse::MESSAGE_BYTES
                {
                    message.push_str(&String::from_utf8_lossy(&text));
                }
            }
            Ok(Event::End(element)) => {
                if element.name().as_ref() == b"testcase" {
                    finish_case(
                        &mut parsed,
                        &mut depth_in_case,
                        &mut case_outcome,
                        &mut message,
                    );
                }
            }
            Ok(_) => {}
        }
    }
    if !saw_testsuite {
        return Err("no <testsuite> element: this is not a JUnit report".into());
    }
    let total = if suites_time > 0.0 {
        suites_time
    } else {
        seconds
    };
    Ok((parsed, (total * 1000.0).round() as u64))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Skipped,
}

fn attribute(element: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

#[allow(clippy::too_many_arguments)]
fn handle_start(
    element: &BytesStart<'_>,
    case: &mut Option<String>,
    outcome: &mut Outcome,
    message: &mut String,
    saw_testsuite: &mut bool,
    case_seconds: &mut f64,
    suites_seconds: &mut f64,
) {
    match element.name().as_ref() {
        b"testsuites" => {
            *saw_testsuite = true;
            if let Some(time) = attribute(element, b"time").and_then(|t| t.parse::<f64>().ok()) {
                *suites_seconds = time;
            }
        }
        b"testsuite" => *saw_testsuite = true,
        b"testcase" => {
            let name = attribute(element, b"name").unwrap_or_default();
            let class = attribute(element, b"classname").unwrap_or_default();
            *case = Some(if class.is_empty() {
                name
            } else {
                format!("{class}::{name}")
            });
            *outcome = Outcome::Passed;
            message.clear();
            if let Some(time) = attribute(element, b"time").and_then(|t| t.parse::<f64>().ok()) {
                *case_seconds += time;
            }
        }
        b"failure" | b"error" if case.is_some() => {
            *outcome = Outcome::Failed;
            if let Some(text) = attribute(element, b"message") {
                message.push_str(&text);
                message.push('\n');
            }
        }
        b"skipped" if case.is_some() => *outcome = Outcome::Skipped,
        _ => {}
    }
}

fn finish_case(
    parsed: &mut Parsed,
    case: &mut Option<String>,
    outcome: &mut Outcome,
    message: &mut String,
) {
    let Some(name) = case.take() else { return };
    match outcome {
        Outcome::Passed => parsed.passed += 1,
        Outcome::Skipped => parsed.skipped += 1,
        Outcome::Failed => {
            parsed.failed += 1;
            parsed.failures.push((name, excerpt(message)));
        }
    }
    message.clear();
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
