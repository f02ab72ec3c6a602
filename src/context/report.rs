//! What `switchboard context` prints: every part of an inline prompt labelled with where it came
//! from and its token count, and the prompt exactly as a provider of the chosen format sends it.
//! Pure: text and JSON in memory.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::format::{self, PromptFormat, Rendered};
use super::{Part, PartKind, Parts, tokens};
use crate::providers::prompt::CURSOR;

/// One inline prompt, ready to show.
pub struct Report<'a> {
    /// `FILE:LINE:COL` as the user typed it.
    pub location: &'a str,
    pub system: &'a str,
    pub parts: &'a Parts,
    pub format: &'static PromptFormat,
}

impl Report<'_> {
    /// The code window's parts, labelled like the others.
    fn code(&self) -> [Part; 2] {
        let p = self.parts;
        let cursor_line = p.lines.0 + p.prefix.matches('\n').count();
        let part = |kind, from: usize, to: usize, text: &str| Part {
            kind,
            source: format!("{}:{}-{}", p.path, from + 1, to + 1),
            path: p.path.clone(),
            text: text.to_owned(),
            tokens: tokens(text),
        };
        [
            part(PartKind::Prefix, p.lines.0, cursor_line, &p.prefix),
            part(PartKind::Suffix, cursor_line, p.lines.1, &p.suffix),
        ]
    }

    /// The prompt as the format lays it out: the user message (chat formats, with `<CURSOR>`),
    /// the raw FIM string, or prompt and suffix.
    pub fn rendered(&self) -> Rendered {
        match format::render(self.format, self.parts) {
            Rendered::Text(header) if self.format.kind == format::Kind::Instruct => {
                Rendered::Text(format!("{header}{}{CURSOR}{}", self.parts.prefix, self.parts.suffix))
            }
            other => other,
        }
    }

    /// Estimated tokens of everything sent: instructions, context and code.
    pub fn total_tokens(&self) -> usize {
        let sent = match self.rendered() {
            Rendered::Text(t) => tokens(&t),
            Rendered::Split { prompt, suffix } => tokens(&prompt) + tokens(&suffix),
            Rendered::Infill { extra, prefix, suffix } => {
                extra.iter().map(|(f, t)| tokens(f) + tokens(t)).sum::<usize>() + tokens(&prefix) + tokens(&suffix)
            }
        };
        let system = if self.format.kind == format::Kind::Instruct { tokens(self.system) } else { 0 };
        sent + system
    }

    pub fn json(&self) -> Value {
        let parts: Vec<&Part> = self.parts.items.iter().collect();
        let code = self.code();
        let mut all: Vec<Value> = parts.iter().map(|p| json!(p)).collect();
        all.extend(code.iter().map(|p| json!(p)));
        let sent = match self.rendered() {
            Rendered::Text(t) => json!({ "prompt": t }),
            Rendered::Split { prompt, suffix } => json!({ "prompt": prompt, "suffix": suffix }),
            Rendered::Infill { extra, prefix, suffix } => json!({
                "input_extra": extra.iter().map(|(f, t)| json!({"filename": f, "text": t})).collect::<Vec<_>>(),
                "input_prefix": prefix,
                "input_suffix": suffix,
            }),
        };
        json!({
            "location": self.location,
            "format": self.format.name,
            "sent": false,
            "tokens": self.total_tokens(),
            "system": if self.format.kind == format::Kind::Instruct { self.system } else { "" },
            "parts": all,
            "request": sent,
        })
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Inline prompt at {} in the {} format: ~{} tokens (estimated at 4 bytes each). Nothing was sent.",
            self.location,
            self.format.name,
            self.total_tokens()
        );
        let mut show = |label: &str, source: &str, n: usize, text: &str| {
            let _ = writeln!(out, "\n── {label} · {source} · {n} tokens");
            out.push_str(text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
        };
        if self.format.kind == format::Kind::Instruct {
            show("instructions", "built in", tokens(self.system), self.system);
        }
        for p in self.parts.items.iter().chain(self.code().iter()) {
            let label =
                serde_json::to_value(p.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            show(&label.replace('_', " "), &p.source, p.tokens, &p.text);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_every_part_and_renders_the_exact_prompt() {
        let parts = Parts {
            repo: "w".into(),
            path: "src/a.py".into(),
            language: "python".into(),
            comment: "#".into(),
            items: vec![Part {
                kind: PartKind::Definition,
                source: "src/b.py:3".into(),
                path: "src/b.py".into(),
                text: "def g(x):\n".into(),
                tokens: 3,
            }],
            prefix: "import b\ny = g(".into(),
            suffix: ")\n".into(),
            lines: (0, 1),
        };
        let r = Report {
            location: "src/a.py:2:7",
            system: "Complete.",
            parts: &parts,
            format: format::by_name("instruct").unwrap(),
        };
        let v = r.json();
        assert_eq!(
            v["request"]["prompt"],
            "path: src/a.py\nlanguage: python\ndefinitions the code uses, from the workspace:\n# src/b.py:3\ndef g(x):\nimport b\ny = g(<CURSOR>)\n"
        );
        assert_eq!(v["parts"][1]["kind"], "prefix");
        assert_eq!(v["parts"][1]["source"], "src/a.py:1-2");
        assert_eq!(v["sent"], false);
        let t = r.text();
        assert!(t.contains("── definition · src/b.py:3 · 3 tokens\ndef g(x):\n"), "{t}");
        assert!(t.contains("── suffix · src/a.py:2-2"), "{t}");
    }
}
