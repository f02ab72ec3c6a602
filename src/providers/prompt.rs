//! The provider-neutral parts of a prompt: the fill-the-hole text with `<CURSOR>`, stable parts first.

use super::ModelRequest;

/// Marks the hole in inline prompts for models without real fill-in-the-middle.
pub const CURSOR: &str = "<CURSOR>";

/// The request's own text: for inline, the code with `<CURSOR>` at the hole (after any `user` text);
/// for actions, `user`.
pub fn task_text(req: &ModelRequest) -> String {
    if req.prefix.is_empty() && req.suffix.is_empty() {
        return req.user.clone();
    }
    let mut s = String::with_capacity(req.user.len() + req.prefix.len() + req.suffix.len() + 16);
    if !req.user.is_empty() {
        s.push_str(&req.user);
        s.push_str("\n\n");
    }
    s.push_str(&req.prefix);
    s.push_str(CURSOR);
    s.push_str(&req.suffix);
    s
}

/// Context first (it changes least, so the provider's prefix cache can hit), then the task text.
pub fn with_context(req: &ModelRequest) -> String {
    let task = task_text(req);
    if req.context.is_empty() {
        return task;
    }
    let mut s = String::with_capacity(req.context.len() + task.len() + 1);
    s.push_str(&req.context);
    if !req.context.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&task);
    s
}

#[cfg(test)]
pub(crate) fn request(task: super::Task) -> ModelRequest {
    ModelRequest {
        task,
        system: "You complete code.".into(),
        context: "path: src/lib.rs".into(),
        prefix: "fn add(a: i32, b: i32) -> i32 {\n    ".into(),
        suffix: "\n}\n".into(),
        user: String::new(),
        language: "rust".into(),
        path: "src/lib.rs".into(),
        max_output_tokens: Some(64),
        stop: vec![],
        cache_key: Some("switchboard:abc".into()),
        workdir: None,
        parts: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Task;
    use super::*;

    #[test]
    fn hole_prompt_keeps_stable_parts_first() {
        let req = request(Task::Inline);
        assert_eq!(with_context(&req), "path: src/lib.rs\nfn add(a: i32, b: i32) -> i32 {\n    <CURSOR>\n}\n");
        let action = ModelRequest {
            prefix: String::new(),
            suffix: String::new(),
            user: "Explain this.".into(),
            ..request(Task::Explain)
        };
        assert_eq!(with_context(&action), "path: src/lib.rs\nExplain this.");
    }
}
