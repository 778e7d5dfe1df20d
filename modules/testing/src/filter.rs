//! Re-running only the tests that failed: the arguments each runner takes
//! to run exactly the named tests, added to the command's own.

/// `args` narrowed to the tests named in `failed` (as `runner`'s report
/// names them); `None` when the runner cannot be narrowed (a generic or
/// JUnit report), so the whole suite runs.
pub fn narrowed(runner: &str, args: &[String], failed: &[String]) -> Option<Vec<String>> {
    let mut out = args.to_vec();
    match runner {
        "cargo" => {
            if !out.iter().any(|a| a == "--") {
                out.push("--".into());
            }
            out.push("--exact".into());
            out.extend(failed.iter().cloned());
        }
        "nextest" => {
            let filter: Vec<String> = failed
                .iter()
                .map(|name| {
                    // `crate::binary name` as nextest prints it: the test's own name.
                    let test = name.rsplit(' ').next().unwrap_or(name);
                    format!("test(={test})")
                })
                .collect();
            out.push("-E".into());
            out.push(filter.join(" | "));
        }
        "pytest" => out.extend(failed.iter().cloned()),
        "go" => {
            let mut tops: Vec<&str> = failed
                .iter()
                .map(|name| name.split('/').next().unwrap_or(name))
                .collect();
            tops.dedup();
            out.push("-run".into());
            out.push(anchored(&tops));
        }
        "node" => {
            let names: Vec<&str> = failed.iter().map(String::as_str).collect();
            out.push(format!("--test-name-pattern={}", anchored(&names)));
        }
        "jest" => {
            // `calc › subtracts`: jest matches `-t` against `calc subtracts`.
            let names: Vec<String> = failed.iter().map(|n| n.replace(" › ", " ")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            out.push("-t".into());
            out.push(anchored(&names));
        }
        "vitest" => {
            // `file > describe > test`, or `describe > test`: vitest matches
            // `-t` against `describe test`; a file narrows the files too.
            let mut files = Vec::new();
            let mut names = Vec::new();
            for name in failed {
                let parts: Vec<&str> = name.split(" > ").collect();
                let (file, rest) = match parts.split_first() {
                    Some((first, rest)) if first.contains('.') && !rest.is_empty() => {
                        (Some(*first), rest)
                    }
                    _ => (None, &parts[..]),
                };
                if let Some(file) = file
                    && !files.contains(&file.to_string())
                {
                    files.push(file.to_string());
                }
                names.push(rest.join(" "));
            }
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            out.extend(files);
            out.push("-t".into());
            out.push(anchored(&names));
        }
        "unittest" => out.extend(failed.iter().cloned()),
        _ => return None,
    }
    Some(out)
}

/// `^(a|b)$` with each name's regex characters escaped.
fn anchored(names: &[&str]) -> String {
    let escaped: Vec<String> = names.iter().map(|n| regex::escape(n)).collect();
    format!("^({})$", escaped.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn each_runner_is_narrowed_to_the_failed_tests() {
        for (runner, args, failed, expected) in [
            (
                "cargo",
                &["test"][..],
                &["tests::subtracts", "src/lib.rs - Calc (line 3)"][..],
                &[
                    "test",
                    "--",
                    "--exact",
                    "tests::subtracts",
                    "src/lib.rs - Calc (line 3)",
                ][..],
            ),
            (
                "cargo",
                &["test", "--", "--nocapture"],
                &["a::b"],
                &["test", "--", "--nocapture", "--exact", "a::b"],
            ),
            (
                "nextest",
                &["nextest", "run"],
                &["calc tests::subtracts", "calc tests::adds"],
                &[
                    "nextest",
                    "run",
                    "-E",
                    "test(=tests::subtracts) | test(=tests::adds)",
                ],
            ),
            (
                "pytest",
                &["-q"],
                &["tests/test_calc.py::test_sub"],
                &["-q", "tests/test_calc.py::test_sub"],
            ),
            (
                "go",
                &["test", "-v", "./..."],
                &["TestSub/negative", "TestSub/zero", "TestMul"],
                &["test", "-v", "./...", "-run", "^(TestSub|TestMul)$"],
            ),
            (
                "node",
                &["--test"],
                &["subtracts", "a (b)"],
                &["--test", "--test-name-pattern=^(subtracts|a \\(b\\))$"],
            ),
            (
                "jest",
                &[],
                &["calc › subtracts"],
                &["-t", "^(calc subtracts)$"],
            ),
            (
                "vitest",
                &["run"],
                &["calc.test.js > calc > subtracts", "calc > adds"],
                &["run", "calc.test.js", "-t", "^(calc subtracts|calc adds)$"],
            ),
            (
                "unittest",
                &["-m", "unittest"],
                &["test_calc.TestCalc.test_sub"],
                &["-m", "unittest", "test_calc.TestCalc.test_sub"],
            ),
        ] {
            assert_eq!(
                narrowed(runner, &strings(args), &strings(failed)),
                Some(strings(expected)),
                "{runner}"
            );
        }
        assert_eq!(narrowed("generic", &[], &strings(&["x"])), None);
        assert_eq!(narrowed("junit", &[], &strings(&["x"])), None);
    }
}
