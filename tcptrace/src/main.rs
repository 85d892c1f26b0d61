//! tcptrace: tcpdump's TCP lines, with the filtering and record building done in the kernel.
//! This file only parses the command line, plans the run, runs it and turns an error into
//! one line.
#[cfg(all(target_env = "musl", target_arch = "x86_64"))]
mod smallcopy;

use std::{io, process::ExitCode};

use clap::Parser as _;
use tcptrace::{cli::Cli, plan::Plan, trace};

/// A refusal of clap's as one line, without its `error: ` prefix, usage and hints; the
/// values an option takes, when clap lists them, follow in parentheses.
fn clap_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
    // "the following required arguments were not provided:" lists them on later lines.
    if line.ends_with(':')
        && let Some(ContextValue::Strings(args)) = e.get(ContextKind::InvalidArg)
    {
        line.push(' ');
        line.push_str(&args.join(", "));
    }
    if let Some(ContextValue::Strings(values)) = e.get(ContextKind::ValidValue)
        && !values.is_empty()
    {
        line.push_str(&format!(" (possible values: {})", values.join(", ")));
    }
    let suggested = match e.get(ContextKind::SuggestedArg) {
        Some(ContextValue::String(s)) => Some(s),
        Some(ContextValue::Strings(v)) => v.first(),
        _ => None,
    };
    if let Some(s) = suggested {
        line.push_str(&format!(" (did you mean '{s}'?)"));
    }
    line
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                // --help, --version: clap's text on stdout, exit status 0.
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // Bad arguments: one line and exit status 1, as tcpdump.
            eprintln!("tcptrace: {}", clap_line(&e));
            return ExitCode::FAILURE;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed stdout (e.g. `| head`) is not an error worth a message.
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("tcptrace: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, each said once: a cause whose text the
/// message already holds (`{path}: {io error}` over that io error) is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    trace::run(&Plan::new(&cli)?)
}
