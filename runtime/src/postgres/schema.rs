//! [`Schema`]: the PostgreSQL schema that holds a service's outbox and
//! sequence tables, and [`Schema::install`], which creates them.

use sqlx::PgPool;

use super::error::{OutboxError, OutboxErrorKind, database};

/// The PostgreSQL schema holding one service's typebus tables: `outbox`
/// and `sequences`.
///
/// The name is a plain lowercase identifier (`[a-z_][a-z0-9_]*`, at most
/// 63 bytes), so it can be written into statements without quoting
/// surprises.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Schema {
    name: String,
}

impl Default for Schema {
    /// The schema `typebus`.
    fn default() -> Self {
        Self {
            name: Self::DEFAULT.to_owned(),
        }
    }
}

impl Schema {
    /// The default schema name.
    pub const DEFAULT: &'static str = "typebus";

    /// The schema `name`; an error unless it is a plain lowercase identifier.
    pub fn new(name: impl Into<String>) -> Result<Self, OutboxError> {
        let name = name.into();
        let mut chars = name.chars();
        let valid = name.len() <= 63
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(OutboxError::new(OutboxErrorKind::InvalidSchema).with_detail(format!(
                "`{name}`: use lowercase letters, digits and `_`, not starting with a digit, at most 63 bytes"
            )));
        }
        Ok(Self { name })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The outbox table, qualified: `"schema".outbox`.
    pub(crate) fn outbox_table(&self) -> String {
        format!("\"{}\".outbox", self.name)
    }

    /// The sequence table, qualified: `"schema".sequences`.
    pub(crate) fn sequences_table(&self) -> String {
        format!("\"{}\".sequences", self.name)
    }

    /// The relays' shared state, qualified: `"schema".outbox_relay`.
    pub(crate) fn relay_state_table(&self) -> String {
        format!("\"{}\".outbox_relay", self.name)
    }

    /// The `LISTEN/NOTIFY` channel an insert into the outbox signals.
    pub fn channel(&self) -> String {
        format!("typebus_outbox.{}", self.name)
    }

    /// Creates the schema, its `outbox` and `sequences` tables, their
    /// indexes and the trigger that notifies relays of new rows, where
    /// missing. Idempotent, and safe to run from several instances at once
    /// (it holds an advisory lock while it runs).
    pub async fn install(&self, pool: &PgPool) -> Result<(), OutboxError> {
        let mut tx = pool
            .begin()
            .await
            .map_err(|err| database("starting the install transaction", err))?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('typebus.install'))")
            .execute(&mut *tx)
            .await
            .map_err(|err| database("taking the install lock", err))?;
        for statement in self.ddl() {
            sqlx::query(&statement)
                .execute(&mut *tx)
                .await
                .map_err(|err| database(&format!("installing schema `{}`", self.name), err))?;
        }
        tx.commit()
            .await
            .map_err(|err| database("committing the install", err))
    }

    /// The statements [`install`](Self::install) runs, in order.
    pub fn ddl(&self) -> Vec<String> {
        let schema = &self.name;
        let outbox = self.outbox_table();
        let sequences = self.sequences_table();
        let channel = self.channel().replace('\'', "''");
        let relay_state = self.relay_state_table();
        vec![
            format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""),
            format!(
                "CREATE TABLE IF NOT EXISTS {outbox} (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    message_id text NOT NULL UNIQUE,
                    subject text NOT NULL,
                    version integer NOT NULL,
                    event text NOT NULL,
                    headers jsonb NOT NULL DEFAULT '[]',
                    body bytea NOT NULL,
                    aggregate text,
                    sequence bigint,
                    status text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sent', 'failed')),
                    attempts integer NOT NULL DEFAULT 0,
                    last_error text,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    available_at timestamptz NOT NULL DEFAULT now(),
                    sent_at timestamptz,
                    stream text,
                    stream_sequence bigint
                )"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS outbox_pending ON {outbox} (id) WHERE status = 'pending'"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS outbox_unsent_by_aggregate ON {outbox} (aggregate, id) \
                 WHERE status <> 'sent' AND aggregate IS NOT NULL"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS outbox_sent_at ON {outbox} (sent_at) WHERE status = 'sent'"
            ),
            // Whether every relay went to sleep: inserts notify only then,
            // since a transaction that notifies holds a database-wide lock
            // through its commit (concurrent commits would queue on it).
            format!(
                "CREATE TABLE IF NOT EXISTS {relay_state} ( \
                   one boolean PRIMARY KEY DEFAULT true CHECK (one), \
                   idle boolean NOT NULL DEFAULT true)"
            ),
            format!(
                "INSERT INTO {relay_state} (one, idle) VALUES (true, true) ON CONFLICT DO NOTHING"
            ),
            format!(
                "CREATE OR REPLACE FUNCTION \"{schema}\".outbox_notify() RETURNS trigger \
                 LANGUAGE plpgsql AS $typebus$ BEGIN \
                 IF EXISTS (SELECT 1 FROM {relay_state} WHERE idle) THEN PERFORM pg_notify('{channel}', ''); END IF; \
                 RETURN NULL; END $typebus$"
            ),
            format!(
                "DO $typebus$ BEGIN \
                 IF NOT EXISTS (SELECT 1 FROM pg_trigger \
                     WHERE tgname = 'outbox_notify' AND tgrelid = '{outbox}'::regclass) THEN \
                 CREATE TRIGGER outbox_notify AFTER INSERT ON {outbox} \
                 FOR EACH STATEMENT EXECUTE FUNCTION \"{schema}\".outbox_notify(); \
                 END IF; END $typebus$"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {sequences} (
                    aggregate text NOT NULL,
                    id text NOT NULL,
                    applied bigint,
                    claim_sequence bigint,
                    claim_message text,
                    claim_delivered bigint,
                    claim_expires_ms bigint,
                    revision bigint NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (aggregate, id)
                )"
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["typebus", "_x", "orders_service2"] {
            assert_eq!(
                Schema::new(good).map(|s| s.name().to_owned()).ok(),
                Some(good.to_owned())
            );
        }
        for bad in ["", "Orders", "2x", "a-b", "a\"b", "a b", &"x".repeat(64)] {
            let err = Schema::new(bad).err();
            assert_eq!(
                err.map(|e| e.kind()),
                Some(OutboxErrorKind::InvalidSchema),
                "{bad:?}"
            );
        }
    }
}
