// The glue wit-bindgen generates is `unsafe`; the code written here has none.
#![allow(unsafe_code)]

// The wfhost WIT package first, then this module's own.
wfhost_sdk::generate!(world: "example:greeter/greeter", path: ["../../../wit", "wit"]);

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
