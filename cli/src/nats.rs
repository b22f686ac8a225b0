//! What `publish` and `listen` share: a tokio runtime for one command, and a
//! connection through the typebus runtime (credentials in URLs, redacted
//! errors, no endless retry of the first connect).

use std::future::Future;
use std::time::Duration;

use typebus::nats::{ConnectOptions, NatsTransport};

use crate::cli::ServerArgs;
use crate::error::CliError;

/// Runs `future` to completion on a single-threaded runtime.
pub(crate) fn block_on<T>(
    future: impl Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            what: "a tokio runtime".to_owned(),
            source,
        })?
        .block_on(future)
}

/// Connects to the servers of `args`; fails within the connection timeout
/// when none answers.
pub(crate) async fn connect(args: &ServerArgs) -> Result<NatsTransport, CliError> {
    let options = ConnectOptions::servers(args.url.iter().cloned())
        .name("typebus-cli")
        .retry_on_initial_connect(false)
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(Some(3));
    NatsTransport::connect(options)
        .await
        .map_err(|err| CliError::Failed(format!("cannot connect to NATS: {err}")))
}
