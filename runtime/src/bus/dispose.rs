//! [`dispose`]: what becomes of one delivered message (or a batch), decided
//! without any transport: checks, decoding, the handler, its outcome.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt as _;

use crate::bus::delivery::Delivery;
use crate::bus::listener::{
    DeadLetterKind, HandlerError, HandlerErrorKind, Listener, caught, panicked,
};
use crate::bus::options::ListenOptions;
use crate::contract::event::Event;
use crate::contract::headers::names;

/// What becomes of one delivery, as the engine decides it from the handler's
/// result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Handled: acknowledge.
    Ack,
    /// Not handled yet: deliver again after `delay`. `reason` says why.
    Retry {
        /// The delay before the redelivery.
        delay: Duration,
        /// Why the handler failed.
        reason: String,
    },
    /// Given up: publish to the dead-letter subject with `reason`, then
    /// terminate (never deliver again).
    DeadLetter {
        /// The class of the reason.
        kind: DeadLetterKind,
        /// The reason in words.
        reason: String,
    },
}

/// Decides what becomes of one delivery of `payload` to `listener`: checks
/// the delivery count and the contract version header, decodes the event,
/// calls the handler (catching a panic) and maps its outcome.
///
/// - the delivery count exceeds `max_deliver` (the previous delivery never
///   finished) -> dead letter, `exhausted`, without calling the handler;
/// - an unreadable or too new `Typebus-Version` -> dead letter, `version`;
/// - a body that does not decode -> dead letter, `decode` (with the JSON path);
/// - `Ok` -> [`Disposition::Ack`];
/// - a retryable error or a panic -> [`Disposition::Retry`], or dead letter
///   `exhausted` when this was delivery number `max_deliver`;
/// - a permanent error -> dead letter, `rejected`, with the error as reason.
///
/// The engine runs this for every message; tests can run it directly with
/// a hand-made [`Delivery`].
pub(crate) async fn dispose<L: Listener>(
    listener: &L,
    options: &ListenOptions,
    delivery: &Delivery,
    payload: &[u8],
) -> Disposition {
    let event = match admit::<L::Event>(options, delivery, payload) {
        Ok(event) => event,
        Err(disposition) => return disposition,
    };
    let outcome = caught(listener.on_message(event, delivery)).await;
    outcome_disposition(options, delivery, outcome)
}

/// Decides what becomes of a batch of deliveries (see
/// [`Dispatch::Batches`](crate::Dispatch::Batches)), as [`dispose`] does for each: the deliveries it
/// may handle go to [`Listener::on_batch`] together (a panic there counts
/// as a retryable error of every one of them). The dispositions are in the
/// messages' order.
///
/// The engine runs this for a batched listener's batches; tests can run
/// it directly with hand-made [`Delivery`]s.
pub(crate) async fn dispose_batch<L: Listener>(
    listener: &L,
    options: &ListenOptions,
    messages: &[(Delivery, impl AsRef<[u8]>)],
) -> Vec<Disposition> {
    // Decided already, or (`Err`) waiting for the handler's outcome.
    let mut dispositions: Vec<Result<Disposition, &Delivery>> = Vec::with_capacity(messages.len());
    let mut events = Vec::with_capacity(messages.len());
    for (delivery, payload) in messages {
        match admit::<L::Event>(options, delivery, payload.as_ref()) {
            Ok(event) => {
                events.push((event, delivery));
                dispositions.push(Err(delivery));
            }
            Err(disposition) => dispositions.push(Ok(disposition)),
        }
    }
    // An outcome missing (a panic, a handler that answered short) is a
    // retryable error of its event.
    let (outcomes, missing) = if events.is_empty() {
        (Vec::new(), String::new())
    } else {
        match AssertUnwindSafe(listener.on_batch(events))
            .catch_unwind()
            .await
        {
            Ok(outcomes) => (
                outcomes,
                "the batch handler gave no outcome for this event".to_owned(),
            ),
            Err(panic) => (Vec::new(), panicked(&*panic).to_string()),
        }
    };
    let mut outcomes = outcomes.into_iter();
    dispositions
        .into_iter()
        .map(|disposition| {
            disposition.unwrap_or_else(|delivery| {
                let outcome = outcomes
                    .next()
                    .unwrap_or_else(|| Err(HandlerError::retry(missing.clone())));
                outcome_disposition(options, delivery, outcome)
            })
        })
        .collect()
}

/// The event of a delivery the listener may handle, or the disposition of
/// one it may not: delivered too often, of an unreadable contract
/// version, or an undecodable body.
pub(crate) fn admit<E: Event>(
    options: &ListenOptions,
    delivery: &Delivery,
    payload: &[u8],
) -> Result<E, Disposition> {
    let version = precheck::<E>(options, delivery)?;
    E::decode_version(version, delivery.subject(), payload).map_err(|err| Disposition::DeadLetter {
        kind: DeadLetterKind::Decode,
        reason: if version == E::VERSION {
            err.to_string()
        } else {
            format!("as contract version {version}: {err}")
        },
    })
}

/// The disposition of a handler's outcome.
pub(crate) fn outcome_disposition(
    options: &ListenOptions,
    delivery: &Delivery,
    outcome: Result<(), HandlerError>,
) -> Disposition {
    let Err(err) = outcome else {
        return Disposition::Ack;
    };
    match err.kind {
        HandlerErrorKind::Permanent => Disposition::DeadLetter {
            kind: DeadLetterKind::Rejected,
            reason: err.to_string(),
        },
        HandlerErrorKind::DeadLetter(kind) => Disposition::DeadLetter {
            kind,
            reason: err.to_string(),
        },
        HandlerErrorKind::Retry(delay) => {
            retry_or_give_up(options, delivery, delay, err.to_string())
        }
    }
}

/// The checks made before decoding (delivery count, contract version):
/// the version to decode the body as, or the disposition of a delivery
/// that is not decoded.
fn precheck<E: Event>(options: &ListenOptions, delivery: &Delivery) -> Result<u32, Disposition> {
    let count = delivery.delivery_count();
    if let Some(max) = options.max_deliver
        && count > u64::from(max)
    {
        return Err(Disposition::DeadLetter {
            kind: DeadLetterKind::Exhausted,
            reason: format!(
                "delivered {count} times (max_deliver {max}); the last delivery was never settled"
            ),
        });
    }
    let Some(header) = delivery.version_header() else {
        return Ok(options.unversioned.unwrap_or(E::VERSION));
    };
    let Ok(version) = header.trim().parse::<u32>() else {
        return Err(Disposition::DeadLetter {
            kind: DeadLetterKind::Version,
            reason: format!("unreadable contract version header `{header}`"),
        });
    };
    let newest = options.newest_version(E::VERSION);
    if version <= newest {
        Ok(version)
    } else if readable_as(delivery).any(|v| v == E::VERSION) {
        // A newer version whose publisher says this version's readers
        // decode it: read it as this version.
        Ok(E::VERSION)
    } else {
        Err(Disposition::DeadLetter {
            kind: DeadLetterKind::Version,
            reason: format!(
                "contract version {version} of `{}` is not readable by this listener (it reads version {})",
                delivery.subject(),
                newest
            ),
        })
    }
}

/// The versions `Typebus-Readable-As` lists (unreadable entries skipped).
fn readable_as(delivery: &Delivery) -> impl Iterator<Item = u32> + '_ {
    delivery
        .headers()
        .get(names::READABLE_AS)
        .into_iter()
        .flat_map(|list| list.split(','))
        .filter_map(|v| v.trim().parse().ok())
}

/// A retryable failure: retry, unless this was the last allowed delivery.
pub(crate) fn retry_or_give_up(
    options: &ListenOptions,
    delivery: &Delivery,
    delay: Option<Duration>,
    reason: String,
) -> Disposition {
    let count = delivery.delivery_count();
    match options.max_deliver {
        Some(max) if count >= u64::from(max) => Disposition::DeadLetter {
            kind: DeadLetterKind::Exhausted,
            reason: format!("gave up after {count} deliveries: {reason}"),
        },
        _ => Disposition::Retry {
            delay: delay.unwrap_or_else(|| options.retry_delay(count)),
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::delivery::DeliveryInfo;
    use crate::contract::headers::{Headers, names};

    #[derive(Debug, serde::Serialize, serde::Deserialize, crate::Event)]
    #[event(subject = "ticket:created", version = 1)]
    struct TicketCreated {
        id: String,
        price: f64,
    }

    struct Probe;

    impl Listener for Probe {
        type Event = TicketCreated;

        fn options(&self) -> ListenOptions {
            ListenOptions::new("orders-service").max_deliver(Some(3))
        }

        async fn on_message(&self, event: TicketCreated, _: &Delivery) -> Result<(), HandlerError> {
            match event.id.as_str() {
                "ok" => Ok(()),
                "retry" => Err(HandlerError::retry("database down")),
                "later" => Err(HandlerError::retry_after(
                    Duration::from_millis(250),
                    "not yet",
                )),
                "bad" => Err(HandlerError::permanent("ticket refused")),
                _ => panic!("boom {}", event.id),
            }
        }
    }

    fn delivery(count: u64, version: Option<&str>) -> Delivery {
        let mut headers = Headers::new();
        if let Some(version) = version {
            headers.append(names::VERSION, version);
        }
        let info = DeliveryInfo {
            stream: "EVENTS".into(),
            consumer: "orders-service".into(),
            stream_sequence: 7,
            consumer_sequence: 9,
            delivered: count,
            pending: 0,
            published: crate::Timestamp::now(),
        };
        Delivery::new("ticket:created", headers, info)
    }

    async fn run(id: &str, count: u64, version: Option<&str>) -> Disposition {
        let body = format!(r#"{{"id":"{id}","price":9.99}}"#);
        dispose(
            &Probe,
            &Probe.options(),
            &delivery(count, version),
            body.as_bytes(),
        )
        .await
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn handler_outcomes_map_to_dispositions() {
        block_on(async {
            assert_eq!(run("ok", 1, Some("1")).await, Disposition::Ack);
            assert_eq!(
                run("retry", 1, None).await,
                Disposition::Retry {
                    delay: Duration::from_secs(1),
                    reason: "database down".into()
                }
            );
            assert_eq!(
                run("retry", 2, None).await,
                Disposition::Retry {
                    delay: Duration::from_secs(2),
                    reason: "database down".into()
                }
            );
            assert_eq!(
                run("later", 1, None).await,
                Disposition::Retry {
                    delay: Duration::from_millis(250),
                    reason: "not yet".into()
                }
            );
            assert_eq!(
                run("bad", 1, None).await,
                Disposition::DeadLetter {
                    kind: DeadLetterKind::Rejected,
                    reason: "ticket refused".into()
                }
            );
            assert_eq!(
                run("x", 1, None).await,
                Disposition::Retry {
                    delay: Duration::from_secs(1),
                    reason: "handler panicked: boom x".into()
                }
            );
        });
    }

    #[test]
    fn the_last_delivery_and_beyond_are_dead_lettered() {
        block_on(async {
            assert_eq!(
                run("retry", 3, None).await,
                Disposition::DeadLetter {
                    kind: DeadLetterKind::Exhausted,
                    reason: "gave up after 3 deliveries: database down".into()
                }
            );
            let Disposition::DeadLetter { kind, reason } = run("ok", 4, None).await else {
                panic!("not dead-lettered")
            };
            assert_eq!(kind, DeadLetterKind::Exhausted);
            assert!(
                reason.starts_with("delivered 4 times (max_deliver 3)"),
                "{reason}"
            );
        });
    }

    #[test]
    fn bad_versions_and_bodies_are_dead_lettered() {
        block_on(async {
            let Disposition::DeadLetter { kind, reason } = run("ok", 1, Some("2")).await else {
                panic!("not dead-lettered")
            };
            assert_eq!(kind, DeadLetterKind::Version);
            assert!(reason.contains("contract version 2"), "{reason}");
            let Disposition::DeadLetter { kind, .. } = run("ok", 1, Some("v1")).await else {
                panic!("not dead-lettered")
            };
            assert_eq!(kind, DeadLetterKind::Version);
            let d = dispose(
                &Probe,
                &Probe.options(),
                &delivery(1, None),
                br#"{"id":"ok","price":"free"}"#,
            )
            .await;
            let Disposition::DeadLetter { kind, reason } = d else {
                panic!("not dead-lettered")
            };
            assert_eq!(kind, DeadLetterKind::Decode);
            assert!(reason.contains("$.price"), "{reason}");
        });
    }
}
