//! The README's quickstart: `cargo run -p quickstart [-- nats://127.0.0.1:4222]`.
/// The types generated from `schemas/` by `build.rs`.
pub mod events {
    typebus::include_events!();
}
use events::{SUBJECTS, UserSignedUp};
use typebus::{Bus, Delivery, HandlerError, ListenOptions, Listener, StreamConfig};

struct WelcomeMailer(tokio::sync::mpsc::Sender<String>);

impl Listener for WelcomeMailer {
    type Event = UserSignedUp;
    fn options(&self) -> ListenOptions {
        ListenOptions::new("welcome-mailer") // one durable consumer, shared by every instance
    }
    async fn on_message(&self, user: UserSignedUp, _: &Delivery) -> Result<(), HandlerError> {
        let _ = self.0.send(format!("welcome, {}!", user.email)).await;
        Ok(()) // ack; Err(HandlerError::retry(..)) naks, ::permanent(..) dead-letters
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bus: Bus = match std::env::args().nth(1) {
        Some(url) => typebus::nats::connect(typebus::nats::ConnectOptions::new(url)).await?,
        None => typebus::memory::bus(), // the embedded broker, for tests and local runs
    };
    bus.provision(&StreamConfig::new(SUBJECTS.iter().copied()))
        .await?;
    let (tx, mut welcomed) = tokio::sync::mpsc::channel(1);
    let listener = bus.listen(WelcomeMailer(tx)).await?;
    let user = UserSignedUp {
        id: "u1".into(),
        email: "ada@example.com".into(),
        referrer: None,
    };
    let ack = bus.publisher::<UserSignedUp>().publish(&user).await?;
    println!("published as #{} in {}", ack.sequence, ack.stream);
    println!("{}", welcomed.recv().await.ok_or("the listener stopped")?);
    listener.shutdown().await?;
    Ok(())
}
