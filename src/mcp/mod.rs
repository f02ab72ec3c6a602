//! `switchboard mcp`: an MCP server over stdio (newline-delimited JSON-RPC, on the official `rmcp`
//! SDK) so agents — Claude Code, Codex, any MCP client — use the same router as the editor: fast
//! completions from Codex-class models, explanations and edits from Claude, outlines from
//! tree-sitter. The only module that knows MCP types; the work happens in `tools`.
//!
//! Every failure an agent can cause or meet (a path outside the workspace, a missing argument, a
//! provider that fails) is a tool result with `isError: true` and a message saying what to do, so
//! the model can correct itself and the server goes on. Stdout carries only the protocol.

mod tools;
mod workspace;

use std::{future::Future, panic::AssertUnwindSafe, path::Path, sync::Arc};

use futures_util::FutureExt;
use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt,
    handler::server::{router::tool::ToolRouter, tool::ToolCallContext, wrapper::Parameters},
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode, Implementation,
        ServerCapabilities, ServerConfig,
    },
    schemars::{self, JsonSchema},
    service::RequestContext,
    tool, tool_handler, tool_router,
};
use serde::Deserialize;

use crate::{actions::ActionError, config, engine::Engine, engine::EngineError};
use tools::{ActionAnswer, Tools};
pub use workspace::Workspace;

/// Why a tool call failed; the message is what the agent reads.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{path} is outside the workspace {root}; pass a path inside it (relative paths start at the workspace)")]
    OutsideWorkspace { path: String, root: String },
    #[error("cannot read {path}: {reason}")]
    NotFound { path: String, reason: String },
    #[error("{0}")]
    Argument(String),
    #[error("{0}")]
    NoCompletion(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Other(String),
}

impl ToolError {
    fn from_anyhow(e: anyhow::Error) -> ToolError {
        match e.downcast::<ActionError>() {
            Ok(a) => ToolError::Action(a),
            Err(e) => ToolError::Other(format!("{e:#}")),
        }
    }
}

fn tool_error(e: ToolError) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(e.to_string())])
}

// The argument structs are flat objects with optional fields rather than `oneOf` schemas:
// Anthropic's tool schemas accept no `oneOf`/`anyOf` at the top level, so the server checks which
// form was passed.

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CompleteArgs {
    /// File to complete in, relative to the workspace (or absolute inside it). With `line` and `column`.
    pub path: Option<String>,
    /// 1-based line of the cursor.
    pub line: Option<u32>,
    /// 1-based column of the cursor, in characters.
    pub column: Option<u32>,
    /// Instead of a file: a code snippet with one `<CURSOR>` marker where the completion goes.
    pub code: Option<String>,
    /// Language of `code` (an LSP language id: rust, python, typescript, go, ...).
    pub language: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExplainArgs {
    /// File, relative to the workspace (or absolute inside it).
    pub path: String,
    /// First line of the code, 1-based.
    pub start_line: u32,
    /// Last line of the code, 1-based, inclusive; defaults to `start_line`.
    pub end_line: Option<u32>,
    /// A question or focus, e.g. "review it for concurrency bugs"; by default a general explanation.
    pub instruction: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct EditArgs {
    /// File, relative to the workspace (or absolute inside it).
    pub path: String,
    /// First line of the code to change, 1-based.
    pub start_line: u32,
    /// Last line of the code to change, 1-based, inclusive; defaults to `start_line`.
    pub end_line: Option<u32>,
    /// What you want, in words, added to the action's own instructions (e.g. "use iterators").
    pub instruction: Option<String>,
    /// Write the change to the file (atomically, refused if it would add syntax errors).
    /// Default false: only the unified diff is returned.
    #[serde(default)]
    pub apply: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PathArgs {
    /// File, relative to the workspace (or absolute inside it).
    pub path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PositionArgs {
    /// File, relative to the workspace (or absolute inside it).
    pub path: String,
    /// 1-based line of the cursor.
    pub line: u32,
    /// 1-based column of the cursor, in characters.
    pub column: u32,
}

#[derive(Clone)]
pub struct SwitchboardMcp {
    tools: Arc<Tools>,
    tool_router: ToolRouter<SwitchboardMcp>,
}

#[tool_router]
impl SwitchboardMcp {
    pub fn new(engine: Arc<Engine>, workspace: Workspace) -> SwitchboardMcp {
        SwitchboardMcp { tools: Arc::new(Tools::new(engine, workspace)), tool_router: Self::tool_router() }
    }

    #[tool(
        description = "Fast code completion at a cursor, from the fast completion model (Codex-class, falling back \
                       to the symbols of the workspace). Use it for a quick fill-in of the next line or block; give \
                       `path`, `line`, `column` (1-based) of a workspace file, or `code` with one <CURSOR> marker and \
                       its `language`. Returns JSON: text to insert, the text before the cursor it replaces, provider, \
                       model, latency.",
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn complete(&self, Parameters(args): Parameters<CompleteArgs>) -> CallToolResult {
        let tools = self.tools.clone();
        run(async move {
            let completion = match (args.code, args.path, args.line, args.column) {
                (Some(code), None, _, _) => tools.complete_code(&code, args.language.as_deref()).await?,
                (None, Some(path), Some(line), Some(column)) => tools.complete_file(&path, line, column).await?,
                (Some(_), Some(_), _, _) => {
                    return Err(ToolError::Argument("pass either `code` or `path` with `line` and `column`, not both".into()));
                }
                _ => {
                    return Err(ToolError::Argument(
                        "missing arguments: pass `path`, `line` and `column` (1-based), or `code` with a <CURSOR> marker".into(),
                    ));
                }
            };
            let json = serde_json::to_value(&completion).map_err(|e| ToolError::Other(e.to_string()))?;
            let mut result = CallToolResult::success(vec![ContentBlock::text(json.to_string())]);
            result.structured_content = Some(json);
            Ok(result)
        })
        .await
    }

    #[tool(
        description = "Explain code with Claude (the explain route): what it does, how it works, and anything \
                       surprising such as edge cases or bugs. Use it to understand unfamiliar code or for a review \
                       (say what to look for in `instruction`); it never changes files. Give the file `path` and the lines (`start_line`, `end_line`, \
                       1-based, inclusive; take them from `symbols` to explain a whole function or class).",
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn explain(&self, Parameters(args): Parameters<ExplainArgs>) -> CallToolResult {
        let tools = self.tools.clone();
        run(async move {
            let answer = tools
                .action("explain", &args.path, args.start_line, args.end_line, args.instruction.as_deref(), false)
                .await?;
            Ok(answer_result(answer))
        })
        .await
    }

    #[tool(
        description = "Refactor code with Claude (the refactor route): clearer and simpler, same behaviour and \
                       interface. Returns a unified diff; with `apply: true` the file is also written (atomically, \
                       refused if the change would add syntax errors). Give `path` and the lines (1-based, inclusive), \
                       and optionally an `instruction` saying what you want.",
        annotations(destructive_hint = false, open_world_hint = true)
    )]
    async fn refactor(&self, Parameters(args): Parameters<EditArgs>) -> CallToolResult {
        self.edit("refactor", args).await
    }

    #[tool(
        description = "Fix a bug in code with Claude (the fix route), with the smallest change that does it; say what \
                       is wrong in `instruction` (an error message, a failing test). Returns a unified diff; with \
                       `apply: true` the file is also written (atomically, refused if it would add syntax errors).",
        annotations(destructive_hint = false, open_world_hint = true)
    )]
    async fn fix(&self, Parameters(args): Parameters<EditArgs>) -> CallToolResult {
        self.edit("fix", args).await
    }

    #[tool(
        description = "Add documentation comments to code with Claude (the document route), in the language's own \
                       style (rustdoc, docstrings, JSDoc, ...), without changing the code. Returns a unified diff; with \
                       `apply: true` the file is also written.",
        annotations(destructive_hint = false, open_world_hint = true)
    )]
    async fn document(&self, Parameters(args): Parameters<EditArgs>) -> CallToolResult {
        self.edit("document", args).await
    }

    #[tool(
        description = "Write unit tests for code with Claude (the tests route), placed where the language keeps them \
                       (a Rust tests module in the file, Python tests/test_<module>.py, JS/TS <name>.test.<ext>, Go \
                       <name>_test.go). Returns a unified diff of the test file; with `apply: true` it is written.",
        annotations(destructive_hint = false, open_world_hint = true)
    )]
    async fn tests(&self, Parameters(args): Parameters<EditArgs>) -> CallToolResult {
        self.edit("tests", args).await
    }

    #[tool(
        description = "Outline of a file from tree-sitter: its functions, classes, methods, types, constants and \
                       fields, nested (methods inside their class), with kinds and 1-based line ranges. Instant and \
                       free (no model). Use it to find the lines of a function before `explain`, `refactor` or `tests`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn symbols(&self, Parameters(args): Parameters<PathArgs>) -> CallToolResult {
        let tools = self.tools.clone();
        run(async move {
            let outline = tools.symbols(&args.path)?;
            let json = serde_json::to_value(&outline).map_err(|e| ToolError::Other(e.to_string()))?;
            let mut result = CallToolResult::success(vec![ContentBlock::text(json.to_string())]);
            result.structured_content = Some(json);
            Ok(result)
        })
        .await
    }

    #[tool(
        description = "Show exactly what an inline completion at a cursor would send to the completion model — route, \
                       system prompt, context (path, imports, definitions from other files), code before and after the \
                       cursor, with token estimates — without sending anything. Use it to check what leaves the \
                       machine or why a completion looks the way it does.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn context(&self, Parameters(args): Parameters<PositionArgs>) -> CallToolResult {
        let tools = self.tools.clone();
        run(async move {
            let text = tools.context(&args.path, args.line, args.column)?;
            Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
        })
        .await
    }
}

impl SwitchboardMcp {
    async fn edit(&self, name: &'static str, args: EditArgs) -> CallToolResult {
        let tools = self.tools.clone();
        run(async move {
            let answer = tools
                .action(name, &args.path, args.start_line, args.end_line, args.instruction.as_deref(), args.apply)
                .await?;
            Ok(answer_result(answer))
        })
        .await
    }
}

fn answer_result(answer: ActionAnswer) -> CallToolResult {
    match answer {
        ActionAnswer::Explanation { text, summary } => {
            CallToolResult::success(vec![ContentBlock::text(text), ContentBlock::text(summary)])
        }
        ActionAnswer::Edit(e) if e.diff.is_empty() => CallToolResult::success(vec![ContentBlock::text(e.summary)]),
        ActionAnswer::Edit(e) => {
            CallToolResult::success(vec![ContentBlock::text(e.diff), ContentBlock::text(e.summary)])
        }
    }
}

/// Runs one tool's work: an error becomes an `isError` result, and a panic (a bug) fails this
/// call only, never the server.
async fn run(work: impl Future<Output = Result<CallToolResult, ToolError>>) -> CallToolResult {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => {
            tracing::debug!("tool error: {e}");
            tool_error(e)
        }
        Err(_) => {
            tracing::error!("a tool panicked");
            tool_error(ToolError::Other("internal error in Switchboard (see its log); the server goes on".into()))
        }
    }
}

#[tool_handler]
impl ServerHandler for SwitchboardMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("switchboard", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "Switchboard routes each coding task to the model that is best at it, with the user's own \
                 configuration and keys: `complete` goes to a fast Codex-class model, `explain`, `refactor`, `fix`, \
                 `document` and `tests` go to Claude, `symbols` and `context` are local and free. Paths are relative \
                 to the workspace {}; lines and columns are 1-based.",
                self.tools.workspace.root().display()
            ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // rmcp already answers arguments that do not fit the schema with an `isError` result the
        // model can read. A cancelled call drops its work at once (and with it the upstream stream).
        let ct = context.ct.clone();
        let call = self.tool_router.call(ToolCallContext::new(self, request, context));
        tokio::select! {
            r = call => r,
            () = ct.cancelled() => Err(ErrorData::new(ErrorCode::INTERNAL_ERROR, "cancelled", None)),
        }
    }
}

/// Serves MCP on stdin/stdout until the client closes the pipe. `root` is the workspace.
pub async fn serve(root: &Path) -> anyhow::Result<()> {
    let workspace =
        Workspace::new(root).map_err(|e| anyhow::anyhow!("cannot use {} as the workspace: {e}", root.display()))?;
    let discovered = config::discover(Some(workspace.root()), &|k| std::env::var(k).ok());
    let mut problems = discovered.problems;
    let config = config::build(&discovered.layers, &mut problems);
    for p in &problems {
        tracing::warn!("config: {p}");
    }
    let engine = Arc::new(Engine::new(config));
    engine.set_workspace(workspace.root());
    engine.upstream().registry.warm();
    tracing::info!(root = %workspace.root().display(), "MCP server on stdio");
    let saver = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = engine.inline.stats.save() {
                    tracing::debug!("saving statistics: {e}");
                }
            }
        })
    };
    let service = SwitchboardMcp::new(engine.clone(), workspace)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("MCP handshake failed: {e}"))?;
    let ended = service.waiting().await;
    saver.abort();
    if let Err(e) = engine.inline.stats.save() {
        tracing::warn!("saving statistics: {e}");
    }
    ended.map(|_| ()).map_err(|e| anyhow::anyhow!("MCP server stopped: {e}"))
}
