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
            runtime.block_on(server::serve(Arc::new(Engine::default())));
            // The stdin reader sits on a blocking thread that would keep the process alive after
            // `exit`; don't wait for it.
            runtime.shutdown_timeout(std::time::Duration::from_millis(50));
            Ok(())
        }
        Some(Command::Complete { location, json }) => cli::complete(&location, json),
        Some(Command::Doctor) => cli::doctor(),
        Some(Command::Context { location, json, open, format }) => cli::context(&location, json, &open, &format),
        Some(Command::Action { name, location, apply }) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(switchboard::actions::cli::run(&name, &location, apply))
        }
        Some(Command::Stats) => {
            print!("{}", switchboard::completion::stats::report());
            Ok(())
        }
    }
}
