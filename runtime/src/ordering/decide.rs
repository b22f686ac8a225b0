//! [`decide`]: the ordering guard's one rule, as a pure function of what a
//! store holds for a record and the delivery asking to apply a step. Every
//! store's [`claim_all`](super::SequenceStore::claim_all) answers with it.

use super::store::{ClaimRequest, Holder, State, Verdict};

/// What a delivery of step `request.sequence` may do, given the record's
/// `state` (`None`: the record has no entry) at wall-clock `now_ms`:
///
/// - at or below the last applied sequence: [`Verdict::Applied`] (a
///   duplicate or a stale event);
/// - below the record's initial sequence: [`Verdict::BelowInitial`];
/// - beyond the next step: [`Verdict::Early`];
/// - the next step, claimed by another delivery that still holds it:
///   [`Verdict::Busy`];
/// - the next step, free (or its claim taken over: a later delivery of the
///   claiming message, or an expired claim): [`Verdict::Claimed`].
pub(crate) fn decide(
    state: Option<&State>,
    request: &ClaimRequest<'_>,
    now_ms: u64,
) -> Verdict<()> {
    let applied = state.and_then(|state| state.applied);
    let sequence = request.sequence;
    if let Some(last) = applied
        && sequence <= last
    {
        return Verdict::Applied(last);
    }
    let next = applied.map_or(request.initial, |last| last.saturating_add(1));
    match sequence.cmp(&next) {
        std::cmp::Ordering::Less => return Verdict::BelowInitial,
        std::cmp::Ordering::Greater => return Verdict::Early { next },
        std::cmp::Ordering::Equal => {}
    }
    match state.and_then(|state| state.claim.as_ref()) {
        Some(claim)
            if claim.sequence == sequence && !taken_over(&claim.holder, request, now_ms) =>
        {
            Verdict::Busy(claim.holder.clone())
        }
        _ => Verdict::Claimed(()),
    }
}

/// Whether `request`'s delivery may take over a claim held by `holder`: it
/// is a later delivery of the claiming message (the earlier one was
/// abandoned), or the claim expired. A claim held in this process is never
/// taken over: it ends with the delivery holding it.
fn taken_over(holder: &Holder, request: &ClaimRequest<'_>, now_ms: u64) -> bool {
    match holder {
        Holder::Local => false,
        Holder::Delivery {
            message,
            delivered,
            expires_ms,
        } => {
            (request.is_message(message) && request.delivered >= *delivered)
                || now_ms >= *expires_ms
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ordering::RecordKey;
    use crate::ordering::store::Claim;

    /// A request of delivery `delivered` of `message` (`<stream>/<sequence>`).
    fn request(sequence: u64, message: &'static str, delivered: u64) -> ClaimRequest<'static> {
        let (stream, stream_sequence) = message.split_once('/').expect("stream/sequence");
        ClaimRequest {
            key: Box::leak(Box::new(RecordKey::new("ticket", "a"))),
            sequence,
            initial: 0,
            stream,
            stream_sequence: stream_sequence.parse().expect("a sequence"),
            delivered,
            lease: Duration::from_secs(35),
        }
    }

    fn state(applied: Option<u64>, claim: Option<(u64, Holder)>) -> State {
        State {
            applied,
            claim: claim.map(|(sequence, holder)| Claim { sequence, holder }),
        }
    }

    fn held_by(message: &str, delivered: u64, expires_ms: u64) -> Holder {
        Holder::Delivery {
            message: message.into(),
            delivered,
            expires_ms,
        }
    }

    #[test]
    fn where_a_step_stands_in_its_records_history() {
        let at = |applied, sequence| {
            decide(Some(&state(applied, None)), &request(sequence, "S/1", 1), 0)
        };
        assert_eq!(decide(None, &request(0, "S/1", 1), 0), Verdict::Claimed(()));
        assert_eq!(
            decide(None, &request(2, "S/1", 1), 0),
            Verdict::Early { next: 0 }
        );
        assert_eq!(at(Some(3), 3), Verdict::Applied(3));
        assert_eq!(at(Some(3), 1), Verdict::Applied(3));
        assert_eq!(at(Some(3), 4), Verdict::Claimed(()));
        assert_eq!(at(Some(3), 6), Verdict::Early { next: 4 });
        assert_eq!(at(Some(u64::MAX), u64::MAX), Verdict::Applied(u64::MAX));
        let from_one = ClaimRequest {
            initial: 1,
            ..request(0, "S/1", 1)
        };
        assert_eq!(decide(None, &from_one, 0), Verdict::BelowInitial);
    }

    #[test]
    fn a_claim_holds_until_its_message_returns_or_it_expires() {
        let claimed = state(Some(0), Some((1, held_by("S/5", 2, 1_000))));
        let busy = Verdict::Busy(held_by("S/5", 2, 1_000));
        // Another message waits while the claim holds.
        assert_eq!(decide(Some(&claimed), &request(1, "S/7", 1), 999), busy);
        // An earlier delivery of the claiming message too.
        assert_eq!(decide(Some(&claimed), &request(1, "S/5", 1), 999), busy);
        // Its same or a later delivery takes it over; so does anyone once it expired.
        assert_eq!(
            decide(Some(&claimed), &request(1, "S/5", 2), 999),
            Verdict::Claimed(())
        );
        assert_eq!(
            decide(Some(&claimed), &request(1, "S/7", 1), 1_000),
            Verdict::Claimed(())
        );
        // A claim on another step does not stand in the way.
        let other = state(Some(0), Some((2, held_by("S/5", 2, 1_000))));
        assert_eq!(
            decide(Some(&other), &request(1, "S/7", 1), 0),
            Verdict::Claimed(())
        );
        // A claim held in this process is never taken over.
        let local = state(Some(0), Some((1, Holder::Local)));
        assert_eq!(
            decide(Some(&local), &request(1, "S/7", 9), u64::MAX),
            Verdict::Busy(Holder::Local)
        );
    }
}
