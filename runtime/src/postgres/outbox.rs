//! [`Outbox`]: writes typed events into the outbox table inside the
//! caller's transaction; [`OutboxMessage`], one row to write.

use sqlx::PgConnection;

use super::error::{OutboxError, OutboxErrorKind, database, to_i64};
use super::schema::Schema;
use crate::contract::event::Event;
use crate::contract::headers::{Headers, names};
use crate::ordering::{RecordKey, Versioned};

/// The outbox of one service: enqueue events in your own transactions; a
/// [`Relay`](super::Relay) publishes them once they commit.
///
/// Cheap to clone. See the [module docs](super) for the guarantees.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    schema: Schema,
}

impl Outbox {
    /// The outbox in `schema` (created by [`Schema::install`]).
    pub fn new(schema: Schema) -> Self {
        Self { schema }
    }

    /// The schema holding the outbox table.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Writes `event` into the outbox inside the caller's transaction (pass
    /// `&mut tx` for a `sqlx::Transaction<'_, Postgres>`), with a fresh
    /// message id, which it returns. It is published once, after the
    /// transaction commits; if it rolls back, it never is.
    ///
    /// For an event that belongs to a record ([`Versioned`]) use
    /// [`enqueue_versioned`](Self::enqueue_versioned), which keeps the
    /// record's events in order across relays.
    pub async fn enqueue<E: Event>(
        &self,
        conn: &mut PgConnection,
        event: &E,
    ) -> Result<String, OutboxError> {
        self.enqueue_message(conn, OutboxMessage::of(event)?).await
    }

    /// [`enqueue`](Self::enqueue) for an event of a record: the row also
    /// holds the record's key and sequence, and relays publish a record's
    /// rows in the order they were enqueued, each only after the ones
    /// before it are in the stream.
    pub async fn enqueue_versioned<E: Event + Versioned>(
        &self,
        conn: &mut PgConnection,
        event: &E,
    ) -> Result<String, OutboxError> {
        self.enqueue_message(conn, OutboxMessage::versioned(event)?)
            .await
    }

    /// Writes `message` into the outbox inside the caller's transaction and
    /// returns its message id.
    pub async fn enqueue_message(
        &self,
        conn: &mut PgConnection,
        message: OutboxMessage,
    ) -> Result<String, OutboxError> {
        let sequence = message
            .sequence
            .map(|sequence| to_i64(sequence, "sequence"))
            .transpose()?;
        let version = i32::try_from(message.version).map_err(|_| {
            OutboxError::new(OutboxErrorKind::OutOfRange)
                .with_detail(format!("contract version {}", message.version))
        })?;
        let headers: Vec<(&str, &str)> = message.headers.iter().collect();
        let headers = serde_json::to_string(&headers).map_err(|err| {
            OutboxError::new(OutboxErrorKind::Serialize)
                .with_detail("headers")
                .with_source(err)
        })?;
        let statement = format!(
            "INSERT INTO {} (message_id, subject, version, event, headers, body, aggregate, sequence) \
             VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7, $8)",
            self.schema.outbox_table()
        );
        sqlx::query(&statement)
            .bind(&message.message_id)
            .bind(&message.subject)
            .bind(version)
            .bind(&message.event)
            .bind(headers)
            .bind(&message.body)
            .bind(message.aggregate.as_ref().map(ToString::to_string))
            .bind(sequence)
            .execute(conn)
            .await
            .map_err(|err| database(&format!("enqueueing `{}`", message.subject), err))?;
        Ok(message.message_id)
    }
}

/// One outbox row to write: what the relay publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// The subject to publish on.
    pub subject: String,
    /// The contract version (`Typebus-Version`).
    pub version: u32,
    /// The event's name (`Typebus-Event`).
    pub event: String,
    /// The message id: the relay publishes with `Nats-Msg-Id` set to it.
    pub message_id: String,
    /// Headers published with the message, besides `Nats-Msg-Id` (which
    /// the relay sets from [`message_id`](Self::message_id)).
    pub headers: Headers,
    /// The body: the event's JSON.
    pub body: Vec<u8>,
    /// The record the event belongs to, if any: its rows are published in order.
    pub aggregate: Option<RecordKey>,
    /// The record's sequence after the event, if it has one.
    pub sequence: Option<u64>,
}

impl OutboxMessage {
    /// The row for `event`, as a [`Publisher`](crate::Publisher) would send
    /// it (JSON body, `Typebus-Version` and `Typebus-Event` headers), with a
    /// fresh message id.
    pub fn of<E: Event>(event: &E) -> Result<Self, OutboxError> {
        crate::bus::subject::check_literal(E::SUBJECT).map_err(|problem| {
            OutboxError::new(OutboxErrorKind::InvalidSubject)
                .with_detail(format!("`{}`: {problem}", E::SUBJECT))
        })?;
        let body = crate::to_json(event).map_err(|err| {
            OutboxError::new(OutboxErrorKind::Serialize)
                .with_detail(E::SUBJECT)
                .with_source(err)
        })?;
        let mut headers = Headers::with_capacity(2);
        headers.append(names::VERSION, E::VERSION.to_string());
        headers.append(names::EVENT, E::NAME);
        if let Some(readable_as) = crate::bus::publisher::readable_as::<E>() {
            headers.append(names::READABLE_AS, readable_as);
        }
        Ok(Self {
            subject: E::SUBJECT.to_owned(),
            version: E::VERSION,
            event: E::NAME.to_owned(),
            message_id: nuid::next().to_string(),
            headers,
            body,
            aggregate: None,
            sequence: None,
        })
    }

    /// [`of`](Self::of), with the record and sequence of a [`Versioned`] event.
    pub fn versioned<E: Event + Versioned>(event: &E) -> Result<Self, OutboxError> {
        let mut message = Self::of(event)?;
        message.aggregate = Some(RecordKey::of(event));
        message.sequence = Some(event.sequence());
        Ok(message)
    }

    /// Sets the message id (e.g. derived from the record and its version,
    /// so that enqueueing the same change twice publishes it once).
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = id.into();
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.append(name, value);
        self
    }
}
