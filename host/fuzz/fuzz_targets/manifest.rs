//! The `wfmodule.toml` reader: any text is a manifest or diagnostics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wfhost::diagnostics::Source;
use wfhost::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source::new("wfmodule.toml", text);
    if let Err(problems) = Manifest::parse(&source) {
        let _ = source.render(&problems);
    }
});
