//! API keys: resolved from an env var or a command, held in a `Secret` that never prints itself.

use std::fmt;
use std::time::Duration;

use tokio::process::Command;

use super::config::ANTHROPIC_AUTH_TOKEN;

/// A key. Debug and Display print `***`; only `expose` hands out the text, to build a header.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a provider's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The provider takes no key (local servers).
    None,
    /// An env var; `optional` when the server works without one (OpenAI-compatible local servers).
    Env { var: String, optional: bool },
    /// A command whose trimmed stdout is the key (keychains, password managers).
    Command(Vec<String>),
    /// A key given directly (tests, editor settings).
    Static(Secret),
}

const KEY_CMD_TIMEOUT: Duration = Duration::from_secs(10);

impl KeySource {
    /// What the user should do when the key is missing or rejected.
    pub fn hint(&self) -> String {
        match self {
            KeySource::None => "this provider takes no key".into(),
            KeySource::Env { var, .. } if var == ANTHROPIC_AUTH_TOKEN => {
                format!("set {var} to a valid token (while it is set, ANTHROPIC_API_KEY is not used)")
            }
            KeySource::Env { var, .. } => format!("set {var} to a valid key"),
            KeySource::Command(argv) => {
                format!("check that `{}` prints a valid key", argv.first().map_or("", String::as_str))
            }
            KeySource::Static(_) => "check the key in the editor settings".into(),
        }
    }

    /// `Ok(None)`: no key to send. Errors are plain text for `ProviderError::Auth`/`Config`, keyless.
    /// A resolved key is remembered by `crate::privacy`, which takes it out of every prompt and of
    /// every text that comes back from upstream.
    pub async fn resolve(&self) -> Result<Option<Secret>, KeyError> {
        let key = self.resolve_value().await;
        if let Ok(Some(k)) = &key {
            crate::privacy::remember_key(k.expose());
        }
        key
    }

    async fn resolve_value(&self) -> Result<Option<Secret>, KeyError> {
        match self {
            KeySource::None => Ok(None),
            KeySource::Static(s) => Ok(Some(s.clone())),
            KeySource::Env { var, optional } => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(Secret(v.trim().to_owned()))),
                _ if *optional => Ok(None),
                _ => Err(KeyError::Missing(format!("{var} is not set"))),
            },
            KeySource::Command(argv) => run_key_command(argv).await.map(Some),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Command(String),
}

async fn run_key_command(argv: &[String]) -> Result<Secret, KeyError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(KeyError::Command("api_key_cmd is empty".into()));
    };
    let child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(KEY_CMD_TIMEOUT, child).await {
        Err(_) => {
            return Err(KeyError::Command(format!("api_key_cmd `{program}` timed out after {KEY_CMD_TIMEOUT:?}")));
        }
        Ok(Err(e)) => return Err(KeyError::Command(format!("cannot run api_key_cmd `{program}`: {e}"))),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        // stderr is the user's tool talking; keep a short tail, never stdout (it may be the key).
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err.trim().chars().rev().take(200).collect::<Vec<_>>().into_iter().rev().collect();
        let tail = crate::privacy::scrub(&tail);
        return Err(KeyError::Command(format!("api_key_cmd `{program}` failed ({}): {tail}", out.status)));
    }
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if key.is_empty() {
        return Err(KeyError::Command(format!("api_key_cmd `{program}` printed nothing")));
    }
    Ok(Secret(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("sk-live-123");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        let k = KeySource::Static(s);
        assert!(!format!("{k:?}").contains("sk-live"));
    }

    #[tokio::test]
    async fn key_command_is_trimmed_and_errors_hide_stdout() {
        let ok = KeySource::Command(vec!["printf".into(), "  sk-cmd-1\n".into()]);
        assert_eq!(ok.resolve().await.unwrap().unwrap().expose(), "sk-cmd-1");
        let bad = KeySource::Command(vec!["sh".into(), "-c".into(), "echo sk-secret; echo locked >&2; exit 3".into()]);
        let err = bad.resolve().await.unwrap_err().to_string();
        assert!(err.contains("locked") && !err.contains("sk-secret"), "{err}");
        let missing = KeySource::Env { var: "SWITCHBOARD_TEST_SURELY_UNSET".into(), optional: false };
        assert!(missing.resolve().await.unwrap_err().to_string().contains("SWITCHBOARD_TEST_SURELY_UNSET"));
        let optional = KeySource::Env { var: "SWITCHBOARD_TEST_SURELY_UNSET".into(), optional: true };
        assert_eq!(optional.resolve().await.unwrap(), None);
    }
}
