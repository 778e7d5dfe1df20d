//! `wfhost new` through a pseudo-terminal, answered as a person would:
//! modules and actions picked by typing, an input typed and one taken from
//! an earlier step's output, a failure route and a grant; the file it
//! writes validates. Off a terminal it refuses with a hint; templates are
//! written as they are.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

use crate::common::{shared_cache, wfhost};

/// `wfhost` on the slave side of a pseudo-terminal; the test holds the
/// master: it reads what is shown and types answers.
struct Terminal {
    master: File,
    child: Child,
    output: Receiver<Vec<u8>>,
    /// Everything shown so far, as sent, and with escape sequences removed.
    raw: Vec<u8>,
    shown: String,
    /// Where the next `expect` starts looking.
    read_to: usize,
}

impl Terminal {
    fn spawn(dir: &Path, args: &[&str]) -> Self {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("a pty");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let size = rustix::termios::Winsize {
            ws_row: 50,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, size).expect("window size");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().expect("UTF-8 name"))
            .expect("the slave side");
        let child = Command::new(env!("CARGO_BIN_EXE_wfhost"))
            .args(args)
            .current_dir(dir)
            .env("WFHOST_HOME", dir.join("home"))
            .env("WFHOST_CACHE_DIR", shared_cache())
            .env("TERM", "xterm")
            .env_remove("WFHOST_LOG")
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("wfhost starts");
        let master = File::from(master);
        let mut reader = master.try_clone().expect("dup");
        let (sender, output) = channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = reader.read(&mut buffer) {
                if read == 0 || sender.send(buffer[..read].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self {
            master,
            child,
            output,
            raw: Vec::new(),
            shown: String::new(),
            read_to: 0,
        }
    }

    /// Wait (at most 20 s) until `text` is shown after what was expected last.
    fn expect(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.shown = strip_escapes(&String::from_utf8_lossy(&self.raw));
            let from = self.read_to.min(self.shown.len());
            if let Some(at) = self.shown[from..].find(text) {
                self.read_to = from + at + text.len();
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "never shown: {text:?}\n--- shown:\n{}",
                self.shown
            );
            if let Ok(chunk) = self
                .output
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                self.raw.extend(chunk);
            }
        }
    }

    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).expect("type");
        self.master.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(50));
    }

    fn answer(&mut self, prompt: &str, keys: &str) {
        self.expect(prompt);
        self.send(keys);
    }

    fn finish(mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("the process") {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "wfhost new did not end");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Text without terminal escape sequences (colours, cursor moves).
fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                for c in chars.by_ref() {
                    if c == '\u{7}' {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

const DOWN: &str = "\u{1b}[B";
const ENTER: &str = "\r";

#[test]
fn the_wizard_writes_a_valid_workflow_from_a_persons_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut terminal = Terminal::spawn(dir.path(), &["new", "flow.yaml"]);
    terminal.answer("Workflow name", ENTER);
    terminal.answer("Description", &format!("Say hello, then note it{ENTER}"));
    terminal.answer("Step 1: module", &format!("system{ENTER}"));
    terminal.answer("Step 1: action of `system`", &format!("echo{ENTER}"));
    terminal.answer("Step id", ENTER);
    terminal.answer("`message` (string)", &format!("hello{ENTER}"));
    terminal.answer("When `echo` fails", ENTER);
    terminal.answer("Add another step?", "y");
    terminal.answer("Step 2: module", &format!("system{ENTER}"));
    terminal.answer(
        "Step 2: action of `system`",
        &format!("notify-completion{ENTER}"),
    );
    terminal.answer("Step id", ENTER);
    // `workflow`: the earlier step's output, which is a string too.
    terminal.answer("`workflow`", &format!("{DOWN}{ENTER}"));
    terminal.answer("`status`", ENTER);
    // A typed value is checked against the WIT type as it is typed.
    terminal.answer("`status` (string)", &format!("done{ENTER}"));
    terminal.answer("`summary`", ENTER);
    terminal.answer("`summary` (option<string>, empty to leave out)", ENTER);
    terminal.answer("`path`", ENTER);
    terminal.answer(
        "`path` (option<string>",
        &format!("reports/notes.txt{ENTER}"),
    );
    terminal.answer("When `notify-completion` fails", &format!("{DOWN}{ENTER}"));
    terminal.answer("Let `notify-completion`", "y");
    terminal.answer("Which directory", &format!("reports{ENTER}"));
    terminal.answer("Add another step?", "n");
    terminal.expect("wrote flow.yaml");
    assert_eq!(terminal.finish(), 0);
    let written = std::fs::read_to_string(dir.path().join("flow.yaml")).expect("the file");
    for part in [
        "name: \"flow\"",
        "description: \"Say hello, then note it\"",
        "\"message\": \"hello\"",
        "onSuccess: \"notify-completion\"",
        "\"workflow\": \"{{ steps.echo.output }}\"",
        "\"status\": \"done\"",
        "\"path\": \"reports/notes.txt\"",
        "continue_on_error: true",
        "fs: [{ \"path\": \"reports\", \"access\": \"read-write\" }]",
    ] {
        assert!(written.contains(part), "{part} missing from:\n{written}");
    }
    assert!(!written.contains("summary"), "{written}");
    let home = dir.path().join("home");
    let path = dir.path().join("flow.yaml");
    let validated = wfhost(&home, &["validate", path.to_str().expect("UTF-8")]);
    assert_eq!(validated.code, 0, "{}", validated.render());
}

#[test]
fn off_a_terminal_new_refuses_with_a_hint_and_templates_are_written_as_they_are() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let target = dir.path().join("mine.yaml");
    let target = target.to_str().expect("UTF-8");
    let refused = wfhost(&home, &["new", target]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("needs a terminal")
            && refused.stderr.contains("--from-template NAME")
            && refused.stderr.contains("approval"),
        "{}",
        refused.render()
    );
    assert!(!Path::new(target).exists());
    let unknown = wfhost(&home, &["new", target, "--from-template", "nope"]);
    assert!(
        unknown.stderr.contains("no template `nope`"),
        "{}",
        unknown.render()
    );
    let written = wfhost(&home, &["new", target, "--from-template", "approval"]);
    assert_eq!(written.code, 0, "{}", written.render());
    assert_eq!(
        std::fs::read_to_string(target).expect("written"),
        std::fs::read_to_string(crate::common::repo().join("workflows/approval.yaml"))
            .expect("the example")
    );
    let again = wfhost(&home, &["new", target, "--from-template", "hello"]);
    assert!(
        again.stderr.contains("exists; pass --force"),
        "{}",
        again.render()
    );
}
