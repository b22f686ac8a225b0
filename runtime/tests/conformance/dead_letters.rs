//! Dead letters brought back: `DeadLetters` lists, shows, replays and
//! purges what a listener dead-lettered, the same way on every transport.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use typebus::headers::{Headers, names};
use typebus::transport::OutgoingMessage;
use typebus::{Bus, DeadLetterErrorKind, DeadLetterFilter, DeadLetterKind, EventCount};

use super::{Act, Backend, PATIENCE, Probe, SUBJECT, publish, publish_raw, setup, ticket};

const GROUP: &str = "dlq-service";

/// A probe of [`GROUP`] that rejects (permanently) the tickets in `broken`
/// until `fixed` is set, and handles everything else.
fn probe(broken: &'static [&'static str], fixed: &Arc<AtomicBool>) -> Probe {
    let fixed = Arc::clone(fixed);
    Probe::new(GROUP, move |event, _| {
        if !fixed.load(Ordering::SeqCst) && broken.contains(&event.id.as_str()) {
            Act::Permanent
        } else {
            Act::Ok
        }
    })
}

/// Waits until the group has `count` dead letters, as `list` counts them.
async fn wait_for_dead_letters(bus: &Bus, count: u64) {
    let dead_letters = bus.dead_letters();
    let started = std::time::Instant::now();
    loop {
        let groups = dead_letters.list(Some(GROUP)).await.expect("list");
        let have = groups.first().map_or(0, |group| group.count);
        if have == count {
            return;
        }
        assert!(have < count, "{have} dead letters, expected {count}");
        assert!(
            started.elapsed() < PATIENCE,
            "timed out waiting for {count} dead letters (have {have})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits until the listener's durable consumer has settled everything.
async fn wait_settled<B: Backend>(backend: &B) {
    let durable = typebus::consumer_name(GROUP, SUBJECT);
    let started = std::time::Instant::now();
    while !backend.consumer_settled(&durable).await {
        assert!(
            started.elapsed() < PATIENCE,
            "timed out waiting for the consumer to settle"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The ids handled as replays (a `Typebus-Replay-Of` header), with how often.
fn replays_handled(probe: &Probe) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for call in probe.calls() {
        if call.delivery.headers().get(names::REPLAY_OF).is_some() {
            *seen.entry(call.event.id.clone()).or_default() += 1;
        }
    }
    seen
}

fn raw_headers(id: &str, version: Option<&str>) -> Headers {
    let mut headers = Headers::new();
    headers.append(names::MSG_ID, id);
    if let Some(version) = version {
        headers.append(names::VERSION, version);
    }
    headers.append("X-Trace", "trace-1");
    headers
}

/// A listener rejects three events and cannot decode three bodies: `list`
/// counts them per reason and per subject and version, `show` returns one
/// with its body and original headers, a dry run changes nothing, a replay
/// of the rejected ones (the handler now fixed) brings each back exactly
/// once although their ids are inside the duplicate window, leaves the
/// others, and does nothing the second time; `purge` deletes the rest.
pub async fn dead_letters_are_listed_shown_replayed_and_purged<B: Backend>() {
    let (backend, bus) = setup::<B>().await;
    let fixed = Arc::new(AtomicBool::new(false));
    let probe = probe(&["t2", "t4", "t6"], &fixed);
    let handle = bus.listen(probe.clone()).await.unwrap();
    publish(&bus, 1..=6).await;
    publish_raw(
        &bus,
        raw_headers("bad-1", Some("1")),
        Bytes::from_static(b"{not json"),
    )
    .await;
    publish_raw(
        &bus,
        raw_headers("bad-2", Some("1")),
        Bytes::from_static(br#"{"id":"t9","price":"free"}"#),
    )
    .await;
    publish_raw(&bus, Headers::new(), Bytes::from_static(b"plain text")).await;
    wait_for_dead_letters(&bus, 6).await;
    let dead_letters = bus.dead_letters();

    // list: per reason and per (subject, version).
    let groups = dead_letters.list(None).await.unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let group = &groups[0];
    assert_eq!(group.group, GROUP);
    assert_eq!(group.count, 6);
    assert_eq!(
        group.kinds,
        BTreeMap::from([("decode".to_owned(), 3), ("rejected".to_owned(), 3)])
    );
    assert_eq!(
        group.events,
        [
            EventCount {
                subject: SUBJECT.into(),
                version: None,
                count: 1
            },
            EventCount {
                subject: SUBJECT.into(),
                version: Some("1".into()),
                count: 5
            },
        ]
    );
    assert!(
        dead_letters
            .list(Some("other-service"))
            .await
            .unwrap()
            .is_empty()
    );

    // show: the rejected t2, with its original body and headers.
    let rejected = dead_letters
        .matching(&DeadLetterFilter::new(GROUP).kind(DeadLetterKind::Rejected))
        .await
        .unwrap();
    assert_eq!(rejected.len(), 3);
    let first = dead_letters
        .show(GROUP, rejected[0].sequence)
        .await
        .unwrap();
    let original_t2 = probe
        .calls()
        .into_iter()
        .find(|call| call.event.id == "t2")
        .expect("t2 was delivered");
    let original_id = original_t2
        .delivery
        .headers()
        .get(names::MSG_ID)
        .expect("published with an id")
        .to_owned();
    assert_eq!(first.kind, "rejected");
    assert!(first.reason.contains("refused"), "{}", first.reason);
    assert_eq!(first.deliveries, Some(1));
    assert_eq!(first.original_subject.as_deref(), Some(SUBJECT));
    assert_eq!(first.original_stream.as_deref(), Some("EVENTS"));
    assert_eq!(first.original_sequence, Some(2));
    assert_eq!(first.original_msg_id.as_deref(), Some(original_id.as_str()));
    assert_eq!(first.version(), Some("1"));
    assert_eq!(first.headers.get(names::EVENT), Some("TicketCreated"));
    assert!(
        first
            .headers
            .iter()
            .all(|(name, _)| !name.starts_with("Typebus-Dlq-") && name != names::MSG_ID),
        "{:?}",
        first.headers
    );
    let body: super::TicketCreated = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(body, ticket(2));
    assert_eq!(
        first.replay_id(),
        format!("{original_id}~replay~{}", first.sequence)
    );
    let err = dead_letters
        .show("other-service", first.sequence)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DeadLetterErrorKind::NotFound, "{err}");
    let err = dead_letters.show(GROUP, 999).await.unwrap_err();
    assert_eq!(err.kind(), DeadLetterErrorKind::NotFound, "{err}");

    // A dry run says what it would do and changes nothing.
    let only_rejected = DeadLetterFilter::new(GROUP).kind(DeadLetterKind::Rejected);
    let dry = dead_letters.replay(&only_rejected, true).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.done.len(), 3);
    assert!(dry.done.iter().all(|handled| handled.ack.is_none()));
    assert_eq!(dead_letters.list(Some(GROUP)).await.unwrap(), groups);

    // The handler is fixed; the rejected ones come back, each once.
    fixed.store(true, Ordering::SeqCst);
    let report = dead_letters.replay(&only_rejected, false).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.done.iter().map(|h| h.sequence).collect::<Vec<_>>(),
        rejected.iter().map(|l| l.sequence).collect::<Vec<_>>()
    );
    for handled in &report.done {
        let ack = handled.ack.as_ref().expect("published");
        assert_eq!(ack.stream, "EVENTS");
        assert!(
            !ack.duplicate,
            "a replay is not a duplicate of its original"
        );
    }
    super::eventually("the three replays handled", || {
        replays_handled(&probe).len() == 3
    })
    .await;
    wait_settled(&backend).await;
    assert_eq!(
        replays_handled(&probe),
        BTreeMap::from([
            ("t2".to_owned(), 1),
            ("t4".to_owned(), 1),
            ("t6".to_owned(), 1)
        ])
    );
    let replayed_t2 = probe
        .calls()
        .into_iter()
        .find(|call| {
            call.event.id == "t2" && call.delivery.headers().get(names::REPLAY_OF).is_some()
        })
        .expect("t2 replayed");
    let headers = replayed_t2.delivery.headers();
    assert_eq!(headers.get(names::REPLAY_OF), Some(original_id.as_str()));
    assert_eq!(headers.get(names::MSG_ID), Some(first.replay_id().as_str()));
    assert_eq!(headers.get(names::VERSION), Some("1"));
    assert!(
        headers
            .iter()
            .all(|(name, _)| !name.starts_with("Typebus-Dlq-"))
    );

    // Replayed ones are gone; the undecodable ones remain.
    let left = dead_letters.list(Some(GROUP)).await.unwrap();
    assert_eq!(left[0].count, 3);
    assert_eq!(left[0].kinds, BTreeMap::from([("decode".to_owned(), 3)]));
    for letter in &rejected {
        let err = dead_letters.show(GROUP, letter.sequence).await.unwrap_err();
        assert_eq!(err.kind(), DeadLetterErrorKind::NotFound);
    }
    let again = dead_letters.replay(&only_rejected, false).await.unwrap();
    assert!(
        again.done.is_empty() && again.failed.is_empty(),
        "{again:?}"
    );

    // purge: a dry run deletes nothing, then the subject filter deletes them.
    let only_decode = DeadLetterFilter::new(GROUP)
        .kind(DeadLetterKind::Decode)
        .subject(SUBJECT);
    let dry = dead_letters.purge(&only_decode, true).await.unwrap();
    assert_eq!(dry.done.len(), 3);
    assert_eq!(dead_letters.list(Some(GROUP)).await.unwrap(), left);
    let other_subject = DeadLetterFilter::new(GROUP).subject("ticket:updated");
    assert!(
        dead_letters
            .purge(&other_subject, false)
            .await
            .unwrap()
            .done
            .is_empty()
    );
    let purged = dead_letters.purge(&only_decode, false).await.unwrap();
    assert_eq!(purged.done.len(), 3);
    assert!(purged.failed.is_empty());
    assert!(dead_letters.list(None).await.unwrap().is_empty());
    handle.shutdown().await.unwrap();
    assert_eq!(replays_handled(&probe).values().sum::<usize>(), 3);
}

/// A replay interrupted after its publish and before the dead letter was
/// deleted (simulated: the replay published by hand, the dead letter left)
/// is not delivered twice when replayed again: the stream recognises the
/// same replay id, and the dead letter is deleted.
pub async fn an_interrupted_replay_is_not_delivered_twice<B: Backend>() {
    let (backend, bus) = setup::<B>().await;
    let fixed = Arc::new(AtomicBool::new(false));
    let probe = probe(&["t1"], &fixed);
    let handle = bus.listen(probe.clone()).await.unwrap();
    publish(&bus, 1..=1).await;
    wait_for_dead_letters(&bus, 1).await;
    let dead_letters = bus.dead_letters();
    let filter = DeadLetterFilter::new(GROUP);
    let letter = dead_letters.matching(&filter).await.unwrap().remove(0);
    fixed.store(true, Ordering::SeqCst);

    // What the first replay sent before it stopped.
    let mut headers = letter.headers.clone();
    headers.append(names::REPLAY_OF, letter.original_id());
    headers.append(names::MSG_ID, letter.replay_id());
    let first = bus
        .transport()
        .publish(OutgoingMessage {
            subject: SUBJECT.into(),
            headers,
            payload: letter.body.clone(),
        })
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(!first.duplicate);
    super::eventually("the first replay handled", || {
        replays_handled(&probe).len() == 1
    })
    .await;

    let report = dead_letters.replay(&filter, false).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.done.len(), 1);
    let ack = report.done[0].ack.as_ref().expect("published");
    assert!(ack.duplicate, "recognised as the first replay");
    assert_eq!(ack.sequence, first.sequence);
    assert!(dead_letters.list(None).await.unwrap().is_empty());
    wait_settled(&backend).await;
    handle.shutdown().await.unwrap();
    assert_eq!(
        replays_handled(&probe),
        BTreeMap::from([("t1".to_owned(), 1)])
    );
}

/// A dead letter whose original was cut to fit beside the dead-letter
/// headers is replayed whole: the replay reads the original from its
/// stream.
pub async fn a_cut_dead_letter_is_replayed_whole_from_its_original<B: Backend>() {
    let (backend, bus) = setup::<B>().await;
    let fixed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&fixed);
    let probe = Probe::new(GROUP, move |event, _| {
        if !flag.load(Ordering::SeqCst) && event.id.len() > 1000 {
            Act::Permanent
        } else {
            Act::Ok
        }
    });
    let handle = bus.listen(probe.clone()).await.unwrap();
    // A body 300 bytes under the limit: it fits with its own headers, not
    // beside the dead-letter ones.
    let overhead = typebus::to_json(&super::TicketCreated {
        id: String::new(),
        price: 1.0,
    })
    .unwrap()
    .len();
    let big = super::TicketCreated {
        id: "x".repeat(bus.transport().max_payload() - 300 - overhead),
        price: 1.0,
    };
    let size = typebus::to_json(&big).unwrap().len();
    bus.publisher::<super::TicketCreated>()
        .publish(&big)
        .await
        .unwrap();
    wait_for_dead_letters(&bus, 1).await;
    let dead_letters = bus.dead_letters();
    let filter = DeadLetterFilter::new(GROUP);
    let letter = dead_letters.matching(&filter).await.unwrap().remove(0);
    assert_eq!(letter.body_size, Some(size as u64));
    assert!(letter.body.len() < size);
    assert!(!letter.is_complete());

    fixed.store(true, Ordering::SeqCst);
    let report = dead_letters.replay(&filter, false).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.done.len(), 1);
    super::eventually("the replay handled", || replays_handled(&probe).len() == 1).await;
    wait_settled(&backend).await;
    handle.shutdown().await.unwrap();
    let replayed = probe
        .calls()
        .into_iter()
        .find(|call| call.delivery.headers().get(names::REPLAY_OF).is_some())
        .expect("replayed");
    assert_eq!(replayed.event, big, "the whole original, not the cut body");
    assert_eq!(replayed.delivery.headers().get(names::VERSION), Some("1"));
    assert!(dead_letters.list(None).await.unwrap().is_empty());
}

/// A replay the listener dead-letters again is a new dead letter, whose
/// replay carries a new id (still naming the first publication) and is
/// delivered again.
pub async fn a_replay_dead_lettered_again_is_replayed_again<B: Backend>() {
    let (backend, bus) = setup::<B>().await;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    // The first delivery and the first replay are rejected.
    let probe = Probe::new(GROUP, move |_, _| {
        if counter.fetch_add(1, Ordering::SeqCst) < 2 {
            Act::Permanent
        } else {
            Act::Ok
        }
    });
    let handle = bus.listen(probe.clone()).await.unwrap();
    publish(&bus, 1..=1).await;
    wait_for_dead_letters(&bus, 1).await;
    let dead_letters = bus.dead_letters();
    let filter = DeadLetterFilter::new(GROUP);
    let first = dead_letters.matching(&filter).await.unwrap().remove(0);
    let original_id = first.original_msg_id.clone().expect("published with an id");
    let report = dead_letters.replay(&filter, false).await.unwrap();
    assert_eq!(report.done.len(), 1, "{:?}", report.failed);

    super::eventually("the replay rejected", || calls.load(Ordering::SeqCst) == 2).await;
    wait_for_dead_letters(&bus, 1).await;
    let second = dead_letters.matching(&filter).await.unwrap().remove(0);
    assert!(second.sequence > first.sequence);
    assert_eq!(second.original_msg_id, Some(first.replay_id()));
    assert_eq!(second.original_id(), original_id, "the first publication");
    assert_eq!(
        second.replay_id(),
        format!("{original_id}~replay~{}", second.sequence)
    );
    let report = dead_letters.replay(&filter, false).await.unwrap();
    assert_eq!(report.done.len(), 1, "{:?}", report.failed);
    assert!(!report.done[0].ack.as_ref().expect("published").duplicate);
    super::eventually("the second replay handled", || {
        calls.load(Ordering::SeqCst) == 3
    })
    .await;
    wait_settled(&backend).await;
    handle.shutdown().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        replays_handled(&probe),
        BTreeMap::from([("t1".to_owned(), 2)])
    );
    assert!(dead_letters.list(None).await.unwrap().is_empty());
}

/// The transport operations the dead-letter tools rely on: read by
/// sequence, read the next on a filter, delete by sequence (idempotent,
/// leaving a gap that reads and consumers skip), and no stream said so.
pub async fn stored_messages_are_read_and_deleted_by_sequence<B: Backend>() {
    use typebus::StreamErrorKind;
    let (_backend, bus) = setup::<B>().await;
    publish(&bus, 1..=3).await;
    let transport = bus.transport();
    let second = transport
        .get_message("EVENTS", 2)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        (
            second.stream.as_str(),
            second.sequence,
            second.subject.as_str()
        ),
        ("EVENTS", 2, SUBJECT)
    );
    let body: super::TicketCreated = serde_json::from_slice(&second.payload).unwrap();
    assert_eq!(body, ticket(2));
    assert_eq!(second.headers.get(names::VERSION), Some("1"));
    assert!(second.headers.get(names::MSG_ID).is_some());
    assert!(transport.get_message("EVENTS", 9).await.unwrap().is_none());
    let next = |filter: &'static str, from: u64| async move {
        transport
            .next_message("EVENTS", filter, from)
            .await
            .unwrap()
            .map(|message| message.sequence)
    };
    assert_eq!(next(SUBJECT, 2).await, Some(2));
    assert_eq!(next(">", 1).await, Some(1));
    assert_eq!(next("ticket:updated", 1).await, None);

    assert!(transport.delete_message("EVENTS", 2).await.unwrap());
    assert!(
        !transport.delete_message("EVENTS", 2).await.unwrap(),
        "deleting again finds nothing"
    );
    assert!(transport.get_message("EVENTS", 2).await.unwrap().is_none());
    assert_eq!(next(SUBJECT, 2).await, Some(3));
    assert_eq!(next(SUBJECT, 4).await, None);

    for err in [
        transport.get_message("NOPE", 1).await.unwrap_err(),
        transport.next_message("NOPE", ">", 1).await.unwrap_err(),
        transport
            .delete_message("NOPE", 1)
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), StreamErrorKind::NoStream, "{err}");
    }

    // A consumer never delivers the deleted message.
    let mut source = transport
        .consume(super::raw_spec(
            "reader",
            SUBJECT,
            std::time::Duration::from_secs(30),
        ))
        .await
        .unwrap();
    for expected in [1, 3] {
        let message = super::next(&mut source).await;
        assert_eq!(message.delivery().info().stream_sequence, expected);
        message.ack().await.unwrap();
    }
    source.close().await;
}
