//! A durable consumer's state: which messages of its stream were delivered,
//! how often, which are pending an acknowledgement until when, and which
//! wait for a redelivery. Pure bookkeeping over a clock passed in, so that
//! every rule is testable without waiting.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::stream::Log;
use super::subject;
use crate::bus::transport::{AckKind, ConsumerSpec};
use crate::error::{AckError, AckErrorKind};

/// The settings of a consumer that a later bind may change.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) filter_subject: String,
    pub(crate) ack_wait: Duration,
    pub(crate) max_deliver: Option<u32>,
    pub(crate) max_ack_pending: usize,
    pub(crate) backoff: Vec<Duration>,
}

impl Settings {
    pub(crate) fn from_spec(spec: &ConsumerSpec) -> Self {
        Self {
            filter_subject: spec.filter_subject.clone(),
            ack_wait: spec.ack_wait,
            max_deliver: spec.max_deliver,
            max_ack_pending: spec.max_ack_pending.max(1),
            backoff: spec.backoff.clone(),
        }
    }

    /// How long the `delivered`-th delivery may stay unsettled.
    fn wait_for(&self, delivered: u64) -> Duration {
        if self.backoff.is_empty() {
            return self.ack_wait;
        }
        let index = usize::try_from(delivered.saturating_sub(1)).unwrap_or(usize::MAX);
        self.backoff[index.min(self.backoff.len() - 1)]
    }

    /// Whether a message delivered `delivered` times gets no more deliveries.
    fn exhausted(&self, delivered: u64) -> bool {
        self.max_deliver
            .is_some_and(|max| delivered >= u64::from(max))
    }
}

/// A message the consumer delivered and has not finished with.
#[derive(Debug, Clone)]
struct Tracked {
    /// How many times it was delivered.
    delivered: u64,
    /// The consumer sequence of its latest delivery.
    current: u64,
    /// Whether the latest delivery was settled (nakked).
    settled: bool,
    phase: Phase,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Delivered, waiting for a settlement until `deadline`.
    Pending { deadline: Instant },
    /// Nakked: to be delivered again from `due` on.
    Waiting { due: Instant },
}

/// One delivery handed out by [`Consumer::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    pub(crate) stream_sequence: u64,
    pub(crate) consumer_sequence: u64,
    pub(crate) delivered: u64,
    pub(crate) pending: u64,
}

/// A durable consumer of one stream.
#[derive(Debug)]
pub(crate) struct Consumer {
    pub(crate) settings: Settings,
    /// The first stream sequence never delivered (deliver all: starts at 1).
    next_new: u64,
    /// How many stored messages at or after `next_new` match the filter.
    unseen: u64,
    /// Delivered messages not yet finished, by stream sequence.
    tracked: BTreeMap<u64, Tracked>,
    /// The last consumer (delivery) sequence handed out.
    deliveries: u64,
}

impl Consumer {
    /// A new consumer that will deliver every matching message of `log`
    /// from the first.
    pub(crate) fn new(settings: Settings, log: &Log) -> Self {
        let unseen = log.count_matching(1, &settings.filter_subject);
        Self {
            settings,
            next_new: 1,
            unseen,
            tracked: BTreeMap::new(),
            deliveries: 0,
        }
    }

    /// A message on `subject` was appended to the stream.
    pub(crate) fn on_stored(&mut self, subject: &str) {
        if subject::matches(&self.settings.filter_subject, subject) {
            self.unseen += 1;
        }
    }

    /// The message `sequence` on `subject` was removed from the stream (age limit).
    pub(crate) fn on_removed(&mut self, sequence: u64, subject: &str) {
        if sequence >= self.next_new && subject::matches(&self.settings.filter_subject, subject) {
            self.unseen = self.unseen.saturating_sub(1);
        }
        self.tracked.remove(&sequence);
    }

    /// Hands out the next delivery at `now`, if one is due: the lowest
    /// sequence due for redelivery first, then the next message never
    /// delivered (while fewer than `max_ack_pending` are unfinished).
    pub(crate) fn take(&mut self, log: &Log, now: Instant) -> Option<Taken> {
        self.expire(now);
        let redelivery = self
            .tracked
            .iter()
            .find_map(|(sequence, tracked)| match tracked.phase {
                Phase::Waiting { due } if due <= now => Some(*sequence),
                _ => None,
            });
        let sequence = match redelivery {
            Some(sequence) => sequence,
            None => {
                if self.tracked.len() >= self.settings.max_ack_pending {
                    return None;
                }
                let Some(sequence) =
                    log.next_matching(self.next_new, &self.settings.filter_subject)
                else {
                    // Nothing matches up to the end: never scan those again.
                    self.next_new = log.last_sequence() + 1;
                    return None;
                };
                self.next_new = sequence + 1;
                self.unseen = self.unseen.saturating_sub(1);
                sequence
            }
        };
        self.deliveries += 1;
        let consumer_sequence = self.deliveries;
        let tracked = self.tracked.entry(sequence).or_insert(Tracked {
            delivered: 0,
            current: 0,
            settled: false,
            phase: Phase::Waiting { due: now },
        });
        tracked.delivered += 1;
        tracked.current = consumer_sequence;
        tracked.settled = false;
        let delivered = tracked.delivered;
        tracked.phase = Phase::Pending {
            deadline: now + self.settings.wait_for(delivered),
        };
        Some(Taken {
            stream_sequence: sequence,
            consumer_sequence,
            delivered,
            pending: self.unseen,
        })
    }

    /// Turns deliveries whose deadline passed into redeliveries due at
    /// once, and drops those that had their last allowed delivery.
    fn expire(&mut self, now: Instant) {
        let settings = &self.settings;
        self.tracked.retain(|_, tracked| match tracked.phase {
            Phase::Pending { deadline } if deadline <= now => {
                tracked.phase = Phase::Waiting { due: deadline };
                !settings.exhausted(tracked.delivered)
            }
            _ => true,
        });
    }

    /// When something changes by itself (a deadline passes, a delayed
    /// redelivery falls due), if anything is waiting for that.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        self.tracked
            .values()
            .map(|tracked| match tracked.phase {
                Phase::Pending { deadline } => deadline,
                Phase::Waiting { due } => due,
            })
            .min()
    }

    /// Applies `kind` sent for the delivery `consumer_sequence` of the
    /// message `stream_sequence`.
    ///
    /// An ack or term from an older delivery of a message delivered again
    /// since still finishes it (the work was done); a nak or in-progress
    /// from an older delivery is ignored. Settling a delivery twice, or a
    /// message already finished, is [`AckErrorKind::AlreadySettled`].
    pub(crate) fn settle(
        &mut self,
        stream_sequence: u64,
        consumer_sequence: u64,
        kind: AckKind,
        now: Instant,
    ) -> Result<(), AckError> {
        self.expire(now);
        let already = || {
            AckError::new(AckErrorKind::AlreadySettled)
                .with_detail(format!("stream sequence {stream_sequence}"))
        };
        let Some(tracked) = self.tracked.get_mut(&stream_sequence) else {
            return Err(already());
        };
        let is_current = tracked.current == consumer_sequence;
        if is_current && tracked.settled {
            return Err(already());
        }
        match kind {
            AckKind::Ack | AckKind::Term => {
                self.tracked.remove(&stream_sequence);
            }
            AckKind::Nak(_) | AckKind::InProgress if !is_current => {}
            AckKind::Nak(delay) => {
                if self.settings.exhausted(tracked.delivered) {
                    self.tracked.remove(&stream_sequence);
                } else {
                    tracked.settled = true;
                    tracked.phase = Phase::Waiting {
                        due: now + delay.unwrap_or(Duration::ZERO),
                    };
                }
            }
            AckKind::InProgress => {
                if let Phase::Pending { deadline } = &mut tracked.phase {
                    *deadline = now + self.settings.wait_for(tracked.delivered);
                }
            }
        }
        Ok(())
    }

    /// Counts for inspection.
    pub(crate) fn counts(&self) -> (usize, usize, u64, u64) {
        let pending = self
            .tracked
            .values()
            .filter(|tracked| matches!(tracked.phase, Phase::Pending { .. }))
            .count();
        (
            pending,
            self.tracked.len() - pending,
            self.unseen,
            self.deliveries,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{Consumer, Settings};
    use crate::bus::transport::AckKind;
    use crate::error::AckErrorKind;
    use crate::memory::stream::{Log, outgoing};

    const SECOND: Duration = Duration::from_secs(1);

    fn settings(max_deliver: Option<u32>, max_ack_pending: usize) -> Settings {
        Settings {
            filter_subject: "ticket:created".into(),
            ack_wait: SECOND,
            max_deliver,
            max_ack_pending,
            backoff: Vec::new(),
        }
    }

    fn log_with(subjects: &[&str], now: Instant) -> Log {
        let mut log = Log::new("EVENTS");
        for subject in subjects {
            log.append(outgoing(subject, None), now, Duration::from_secs(120));
        }
        log
    }

    #[test]
    fn delivers_matching_messages_in_order_then_waits() {
        let now = Instant::now();
        let log = log_with(&["ticket:created", "order:created", "ticket:created"], now);
        let mut consumer = Consumer::new(settings(None, 100), &log);
        let first = consumer.take(&log, now).unwrap();
        assert_eq!(
            (
                first.stream_sequence,
                first.consumer_sequence,
                first.delivered,
                first.pending
            ),
            (1, 1, 1, 1)
        );
        let second = consumer.take(&log, now).unwrap();
        assert_eq!((second.stream_sequence, second.pending), (3, 0));
        assert_eq!(consumer.take(&log, now), None);
        assert_eq!(consumer.next_wake(), Some(now + SECOND));
    }

    #[test]
    fn missed_ack_redelivers_after_ack_wait_and_in_progress_extends_it() {
        let now = Instant::now();
        let log = log_with(&["ticket:created"], now);
        let mut consumer = Consumer::new(settings(None, 100), &log);
        let first = consumer.take(&log, now).unwrap();
        assert_eq!(consumer.take(&log, now + SECOND / 2), None);
        consumer
            .settle(
                1,
                first.consumer_sequence,
                AckKind::InProgress,
                now + SECOND / 2,
            )
            .unwrap();
        assert_eq!(
            consumer.take(&log, now + SECOND),
            None,
            "in progress pushed the deadline"
        );
        let again = consumer.take(&log, now + SECOND * 2).unwrap();
        assert_eq!(
            (
                again.stream_sequence,
                again.delivered,
                again.consumer_sequence
            ),
            (1, 2, 2)
        );
    }

    #[test]
    fn messages_on_other_subjects_are_skipped_once() {
        let now = Instant::now();
        let mut log = log_with(&["order:created", "order:created"], now);
        let mut consumer = Consumer::new(settings(None, 100), &log);
        assert_eq!(consumer.take(&log, now), None);
        assert_eq!(consumer.next_new, 3);
        log.append(
            outgoing("ticket:created", None),
            now,
            Duration::from_secs(120),
        );
        consumer.on_stored("ticket:created");
        let taken = consumer.take(&log, now).unwrap();
        assert_eq!((taken.stream_sequence, taken.pending), (3, 0));
    }

    #[test]
    fn nak_delays_term_and_ack_finish() {
        let now = Instant::now();
        let log = log_with(&["ticket:created", "ticket:created"], now);
        let mut consumer = Consumer::new(settings(None, 100), &log);
        let a = consumer.take(&log, now).unwrap();
        let b = consumer.take(&log, now).unwrap();
        consumer
            .settle(
                a.stream_sequence,
                a.consumer_sequence,
                AckKind::Nak(Some(SECOND * 3)),
                now,
            )
            .unwrap();
        consumer
            .settle(b.stream_sequence, b.consumer_sequence, AckKind::Term, now)
            .unwrap();
        assert_eq!(consumer.take(&log, now + SECOND * 2), None);
        let again = consumer.take(&log, now + SECOND * 3).unwrap();
        assert_eq!((again.stream_sequence, again.delivered), (1, 2));
        consumer
            .settle(1, again.consumer_sequence, AckKind::Ack, now + SECOND * 3)
            .unwrap();
        assert_eq!(consumer.take(&log, now + SECOND * 100), None);
        assert_eq!(consumer.next_wake(), None);
    }

    #[test]
    fn second_settlement_of_a_delivery_is_rejected() {
        let now = Instant::now();
        let log = log_with(&["ticket:created"], now);
        let mut consumer = Consumer::new(settings(None, 100), &log);
        let a = consumer.take(&log, now).unwrap();
        consumer
            .settle(1, a.consumer_sequence, AckKind::Nak(None), now)
            .unwrap();
        let err = consumer
            .settle(1, a.consumer_sequence, AckKind::Ack, now)
            .unwrap_err();
        assert_eq!(err.kind(), AckErrorKind::AlreadySettled);
    }

    #[test]
    fn a_late_ack_from_an_older_delivery_finishes_the_message() {
        let now = Instant::now();
        let log = log_with(&["ticket:created"], now);
        let mut consumer = Consumer::new(settings(None, 100), &log);
        let slow = consumer.take(&log, now).unwrap();
        let fast = consumer.take(&log, now + SECOND).unwrap();
        assert_eq!(fast.delivered, 2);
        consumer
            .settle(1, slow.consumer_sequence, AckKind::Nak(None), now + SECOND)
            .unwrap();
        assert_eq!(
            consumer.take(&log, now + SECOND),
            None,
            "a stale nak is ignored"
        );
        consumer
            .settle(1, slow.consumer_sequence, AckKind::Ack, now + SECOND)
            .unwrap();
        assert_eq!(consumer.take(&log, now + SECOND * 10), None);
    }

    #[test]
    fn max_deliver_stops_deliveries_whatever_the_last_one_did() {
        let now = Instant::now();
        let log = log_with(&["ticket:created", "ticket:created"], now);
        let mut consumer = Consumer::new(settings(Some(2), 100), &log);
        for round in 0..2u32 {
            let at = now + SECOND * round;
            let a = consumer.take(&log, at).unwrap();
            let b = consumer.take(&log, at).unwrap();
            assert_eq!((a.stream_sequence, b.stream_sequence), (1, 2));
            assert_eq!(
                (a.delivered, b.delivered),
                (u64::from(round) + 1, u64::from(round) + 1)
            );
            consumer
                .settle(1, a.consumer_sequence, AckKind::Nak(None), at)
                .unwrap();
            // b is never settled: its deadline passes.
        }
        assert_eq!(consumer.take(&log, now + SECOND * 100), None);
        assert_eq!(consumer.counts(), (0, 0, 0, 4));
    }

    #[test]
    fn max_ack_pending_holds_back_new_messages_but_not_redeliveries() {
        let now = Instant::now();
        let log = log_with(&["ticket:created"; 3], now);
        let mut consumer = Consumer::new(settings(None, 2), &log);
        let a = consumer.take(&log, now).unwrap();
        consumer.take(&log, now).unwrap();
        assert_eq!(consumer.take(&log, now), None);
        consumer
            .settle(1, a.consumer_sequence, AckKind::Nak(None), now)
            .unwrap();
        assert_eq!(consumer.take(&log, now).map(|t| t.stream_sequence), Some(1));
        consumer.settle(1, 3, AckKind::Ack, now).unwrap();
        assert_eq!(consumer.take(&log, now).map(|t| t.stream_sequence), Some(3));
    }

    #[test]
    fn backoff_replaces_ack_wait_per_delivery() {
        let now = Instant::now();
        let log = log_with(&["ticket:created"], now);
        let mut settings = settings(None, 10);
        settings.backoff = vec![SECOND, SECOND * 5];
        let mut consumer = Consumer::new(settings, &log);
        consumer.take(&log, now).unwrap();
        let second = consumer.take(&log, now + SECOND).unwrap();
        assert_eq!(second.delivered, 2);
        assert_eq!(consumer.take(&log, now + SECOND * 5), None);
        assert_eq!(
            consumer.take(&log, now + SECOND * 6).map(|t| t.delivered),
            Some(3)
        );
    }
}
