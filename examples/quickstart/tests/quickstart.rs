//! The quickstart runs on both transports, and the README shows its files
//! exactly as they are here (so the README's code is compiled and run).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "quickstart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn it_publishes_and_handles_an_event_in_memory() {
    assert_eq!(
        run(&[]),
        "published as #1 in EVENTS\nwelcome, ada@example.com!\n"
    );
}

#[test]
fn it_publishes_and_handles_an_event_on_nats() {
    let server = typebus::testing::NatsServer::start().unwrap();
    assert_eq!(
        run(&[&server.url()]),
        "published as #1 in EVENTS\nwelcome, ada@example.com!\n"
    );
}

#[test]
fn the_readme_shows_these_files_verbatim() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(here.join("../../README.md")).unwrap();
    for file in ["schemas/users.yaml", "build.rs", "src/main.rs"] {
        let text = std::fs::read_to_string(here.join(file)).unwrap();
        assert!(
            readme.contains(&text),
            "README.md does not show examples/quickstart/{file} as it is"
        );
    }
}
