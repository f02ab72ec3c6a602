//! LSP side of code actions: offering them, resolving them into edits, running them with progress.
//! (Being written: see issue 5.)

use serde_json::Value;
use tower_lsp_server::{
    gen_lsp_types::*,
    jsonrpc::{Error, Result},
};

use super::Backend;

pub(super) async fn code_actions(
    _backend: &Backend,
    _params: CodeActionParams,
) -> Result<Option<Vec<CodeActionResponse>>> {
    Ok(Some(Vec::new()))
}

pub(super) async fn resolve(_backend: &Backend, _action: CodeAction) -> Result<CodeAction> {
    Err(Error::invalid_params("code actions are not available yet"))
}

pub(super) async fn run_command(_backend: &Backend, _args: Vec<Value>) -> Result<Option<Value>> {
    Err(Error::invalid_params("code actions are not available yet"))
}
