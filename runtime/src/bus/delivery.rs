//! [`Delivery`]: what a listener's handler learns about the message besides
//! the event itself.

use crate::contract::headers::{Headers, names};
use crate::contract::timestamp::Timestamp;

/// Where a delivered message sits in its stream and how often it was delivered.
///
/// Filled in by the transport from the server's delivery metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryInfo {
    /// The stream that stores the message.
    pub stream: String,
    /// The durable consumer it was delivered through (the sanitised queue group).
    pub consumer: String,
    /// The message's sequence in the stream (from 1; stable across redeliveries).
    pub stream_sequence: u64,
    /// The consumer's delivery sequence (grows with every delivery, redeliveries included).
    pub consumer_sequence: u64,
    /// How many times this message has been delivered, this delivery included (from 1).
    pub delivered: u64,
    /// How many messages were still pending for the consumer when this one was delivered.
    pub pending: u64,
    /// When the stream received the message from its publisher.
    pub published: Timestamp,
}

/// One delivery of a message to a listener: subject, headers and
/// [`DeliveryInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    subject: String,
    headers: Headers,
    info: DeliveryInfo,
}

impl Delivery {
    /// A delivery of a message on `subject` with `headers`.
    ///
    /// Transports build these; so do tests that drive a listener by hand.
    pub fn new(subject: impl Into<String>, headers: Headers, info: DeliveryInfo) -> Self {
        Self {
            subject: subject.into(),
            headers,
            info,
        }
    }

    /// The subject the message was published on.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The message headers, as published.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The message id (`Nats-Msg-Id`) the publisher set, if any.
    pub fn message_id(&self) -> Option<&str> {
        self.headers.get(names::MSG_ID)
    }

    /// The contract version header as sent, if any (`Typebus-Version`).
    pub fn version_header(&self) -> Option<&str> {
        self.headers.get(names::VERSION)
    }

    /// The message's sequence in its stream.
    pub fn stream_sequence(&self) -> u64 {
        self.info.stream_sequence
    }

    /// How many times the message has been delivered, this delivery included (from 1).
    pub fn delivery_count(&self) -> u64 {
        self.info.delivered
    }

    /// When the stream received the message.
    pub fn published(&self) -> Timestamp {
        self.info.published
    }

    /// The full delivery metadata.
    pub fn info(&self) -> &DeliveryInfo {
        &self.info
    }
}
