//! The JSON ⇄ WIT mapping, against every parameter of every bundled
//! module's actions: the first byte picks a parameter, the rest is JSON.
//! A value the mapping accepts comes back as JSON that it accepts again,
//! unchanged.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wfhost::sandbox::{Action, Runtime};

static ACTIONS: LazyLock<Vec<(Action, String)>> = LazyLock::new(|| {
    // Compiled components are cached between fuzzing sessions.
    let cache = std::env::temp_dir().join("wfhost-fuzz-cache");
    let runtime = Runtime::new(Some(&cache)).expect("the runtime starts");
    let mut found = Vec::new();
    for name in wfhost::bundled::names() {
        let source = wfhost::module_source::resolve(name, std::path::Path::new("."))
            .expect("a bundled module resolves");
        let module = runtime
            .load(&source.name, &source.bytes, &source.wit)
            .expect("a bundled module loads");
        for action in module.actions() {
            for param in action.param_names() {
                found.push((action.clone(), param.to_string()));
            }
        }
    }
    found
});

fuzz_target!(
    // Loading the modules is not part of any input's time.
    init: {
        LazyLock::force(&ACTIONS);
    },
    |data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let (action, param) = &ACTIONS[usize::from(pick) % ACTIONS.len()];
    if let Ok(back) = action.round_trip_param(param, &value) {
        let again = action
            .round_trip_param(param, &back)
            .expect("a value the mapping produced is accepted");
        assert_eq!(again, back, "{} {param}", action.name);
    }
    }
);
