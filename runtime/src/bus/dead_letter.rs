//! Dead letters: where a listener's messages go when it gives up on them,
//! and what they carry (the original, its headers, the reason), always
//! within the broker's `max_payload`.

use bytes::Bytes;

use crate::bus::delivery::Delivery;
use crate::bus::listener::DeadLetterKind;
use crate::bus::transport::OutgoingMessage;
use crate::contract::headers::{Headers, names};

/// The prefix of default dead-letter subjects.
pub(crate) const PREFIX: &str = "typebus.dlq.";

/// The default dead-letter subject of `group`: `typebus.dlq.<group>`, the
/// group made one subject token by [`typebus_names::sanitise`] (the
/// characters NATS forbids in names become `_`), as in its consumer names.
pub(crate) fn default_subject(group: &str) -> String {
    format!("{PREFIX}{}", typebus_names::sanitise(group))
}

/// The longest reason a dead letter carries, in bytes: a longer one is cut
/// at a character boundary and ends in `...`.
const MAX_REASON: usize = 4096;

/// The dead letter of `delivery`: its body and headers (`Nats-*` headers
/// dropped, the message id kept as `Typebus-Dlq-Msg-Id`) plus the reason.
/// Its own message id is derived from the stream position, so dead-lettering
/// the same message twice stores it once.
///
/// It always fits in `max_payload` (body plus headers, see
/// [`Headers::wire_len`]): an original too large to travel beside the
/// dead-letter headers keeps only its first bytes, and says so in
/// `Typebus-Dlq-Body-Size`; original headers that leave no room are left
/// out (`Typebus-Dlq-Headers-Dropped`). The original stays in its stream.
pub(crate) fn message(
    subject: &str,
    queue_group: &str,
    kind: DeadLetterKind,
    reason: &str,
    delivery: &Delivery,
    payload: Bytes,
    max_payload: usize,
) -> OutgoingMessage {
    let info = delivery.info();
    let own = |headers: &mut Headers| {
        headers.append(
            names::MSG_ID,
            format!(
                "typebus-dlq:{}:{}:{}",
                info.stream, info.consumer, info.stream_sequence
            ),
        );
        headers.append_static(names::DLQ_KIND, kind.as_str());
        headers.append(names::DLQ_REASON, header_safe(reason));
        headers.append(names::DLQ_DELIVERIES, info.delivered.to_string());
        headers.append(names::DLQ_SUBJECT, delivery.subject());
        headers.append(names::DLQ_STREAM, info.stream.as_str());
        headers.append(names::DLQ_SEQUENCE, info.stream_sequence.to_string());
        headers.append(names::DLQ_GROUP, queue_group);
    };
    let mut headers = Headers::with_capacity(delivery.headers().len() + 10);
    for (name, value) in delivery.headers().iter() {
        if name == names::MSG_ID {
            headers.append(names::DLQ_MSG_ID, value);
        } else if !name.starts_with("Nats-") {
            headers.append(name, value);
        }
    }
    let copied = headers.len();
    own(&mut headers);
    if headers.wire_len() + payload.len() > max_payload {
        let size = payload.len().to_string();
        if headers.wire_len() + header_line_len(names::DLQ_BODY_SIZE, &size) > max_payload {
            headers = Headers::with_capacity(10);
            own(&mut headers);
            headers.append(names::DLQ_HEADERS_DROPPED, copied.to_string());
        }
        headers.append(names::DLQ_BODY_SIZE, size);
    }
    let room = max_payload.saturating_sub(headers.wire_len());
    OutgoingMessage {
        subject: subject.to_owned(),
        headers,
        payload: payload.slice(..room.min(payload.len())),
    }
}

/// What one `name: value` header line adds to [`Headers::wire_len`].
fn header_line_len(name: &str, value: &str) -> usize {
    name.len() + ": ".len() + value.len() + "\r\n".len()
}

/// A header value cannot hold line breaks: control characters become
/// spaces, and a value over [`MAX_REASON`] bytes is cut.
fn header_safe(value: &str) -> String {
    let mut end = value.len();
    if end > MAX_REASON {
        end = MAX_REASON - "...".len();
        while !value.is_char_boundary(end) {
            end -= 1;
        }
    }
    let mut safe: String = value[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if end < value.len() {
        safe.push_str("...");
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::delivery::DeliveryInfo;
    use crate::contract::timestamp::Timestamp;

    fn delivery(headers: Headers) -> Delivery {
        Delivery::new(
            "ticket:created",
            headers,
            DeliveryInfo {
                stream: "EVENTS".into(),
                consumer: "orders".into(),
                stream_sequence: 181,
                consumer_sequence: 7,
                delivered: 1,
                pending: 26,
                published: Timestamp::now(),
            },
        )
    }

    fn original_headers() -> Headers {
        let mut headers = Headers::new();
        headers.append(names::MSG_ID, "m-1");
        headers.append(names::VERSION, "1");
        headers.append("X-Trace", "abc");
        headers
    }

    fn letter(reason: &str, headers: Headers, body: Vec<u8>, max: usize) -> OutgoingMessage {
        message(
            "typebus.dlq.orders",
            "orders",
            DeadLetterKind::Decode,
            reason,
            &delivery(headers),
            Bytes::from(body),
            max,
        )
    }

    fn size(message: &OutgoingMessage) -> usize {
        message.headers.wire_len() + message.payload.len()
    }

    #[test]
    fn a_letter_that_fits_keeps_everything() {
        let body = b"{not json".to_vec();
        let letter = letter("bad", original_headers(), body.clone(), 1024 * 1024);
        assert_eq!(letter.payload.as_ref(), body.as_slice());
        assert_eq!(letter.headers.get(names::DLQ_MSG_ID), Some("m-1"));
        assert_eq!(letter.headers.get("X-Trace"), Some("abc"));
        assert_eq!(
            letter.headers.get(names::MSG_ID),
            Some("typebus-dlq:EVENTS:orders:181")
        );
        assert_eq!(letter.headers.get(names::DLQ_SEQUENCE), Some("181"));
        assert_eq!(letter.headers.get(names::DLQ_BODY_SIZE), None);
        assert_eq!(letter.headers.get(names::DLQ_HEADERS_DROPPED), None);
    }

    #[test]
    fn a_body_near_the_limit_is_cut_to_fit_exactly() {
        let max = 1024 * 1024;
        // The body alone fits with its own headers, not beside the dead
        // letter's: 1,048,448 bytes, as in the report.
        let body = vec![b'x'; 1_048_448];
        assert!(original_headers().wire_len() + body.len() <= max);
        let letter = letter("invalid payload", original_headers(), body.clone(), max);
        assert_eq!(size(&letter), max, "fills the message to the limit");
        assert_eq!(letter.headers.get(names::DLQ_BODY_SIZE), Some("1048448"));
        assert!(body.starts_with(&letter.payload));
        assert!(letter.payload.len() < body.len());
        assert_eq!(letter.headers.get("X-Trace"), Some("abc"));
        assert_eq!(letter.headers.get(names::DLQ_HEADERS_DROPPED), None);
    }

    #[test]
    fn original_headers_that_leave_no_room_are_dropped() {
        let mut headers = original_headers();
        headers.append("X-Huge", "h".repeat(2000));
        let letter = letter("bad", headers, vec![b'x'; 10], 2100);
        assert!(size(&letter) <= 2100, "{} bytes", size(&letter));
        assert_eq!(letter.headers.get("X-Huge"), None);
        assert_eq!(letter.headers.get(names::DLQ_HEADERS_DROPPED), Some("4"));
        assert_eq!(letter.headers.get(names::DLQ_BODY_SIZE), Some("10"));
        assert_eq!(letter.headers.get(names::DLQ_KIND), Some("decode"));
        assert_eq!(letter.headers.get(names::DLQ_SEQUENCE), Some("181"));
        assert_eq!(letter.payload.as_ref(), b"xxxxxxxxxx");
    }

    #[test]
    fn reasons_are_one_line_and_bounded() {
        assert_eq!(header_safe("a\nb\r\tc"), "a b  c");
        let exact = "r".repeat(MAX_REASON);
        assert_eq!(header_safe(&exact), exact);
        let long = "é".repeat(MAX_REASON);
        let safe = header_safe(&long);
        assert!(safe.len() <= MAX_REASON, "{}", safe.len());
        assert!(safe.ends_with("é..."), "cut at a character boundary");
    }

    #[test]
    fn header_lines_count_as_wire_len_counts_them() {
        let mut headers = Headers::new();
        headers.append("A", "1");
        let before = headers.wire_len();
        headers.append(names::DLQ_BODY_SIZE, "12345");
        assert_eq!(
            headers.wire_len() - before,
            header_line_len(names::DLQ_BODY_SIZE, "12345")
        );
    }

    #[test]
    fn group_names_become_one_subject_token() {
        assert_eq!(default_subject("orders.v2 *>"), "typebus.dlq.orders_v2___");
        // The same character set as consumer names: slashes too.
        assert_eq!(default_subject("eu/orders\\x"), "typebus.dlq.eu_orders_x");
        assert_eq!(crate::consumer_name("eu/orders\\x", "a"), "eu_orders_x_a");
    }
}
