//! The listener engine, written once over [`Transport`]: fetch within a
//! concurrency limit, [`dispose`] each message while keeping its delivery
//! alive with in-progress acks, settle it (ack, nak, dead letter + term),
//! and shut down gracefully.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::bus::delivery::Delivery;
use crate::bus::dispose::{Disposition, dispose, dispose_batch, retry_or_give_up};
use crate::bus::listener::{DeadLetterKind, Listener, consumer_name};
use crate::bus::options::{Dispatch, ListenOptions};
use crate::bus::publisher::{PublishRetry, send_with_retry};
use crate::bus::transport::{
    AckKind, Acker, ConsumerSpec, Incoming, MessageSource, PublishAck, Transport,
};
use crate::contract::event::Event;
use crate::error::{ListenError, ListenErrorKind, PublishError, chain};

/// How long a message whose dead letter could not be stored waits before
/// it is delivered (and dead-lettered) again.
const DEAD_LETTER_RETRY: Duration = Duration::from_secs(5);

/// How long shutdown waits for acknowledgements to be flushed.
const FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// One running listener's settings, shared by its handler tasks.
struct Engine<L> {
    listener: Arc<L>,
    options: ListenOptions,
    transport: Arc<dyn Transport>,
    dead_letter_subject: String,
    progress_interval: Duration,
    handler_timeout: Duration,
}

/// The consumer spec and engine settings a listener and its options ask for.
pub(crate) struct Plan {
    options: ListenOptions,
    spec: ConsumerSpec,
    dead_letter_subject: String,
    handler_timeout: Duration,
}

/// Validates a listener's options and derives its consumer.
pub(crate) fn plan<E: Event>(options: ListenOptions) -> Result<Plan, ListenError> {
    let invalid =
        |detail: String| ListenError::new(ListenErrorKind::InvalidConfig).with_detail(detail);
    let group = &options.queue_group;
    if group.is_empty() {
        return Err(invalid("the queue group is empty".into()));
    }
    let subject = E::SUBJECT;
    let durable_name = consumer_name(group, subject);
    crate::bus::subject::check_consume("subject", subject)?;
    let dead_letter_subject = options
        .dead_letter_subject
        .clone()
        .unwrap_or_else(|| crate::bus::dead_letter::default_subject(group));
    crate::bus::subject::check_consume("dead-letter subject", &dead_letter_subject)?;
    if options.concurrency == 0 || options.prefetch == 0 {
        return Err(invalid(
            "concurrency and prefetch must be at least 1".into(),
        ));
    }
    if options.concurrency + options.prefetch > options.max_ack_pending {
        return Err(invalid(format!(
            "concurrency ({}) + prefetch ({}) exceeds max_ack_pending ({})",
            options.concurrency, options.prefetch, options.max_ack_pending
        )));
    }
    let ack_wait = options.ack_wait;
    if ack_wait < Duration::from_millis(100) {
        return Err(invalid(format!("ack_wait {ack_wait:?} is below 100ms")));
    }
    if options.max_deliver == Some(0) {
        return Err(invalid("max_deliver must be at least 1".into()));
    }
    let spec = ConsumerSpec {
        stream: options.stream.clone(),
        durable_name,
        filter_subject: subject.to_owned(),
        ack_wait,
        // One delivery more than the listener allows: a message whose last
        // allowed delivery never settled (a crash) comes back once more and
        // is dead-lettered instead of silently dropped by the server.
        max_deliver: options.max_deliver.map(|max| max.saturating_add(1)),
        max_ack_pending: options.max_ack_pending,
        backoff: Vec::new(),
        batch: options.prefetch,
    };
    Ok(Plan {
        spec,
        dead_letter_subject,
        handler_timeout: options
            .handler_timeout
            .unwrap_or(ack_wait.saturating_mul(6)),
        options,
    })
}

/// Binds the consumer and spawns the listener's task.
pub(crate) async fn start<L: Listener>(
    transport: Arc<dyn Transport>,
    listener: L,
    plan: Plan,
) -> Result<ListenerHandle, ListenError> {
    let source = transport.consume(plan.spec.clone()).await?;
    let queue_group = plan.options.queue_group.clone();
    tracing::info!(
        transport = transport.name(),
        subject = L::Event::SUBJECT,
        queue_group = %queue_group,
        consumer = %plan.spec.durable_name,
        concurrency = plan.options.concurrency,
        dispatch = ?plan.options.dispatch,
        "listener started"
    );
    let engine = Arc::new(Engine {
        listener: Arc::new(listener),
        transport,
        dead_letter_subject: plan.dead_letter_subject,
        progress_interval: (plan.options.ack_wait / 3).max(Duration::from_millis(10)),
        handler_timeout: plan.handler_timeout,
        options: plan.options,
    });
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(engine, source, stopped));
    Ok(ListenerHandle {
        stop,
        task,
        queue_group,
        subject: L::Event::SUBJECT,
    })
}

/// Resolves when a stop is asked for; never when the handle was dropped
/// (a dropped handle detaches the listener).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    if stopped.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn run<L: Listener>(
    engine: Arc<Engine<L>>,
    mut source: Box<dyn MessageSource>,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), ListenError> {
    let concurrency = engine.options.concurrency;
    let permits = Arc::new(Semaphore::new(concurrency));
    let batch_limit = match engine.options.dispatch {
        Dispatch::Batches => (concurrency / 2).max(1),
        Dispatch::OneByOne => 1,
    };
    let result = {
        let mut stop = pin!(stop_requested(&mut stopped));
        loop {
            let permit = tokio::select! {
                biased;
                () = stop.as_mut() => break Ok(()),
                permit = Arc::clone(&permits).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break Ok(()),
                },
            };
            // A message already fetched is taken without waiting.
            let next = match source.try_next() {
                Some(next) => next,
                None => tokio::select! {
                    biased;
                    () = stop.as_mut() => break Ok(()),
                    next = source.next() => next,
                },
            };
            let failed = match next {
                Ok(incoming) if batch_limit > 1 => {
                    let (batch, permit, failed) =
                        gather(incoming, permit, &permits, &mut *source, batch_limit);
                    run_or_spawn(handle_batch(Arc::clone(&engine), batch, permit));
                    failed
                }
                Ok(incoming) => {
                    run_or_spawn(handle(Arc::clone(&engine), incoming, permit));
                    None
                }
                Err(err) => Some(err),
            };
            if let Some(err) = failed {
                tracing::error!(subject = L::Event::SUBJECT, queue_group = %engine.options.queue_group, error = %chain(&err), "listener stopped: message source failed");
                break Err(err);
            }
        }
    };
    tracing::info!(subject = L::Event::SUBJECT, queue_group = %engine.options.queue_group, "listener stopping: finishing in-flight messages");
    source.close().await;
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    if permits.acquire_many(all).await.is_err() {
        tracing::warn!("listener permits closed early");
    }
    // Bounded: during an outage a flush would wait for the reconnect.
    match tokio::time::timeout(FLUSH_LIMIT, engine.transport.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::warn!(error = %chain(&err), "could not flush acknowledgements on shutdown");
        }
        Err(_) => {
            tracing::warn!(limit = ?FLUSH_LIMIT, "acknowledgements not flushed in time on shutdown")
        }
    }
    tracing::info!(subject = L::Event::SUBJECT, queue_group = %engine.options.queue_group, "listener stopped");
    result
}

/// Polls `work` (a message's or batch's handling, a guard's release) once
/// right here: work that finishes without waiting (a handler and its ack)
/// costs no task. Work that waits continues on a task of its own, polled
/// afresh there; outside a runtime it is dropped.
///
/// What the poll pays for: with a plain `tokio::spawn` instead, consume +
/// ack ran at 0.81x raw async-nats against 1.01x, 4.80 against 3.55 us of
/// client CPU per message (`cargo bench -p typebus --bench throughput`,
/// median of 3, measured at 871e17e).
pub(crate) fn run_or_spawn(work: impl Future<Output = ()> + Send + 'static) {
    let mut work = Box::pin(work);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    if work.as_mut().poll(&mut cx).is_pending()
        && let Ok(runtime) = tokio::runtime::Handle::try_current()
    {
        runtime.spawn(work);
    }
}

/// Adds to `first` the messages at hand without waiting, while permits
/// are, up to `limit` messages in all. Returns the batch, its permits, and
/// the source's error if it failed meanwhile (the batch is still handled).
fn gather(
    first: Incoming,
    mut permit: OwnedSemaphorePermit,
    permits: &Arc<Semaphore>,
    source: &mut dyn MessageSource,
    limit: usize,
) -> (Vec<Incoming>, OwnedSemaphorePermit, Option<ListenError>) {
    let mut batch = vec![first];
    while batch.len() < limit {
        let Ok(more) = Arc::clone(permits).try_acquire_owned() else {
            break;
        };
        match source.try_next() {
            Some(Ok(incoming)) => {
                batch.push(incoming);
                permit.merge(more);
            }
            Some(Err(err)) => return (batch, permit, Some(err)),
            None => break,
        }
    }
    (batch, permit, None)
}

async fn handle<L: Listener>(
    engine: Arc<Engine<L>>,
    incoming: Incoming,
    permit: OwnedSemaphorePermit,
) {
    let (delivery, payload, acker) = incoming.into_parts();
    let disposition = engine.dispose_alive(&delivery, &payload, &*acker).await;
    engine
        .settle(disposition, &delivery, payload, &*acker)
        .await;
    drop(permit);
}

/// Handles a batch ([`Dispatch::Batches`]): [`dispose_batch`], then
/// settles every message in order.
async fn handle_batch<L: Listener>(
    engine: Arc<Engine<L>>,
    batch: Vec<Incoming>,
    permit: OwnedSemaphorePermit,
) {
    let mut messages = Vec::with_capacity(batch.len());
    let mut ackers = Vec::with_capacity(batch.len());
    for incoming in batch {
        let (delivery, payload, acker) = incoming.into_parts();
        messages.push((delivery, payload));
        ackers.push(acker);
    }
    let dispositions = engine.dispose_batch_alive(&messages, &ackers).await;
    for ((disposition, (delivery, payload)), acker) in
        dispositions.into_iter().zip(messages).zip(ackers)
    {
        engine
            .settle(disposition, &delivery, payload, &*acker)
            .await;
    }
    drop(permit);
}

impl<L: Listener> Engine<L> {
    /// Runs [`dispose_batch`], keeping every delivery of the batch alive
    /// (see [`keep_alive`](Self::keep_alive)); an abandoned batch's messages
    /// are all retried.
    async fn dispose_batch_alive(
        &self,
        messages: &[(Delivery, Bytes)],
        ackers: &[Box<dyn Acker>],
    ) -> Vec<Disposition> {
        let ackers: Vec<&dyn Acker> = ackers.iter().map(|acker| &**acker).collect();
        let disposing = pin!(dispose_batch(&*self.listener, &self.options, messages));
        self.keep_alive(disposing, &ackers, |reason| {
            tracing::warn!(
                subject = L::Event::SUBJECT,
                messages = messages.len(),
                timeout = ?self.handler_timeout,
                "batch handler did not finish in time; abandoned"
            );
            messages
                .iter()
                .map(|(delivery, _)| {
                    retry_or_give_up(&self.options, delivery, None, reason.clone())
                })
                .collect()
        })
        .await
    }

    /// Runs [`dispose`], keeping the delivery alive (see
    /// [`keep_alive`](Self::keep_alive)); an abandoned handler's message is
    /// retried.
    async fn dispose_alive(
        &self,
        delivery: &Delivery,
        payload: &[u8],
        acker: &dyn Acker,
    ) -> Disposition {
        let disposing = pin!(dispose(&*self.listener, &self.options, delivery, payload));
        self.keep_alive(disposing, &[acker], |reason| {
            tracing::warn!(
                subject = delivery.subject(),
                sequence = delivery.stream_sequence(),
                timeout = ?self.handler_timeout,
                "handler did not finish in time; abandoned"
            );
            retry_or_give_up(&self.options, delivery, None, reason)
        })
        .await
    }

    /// Runs `disposing`, sending in-progress acks through `ackers` every
    /// third of `ack_wait` until `handler_timeout`, when it is abandoned
    /// (dropped) for what `abandon` makes of the reason.
    ///
    /// `disposing` comes pinned by the caller: moved in and pinned here, it
    /// would be stored twice in every delivery's future, which the engine
    /// boxes (with that copy, and `caught`'s, a plain listener's delivery
    /// future was 1,408 bytes against 1,008, a guarded one's 3,360 against
    /// 1,400).
    async fn keep_alive<T>(
        &self,
        mut disposing: Pin<&mut impl Future<Output = T>>,
        ackers: &[&dyn Acker],
        abandon: impl FnOnce(String) -> T,
    ) -> T {
        if let Some(done) = disposing.as_mut().now_or_never() {
            return done;
        }
        let started = Instant::now();
        let deadline = started + self.handler_timeout;
        let mut next_progress = started + self.progress_interval;
        loop {
            tokio::select! {
                done = disposing.as_mut() => return done,
                () = tokio::time::sleep_until(next_progress.min(deadline)) => {
                    if Instant::now() >= deadline {
                        return abandon(format!("handler did not finish within {:?}", self.handler_timeout));
                    }
                    for acker in ackers {
                        if let Err(err) = acker.send(AckKind::InProgress).await {
                            tracing::debug!(error = %chain(&err), "in-progress ack not sent");
                        }
                    }
                    next_progress += self.progress_interval;
                }
            }
        }
    }

    async fn settle(
        &self,
        disposition: Disposition,
        delivery: &Delivery,
        payload: Bytes,
        acker: &dyn Acker,
    ) {
        let kind = match disposition {
            Disposition::Ack => AckKind::Ack,
            Disposition::Retry { delay, reason } => {
                tracing::warn!(
                    subject = delivery.subject(),
                    sequence = delivery.stream_sequence(),
                    delivery = delivery.delivery_count(),
                    retry_in = ?delay,
                    %reason,
                    "handler failed; the message will be delivered again"
                );
                AckKind::Nak(Some(delay))
            }
            Disposition::DeadLetter { kind, reason } => {
                tracing::warn!(
                    subject = delivery.subject(),
                    sequence = delivery.stream_sequence(),
                    delivery = delivery.delivery_count(),
                    dead_letter_subject = %self.dead_letter_subject,
                    kind = kind.as_str(),
                    %reason,
                    "dead-lettering message"
                );
                // Boxed: keeps the common path's future small.
                match Box::pin(self.dead_letter(kind, &reason, delivery, payload)).await {
                    Ok(_) => AckKind::Term,
                    Err(err) => {
                        tracing::error!(
                            subject = delivery.subject(),
                            sequence = delivery.stream_sequence(),
                            dead_letter_subject = %self.dead_letter_subject,
                            error = %chain(&err),
                            "dead letter not stored; the message will be delivered again"
                        );
                        AckKind::Nak(Some(DEAD_LETTER_RETRY))
                    }
                }
            }
        };
        if let Err(err) = acker.send(kind).await {
            tracing::warn!(
                subject = delivery.subject(),
                sequence = delivery.stream_sequence(),
                ack = ?kind,
                error = %chain(&err),
                "acknowledgement not sent; the message may be delivered again"
            );
        }
    }

    /// Publishes the message to the dead-letter subject with the original
    /// body and headers plus the reason, and waits for it to be stored.
    async fn dead_letter(
        &self,
        kind: DeadLetterKind,
        reason: &str,
        delivery: &Delivery,
        payload: Bytes,
    ) -> Result<PublishAck, PublishError> {
        let message = crate::bus::dead_letter::message(
            &self.dead_letter_subject,
            &self.options.queue_group,
            kind,
            reason,
            delivery,
            payload,
            self.transport.max_payload(),
        );
        send_with_retry(
            Arc::clone(&self.transport),
            message,
            PublishRetry::default(),
        )
        .await?
        .await
    }
}

/// A running listener: stop it, or wait for it to end.
///
/// Dropping the handle detaches the listener: it keeps running.
#[derive(Debug)]
pub struct ListenerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), ListenError>>,
    queue_group: String,
    subject: &'static str,
}

impl ListenerHandle {
    /// The listener's queue group.
    pub fn queue_group(&self) -> &str {
        &self.queue_group
    }

    /// The subject it listens to.
    pub fn subject(&self) -> &'static str {
        self.subject
    }

    /// Asks the listener to stop (see [`shutdown`](Self::shutdown)) without waiting.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Whether the listener's task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops gracefully: no more messages are fetched, messages already
    /// fetched but not started are released for redelivery, in-flight
    /// handlers finish and their messages are settled, and the
    /// acknowledgements are flushed. Resolves when all of that is done.
    pub async fn shutdown(self) -> Result<(), ListenError> {
        self.stop();
        self.join().await
    }

    /// Waits for the listener to end (after [`stop`](Self::stop), or when
    /// its message source failed for good).
    pub async fn join(self) -> Result<(), ListenError> {
        match self.task.await {
            Ok(result) => result,
            Err(err) => Err(ListenError::new(ListenErrorKind::Aborted)
                .with_detail(format!("`{}` of `{}`", self.subject, self.queue_group))
                .with_source(err)),
        }
    }

    /// Runs until SIGINT or SIGTERM (Ctrl-C off Unix), then shuts down
    /// gracefully; or until the listener ends by itself.
    pub async fn shutdown_on_signal(self) -> Result<(), ListenError> {
        shutdown_all_on_signal([self]).await
    }
}

/// Resolves on SIGINT or SIGTERM (on Unix; Ctrl-C elsewhere).
pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// Runs `handles` until SIGINT or SIGTERM, or until one of them ends by
/// itself; then shuts all of them down gracefully. Returns the first error.
pub async fn shutdown_all_on_signal(
    handles: impl IntoIterator<Item = ListenerHandle>,
) -> Result<(), ListenError> {
    let handles: Vec<ListenerHandle> = handles.into_iter().collect();
    let any_finished = async {
        loop {
            if handles.iter().any(ListenerHandle::is_finished) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::select! {
        result = shutdown_signal() => match result {
            Ok(()) => tracing::info!("shutdown signal received"),
            Err(err) => tracing::error!(error = %err, "cannot listen for shutdown signals; shutting down"),
        },
        () = any_finished => tracing::warn!("a listener ended; shutting down the others"),
    }
    let mut first_error = None;
    for handle in &handles {
        handle.stop();
    }
    for handle in handles {
        if let Err(err) = handle.join().await
            && first_error.is_none()
        {
            first_error = Some(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}
