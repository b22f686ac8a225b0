//! Turning [`ConnectOptions`] into an `async_nats::Client`, with errors
//! that never carry a secret.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::ServerAddr;

use super::options::{Auth, ConnectOptions, redact_url, split_credentials};
use crate::backoff::Backoff;
use crate::error::{BoxError, ConnectError, ConnectErrorKind};

/// An error message with every secret replaced by `***`.
#[derive(Debug)]
pub(crate) struct Redacted(String);

impl std::fmt::Display for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Redacted {}

/// Renders `error` and its sources with `secrets` scrubbed.
pub(crate) fn redact(error: &(dyn std::error::Error + 'static), secrets: &[String]) -> BoxError {
    let mut text = crate::error::chain(error);
    for secret in secrets {
        text = text.replace(secret.as_str(), "***");
    }
    Box::new(Redacted(text))
}

/// Connects; `closed` is set when the connection closes for good.
pub(crate) async fn client(
    options: &ConnectOptions,
    closed: Arc<AtomicBool>,
) -> Result<async_nats::Client, ConnectError> {
    let secrets = options.secrets();
    if options.servers.is_empty() || options.servers.iter().any(|s| s.trim().is_empty()) {
        return Err(
            ConnectError::new(ConnectErrorKind::InvalidOptions).with_detail("no server url given")
        );
    }
    // Credentials in URLs become connect options: async-nats logs server
    // addresses (with their userinfo) at debug level.
    let mut addrs = Vec::with_capacity(options.servers.len());
    let mut url_auth = None;
    for server in &options.servers {
        let (bare, credentials) = split_credentials(server);
        if url_auth.is_none() {
            url_auth = credentials;
        }
        let addr: ServerAddr = bare.parse().map_err(|_| {
            ConnectError::new(ConnectErrorKind::InvalidOptions)
                .with_detail(format!("unreadable server url `{}`", redact_url(server)))
        })?;
        addrs.push(addr);
    }

    let mut nats = async_nats::ConnectOptions::new();
    nats = match &options.auth {
        Auth::None => match url_auth {
            Some((user, Some(password))) => nats.user_and_password(user, password),
            Some((token, None)) => nats.token(token),
            None => nats,
        },
        Auth::UserPassword { user, password } => {
            nats.user_and_password(user.clone(), password.clone())
        }
        Auth::Token(token) => nats.token(token.clone()),
        Auth::NkeySeed(seed) => {
            // async-nats only checks the seed when signing; check it now.
            nkeys_check(seed)?;
            nats.nkey(seed.clone())
        }
        Auth::CredentialsFile(path) => nats.credentials_file(path).await.map_err(|err| {
            ConnectError::new(ConnectErrorKind::Credentials)
                .with_detail(format!("`{}`", path.display()))
                .with_source(redact(&err, &secrets))
        })?,
    };
    if options.tls.required {
        nats = nats.require_tls(true);
    }
    for pem in &options.tls.root_certificates {
        nats = nats.add_root_certificates(pem.clone());
    }
    if let Some((cert, key)) = &options.tls.client_certificate {
        nats = nats.add_client_certificate(cert.clone(), key.clone());
    }
    if let Some(name) = &options.name {
        nats = nats.name(name);
    }
    let max_delay = options.max_reconnect_delay;
    nats = nats
        .max_reconnects(options.max_reconnects)
        .reconnect_delay_callback(move |attempts| reconnect_delay(attempts, max_delay))
        .connection_timeout(options.connection_timeout)
        .request_timeout(Some(options.request_timeout))
        .event_callback(move |event| {
            let closed = Arc::clone(&closed);
            async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("nats connected"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("nats disconnected; reconnecting")
                    }
                    async_nats::Event::Closed => {
                        closed.store(true, Ordering::SeqCst);
                        tracing::warn!("nats connection closed");
                    }
                    other => tracing::debug!(event = %other, "nats event"),
                }
            }
        });
    if options.retry_on_initial_connect {
        nats = nats.retry_on_initial_connect();
    }
    nats.connect(addrs).await.map_err(|err| {
        let kind = match err.kind() {
            async_nats::ConnectErrorKind::ServerParse => ConnectErrorKind::InvalidOptions,
            async_nats::ConnectErrorKind::Authentication => ConnectErrorKind::Credentials,
            async_nats::ConnectErrorKind::AuthorizationViolation => ConnectErrorKind::Authorization,
            async_nats::ConnectErrorKind::TimedOut => ConnectErrorKind::TimedOut,
            async_nats::ConnectErrorKind::Tls => ConnectErrorKind::Tls,
            async_nats::ConnectErrorKind::Dns | async_nats::ConnectErrorKind::Io => {
                ConnectErrorKind::Io
            }
            async_nats::ConnectErrorKind::MaxReconnects => ConnectErrorKind::Other,
        };
        let servers: Vec<String> = options.servers.iter().map(|s| redact_url(s)).collect();
        ConnectError::new(kind)
            .with_detail(servers.join(", "))
            .with_source(redact(&err, &secrets))
    })
}

/// Checks that an nkey seed reads as one, without echoing it.
fn nkeys_check(seed: &str) -> Result<(), ConnectError> {
    let looks_right = seed.len() > 2
        && seed.starts_with('S')
        && seed
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if looks_right {
        Ok(())
    } else {
        Err(ConnectError::new(ConnectErrorKind::Credentials)
            .with_detail("the nkey seed is not a seed (`S...`)"))
    }
}

/// The delay before reconnect attempt `attempts` (async-nats counts from
/// 0): 25 ms doubling ten times at most (25.6 s), never above `max`.
fn reconnect_delay(attempts: usize, max: Duration) -> Duration {
    let doublings = u64::try_from(attempts).unwrap_or(u64::MAX).min(10);
    Backoff::new(Duration::from_millis(25), max).delay(doublings)
}

#[cfg(test)]
mod tests {
    use super::reconnect_delay;
    use std::time::Duration;

    /// The delays before `Backoff`: `25 ms << min(attempts, 10)`, at most
    /// `max`.
    fn before(attempts: usize, max: Duration) -> Duration {
        let exponent = u32::try_from(attempts.min(10)).unwrap_or(10);
        Duration::from_millis(25u64 << exponent).min(max)
    }

    #[test]
    fn reconnect_delays_are_unchanged() {
        for max in [
            Duration::ZERO,
            Duration::from_millis(100),
            Duration::from_secs(8),
            Duration::from_secs(3600),
        ] {
            for attempts in [0, 1, 2, 5, 9, 10, 11, 64, usize::MAX] {
                assert_eq!(
                    reconnect_delay(attempts, max),
                    before(attempts, max),
                    "{attempts} {max:?}"
                );
            }
        }
        let hour = Duration::from_secs(3600);
        assert_eq!(reconnect_delay(0, hour), Duration::from_millis(25));
        assert_eq!(reconnect_delay(3, hour), Duration::from_millis(200));
        assert_eq!(reconnect_delay(10, hour), Duration::from_millis(25_600));
        assert_eq!(
            reconnect_delay(usize::MAX, hour),
            Duration::from_millis(25_600)
        );
    }
}
