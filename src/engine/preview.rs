//! What an inline completion would send, without sending it: the same preparation
//! [`Engine::inline_completion`] runs (shape, context, prompt), stopped before the router.

use super::{Engine, EngineError};
use crate::{
    completion::inline,
    providers::{ModelRequest, Task},
};

impl Engine {
    /// The request an inline completion at `offset` of `uri` would route, and whether Switchboard
    /// is off for that file (then nothing would be sent at all).
    pub fn inline_request(&self, uri: &str, offset: usize) -> Result<(ModelRequest, bool), EngineError> {
        let state = self.snapshot_for_typing(uri)?;
        let config = self.config();
        let off = state.plain
            || state.lang.is_some_and(|l| config.language.get(&l.id).and_then(|c| c.enabled) == Some(false));
        let view = Self::view(&state);
        let offset = offset.min(view.rope.len_bytes());
        let shape = inline::decide_shape(&view, offset, config.completion.multiline, false);
        let prepared = self.prepare(&view, offset, Task::Inline, shape);
        Ok((prepared.request, off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_is_the_prompt_the_completion_builds() {
        let engine = Engine::default();
        engine.open("file:///ws/cart.py", "python", 1, "def total(items):\n    return \n");
        let offset = "def total(items):\n    return ".len();
        let (req, off) = engine.inline_request("file:///ws/cart.py", offset).unwrap();
        assert!(!off);
        assert_eq!(req.task, Task::Inline);
        assert!(req.prefix.ends_with("    return "), "{:?}", req.prefix);
        assert!(req.context.contains("language: python"), "{}", req.context);
        assert!(req.system.contains("<CURSOR>"));
    }
}
