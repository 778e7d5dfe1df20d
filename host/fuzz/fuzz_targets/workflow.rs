//! The workflow reader: any text (YAML or JSON) is read into the model or
//! refused with diagnostics, in bounded time and memory, and the
//! diagnostics render.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wfhost::diagnostics::Source;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source::new("fuzz.yaml", text);
    if let Err(problems) = wfhost::workflow::parse(&source) {
        let _ = source.render(&problems);
    }
});
