//! Templates: any text is evaluated or refused, within the fuel and value
//! budgets, and what an evaluation builds stays under the budget.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wfhost::workflow::template;

static SCOPE: LazyLock<minijinja::Value> = LazyLock::new(|| {
    template::jinja(&serde_json::json!({
        "inputs": {"name": "world", "n": 3, "list": [1, 2, 3], "flag": false},
        "steps": {"a": {"output": {"text": "hello", "items": ["x", "y"]}, "status": "succeeded"}},
    }))
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = template::references(text);
    if let Ok(value) = template::eval_str(text, &SCOPE) {
        let size = value.to_string().len();
        assert!(size <= 3 * template::VALUE_BUDGET_BYTES, "{size} bytes");
    }
});
