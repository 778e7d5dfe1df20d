//! The `{{ name }}` module: one action, `hello`. Add actions to
//! `wit/world.wit` and implement them here.

wit_bindgen::generate!({
    world: "{{ name }}",
    path: "wit",
    generate_all,
});

// `ActionError` comes from the world's `use` of wfhost:module/types.
use wfhost::module::log::{Level, log};

struct Module;

impl Guest for Module {
    fn hello(name: String) -> Result<String, ActionError> {
        if name.trim().is_empty() {
            return Err(ActionError {
                code: "empty-name".into(),
                message: "`name` is empty; pass the name of someone to greet".into(),
                retryable: false,
                details: None,
            });
        }
        log(Level::Info, "greeting", &[("name".into(), name.clone())]);
        Ok(format!("Hello, {name}!"))
    }
}

export!(Module);
