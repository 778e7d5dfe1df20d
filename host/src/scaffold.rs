//! `wfhost module new`: module projects from the templates in
//! `sdk/templates/<lang>/`, embedded in the binary.
//!
//! Every template is rendered with minijinja (`{{ name }}`, `{{ crate_name }}`)
//! in its paths and contents, and every project also gets the wfhost WIT
//! contract at `wit/deps/wfhost/wfhost.wit`. A language is a folder of
//! templates and a [`Lang`] variant; nothing else changes to add one.

use std::path::{Path, PathBuf};

use include_dir::{Dir, DirEntry, include_dir};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../sdk/templates");
/// The contract every module's world includes.
pub const WFHOST_WIT: &str = include_str!("../../wit/wfhost.wit");

/// A language a module project can be scaffolded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    C,
    Python,
    Js,
}

impl Lang {
    /// Files a language needs beside its templates, as they are (binary).
    fn assets(self) -> &'static [(&'static str, &'static [u8])] {
        match self {
            // C builds a WASI preview 1 reactor and adapts it to a component
            // with the adapter of the wasmtime version wfhost runs.
            Self::C => &[(
                "wasi_snapshot_preview1.reactor.wasm",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )],
            _ => &[],
        }
    }

    fn folder(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::C => "c",
            Self::Python => "python",
            Self::Js => "js",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "`{0}` is not a module name: use lowercase letters, digits and `-`, starting with a letter"
    )]
    BadName(String),
    #[error("{} exists already and is not empty; choose another name or --dir", .0.display())]
    Exists(PathBuf),
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("template {path}: {error}")]
    Template { path: String, error: String },
}

/// Write a new `lang` module project named `name` into `dir`; returns the
/// files written, relative to `dir`.
pub fn new_module(name: &str, lang: Lang, dir: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    if !crate::manifest::is_module_name(name) {
        return Err(ScaffoldError::BadName(name.to_string()));
    }
    if dir
        .read_dir()
        .is_ok_and(|mut entries| entries.next().is_some())
    {
        return Err(ScaffoldError::Exists(dir.to_path_buf()));
    }
    let template = TEMPLATES
        .get_dir(lang.folder())
        .expect("every language has a template folder");
    let context = minijinja::context! {
        name => name,
        crate_name => name.replace('-', "_"),
        c_name => name.replace('-', "_"),
    };
    let mut env = minijinja::Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default syntax with trailing newlines is valid"),
    );
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let render = |path: &str, text: &str| {
        env.render_str(text, &context)
            .map_err(|error| ScaffoldError::Template {
                path: path.to_string(),
                error: format!("{error:#}"),
            })
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = vec![(
        PathBuf::from("wit/deps/wfhost/wfhost.wit"),
        WFHOST_WIT.as_bytes().to_vec(),
    )];
    for (path, bytes) in lang.assets() {
        files.push((PathBuf::from(path), bytes.to_vec()));
    }
    let mut pending = vec![template];
    while let Some(folder) = pending.pop() {
        for entry in folder.entries() {
            match entry {
                DirEntry::Dir(sub) => pending.push(sub),
                DirEntry::File(file) => {
                    let relative = file
                        .path()
                        .strip_prefix(lang.folder())
                        .expect("template files live in their language folder");
                    let shown = relative.display().to_string();
                    let text = file
                        .contents_utf8()
                        .ok_or_else(|| ScaffoldError::Template {
                            path: shown.clone(),
                            error: "not UTF-8".into(),
                        })?;
                    files.push((
                        PathBuf::from(render(&shown, &shown)?),
                        render(&shown, text)?.into_bytes(),
                    ));
                }
            }
        }
    }
    files.sort();
    for (relative, text) in &files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| ScaffoldError::Io {
                path: parent.to_path_buf(),
                error,
            })?;
        }
        std::fs::write(&path, text).map_err(|error| ScaffoldError::Io { path, error })?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}
