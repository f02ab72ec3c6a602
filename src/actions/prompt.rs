//! Prompts for code actions, written for Claude: stable instructions in `system`, stable context
//! (path, language, imports, definitions from other open files, the enclosing scope) in `context`,
//! and the task with the code and its diagnostics last, so prompt caching hits on repeat runs.

use std::fmt::Write as _;

use super::{Action, ActionId, Note, Output};
use crate::providers::ModelRequest;

/// Cap on the related definitions sent along (bytes): context, not a second copy of the workspace.
const DEFINITIONS_BUDGET: usize = 12 * 1024;
/// Cap on the enclosing scope shown around a selection.
const SCOPE_BUDGET: usize = 8 * 1024;

/// A definition from another open file whose name appears in the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedDefinition {
    pub path: String,
    pub name: String,
    pub text: String,
}

/// Everything a prompt is made of, already cut out of the document.
#[derive(Debug, Clone)]
pub struct PromptInput<'a> {
    pub action: &'a Action,
    /// Path shown to the model (workspace-relative when possible).
    pub path: &'a str,
    /// LSP language id, e.g. "rust".
    pub language: &'a str,
    /// The code the action works on.
    pub code: &'a str,
    /// 1-based first and last line of `code`.
    pub lines: (usize, usize),
    /// The enclosing function or class when `code` is a part of it, with its first line.
    pub scope: Option<(&'a str, usize)>,
    pub imports: &'a [String],
    pub definitions: &'a [RelatedDefinition],
    pub diagnostics: &'a [Note],
    /// Write tests: where they will be written, and whether that file already exists.
    pub tests_path: Option<(&'a str, bool)>,
}

const COMMON: &str = "You are Claude, working inside the user's code editor through Switchboard, a language \
server. The user picked a code action on a piece of their code.";

const EDIT_RULES: &str = "Reply with the complete replacement for exactly the code shown — from its first line \
to its last, nothing before or after it — in one fenced code block tagged with the language. Keep the \
original indentation, naming and style; change only what the task needs. Do not add line numbers. Anything \
outside the code block is ignored, so keep prose out of it.";

fn task_instructions(action: &Action, language: &str) -> String {
    match &action.id {
        ActionId::Explain => "Task: explain the code to a developer reading it in the editor. Answer in Markdown: \
one sentence on what it does, then how it works, then anything surprising (edge cases, bugs, performance, \
unsafe assumptions). Refer to line numbers where it helps. Be concise; do not restate the code."
            .to_owned(),
        ActionId::Refactor => format!(
            "Task: refactor the code so it is clearer and simpler, without changing its behaviour or its public \
interface. {EDIT_RULES}"
        ),
        ActionId::Fix => format!(
            "Task: fix the problems the diagnostics report (and any obvious bug on the same lines), with the \
smallest change that does it. {EDIT_RULES}"
        ),
        ActionId::Document => format!(
            "Task: add documentation comments in the idiomatic style of {language} (rustdoc `///`, Python \
docstrings, JSDoc, Go doc comments, ...) to the code's functions, types and non-obvious parts. Do not \
change the code itself. {EDIT_RULES}"
        ),
        ActionId::Tests => "Task: write focused unit tests for the code with the language's usual test \
framework: the main behaviour, edge cases and error paths. Reply with the new test code only, in one \
fenced code block tagged with the language, ready to be placed where the user is told it will go; do not \
repeat the code under test."
            .to_owned(),
        ActionId::Custom(_) => match action.output {
            Output::Explanation => "Answer in Markdown, concisely.".to_owned(),
            _ => EDIT_RULES.to_owned(),
        },
    }
}

/// The request for one action run. `max_output_tokens` is left to the provider's configuration.
pub fn build(input: &PromptInput<'_>) -> ModelRequest {
    let action = input.action;
    let system = format!("{COMMON}\n\n{}", task_instructions(action, input.language));

    let mut context = String::new();
    let _ = writeln!(context, "File: {}\nLanguage: {}", input.path, input.language);
    if !input.imports.is_empty() {
        let _ = writeln!(context, "\nImports of the file:\n{}", fenced(input.language, &input.imports.join("\n")));
    }
    let mut budget = DEFINITIONS_BUDGET;
    let mut defs = String::new();
    for d in input.definitions {
        if d.text.len() > budget {
            continue;
        }
        budget -= d.text.len();
        let _ = writeln!(defs, "From {} (`{}`):\n{}", d.path, d.name, fenced(input.language, &d.text));
    }
    if !defs.is_empty() {
        let _ = write!(context, "\nDefinitions from other open files that the code uses:\n{defs}");
    }
    if let Some((scope, first)) = input.scope
        && scope.len() <= SCOPE_BUDGET
    {
        let _ = writeln!(
            context,
            "\nThe code sits inside this enclosing item (line {first} onwards), shown for context only:\n{}",
            fenced(input.language, scope)
        );
    }

    let mut user = String::new();
    let (first, last) = input.lines;
    let numbered = action.output == Output::Explanation;
    let code_block =
        if numbered { fenced(input.language, &number(input.code, first)) } else { fenced(input.language, input.code) };
    let where_ = format!("{}, lines {first}–{last}", input.path);
    match &action.custom_prompt {
        Some(prompt) => {
            let filled = prompt.replace("{language}", input.language).replace("{path}", input.path);
            if filled.contains("{selection}") {
                let _ = writeln!(
                    user,
                    "{}",
                    filled.replace("{selection}", &format!("the code from {where_}:\n{code_block}"))
                );
            } else {
                let _ = writeln!(user, "{filled}\n\nThe code ({where_}):\n{code_block}");
            }
        }
        None => {
            let _ = writeln!(user, "The code ({where_}):\n{code_block}");
        }
    }
    if !input.diagnostics.is_empty() {
        let _ = writeln!(user, "\nDiagnostics the editor reports here:");
        for d in input.diagnostics {
            let source = d.source.as_deref().map(|s| format!(" [{s}]")).unwrap_or_default();
            let _ = writeln!(user, "- line {} {}{source}: {}", d.line, d.severity, d.message);
        }
    }
    if let Some((path, exists)) = input.tests_path {
        let how = if exists { "appended to the existing file" } else { "a new file" };
        let _ = writeln!(user, "\nThe tests will be written to {path} ({how}).");
        if path == input.path && input.language == "rust" {
            let name = if input.code.contains("mod tests") { "switchboard_tests" } else { "tests" };
            let _ = writeln!(user, "Write them as one `#[cfg(test)] mod {name} {{ use super::*; ... }}` module.");
        }
        if input.language == "python" {
            let module = input.path.rsplit('/').next().unwrap_or(input.path).trim_end_matches(".py");
            let _ = writeln!(user, "Use pytest, and import what you test from the module `{module}`.");
        }
    }
    let _ = write!(
        user,
        "\n{}",
        match action.output {
            Output::Explanation => "Explain it.",
            Output::Replace => "Reply with the replacement code block.",
            Output::Tests => "Reply with the test code block.",
        }
    );

    ModelRequest {
        task: action.task.clone(),
        system,
        context,
        prefix: String::new(),
        suffix: String::new(),
        user,
        language: input.language.to_owned(),
        path: input.path.to_owned(),
        max_output_tokens: None,
        stop: Vec::new(),
        cache_key: Some("switchboard:actions".to_owned()),
        workdir: None,
        parts: None,
    }
}

fn fenced(language: &str, code: &str) -> String {
    let fence = if code.contains("```") { "````" } else { "```" };
    format!("{fence}{language}\n{}\n{fence}", code.trim_end_matches('\n'))
}

fn number(code: &str, first: usize) -> String {
    let width = (first + code.lines().count()).to_string().len();
    code.lines().enumerate().map(|(i, l)| format!("{:>width$}  {l}", first + i)).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        actions::Action,
        config::{ActionConfig, ActionKind},
    };

    fn input<'a>(action: &'a Action, diagnostics: &'a [Note]) -> PromptInput<'a> {
        PromptInput {
            action,
            path: "src/cart.rs",
            language: "rust",
            code: "fn total(c: &Cart) -> u32 {\n    c.items.iter().sum()\n}",
            lines: (12, 14),
            scope: None,
            imports: &[],
            definitions: &[],
            diagnostics,
            tests_path: None,
        }
    }

    #[test]
    fn fix_prompt_has_code_diagnostics_and_stable_parts_first() {
        let action = Action::builtin(ActionId::Fix);
        let notes = [Note {
            line: 13,
            severity: "error".into(),
            message: "mismatched types".into(),
            source: Some("rustc".into()),
        }];
        let defs = [RelatedDefinition {
            path: "src/model.rs".into(),
            name: "Cart".into(),
            text: "struct Cart { items: Vec<u32> }".into(),
        }];
        let req = build(&PromptInput { definitions: &defs, ..input(&action, &notes) });
        assert!(req.system.contains("fix the problems"));
        assert!(req.context.starts_with("File: src/cart.rs\nLanguage: rust\n"));
        assert!(req.context.contains("From src/model.rs (`Cart`):\n```rust\nstruct Cart"));
        assert!(req.user.starts_with("The code (src/cart.rs, lines 12–14):\n```rust\nfn total"));
        assert!(req.user.contains("- line 13 error [rustc]: mismatched types"));
        assert_eq!(req.task, crate::providers::Task::Fix);
    }

    #[test]
    fn explain_numbers_lines_and_custom_fills_placeholders() {
        let action = Action::builtin(ActionId::Explain);
        let req = build(&input(&action, &[]));
        assert!(req.user.contains("12  fn total"), "{}", req.user);
        assert!(req.user.contains("14  }"));
        let custom = Action::custom(&ActionConfig {
            name: "Add logging".into(),
            route: None,
            prompt: "Add tracing calls to {selection} ({language})".into(),
            kind: ActionKind::Edit,
        });
        let req = build(&input(&custom, &[]));
        assert!(
            req.user.starts_with("Add tracing calls to the code from src/cart.rs, lines 12–14:\n```rust\nfn total"),
            "{}",
            req.user
        );
        assert!(req.user.contains("(rust)"));
    }
}
