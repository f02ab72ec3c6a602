//! `claude-cli` and `codex-cli`: the agents users already run, as action backends (wire-protocols §6).
//! Prompt on stdin, JSON lines on stdout; when the stream is dropped the child gets SIGTERM, and
//! SIGKILL if it is still running after a grace period.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use super::config::ProviderConfig;
use super::error::{ErrorContext, ProviderError, TimeoutPhase, classify_http};
use super::sse::{Budget, Decoder, parse_json};
use super::{CheckReport, EventStream, ModelRequest, Provider, ProviderKind, StreamEvent, Truncation, Usage, prompt};

/// Always passed to the child; everything else only when listed in `pass_env`.
const BASE_ENV: &[&str] =
    &["PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "XDG_CONFIG_HOME", "CLAUDE_CONFIG_DIR", "CODEX_HOME"];
const STDERR_TAIL: usize = 2000;
/// How long an agent may take to wind down after SIGTERM (its own requests, temp files) before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

pub struct CliAgent {
    cfg: ProviderConfig,
    program: String,
    lead_args: Vec<String>,
}

impl CliAgent {
    pub fn new(cfg: ProviderConfig) -> Result<Self, ProviderError> {
        let argv = cfg.command.as_ref().map(|c| c.argv()).unwrap_or_default();
        let (program, lead_args) = match argv.split_first() {
            Some((p, rest)) => (p.clone(), rest.to_vec()),
            None if cfg.kind == ProviderKind::ClaudeCli => ("claude".to_owned(), Vec::new()),
            None if cfg.kind == ProviderKind::CodexCli => ("codex".to_owned(), Vec::new()),
            None => {
                return Err(ProviderError::Config { provider: cfg.name.clone(), message: "not a CLI provider".into() });
            }
        };
        Ok(CliAgent { cfg, program, lead_args })
    }

    fn is_claude(&self) -> bool {
        self.cfg.kind == ProviderKind::ClaudeCli
    }

    /// Read-only, single-turn, nothing persisted: the flags the official SDKs use.
    pub fn args(&self, req: &ModelRequest) -> Vec<String> {
        let mut a = self.lead_args.clone();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        if self.is_claude() {
            a.extend(s(&["-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]));
            a.extend(s(&[
                "--tools",
                "",
                "--max-turns",
                "1",
                "--no-session-persistence",
                "--permission-mode",
                "dontAsk",
            ]));
            if !self.cfg.model.is_empty() {
                a.extend(["--model".to_owned(), self.cfg.model.clone()]);
            }
            if !req.system.is_empty() {
                a.extend(["--append-system-prompt".to_owned(), req.system.clone()]);
            }
        } else {
            a.extend(s(&["exec", "--json", "--sandbox", "read-only", "--ephemeral", "--skip-git-repo-check"]));
            if !self.cfg.model.is_empty() {
                a.extend(["-m".to_owned(), self.cfg.model.clone()]);
            }
            a.push("-".to_owned());
        }
        a
    }

    /// Claude takes the system prompt as a flag; Codex gets it at the top of stdin.
    fn stdin_text(&self, req: &ModelRequest) -> String {
        let body = prompt::with_context(req);
        if self.is_claude() || req.system.is_empty() { body } else { format!("{}\n\n{body}", req.system) }
    }

    fn command(&self, req: &ModelRequest) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(self.args(req))
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The fallback if `AgentProcess` cannot stop it gently (no runtime left at drop).
            .kill_on_drop(true);
        for var in BASE_ENV.iter().copied().chain(self.cfg.pass_env.iter().map(String::as_str)) {
            if let Ok(v) = std::env::var(var) {
                cmd.env(var, v);
            }
        }
        if let Some(url) = &self.cfg.base_url {
            cmd.env(if self.is_claude() { "ANTHROPIC_BASE_URL" } else { "OPENAI_BASE_URL" }, url);
        }
        // Run in the project, so the agent sees it (and codex finds the git root).
        if let Some(dir) = req.workdir.as_deref().filter(|d| d.is_dir()) {
            cmd.current_dir(dir);
        }
        cmd
    }

    fn spawn_error(&self, e: std::io::Error) -> ProviderError {
        ProviderError::Config {
            provider: self.cfg.name.clone(),
            message: format!("cannot run `{}`: {e}; install it or set `command` for this provider", self.program),
        }
    }
}

impl Provider for CliAgent {
    fn name(&self) -> &str {
        &self.cfg.name
    }
    fn kind(&self) -> ProviderKind {
        self.cfg.kind
    }
    fn model(&self) -> &str {
        &self.cfg.model
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<EventStream, ProviderError>> {
        let spawned = self.command(&req).spawn().map_err(|e| self.spawn_error(e));
        let input = self.stdin_text(&req);
        let budget = Budget::start(self.cfg.timeouts(&req.task), &req.task);
        let provider = self.cfg.name.clone();
        let decoder: Box<dyn Decoder> = if self.is_claude() {
            Box::new(ClaudeDecoder::new(&provider))
        } else {
            Box::new(CodexDecoder::new(&provider))
        };
        Box::pin(async move {
            let mut child = spawned?;
            let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                return Err(ProviderError::Config { provider, message: "child pipes missing".into() });
            };
            tokio::spawn(async move {
                let _ = stdin.write_all(input.as_bytes()).await;
                // Dropping stdin closes it: the agent starts once the prompt is complete.
            });
            let tail = Arc::new(Mutex::new(String::new()));
            let t = tail.clone();
            let stderr_reader = tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = stderr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut s = t.lock().unwrap_or_else(|e| e.into_inner());
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if s.len() > STDERR_TAIL * 2 {
                        let cut = s.len() - STDERR_TAIL;
                        let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(cut);
                        s.drain(..cut);
                    }
                }
            });
            let state = CliState {
                provider,
                lines: BufReader::new(stdout).lines(),
                child: AgentProcess(Some(child)),
                decoder,
                queue: VecDeque::new(),
                first: true,
                done: false,
                tail,
                stderr_reader: Some(stderr_reader),
                budget,
                text: false,
            };
            Ok(futures_util::stream::unfold(state, CliState::next).boxed())
        })
    }

    fn check(&self) -> BoxFuture<'static, CheckReport> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.lead_args).arg("--version").stdin(Stdio::null()).kill_on_drop(true);
        let (name, program) = (self.cfg.name.clone(), self.program.clone());
        Box::pin(async move {
            let mut report = CheckReport {
                provider: name.clone(),
                reachable: false,
                key_accepted: None,
                model_listed: None,
                ok: false,
                verdict: String::new(),
            };
            match tokio::time::timeout(Duration::from_secs(10), cmd.output()).await {
                Ok(Ok(out)) if out.status.success() => {
                    report.reachable = true;
                    report.ok = true;
                    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                    report.verdict = format!("{name}: ok — `{program}` {version} (its login is not checked)");
                }
                Ok(Ok(out)) => report.verdict = format!("{name}: `{program} --version` failed ({})", out.status),
                Ok(Err(e)) => {
                    report.verdict = format!("{name}: cannot run `{program}`: {e}; install it or set `command`")
                }
                Err(_) => report.verdict = format!("{name}: `{program} --version` did not answer in 10 s"),
            }
            report
        })
    }
}

struct CliState {
    provider: String,
    lines: Lines<BufReader<ChildStdout>>,
    child: AgentProcess,
    decoder: Box<dyn Decoder>,
    queue: VecDeque<Result<StreamEvent, ProviderError>>,
    first: bool,
    done: bool,
    tail: Arc<Mutex<String>>,
    /// Ends at stderr's EOF: awaited before quoting the tail of a crashed agent.
    stderr_reader: Option<tokio::task::JoinHandle<()>>,
    budget: Budget,
    /// Some answer text was passed on (a cut at the deadline then ends with it when allowed).
    text: bool,
}

impl CliState {
    async fn next(mut self) -> Option<(Result<StreamEvent, ProviderError>, Self)> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some((item, self));
            }
            if self.done {
                return None;
            }
            let (wait, phase) = if self.first {
                (self.budget.timeouts.first_byte, TimeoutPhase::FirstByte)
            } else {
                (self.budget.timeouts.idle, TimeoutPhase::Idle)
            };
            let left = self.budget.deadline.saturating_duration_since(tokio::time::Instant::now());
            let next = async {
                if left.is_zero() {
                    None
                } else {
                    tokio::time::timeout(wait.min(left), self.lines.next_line()).await.ok()
                }
            };
            let err = match next.await.ok_or(()) {
                Err(()) if left <= wait => {
                    // The overall deadline: an agent that never finishes is stopped (dropped below).
                    self.done = true;
                    if self.text && self.budget.partial_ok {
                        let stop_reason = Some(Truncation::Deadline.stop_reason().to_owned());
                        self.queue.push_back(Ok(StreamEvent::Done { stop_reason }));
                        continue;
                    }
                    let limit = format!("{:?}", self.budget.timeouts.total);
                    self.queue.push_back(Err(ProviderError::truncated(
                        &self.provider,
                        Truncation::Deadline,
                        &limit,
                        self.text,
                    )));
                    continue;
                }
                Err(()) => ProviderError::timeout(&self.provider, phase, wait),
                Ok(Ok(Some(line))) if line.trim().is_empty() => continue,
                Ok(Ok(Some(line))) => {
                    self.first = false;
                    let mut out = Vec::new();
                    let r = self.decoder.decode(&line, &mut out);
                    self.text |= out.iter().any(|e| matches!(e, StreamEvent::Text(_)));
                    self.queue.extend(out.into_iter().map(Ok));
                    match r {
                        Ok(false) => continue,
                        Ok(true) => {
                            self.done = true;
                            continue;
                        }
                        Err(e) => e,
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    let status = self.child.wait(Duration::from_secs(2)).await;
                    if let Some(reader) = self.stderr_reader.take() {
                        // The agent has exited, so its stderr is at EOF: wait for the last words.
                        let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
                    }
                    let status = status.map_or_else(|| "no exit status".to_owned(), |s| s.to_string());
                    ProviderError::Stream {
                        provider: self.provider.clone(),
                        code: "cli_exit".into(),
                        message: format!("the agent stopped before its final event ({status}): {}", self.stderr_tail()),
                        retry_after: None,
                    }
                }
            };
            self.done = true;
            self.queue.push_back(Err(with_tail(err, &self.stderr_tail())));
        }
    }

    /// The last words of the agent's stderr, scrubbed of keys (an agent may print the one it was
    /// refused with).
    fn stderr_tail(&self) -> String {
        let s = crate::privacy::scrub(&self.tail.lock().unwrap_or_else(|e| e.into_inner()));
        let t = s.trim();
        let start = t.len().saturating_sub(500);
        let start = (start..=t.len()).find(|i| t.is_char_boundary(*i)).unwrap_or(t.len());
        t[start..].to_owned()
    }
}

/// The running agent. Dropping it (the action was cancelled or superseded, or its stream ended) asks
/// the agent to stop with SIGTERM and kills it after [`TERM_GRACE`]: no agent outlives its request.
struct AgentProcess(Option<Child>);

impl AgentProcess {
    /// The exit status, if the agent exits within `limit`.
    async fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let child = self.0.as_mut()?;
        tokio::time::timeout(limit, child.wait()).await.ok()?.ok()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else { return };
        if !matches!(child.try_wait(), Ok(None)) {
            return; // already exited (and reaped)
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            let _ = child.start_kill();
            return;
        };
        terminate(&child);
        runtime.spawn(async move {
            if tokio::time::timeout(TERM_GRACE, child.wait()).await.is_err() {
                tracing::debug!("agent still running {TERM_GRACE:?} after SIGTERM; killing it");
                let _ = child.kill().await;
            }
        });
    }
}

#[cfg(unix)]
fn terminate(child: &Child) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
}

#[cfg(not(unix))]
fn terminate(_child: &Child) {
    // No SIGTERM here: the grace period passes and the child is killed.
}

/// Adds stderr to agent-reported failures, where the real reason usually is.
fn with_tail(err: ProviderError, tail: &str) -> ProviderError {
    match err {
        ProviderError::Stream { provider, code, message, retry_after } if code == "agent" && !tail.is_empty() => {
            ProviderError::Stream { provider, code, message: format!("{message} (stderr: {tail})"), retry_after }
        }
        other => other,
    }
}

fn agent_error(provider: &str, message: &str) -> ProviderError {
    ProviderError::Stream {
        provider: provider.to_owned(),
        code: "agent".into(),
        message: message.to_owned(),
        retry_after: None,
    }
}

/// `claude -p --output-format stream-json`: partial text from `stream_event`s, the end from `result`.
struct ClaudeDecoder {
    provider: String,
    saw_text: bool,
}

impl ClaudeDecoder {
    fn new(provider: &str) -> Self {
        ClaudeDecoder { provider: provider.to_owned(), saw_text: false }
    }
}

impl Decoder for ClaudeDecoder {
    fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<bool, ProviderError> {
        let v = parse_json(&self.provider, data)?;
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "stream_event" => {
                let ev = v.get("event").unwrap_or(&Value::Null);
                if ev.get("type").and_then(Value::as_str) == Some("content_block_delta")
                    && ev.pointer("/delta/type").and_then(Value::as_str) == Some("text_delta")
                    && let Some(t) = ev.pointer("/delta/text").and_then(Value::as_str)
                {
                    self.saw_text = true;
                    out.push(StreamEvent::Text(t.to_owned()));
                }
            }
            // Without partial messages, the whole message arrives here.
            "assistant" if !self.saw_text => {
                for block in v.pointer("/message/content").and_then(Value::as_array).into_iter().flatten() {
                    if block.get("type").and_then(Value::as_str) == Some("text")
                        && let Some(t) = block.get("text").and_then(Value::as_str)
                    {
                        self.saw_text = true;
                        out.push(StreamEvent::Text(t.to_owned()));
                    }
                }
            }
            "result" => {
                let result = v.get("result").and_then(Value::as_str).unwrap_or("");
                let subtype = v.get("subtype").and_then(Value::as_str).unwrap_or("");
                let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false);
                if let Some(status) =
                    v.get("api_error_status").and_then(Value::as_u64).and_then(|s| StatusCode::from_u16(s as u16).ok())
                {
                    let cx = ErrorContext {
                        provider: &self.provider,
                        model: "",
                        key_hint: "run `claude` and log in, or pass ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) via pass_env",
                    };
                    let body = json!({"error": {"message": result}}).to_string();
                    return Err(classify_http(&cx, status, &HeaderMap::new(), &body));
                }
                if is_error || subtype != "success" {
                    return Err(agent_error(&self.provider, &format!("{subtype}: {result}")));
                }
                if !self.saw_text && !result.is_empty() {
                    out.push(StreamEvent::Text(result.to_owned()));
                }
                if let Some(u) = v.get("usage") {
                    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                    let read = n("cache_read_input_tokens");
                    out.push(StreamEvent::Usage(Usage {
                        input_tokens: n("input_tokens") + n("cache_creation_input_tokens") + read,
                        cached_input_tokens: read,
                        output_tokens: n("output_tokens"),
                    }));
                }
                let stop = v.get("stop_reason").and_then(Value::as_str).map(str::to_owned);
                out.push(StreamEvent::Done { stop_reason: stop });
                return Ok(true);
            }
            _ => {}
        }
        Ok(false)
    }

    fn terminal(&self) -> &'static str {
        "result"
    }
}

/// `codex exec --json`: whole items, the last agent message is the answer, `turn.completed` ends.
struct CodexDecoder {
    provider: String,
    last_message: Option<String>,
}

impl CodexDecoder {
    fn new(provider: &str) -> Self {
        CodexDecoder { provider: provider.to_owned(), last_message: None }
    }
}

impl Decoder for CodexDecoder {
    fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<bool, ProviderError> {
        let v = parse_json(&self.provider, data)?;
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "item.completed" => {
                if v.pointer("/item/type").and_then(Value::as_str) == Some("agent_message")
                    && let Some(t) = v.pointer("/item/text").and_then(Value::as_str)
                {
                    self.last_message = Some(t.to_owned());
                }
            }
            "turn.completed" => {
                if let Some(t) = self.last_message.take() {
                    out.push(StreamEvent::Text(t));
                }
                let n = |k: &str| v.pointer(&format!("/usage/{k}")).and_then(Value::as_u64).unwrap_or(0);
                out.push(StreamEvent::Usage(Usage {
                    input_tokens: n("input_tokens"),
                    cached_input_tokens: n("cached_input_tokens"),
                    output_tokens: n("output_tokens"),
                }));
                out.push(StreamEvent::Done { stop_reason: None });
                return Ok(true);
            }
            "turn.failed" => {
                let m = v.pointer("/error/message").and_then(Value::as_str).unwrap_or("turn failed");
                return Err(agent_error(&self.provider, m));
            }
            "error" => {
                let m = v.get("message").and_then(Value::as_str).unwrap_or("error");
                return Err(agent_error(&self.provider, m));
            }
            _ => {}
        }
        Ok(false)
    }

    fn terminal(&self) -> &'static str {
        "turn.completed"
    }
}

impl Decoder for Box<dyn Decoder> {
    fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<bool, ProviderError> {
        (**self).decode(data, out)
    }
    fn terminal(&self) -> &'static str {
        (**self).terminal()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Task;
    use super::super::config::CommandLine;
    use super::super::prompt::request;
    use super::*;
    use futures_util::TryStreamExt;

    /// A fake agent: `sh -c SCRIPT` with our flags as its positional arguments.
    fn agent(kind: ProviderKind, script: &str) -> CliAgent {
        let mut cfg = ProviderConfig::new("agent", kind, "m");
        cfg.command = Some(CommandLine::Argv(vec!["sh".into(), "-c".into(), script.into(), "sh".into()]));
        CliAgent::new(cfg).unwrap()
    }

    fn explain() -> ModelRequest {
        ModelRequest { prefix: String::new(), suffix: String::new(), user: "Explain.".into(), ..request(Task::Explain) }
    }

    #[tokio::test]
    async fn claude_stream_json() {
        let script = r#"cat >/dev/null
echo '{"type":"system","subtype":"init","session_id":"s"}'
echo '{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"It "}}}'
echo '{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"adds."}}}'
echo '{"type":"assistant","message":{"content":[{"type":"text","text":"It adds."}]}}'
echo '{"type":"result","subtype":"success","is_error":false,"result":"It adds.","usage":{"input_tokens":3,"cache_read_input_tokens":10,"output_tokens":2},"stop_reason":"end_turn"}'"#;
        let p = agent(ProviderKind::ClaudeCli, script);
        assert!(p.args(&explain()).windows(2).any(|w| w == ["--output-format", "stream-json"]));
        let events: Vec<_> = p.stream(explain()).await.unwrap().try_collect().await.unwrap();
        assert_eq!(events[..2], [StreamEvent::Text("It ".into()), StreamEvent::Text("adds.".into())]);
        assert!(events.contains(&StreamEvent::Usage(Usage {
            input_tokens: 13,
            cached_input_tokens: 10,
            output_tokens: 2
        })));
    }

    #[tokio::test]
    async fn claude_api_error_and_crash_carry_reasons() {
        let script = r#"cat >/dev/null; echo '{"type":"result","subtype":"success","is_error":true,"api_error_status":529,"result":"Overloaded"}'"#;
        let err = agent(ProviderKind::ClaudeCli, script)
            .stream(explain())
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Overloaded { .. }), "{err:?}");
        let crash = r#"cat >/dev/null; echo 'Invalid API key · Please run /login' >&2; exit 1"#;
        let err = agent(ProviderKind::ClaudeCli, crash)
            .stream(explain())
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Please run /login"), "{err}");
    }

    #[tokio::test]
    async fn codex_exec_json_and_prompt_on_stdin() {
        let script = r#"read -r first
echo '{"type":"thread.started","thread_id":"t"}'
echo '{"type":"item.completed","item":{"id":"1","type":"agent_message","text":"draft"}}'
printf '{"type":"item.completed","item":{"id":"2","type":"agent_message","text":"%s"}}\n' "$first"
echo '{"type":"turn.completed","usage":{"input_tokens":7,"cached_input_tokens":4,"output_tokens":1}}'"#;
        let p = agent(ProviderKind::CodexCli, script);
        assert_eq!(p.args(&explain()).last().map(String::as_str), Some("-"));
        let events: Vec<_> = p.stream(explain()).await.unwrap().try_collect().await.unwrap();
        assert_eq!(events[0], StreamEvent::Text("You complete code.".into()), "system first on stdin");
        assert!(events.contains(&StreamEvent::Usage(Usage {
            input_tokens: 7,
            cached_input_tokens: 4,
            output_tokens: 1
        })));
        let failed = r#"cat >/dev/null; echo '{"type":"turn.failed","error":{"message":"quota"}}'"#;
        let err = agent(ProviderKind::CodexCli, failed)
            .stream(explain())
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("quota"));
    }

    /// Whether process `pid` stops running within `limit`: gone, or a zombie waiting for tokio's
    /// reaper (either way it no longer runs).
    async fn stops_running(pid: &str, limit: Duration) -> bool {
        let stat = format!("/proc/{pid}/stat");
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            let state = std::fs::read_to_string(&stat).unwrap_or_default();
            if state.is_empty() || state.contains(") Z") {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[tokio::test]
    async fn dropping_the_stream_asks_the_agent_to_stop_then_kills_it() {
        let dir = std::env::temp_dir().join(format!("sb-cli-term-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (gentle, stubborn) = (dir.join("gentle"), dir.join("stubborn"));
        let delta = r#"{"type":"stream_event","event":{"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}}}"#;
        // A well-behaved agent cleans up on SIGTERM; a stubborn one ignores it and is killed after the grace.
        for (marker, trap) in [(&gentle, "echo term > {m}; exit 0"), (&stubborn, "echo ignored > {m}")] {
            let trap = trap.replace("{m}", &marker.display().to_string());
            let pidfile = format!("{}.pid", marker.display());
            let script =
                format!("echo $$ > {pidfile}; trap '{trap}' TERM; echo '{delta}'; while :; do sleep 0.05; done");
            let p = agent(ProviderKind::ClaudeCli, &script);
            let mut s = p.stream(explain()).await.unwrap();
            assert_eq!(s.next().await, Some(Ok(StreamEvent::Text("x".into()))));
            drop(s);
        }
        let started = std::time::Instant::now();
        let wait_for = |path: &std::path::Path| {
            let path = path.to_owned();
            async move {
                for _ in 0..150 {
                    if std::fs::read_to_string(&path).is_ok_and(|s| !s.is_empty()) {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                false
            }
        };
        assert!(wait_for(&gentle).await, "the agent got no SIGTERM");
        assert!(wait_for(&stubborn).await, "the stubborn agent got no SIGTERM");
        assert!(started.elapsed() < Duration::from_secs(1), "SIGTERM is sent at once");
        let pid = std::fs::read_to_string(dir.join("stubborn.pid")).unwrap();
        let killed = stops_running(pid.trim(), Duration::from_secs(5)).await;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(killed, "the stubborn agent still runs after the grace period");
        assert!(started.elapsed() >= TERM_GRACE / 2, "killed only after the grace period");
    }

    #[tokio::test]
    async fn dropping_the_stream_kills_the_child() {
        let pidfile = std::env::temp_dir().join(format!("sb-cli-{}.pid", std::process::id()));
        let script = format!(
            r#"echo $$ > {}; echo '{{"type":"stream_event","event":{{"type":"content_block_delta","delta":{{"type":"text_delta","text":"x"}}}}}}'; exec sleep 30"#,
            pidfile.display()
        );
        let p = agent(ProviderKind::ClaudeCli, &script);
        let mut s = p.stream(explain()).await.unwrap();
        assert_eq!(s.next().await, Some(Ok(StreamEvent::Text("x".into()))));
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
        drop(s);
        let gone = stops_running(&pid, Duration::from_secs(2)).await;
        let _ = std::fs::remove_file(&pidfile);
        assert!(gone, "child {pid} still running");
    }

    #[tokio::test]
    async fn missing_program_says_what_to_do() {
        let mut cfg = ProviderConfig::new("agent", ProviderKind::CodexCli, "m");
        cfg.command = Some(CommandLine::Line("/nonexistent/codex".into()));
        let err = CliAgent::new(cfg).unwrap().stream(explain()).await.err().unwrap();
        assert!(err.to_string().contains("set `command`"), "{err}");
    }
}
