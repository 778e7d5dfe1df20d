// The glue wit-bindgen generates is `unsafe`; the code written here has none.
#![allow(unsafe_code)]

wit_bindgen::generate!({
    world: "example:greeter/greeter",
    // The wfhost WIT package first, then this module's own.
    path: ["../../../wit", "wit"],
    // Reuse the SDK's bindings of the wfhost interfaces.
    with: {
        "wfhost:module/types@0.1.0": wfhost_sdk::wit::types,
        "wfhost:module/log@0.1.0": wfhost_sdk::wit::log,
        "wfhost:module/progress@0.1.0": wfhost_sdk::wit::progress,
    },
});

use wfhost_sdk::log;

struct Greeter;

impl Guest for Greeter {
    fn hello(name: String) -> Result<String, ActionError> {
        if name.trim().is_empty() {
            return Err(ActionError::new(
                "empty-name",
                "name is empty; pass a name such as \"Ada\"",
            ));
        }
        log::info(format!("greeting {name}"));
        Ok(format!("Hello, {name}!"))
    }
}

export!(Greeter);
