//! Prompt formats per model family, as data (`prompts/*.toml`, embedded at build time), and the
//! pure functions that lay a completion prompt out in one: the labelled header for chat models,
//! raw fill-in-the-middle strings with a model's control tokens, llama.cpp's `input_extra`.
//! Providers' codecs call [`render`]; nothing here knows HTTP.

use std::{collections::BTreeMap, sync::LazyLock};

use serde::Deserialize;

use super::{Part, PartKind, Parts};

/// The format files. Adding a format is adding a file here and under `prompts/`.
const FILES: &[(&str, &str)] = &[
    ("instruct", include_str!("../../prompts/instruct.toml")),
    ("plain", include_str!("../../prompts/plain.toml")),
    ("infill", include_str!("../../prompts/infill.toml")),
    ("qwen2.5-coder", include_str!("../../prompts/qwen2.5-coder.toml")),
    ("starcoder2", include_str!("../../prompts/starcoder2.toml")),
    ("deepseek-coder", include_str!("../../prompts/deepseek-coder.toml")),
    ("codestral", include_str!("../../prompts/codestral.toml")),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A chat prompt: a labelled header; the provider appends the code with `<CURSOR>`.
    Instruct,
    /// One raw fill-in-the-middle string with the model's control tokens.
    Fim,
    /// The parts as comments before the prefix; the server adds the control tokens.
    Plain,
    /// llama.cpp `/infill`: each part is a chunk of `input_extra`.
    Infill,
}

/// One prompt format (see prompts/README.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptFormat {
    pub name: String,
    pub kind: Kind,
    /// Substrings of model names this format is for (case-insensitive).
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub header: String,
    #[serde(default)]
    pub repo: String,
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub fim: String,
    #[serde(default)]
    pub stop: Vec<String>,
    /// Instruct: the title above each kind of part (`definition`, `neighbour`, ...).
    #[serde(default)]
    pub sections: BTreeMap<String, String>,
}

static FORMATS: LazyLock<Vec<PromptFormat>> = LazyLock::new(|| {
    FILES
        .iter()
        .filter_map(|(name, text)| match toml::from_str::<PromptFormat>(text) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!("prompts/{name}.toml: {e}");
                None
            }
        })
        .collect()
});

/// Every format, in file order.
pub fn all() -> &'static [PromptFormat] {
    &FORMATS
}

/// The format named `name`.
pub fn by_name(name: &str) -> Option<&'static PromptFormat> {
    FORMATS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

/// The format for a provider: the configured `name` if it exists, else the first whose model
/// patterns occur in `model`, else `default` (the protocol's own).
pub fn select(name: Option<&str>, model: &str, default: &str) -> Option<&'static PromptFormat> {
    if let Some(f) = name.and_then(by_name) {
        return Some(f);
    }
    let model = model.to_lowercase();
    FORMATS.iter().find(|f| f.models.iter().any(|m| model.contains(&m.to_lowercase()))).or_else(|| by_name(default))
}

/// A prompt laid out for the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    /// Instruct: the header (the provider adds the code); fim: the whole raw prompt.
    Text(String),
    /// A prompt and a suffix for servers that add the FIM tokens themselves.
    Split { prompt: String, suffix: String },
    /// llama.cpp `/infill`: `(filename, text)` chunks, then prefix and suffix.
    Infill { extra: Vec<(String, String)>, prefix: String, suffix: String },
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    // One pass, so text that happens to contain `{prefix}` is never expanded again.
    let mut out = String::with_capacity(template.len() + vars.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        match tail.find('}').and_then(|close| vars.iter().find(|(k, _)| *k == &tail[1..close]).map(|v| (close, v))) {
            Some((close, (_, value))) => {
                out.push_str(value);
                rest = &tail[close + 1..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn section_key(kind: PartKind) -> &'static str {
    match kind {
        PartKind::Header => "header",
        PartKind::Imports => "imports",
        PartKind::Definition => "definition",
        PartKind::Neighbour => "neighbour",
        PartKind::RecentEdit => "recent_edit",
        PartKind::Prefix => "prefix",
        PartKind::Suffix => "suffix",
    }
}

/// The cross-file parts (what other files contribute), grouped by file in first-seen order.
fn cross_file(parts: &Parts) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for p in parts.items.iter().filter(|p| p.kind.is_cross_file()) {
        match out.iter_mut().find(|(path, _)| *path == p.path) {
            Some((_, text)) => {
                text.push_str(&p.text);
                if !text.ends_with('\n') {
                    text.push('\n');
                }
            }
            None => {
                let mut text = p.text.clone();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                out.push((p.path.clone(), text));
            }
        }
    }
    out
}

fn file_text(format: &PromptFormat, parts: &Parts, p: &Part) -> String {
    fill(
        &format.file,
        &[
            ("path", &p.path),
            ("text", p.text.trim_end_matches('\n')),
            ("source", &p.source),
            ("comment", &parts.comment),
        ],
    )
}

/// The instruct header: path and language, then each kind of part under its title.
pub fn header(format: &PromptFormat, parts: &Parts) -> String {
    let mut out = fill(&format.header, &[("path", &parts.path), ("language", &parts.language)]);
    let mut last: Option<PartKind> = None;
    for p in parts.items.iter().filter(|p| !matches!(p.kind, PartKind::Header | PartKind::Prefix | PartKind::Suffix)) {
        if last != Some(p.kind)
            && let Some(title) = format.sections.get(section_key(p.kind))
        {
            out.push_str(title);
        }
        last = Some(p.kind);
        if p.kind == PartKind::Imports {
            out.push_str(&p.text);
            if !p.text.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(&file_text(format, parts, p));
        }
    }
    out
}

/// For a provider's codec: an inline request's parts laid out in the provider's format (the
/// configured `name`, else by `model`, else `default`), with the request's own prefix and suffix.
/// `None` for requests without parts (actions).
pub fn for_request(
    name: Option<&str>,
    model: &str,
    default: &str,
    parts: Option<&Parts>,
    prefix: &str,
    suffix: &str,
) -> Option<(&'static PromptFormat, Rendered)> {
    let parts = parts?;
    let format = select(name, model, default)?;
    let parts = Parts { prefix: prefix.to_owned(), suffix: suffix.to_owned(), ..parts.clone() };
    Some((format, render(format, &parts)))
}

/// Lays `parts` out in `format`.
pub fn render(format: &PromptFormat, parts: &Parts) -> Rendered {
    match format.kind {
        Kind::Instruct => Rendered::Text(header(format, parts)),
        Kind::Plain => {
            let mut prompt = String::new();
            for p in parts.items.iter().filter(|p| p.kind.is_cross_file()) {
                for line in file_text(format, parts, p).lines() {
                    // Every line a comment: the model sees context, not code to continue.
                    if line.starts_with(parts.comment.as_str()) {
                        prompt.push_str(line);
                    } else {
                        prompt.push_str(&parts.comment);
                        prompt.push(' ');
                        prompt.push_str(line);
                    }
                    prompt.push('\n');
                }
            }
            prompt.push_str(&parts.prefix);
            Rendered::Split { prompt, suffix: parts.suffix.clone() }
        }
        Kind::Infill => {
            Rendered::Infill { extra: cross_file(parts), prefix: parts.prefix.clone(), suffix: parts.suffix.clone() }
        }
        Kind::Fim => {
            let mut files = String::new();
            for (path, text) in cross_file(parts) {
                let part = Part { kind: PartKind::Definition, source: String::new(), path, text, tokens: 0 };
                files.push_str(&file_text(format, parts, &part));
            }
            let mut out = fill(&format.repo, &[("repo", &parts.repo)]);
            let hole = &[
                ("path", parts.path.as_str()),
                ("prefix", parts.prefix.as_str()),
                ("suffix", parts.suffix.as_str()),
                ("comment", parts.comment.as_str()),
                ("files", files.as_str()),
            ];
            if !format.fim.contains("{files}") {
                out.push_str(&files);
            }
            out.push_str(&fill(&format.fim, hole));
            Rendered::Text(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ModelRequest;

    fn parts() -> Parts {
        let part = |kind, path: &str, text: &str| Part {
            kind,
            source: format!("{path}:1"),
            path: path.into(),
            text: text.into(),
            tokens: 1,
        };
        Parts {
            repo: "shop".into(),
            path: "src/main.py".into(),
            language: "python".into(),
            comment: "#".into(),
            items: vec![
                part(PartKind::Imports, "src/main.py", "from .cart import total\n"),
                part(PartKind::Definition, "src/cart.py", "def total(cart: Cart) -> int"),
                part(PartKind::Neighbour, "src/util.py", "x = {prefix}\n"),
            ],
            prefix: "t = total(".into(),
            suffix: ")\n".into(),
            lines: (0, 1),
        }
    }

    /// What the FIM codecs send when the request carries parts.
    #[test]
    fn fim_codecs_lay_the_parts_out_in_the_models_format() {
        use crate::providers::{
            ProviderConfig, ProviderKind, Task, http::Codec, llamacpp::Infill, ollama::Generate, openai_fim::Fim,
            prompt::request,
        };
        let p = parts();
        let req = ModelRequest {
            prefix: p.prefix.clone(),
            suffix: p.suffix.clone(),
            parts: Some(std::sync::Arc::new(p)),
            ..request(Task::Inline)
        };
        let cfg = |kind, model: &str| {
            let mut c = ProviderConfig::new("local", kind, model);
            c.base_url = Some("http://127.0.0.1:9".into());
            c
        };
        let body = Fim::request(&cfg(ProviderKind::OpenaiFim, "qwen2.5-coder-7b"), &req).1;
        assert!(body["prompt"].as_str().unwrap().starts_with("<|repo_name|>shop\n<|file_sep|>src/cart.py\n"));
        assert!(body.get("suffix").is_none(), "{body}");
        assert_eq!(body["stop"][0], "<|endoftext|>");
        let mut plain = cfg(ProviderKind::OpenaiFim, "some-model");
        plain.prompt_format = Some("plain".into());
        let body = Fim::request(&plain, &req).1;
        assert!(body["prompt"].as_str().unwrap().starts_with("# src/cart.py:1\n# def total"), "{body}");
        assert_eq!(body["suffix"], ")\n");

        let body = Generate::request(&cfg(ProviderKind::Ollama, "starcoder2:3b"), &req).1;
        assert_eq!(body["raw"], true);
        assert!(body["prompt"].as_str().unwrap().ends_with("<fim_prefix>t = total(<fim_suffix>)\n<fim_middle>"));

        let body = Infill::request(&cfg(ProviderKind::Llamacpp, ""), &req).1;
        assert_eq!(body["input_extra"][0]["filename"], "src/cart.py");
        assert_eq!(body["input_extra"][1]["text"], "x = {prefix}\n");
        assert_eq!(body["input_prefix"], "t = total(");
    }

    #[test]
    fn every_format_file_parses_and_names_itself() {
        assert_eq!(all().len(), FILES.len());
        for (name, _) in FILES {
            assert_eq!(by_name(name).map(|f| f.name.as_str()), Some(*name));
        }
    }

    #[test]
    fn selection_by_key_then_model_then_protocol_default() {
        assert_eq!(select(Some("starcoder2"), "qwen2.5-coder:7b", "plain").unwrap().name, "starcoder2");
        assert_eq!(select(None, "Qwen2.5-Coder-7B-base", "plain").unwrap().name, "qwen2.5-coder");
        assert_eq!(select(None, "deepseek-coder-v2-lite-base", "plain").unwrap().name, "deepseek-coder");
        assert_eq!(select(None, "gpt-5.4-mini", "instruct").unwrap().name, "instruct");
        assert_eq!(select(Some("nonexistent"), "codestral-latest", "plain").unwrap().name, "codestral");
    }

    #[test]
    fn qwen_repo_level_prompt() {
        let Rendered::Text(p) = render(by_name("qwen2.5-coder").unwrap(), &parts()) else { panic!() };
        assert_eq!(
            p,
            "<|repo_name|>shop\n<|file_sep|>src/cart.py\ndef total(cart: Cart) -> int\n\
             <|file_sep|>src/util.py\nx = {prefix}\n\
             <|file_sep|>src/main.py\n<|fim_prefix|>t = total(<|fim_suffix|>)\n<|fim_middle|>"
        );
    }

    #[test]
    fn deepseek_and_codestral_put_files_in_the_prefix() {
        let Rendered::Text(p) = render(by_name("deepseek-coder").unwrap(), &parts()) else { panic!() };
        assert!(p.starts_with("<｜fim▁begin｜># src/cart.py\ndef total(cart: Cart) -> int\n# src/util.py\n"), "{p}");
        assert!(p.ends_with("# src/main.py\nt = total(<｜fim▁hole｜>)\n<｜fim▁end｜>"), "{p}");
        let Rendered::Text(p) = render(by_name("codestral").unwrap(), &parts()) else { panic!() };
        assert!(p.starts_with("<s>[SUFFIX])\n[PREFIX]# src/cart.py\n"), "{p}");
    }

    #[test]
    fn instruct_header_plain_comments_and_infill_chunks() {
        let h = header(by_name("instruct").unwrap(), &parts());
        assert_eq!(
            h,
            "path: src/main.py\nlanguage: python\nimports:\nfrom .cart import total\n\
             definitions the code uses, from the workspace:\n# src/cart.py:1\ndef total(cart: Cart) -> int\n\
             similar code in open files:\n# src/util.py:1\nx = {prefix}\n"
        );
        let Rendered::Split { prompt, suffix } = render(by_name("plain").unwrap(), &parts()) else { panic!() };
        assert_eq!(
            prompt,
            "# src/cart.py:1\n# def total(cart: Cart) -> int\n# src/util.py:1\n# x = {prefix}\nt = total("
        );
        assert_eq!(suffix, ")\n");
        let Rendered::Infill { extra, prefix, .. } = render(by_name("infill").unwrap(), &parts()) else { panic!() };
        assert_eq!(extra[0], ("src/cart.py".to_string(), "def total(cart: Cart) -> int\n".to_string()));
        assert_eq!(prefix, "t = total(");
    }
}
