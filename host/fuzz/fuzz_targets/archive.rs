//! The module archive reader: any bytes unpack within the limits or are
//! refused; nothing is written anywhere.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wfhost::registry::archive::{ArchiveLimits, unpack};

fuzz_target!(|data: &[u8]| {
    let limits = ArchiveLimits {
        max_entries: 64,
        max_bytes: 1 << 20,
    };
    if let Ok(files) = unpack(data, limits) {
        assert!(files.len() <= 64);
        assert!(files.values().map(Vec::len).sum::<usize>() <= 1 << 20);
    }
});
