//! `tern-bench`: drives an MQTT broker at `HOST:PORT` with one scenario (or `--smoke`: all of
//! them, tiny) and prints one JSON line per run. Exit status: 0 if every run passed, 1 if any
//! failed (a broken guarantee, a protocol error, the time limit), 2 on bad arguments.
//!
//! See `benches/README.md` and `tern-bench --help`.

use std::process::ExitCode;

use tern_benches::load::config::{Command, USAGE, parse_args, smoke_runs};
use tern_benches::load::run;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs = match parse_args(args.iter().map(String::as_str)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(p)) => vec![p],
        Ok(Command::Smoke(p)) => smoke_runs(&p),
        Err(e) => {
            eprintln!("tern-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = 0;
    for p in &runs {
        let report = run(p);
        println!("{}", report.to_json());
        if let Some(e) = &report.error {
            eprintln!(
                "tern-bench: {} (QoS {}) failed: {e}",
                p.scenario.name(),
                p.qos
            );
            failed += 1;
        }
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
