//! [`ConnectOptions`]: servers, name, credentials, TLS, reconnects and
//! JetStream timings — the old "buildClient" settings.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How to connect to NATS. Secrets are kept out of `Debug`, logs and errors.
///
/// ```
/// use std::time::Duration;
/// use typebus::nats::ConnectOptions;
///
/// let options = ConnectOptions::new("nats://10.0.0.1:4222")
///     .server("nats://10.0.0.2:4222")
///     .name("orders-service")
///     .user_and_password("orders", "s3cret")
///     .max_reconnects(None)
///     .publish_timeout(Duration::from_secs(5));
/// assert!(!format!("{options:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct ConnectOptions {
    pub(crate) servers: Vec<String>,
    pub(crate) name: Option<String>,
    pub(crate) auth: Auth,
    pub(crate) tls: Tls,
    pub(crate) max_reconnects: Option<usize>,
    pub(crate) max_reconnect_delay: Duration,
    pub(crate) retry_on_initial_connect: bool,
    pub(crate) connection_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) publish_timeout: Duration,
    pub(crate) max_publishes_in_flight: usize,
    pub(crate) pull_expiry: Duration,
    pub(crate) idle_heartbeat: Duration,
}

/// Credentials.
#[derive(Clone, Default)]
pub(crate) enum Auth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: String,
    },
    Token(String),
    NkeySeed(String),
    CredentialsFile(PathBuf),
}

/// TLS settings.
#[derive(Clone, Default)]
pub(crate) struct Tls {
    pub(crate) required: bool,
    pub(crate) root_certificates: Vec<PathBuf>,
    pub(crate) client_certificate: Option<(PathBuf, PathBuf)>,
}

impl ConnectOptions {
    /// Connect to `server` (`nats://host:port`, `tls://host:port`, or
    /// `host:port`), with the defaults: reconnect forever, 5 s connection
    /// timeout, 10 s request timeout, 5 s publish ack timeout.
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            servers: vec![server.into()],
            name: None,
            auth: Auth::None,
            tls: Tls::default(),
            max_reconnects: None,
            max_reconnect_delay: Duration::from_secs(2),
            retry_on_initial_connect: false,
            connection_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            publish_timeout: Duration::from_secs(5),
            max_publishes_in_flight: 5_000,
            pull_expiry: Duration::from_secs(30),
            idle_heartbeat: Duration::from_secs(5),
        }
    }

    /// Connect to any of `servers` (a cluster's members).
    pub fn servers<S: Into<String>>(servers: impl IntoIterator<Item = S>) -> Self {
        let mut options = Self::new(String::new());
        options.servers = servers.into_iter().map(Into::into).collect();
        options
    }

    /// Adds a server.
    pub fn server(mut self, server: impl Into<String>) -> Self {
        self.servers.push(server.into());
        self
    }

    /// Names the client (shown by the server's monitoring), e.g. the service.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Authenticates with a user and password.
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.auth = Auth::UserPassword {
            user: user.into(),
            password: password.into(),
        };
        self
    }

    /// Authenticates with a token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Token(token.into());
        self
    }

    /// Authenticates with an nkey seed (`SU...`).
    pub fn nkey_seed(mut self, seed: impl Into<String>) -> Self {
        self.auth = Auth::NkeySeed(seed.into());
        self
    }

    /// Authenticates with a `.creds` file (JWT and nkey seed), read on connect.
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.auth = Auth::CredentialsFile(path.into());
        self
    }

    /// Requires TLS.
    pub fn require_tls(mut self, required: bool) -> Self {
        self.tls.required = required;
        self
    }

    /// Trusts the CA certificates in a PEM file (implies nothing about
    /// requiring TLS; `tls://` URLs or [`require_tls`](Self::require_tls) do).
    pub fn root_certificates(mut self, pem: impl Into<PathBuf>) -> Self {
        self.tls.root_certificates.push(pem.into());
        self
    }

    /// Presents a client certificate (PEM certificate and key files).
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls.client_certificate = Some((cert.into(), key.into()));
        self
    }

    /// How many reconnect attempts before giving up; `None` (default) for
    /// no limit — a service should outlive a server restart.
    pub fn max_reconnects(mut self, max: Option<usize>) -> Self {
        self.max_reconnects = max;
        self
    }

    /// The longest delay between reconnect attempts (default 2 s; attempts
    /// start fast and back off to it).
    pub fn max_reconnect_delay(mut self, delay: Duration) -> Self {
        self.max_reconnect_delay = delay;
        self
    }

    /// Keep trying when no server is reachable at start (default: fail).
    pub fn retry_on_initial_connect(mut self, retry: bool) -> Self {
        self.retry_on_initial_connect = retry;
        self
    }

    /// How long one connection attempt may take (default 5 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long a JetStream API request may take (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long a publish waits for the stream's ack (default 5 s); after
    /// that the publisher retries with the same message id.
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// How many publishes may await their ack at once (default 5000); more
    /// wait for a slot.
    pub fn max_publishes_in_flight(mut self, max: usize) -> Self {
        self.max_publishes_in_flight = max;
        self
    }

    /// How long a listener's pull request lives (default 30 s). A listener
    /// pulls again when it expires.
    pub fn pull_expiry(mut self, expiry: Duration) -> Self {
        self.pull_expiry = expiry;
        self
    }

    /// The idle heartbeat asked of the server while a pull waits (default
    /// 5 s, at most half the pull expiry). When heartbeats stop, the
    /// listener pulls again and re-binds its consumer.
    pub fn idle_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.idle_heartbeat = heartbeat;
        self
    }

    /// The secrets in these options, to scrub from error messages.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        match &self.auth {
            Auth::UserPassword { password, .. } => secrets.push(password.clone()),
            Auth::Token(token) => secrets.push(token.clone()),
            Auth::NkeySeed(seed) => secrets.push(seed.clone()),
            Auth::None | Auth::CredentialsFile(_) => {}
        }
        for server in &self.servers {
            if let Some(password) = url_password(server) {
                secrets.push(password.to_owned());
            }
        }
        secrets.retain(|s| !s.is_empty());
        secrets
    }
}

/// The password (or token) in `scheme://user:password@host` or
/// `scheme://token@host`.
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    Some(
        userinfo
            .split_once(':')
            .map_or(userinfo, |(_, password)| password),
    )
}

/// Splits `scheme://user:password@host` into the URL without userinfo and
/// the (user, password) — or (token, None) for `scheme://token@host`.
pub(crate) fn split_credentials(url: &str) -> (String, Option<(String, Option<String>)>) {
    let (prefix, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let credentials = match userinfo.split_once(':') {
                Some((user, password)) => (user.to_owned(), Some(password.to_owned())),
                None => (userinfo.to_owned(), None),
            };
            (format!("{prefix}{host}{}", &rest[end..]), Some(credentials))
        }
        None => (url.to_owned(), None),
    }
}

/// `url` with any userinfo replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").map_or(("", url), |(s, r)| (s, r));
    let prefix = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{prefix}***@{host}{}", &rest[end..]),
        None => url.to_owned(),
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            Auth::None => "none",
            Auth::UserPassword { .. } => "user and password",
            Auth::Token(_) => "token",
            Auth::NkeySeed(_) => "nkey seed",
            Auth::CredentialsFile(_) => "credentials file",
        };
        let servers: Vec<String> = self.servers.iter().map(|s| redact_url(s)).collect();
        f.debug_struct("ConnectOptions")
            .field("servers", &servers)
            .field("name", &self.name)
            .field("auth", &auth)
            .field("tls_required", &self.tls.required)
            .field("max_reconnects", &self.max_reconnects)
            .field("publish_timeout", &self.publish_timeout)
            .field("pull_expiry", &self.pull_expiry)
            .field("idle_heartbeat", &self.idle_heartbeat)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_secrets_are_found_and_redacted() {
        assert_eq!(url_password("nats://bob:pw@host:4222"), Some("pw"));
        assert_eq!(url_password("nats://tok@host"), Some("tok"));
        assert_eq!(url_password("nats://host:4222"), None);
        assert_eq!(
            redact_url("nats://bob:pw@host:4222/x"),
            "nats://***@host:4222/x"
        );
        assert_eq!(redact_url("host:4222"), "host:4222");
        assert_eq!(
            split_credentials("nats://bob:pw@host:4222"),
            (
                "nats://host:4222".to_owned(),
                Some(("bob".to_owned(), Some("pw".to_owned())))
            )
        );
        assert_eq!(
            split_credentials("tls://tok@host"),
            ("tls://host".to_owned(), Some(("tok".to_owned(), None)))
        );
        assert_eq!(
            split_credentials("host:4222"),
            ("host:4222".to_owned(), None)
        );
        let options = ConnectOptions::new("nats://u:urlsecret@h").token("tok3n");
        let secrets = options.secrets();
        assert!(secrets.contains(&"urlsecret".to_owned()) && secrets.contains(&"tok3n".to_owned()));
        let debug = format!("{options:?}");
        assert!(
            !debug.contains("urlsecret") && !debug.contains("tok3n"),
            "{debug}"
        );
    }
}
