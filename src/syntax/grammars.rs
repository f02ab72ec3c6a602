//! The grammar table: one line per tree-sitter grammar crate, looked up by the name that
//! `grammars/languages.toml` uses. Everything else about a language is data under `grammars/`.

use tree_sitter::Language;

type GrammarFn = fn() -> Language;

static GRAMMARS: &[(&str, GrammarFn)] = &[
    ("bash", || tree_sitter_bash::LANGUAGE.into()),
    ("c", || tree_sitter_c::LANGUAGE.into()),
    ("cpp", || tree_sitter_cpp::LANGUAGE.into()),
    ("go", || tree_sitter_go::LANGUAGE.into()),
    ("java", || tree_sitter_java::LANGUAGE.into()),
    ("javascript", || tree_sitter_javascript::LANGUAGE.into()),
    ("json", || tree_sitter_json::LANGUAGE.into()),
    ("lua", || tree_sitter_lua::LANGUAGE.into()),
    ("python", || tree_sitter_python::LANGUAGE.into()),
    ("rust", || tree_sitter_rust::LANGUAGE.into()),
    ("tsx", || tree_sitter_typescript::LANGUAGE_TSX.into()),
    ("typescript", || tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into()),
];

pub fn grammar(name: &str) -> Option<Language> {
    GRAMMARS.iter().find(|(n, _)| *n == name).map(|(_, f)| f())
}

pub fn names() -> impl Iterator<Item = &'static str> {
    GRAMMARS.iter().map(|(n, _)| *n)
}
