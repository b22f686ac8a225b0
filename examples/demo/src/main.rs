//! `ticketing-demo`: runs the tickets, orders, payments and expiration
//! services in one process on typebus and checks that they end in
//! agreement.
//!
//! ```text
//! cargo run -p ticketing-demo                                   # embedded memory transport
//! cargo run -p ticketing-demo -- --nats nats://127.0.0.1:4222   # a nats-server with JetStream
//! ```
//!
//! It puts tickets on sale, places three orders, pays one, lets one
//! expire, cancels one, runs the tickets service's `order:created`
//! listener as an instance that crashes on its first deliveries, and
//! publishes duplicates (with the same message id, and with fresh ones).
//! At the end it prints the timeline, a line per event:
//! `+<seconds>  <service>  <arrow>  <subject>  <key fields>`, with `->`
//! published, `=>` deduplicated by the stream, `<-` handled, `<=` handled
//! with nothing to change, `**` an injected crash.
//!
//! Exit code: 0 when the services agree at the end, 1 when they do not,
//! 2 when the demo could not run (no server, ...).
//!
//! Against NATS, use a fresh server (or one whose `EVENTS` stream holds no
//! unacknowledged ticketing events): the listeners' durable consumers
//! deliver what earlier runs left unacknowledged.

mod consistency;
mod crash;
mod scenario;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ticketing_services::Journal;

use crate::crash::INJECTED_CRASH;
use crate::scenario::Settings;

/// Runs the ticketing services on typebus and checks they agree.
#[derive(Debug, Parser)]
#[command(name = "ticketing-demo", version)]
struct Args {
    /// A NATS server with JetStream (e.g. nats://127.0.0.1:4222); without
    /// it, the embedded memory transport.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// How long an order may go unpaid, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1500)]
    expiration_ms: u64,
    /// How long to wait for the services to agree at the end, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 15_000)]
    settle_ms: u64,
    /// How many deliveries the crashing listener instance crashes on.
    #[arg(long, value_name = "N", default_value_t = 2)]
    crashes: u32,
    /// Test hook: skip the tickets service's `order:cancelled` listener, so
    /// the run must end inconsistent (exit code 1).
    #[arg(long)]
    break_consistency: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Injected crashes are on the timeline; keep their panic messages off stderr.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&INJECTED_CRASH) {
            default_hook(info);
        }
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let (bus, transport) = match &args.nats {
        Some(url) => {
            let options = typebus::nats::ConnectOptions::new(url.clone()).name("ticketing-demo");
            match typebus::nats::connect(options).await {
                Ok(bus) => (bus, format!("nats {url}")),
                Err(err) => return fail(&err),
            }
        }
        None => (
            typebus::memory::bus(),
            "the embedded memory transport".to_owned(),
        ),
    };
    let settings = Settings {
        expiration: Duration::from_millis(args.expiration_ms),
        settle: Duration::from_millis(args.settle_ms),
        crashes: args.crashes,
        break_consistency: args.break_consistency,
    };
    println!(
        "ticketing demo on {transport}: orders expire after {} ms{}",
        args.expiration_ms,
        if settings.break_consistency {
            "; test hook: tickets' order:cancelled listener is NOT started"
        } else {
            ""
        }
    );
    let journal = Journal::new();
    let result = scenario::run(&bus, &settings, &journal).await;
    drop(bus);
    println!(
        "timeline (-> published, => deduplicated, <- handled, <= no change, ** injected crash)"
    );
    for entry in journal.entries() {
        println!("{entry}");
    }
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(err) => return fail(&err),
    };
    println!("\nfinal state");
    print!("{}", consistency::render(&outcome.services));
    let failures: Vec<_> = outcome.problems.iter().chain(&outcome.unmet).collect();
    if failures.is_empty() {
        println!("\nconsistent: every service agrees");
        ExitCode::SUCCESS
    } else {
        println!("\nNOT consistent:");
        for failure in failures {
            println!("  - {failure}");
        }
        ExitCode::FAILURE
    }
}

fn fail(err: &dyn std::error::Error) -> ExitCode {
    eprint!("error: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        eprint!(": {cause}");
        source = cause.source();
    }
    eprintln!();
    ExitCode::from(2)
}
