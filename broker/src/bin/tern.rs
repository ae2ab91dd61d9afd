//! `tern`: the broker binary. A thin `main` (mini-redis `src/bin/server.rs`): parse the
//! command line, load the configuration, set up logging, start the server, wait for a
//! signal, shut down.

use std::error::Error;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tern_broker::shutdown::Signals;
use tern_broker::{Config, Server};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// Tern: an MQTT 3.1.1 / 5.0 broker for edge and IoT gateways.
///
/// Without arguments it listens on 127.0.0.1:1883, allows anonymous clients and keeps its
/// state in memory. SIGINT or SIGTERM shuts it down gracefully. Logging goes to stderr;
/// RUST_LOG (tracing EnvFilter syntax) overrides the configured log_level.
#[derive(Debug, Parser)]
#[command(name = "tern", version, about, long_about)]
struct Cli {
    /// Read the configuration from this TOML file (every key documented in
    /// tern.example.toml). Without it the built-in defaults apply.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Listen on ADDR (plain TCP, e.g. 0.0.0.0:1883, IPv6 in brackets; port 0 picks a free
    /// port) instead of the configured listeners. Repeat for several addresses.
    #[arg(short, long = "listen", value_name = "ADDR")]
    listen: Vec<SocketAddr>,

    /// Check the configuration (file and flags) and exit: status 0 and "configuration OK"
    /// if it is valid, status 1 and the error (FILE:LINE: KEY: problem) if not.
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tern: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn Error>> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    config.override_listeners(&cli.listen);
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(&env)
            .map_err(|e| format!("RUST_LOG: invalid log filter {env:?}: {e}"))?,
        _ => EnvFilter::try_new(&config.log_level).map_err(|e| {
            let file = cli
                .config
                .as_deref()
                .map_or_else(|| "(defaults)".into(), |p| p.display().to_string());
            format!(
                "{file}: log_level: invalid log filter {:?}: {e}",
                config.log_level
            )
        })?,
    };
    if cli.check_config {
        println!("configuration OK");
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    // Signal handlers go in before the listeners open, so an early SIGTERM is not fatal.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut signals = {
        let _guard = rt.enter();
        Signals::new()?
    };
    let handle = Server::new(config).start()?;
    info!("{} started", tern_broker::VERSION);
    rt.block_on(async {
        tokio::select! {
            name = signals.recv() => info!("{name} received, shutting down"),
            () = handle.stopped() => error!("a shard stopped unexpectedly, shutting down"),
        }
    });
    handle.shutdown();
    handle.join()?;
    info!("stopped");
    Ok(())
}
