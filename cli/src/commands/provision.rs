//! `typebus provision [--update] [--dry-run]`: creates the streams the
//! schemas need (the event stream with every subject, the dead-letter
//! stream), or verifies the existing ones, through the runtime's
//! provisioning ([`typebus::Transport::provision`]).
//!
//! One line per stream: `created`, `up to date`, `updated` (subjects added,
//! only with `--update`) or `differs` with every difference. A stream that
//! differs and is left as it is makes the exit status 1: missing subjects
//! without `--update`, and any other difference (storage, replicas,
//! duplicate window, max age), which provisioning never changes.

use anstream::println;
use typebus::nats::{StreamDifference, stream_differences};
use typebus::{ProvisionOutcome, StreamConfig, Transport as _};

use crate::bus_config::format_duration;
use crate::cli::ProvisionArgs;
use crate::config::Paths;
use crate::error::CliError;
use crate::output::{BOLD, ERROR, OK, plural};
use crate::stream_check::{describe, lookup, wanted};

/// Creates or verifies every stream; exit 1 when one differs and stays so.
pub(crate) fn run(args: &ProvisionArgs) -> Result<(), CliError> {
    let paths = Paths::resolve(args.schemas.schemas.as_deref(), None)?;
    let model = super::model(&paths.schemas)?;
    let streams = wanted(&paths, &model);
    let (create, update, add) = if args.dry_run {
        ("would create", "would update", "would add")
    } else {
        ("created", "updated", "added")
    };
    crate::nats::block_on(async {
        let transport = crate::nats::connect(&args.server).await?;
        let js = transport.jetstream();
        let mut differing = Vec::new();
        for stream in &streams {
            let config = &stream.config;
            let name = &config.name;
            let Some(existing) = lookup(js, name).await? else {
                if !args.dry_run {
                    provision(&transport, config).await?;
                }
                println!(
                    "{OK}{create}{OK:#} {BOLD}{name}{BOLD:#}: {}",
                    summary(config)
                );
                continue;
            };
            let differences = stream_differences(config, &existing.cached_info().config);
            if differences.is_empty() {
                println!("{OK}up to date{OK:#} {BOLD}{name}{BOLD:#}");
                continue;
            }
            let additive = differences.iter().all(StreamDifference::is_additive);
            if additive && args.update {
                if !args.dry_run {
                    provision(&transport, config).await?;
                }
                for difference in &differences {
                    if let StreamDifference::MissingSubjects(subjects) = difference {
                        println!(
                            "{OK}{update}{OK:#} {BOLD}{name}{BOLD:#}: {add} subjects {}",
                            subjects.join(", ")
                        );
                    }
                }
                continue;
            }
            println!("{ERROR}differs{ERROR:#} {BOLD}{name}{BOLD:#}:");
            for difference in &differences {
                let described = describe(stream.role, difference);
                if difference.is_additive() {
                    if args.update {
                        println!("  {described}: added once the other differences are resolved");
                    } else {
                        println!("  {described}: `typebus provision --update` adds them");
                    }
                } else {
                    println!("  {described}");
                    println!(
                        "    typebus never changes this: edit the stream (`nats stream edit {name}`) or the configuration"
                    );
                }
            }
            differing.push(name.clone());
        }
        transport.close().await;
        if differing.is_empty() {
            Ok(())
        } else {
            Err(CliError::Failed(format!(
                "stream{} {} differ{} from the configuration",
                plural(differing.len()),
                differing.join(", "),
                if differing.len() == 1 { "s" } else { "" }
            )))
        }
    })
}

/// The runtime's create-or-verify-and-extend.
async fn provision(
    transport: &typebus::nats::NatsTransport,
    config: &StreamConfig,
) -> Result<ProvisionOutcome, CliError> {
    transport.provision(config).await.map_err(|err| {
        CliError::Failed(format!("cannot provision stream `{}`: {err}", config.name))
    })
}

/// `6 subjects (a, b, ...), file storage, 1 replica, duplicate window 2m`.
fn summary(config: &StreamConfig) -> String {
    let storage = format!("{:?}", config.storage).to_lowercase();
    let mut text = format!(
        "{} subject{} ({}), {storage} storage, {} replica{}, duplicate window {}",
        config.subjects.len(),
        plural(config.subjects.len()),
        config.subjects.join(", "),
        config.replicas,
        plural(config.replicas),
        format_duration(config.duplicate_window)
    );
    if let Some(age) = config.max_age {
        text.push_str(&format!(", max age {}", format_duration(age)));
    }
    text
}
