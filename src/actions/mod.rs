//! Code actions routed to Claude: what to offer (`catalog`), the prompts (`prompt`), running them
//! (`run`), and turning answers into versioned minimal edits (`extract`, `diff`, `edit`).
//!
//! Plain data only — byte ranges, strings, versions — never LSP types: `server::actions` translates
//! for editors and `cli` for the shell.

pub mod catalog;
pub mod cli;
pub mod diff;
pub mod edit;
pub mod eol;
pub mod extract;
pub mod prompt;
pub mod run;

use serde::{Deserialize, Serialize};

use crate::{
    config::{ActionKind, Config},
    providers::Task,
};

/// Which action: a built-in one or an `[[actions]]` entry (by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionId {
    Explain,
    Refactor,
    Fix,
    Document,
    Tests,
    Custom(String),
}

/// What the answer becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Shown to the user as it streams.
    Explanation,
    /// Replaces the target range.
    Replace,
    /// New tests, placed where the language keeps them.
    Tests,
}

/// An action ready to run: its identity, title, route and, for custom ones, the user's prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub id: ActionId,
    pub output: Output,
    pub task: Task,
    /// `[[actions]]` prompt with `{selection}`, `{language}` and `{path}` placeholders.
    pub custom_prompt: Option<String>,
}

const BUILTIN: &[(&str, &str)] = &[
    ("explain", "Explain"),
    ("refactor", "Refactor"),
    ("fix", "Fix"),
    ("document", "Add documentation"),
    ("tests", "Write tests"),
];

impl Action {
    pub fn builtin(id: ActionId) -> Action {
        let (output, task) = match &id {
            ActionId::Explain => (Output::Explanation, Task::Explain),
            ActionId::Refactor => (Output::Replace, Task::Refactor),
            ActionId::Fix => (Output::Replace, Task::Fix),
            ActionId::Document => (Output::Replace, Task::Document),
            ActionId::Tests => (Output::Tests, Task::Tests),
            ActionId::Custom(name) => (Output::Replace, Task::Custom(name.clone())),
        };
        Action { id, output, task, custom_prompt: None }
    }

    /// A user-defined action: its route is a `[routes]` key or a provider name, by default the
    /// route of the built-in action it resembles (refactor for edits, explain for explanations).
    pub fn custom(cfg: &crate::config::ActionConfig) -> Action {
        let (output, default_task) = match cfg.kind {
            ActionKind::Edit => (Output::Replace, Task::Refactor),
            ActionKind::Explain => (Output::Explanation, Task::Explain),
        };
        let task = match cfg.route.as_deref() {
            Some(route) => builtin_task(route).unwrap_or_else(|| Task::Custom(route.to_owned())),
            None => default_task,
        };
        Action { id: ActionId::Custom(cfg.name.clone()), output, task, custom_prompt: Some(cfg.prompt.clone()) }
    }

    /// Finds an action by its key (`explain`, `document` ...), a common alias, its menu title, or
    /// the name of an `[[actions]]` entry (case-insensitive).
    pub fn find(name: &str, config: &Config) -> Result<Action, ActionError> {
        let wanted = name.trim().trim_start_matches("Switchboard:").trim().to_lowercase();
        let id = match wanted.as_str() {
            "explain" => Some(ActionId::Explain),
            "refactor" => Some(ActionId::Refactor),
            "fix" => Some(ActionId::Fix),
            "document" | "docs" | "doc" | "add documentation" => Some(ActionId::Document),
            "tests" | "test" | "write tests" => Some(ActionId::Tests),
            _ => None,
        };
        if let Some(id) = id {
            return Ok(Action::builtin(id));
        }
        match config.actions.iter().find(|a| a.name.to_lowercase() == wanted) {
            Some(cfg) => Ok(Action::custom(cfg)),
            None => {
                let mut known: Vec<String> = BUILTIN.iter().map(|(k, _)| (*k).to_owned()).collect();
                known.extend(config.actions.iter().map(|a| format!("\"{}\"", a.name)));
                Err(ActionError::UnknownAction { name: name.to_owned(), known: known.join(", ") })
            }
        }
    }

    /// The stable key used in code action data, commands and the CLI.
    pub fn key(&self) -> &str {
        match &self.id {
            ActionId::Custom(name) => name,
            id => BUILTIN.iter().zip(builtin_ids()).find(|(_, b)| b == id).map_or("", |((k, _), _)| k),
        }
    }

    /// The menu title, e.g. "Switchboard: Add documentation".
    pub fn title(&self) -> String {
        let label = match &self.id {
            ActionId::Custom(name) => name.as_str(),
            id => BUILTIN.iter().zip(builtin_ids()).find(|(_, b)| b == id).map_or("", |((_, t), _)| t),
        };
        format!("Switchboard: {label}")
    }

    pub fn is_edit(&self) -> bool {
        self.output != Output::Explanation
    }
}

fn builtin_ids() -> [ActionId; 5] {
    [ActionId::Explain, ActionId::Refactor, ActionId::Fix, ActionId::Document, ActionId::Tests]
}

fn builtin_task(route: &str) -> Option<Task> {
    Some(match route {
        "explain" => Task::Explain,
        "refactor" => Task::Refactor,
        "fix" => Task::Fix,
        "document" => Task::Document,
        "tests" => Task::Tests,
        _ => return None,
    })
}

/// A diagnostic the editor reported in the target range; it goes into Fix prompts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// 1-based line of the diagnostic's start.
    pub line: u32,
    /// "error", "warning", "info" or "hint".
    pub severity: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Why an action did not produce its result. Each message says what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("unknown action `{name}`; Switchboard offers {known}")]
    UnknownAction { name: String, known: String },
    #[error("nothing to work on here: select some code, or put the cursor inside a function or class")]
    NoTarget,
    #[error("{0} is not open in the editor")]
    NotOpen(String),
    #[error("the document changed since the action was offered; run it again")]
    Outdated,
    /// The file may not go upstream (an exclusion or a local-only path).
    #[error("not sent: {0}")]
    Withheld(String),
    #[error("the `{route}` route has no model that can run code actions (only `local`); add one to [routes] {route}")]
    LocalOnly { route: String },
    #[error("{0}")]
    Route(String),
    #[error("the answer stopped early ({0}); nothing was changed")]
    Interrupted(String),
    #[error("the answer was cut off at the output token limit; nothing was changed (raise max_output_tokens)")]
    Truncated,
    #[error("the answer held no code; nothing was changed")]
    NoCode,
    #[error("the code changed while Claude was working; run the action again ({0})")]
    Stale(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Io(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ActionConfig;

    #[test]
    fn finds_builtins_aliases_and_custom_actions() {
        let mut config = Config::default();
        config.actions.push(ActionConfig {
            name: "Add logging".into(),
            route: Some("claude".into()),
            prompt: "Add tracing calls to {selection}".into(),
            kind: ActionKind::Edit,
        });
        let doc = Action::find("docs", &config).unwrap();
        assert_eq!((doc.key(), doc.title().as_str()), ("document", "Switchboard: Add documentation"));
        assert_eq!(Action::find("Switchboard: Write tests", &config).unwrap().id, ActionId::Tests);
        let custom = Action::find("add LOGGING", &config).unwrap();
        assert_eq!(custom.title(), "Switchboard: Add logging");
        assert_eq!(custom.task, Task::Custom("claude".into()));
        assert!(custom.is_edit());
        let err = Action::find("frobnicate", &config).unwrap_err().to_string();
        assert!(err.contains("explain, refactor, fix, document, tests, \"Add logging\""), "{err}");
    }
}
