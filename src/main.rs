//! Entry point: logging to stderr (stdout belongs to LSP), the TLS provider, and command dispatch.

use std::sync::Arc;

use clap::Parser;
use switchboard::{
    cli::{self, Cli, Command},
    engine::Engine,
    server,
};

fn main() -> anyhow::Result<()> {
    let args = Cli::parse();
    let filter = std::env::var("SWITCHBOARD_LOG").unwrap_or_else(|_| "switchboard=info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "switchboard=info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    // reqwest is built without a default crypto provider (ring keeps the build lean); install it
    // once. An error only means another provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();

    match args.command {
        None | Some(Command::Serve) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            // On a worker, not the main thread: the transport's tasks and the server's wake each
            // other on every message, and a wake within the runtime does not cross threads.
            let code =
                runtime.block_on(async { tokio::spawn(server::serve(Arc::new(Engine::default()))).await.unwrap_or(1) });
            // A stdin reader on a blocking thread (a terminal, say) would keep the process alive after
            // `exit`; don't wait for it.
            runtime.shutdown_timeout(std::time::Duration::from_millis(50));
            // LSP: `exit` after `shutdown` is success, without it failure.
            std::process::exit(code)
        }
        Some(Command::Complete { location, json }) => cli::complete(&location, json),
        Some(Command::Doctor) => {
            // Exit 1 when a route has no usable provider.
            if cli::doctor()? != std::process::ExitCode::SUCCESS {
                let _ = std::io::Write::flush(&mut std::io::stdout());
                std::process::exit(1);
            }
            Ok(())
        }
        Some(Command::Context { location, json, open, format }) => cli::context(&location, json, &open, &format),
        Some(Command::Action { name, location, apply, force }) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(switchboard::actions::cli::run(&name, &location, apply, force))
        }
        Some(Command::Mcp { root }) => {
            let root = match root {
                Some(r) => r,
                None => std::env::current_dir()?,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let result = runtime.block_on(switchboard::mcp::serve(&root));
            // As for `serve`: the stdin reader's blocking thread must not keep the process alive.
            runtime.shutdown_timeout(std::time::Duration::from_millis(50));
            result
        }
        Some(Command::Stats) => {
            print!("{}", switchboard::completion::stats::report());
            Ok(())
        }
    }
}
