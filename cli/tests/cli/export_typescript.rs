//! `typebus export typescript`: the output compiles with `tsc --strict`, the
//! REFERENCE.md payloads type-check against it, and a payload with a wrong
//! type, a missing field or an unknown enum value does not.
//!
//! `typescript@5` is installed once with npm into a cache directory under
//! the cargo target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Project, output, repo_schemas};

fn tsc() -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("typescript5");
    let bin = cache.join("node_modules/typescript/bin/tsc");
    if !bin.exists() {
        std::fs::create_dir_all(&cache).unwrap();
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&cache)
            .arg("typescript@5")
            .status()
            .unwrap();
        assert!(status.success(), "npm install typescript@5 failed");
    }
    bin
}

/// Runs `tsc --strict --noEmit` on `files`; Ok or the compiler's output.
fn compile(tsc: &Path, dir: &Path, files: &[&str]) -> Result<(), String> {
    let out = Command::new("node")
        .arg(tsc)
        .args([
            "--strict", "--noEmit", "--target", "es2020", "--module", "commonjs",
        ])
        .args(files)
        .current_dir(dir)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

const USES: &str = r#"import { Subjects, TicketCreatedEvent, TicketUpdatedEvent, OrderCreatedEvent,
  OrderCancelledEvent, ExpirationCompleteEvent, PaymentCreatedEvent, OrderStatus } from './events';

const id = '5ea1c4b8e2a7c9001b3f2a10';
export const created: TicketCreatedEvent['data'] = { id, version: 0, title: 'concert', price: 20, userId: id };
export const updated: TicketUpdatedEvent['data'] = { id, version: 1, title: 'concert', price: 9.99, userId: id, orderId: id };
export const released: TicketUpdatedEvent['data'] = { id, version: 2, title: 'concert', price: 9.99, userId: id };
export const order: OrderCreatedEvent['data'] = {
  id, version: 0, status: 'awaiting:payment', userId: id,
  expiresAt: '2020-05-01T12:00:00.000Z', ticket: { id, price: 20 },
};
export const cancelled: OrderCancelledEvent['data'] = { id, version: 1, ticket: { id } };
export const expired: ExpirationCompleteEvent['data'] = { orderId: id };
export const paid: PaymentCreatedEvent['data'] = { id, orderId: id, stripeId: 'ch_1Gq2' };
export const event: TicketCreatedEvent = { subject: Subjects.TicketCreated, data: created };
export const subject: string = Subjects.OrderCreated;
export const status: OrderStatus = 'complete';
"#;

#[test]
fn output_compiles_strict_and_reference_payloads_type_check() {
    let tsc = tsc();
    let project = Project::new();
    let schemas = repo_schemas();
    project
        .typebus(&[
            "export",
            "typescript",
            "--schemas",
            schemas.to_str().unwrap(),
            "--out",
            "ts",
        ])
        .assert()
        .code(0);
    let dir = project.path("ts");
    let events = project.read("ts/events.ts");
    assert!(
        events.contains("TicketCreated = 'ticket:created',"),
        "{events}"
    );
    assert!(
        events.contains("subject: Subjects.TicketCreated;"),
        "{events}"
    );
    assert!(events.contains("orderId?: string;"), "{events}");
    assert!(
        events.contains("'created' | 'cancelled' | 'awaiting:payment' | 'complete'"),
        "{events}"
    );
    compile(&tsc, &dir, &["events.ts"]).unwrap_or_else(|e| panic!("{e}\n{events}"));
    project.write("ts/uses.ts", USES);
    compile(&tsc, &dir, &["uses.ts"]).unwrap_or_else(|e| panic!("{e}\n{events}"));

    // Each mistake alone must fail to compile, with the expected complaint.
    let wrong = [
        (
            "price: 20, userId",
            "price: '20', userId",
            "Type 'string' is not assignable to type 'number'",
        ),
        (
            "title: 'concert', price: 20, userId: id };",
            "title: 'concert', price: 20 };",
            "Property 'userId' is missing",
        ),
        (
            "status: 'awaiting:payment'",
            "status: 'shipped'",
            "'\"shipped\"' is not assignable to type 'OrderStatus'",
        ),
        (
            "ticket: { id }",
            "ticket: { id: 5 }",
            "Type 'number' is not assignable to type 'string'",
        ),
        (
            "subject: Subjects.TicketCreated",
            "subject: Subjects.OrderCreated",
            "not assignable to type 'Subjects.TicketCreated'",
        ),
    ];
    for (from, to, what) in wrong {
        assert!(USES.contains(from), "{from}");
        project.write("ts/uses.ts", &USES.replacen(from, to, 1));
        let errors = compile(&tsc, &dir, &["uses.ts"])
            .err()
            .unwrap_or_else(|| panic!("`{to}` compiled"));
        assert!(errors.contains(what), "{to}: {errors}");
    }

    // Every kind of field, including odd names, open enums and recursion.
    let every = Project::new();
    every.write(
        "schemas/tickets.yaml",
        "\
types:
  Level:
    enum: [low, \"it's\"]
    open: true
    description: 'ends a comment */ early?'
  Node:
    fields:
      name: string
      children: list<Node>
events:
  Measured:
    subject: sensor:measured
    version: 1
    fields:
      id: uuid
      at: timestamp
      count: u64
      retries: { type: u32, default: 0 }
      level: Level
      tags: map<i32>
      samples: list<f64?>
      \"odd-name\": bool
      tree: Node?
      extra: json
",
    );
    let (_, err) = output(
        &every
            .typebus(&["export", "typescript", "--out", "ts"])
            .assert()
            .code(0),
    );
    assert!(err.contains("exported 1 file to "), "{err}");
    every.write(
        "ts/uses.ts",
        "import { MeasuredEvent, Level } from './events';\n\
         export const m: MeasuredEvent['data'] = { id: 'x', at: 'y', count: 1, level: 'new-value',\n\
         tags: { a: 1 }, samples: [1, null], 'odd-name': true, extra: { any: [1] } };\n\
         export const l: Level = \"it's\";\n",
    );
    let events = every.read("ts/events.ts");
    compile(&tsc, &every.path("ts"), &["uses.ts"]).unwrap_or_else(|e| panic!("{e}\n{events}"));
    every.write(
        "ts/uses.ts",
        "import { MeasuredEvent } from './events';\n\
         export const m: MeasuredEvent['data'] = { id: 'x', at: 'y', count: 1, level: 'low',\n\
         tags: { a: 'one' }, samples: [], 'odd-name': true, extra: null };\n",
    );
    let errors = compile(&tsc, &every.path("ts"), &["uses.ts"])
        .err()
        .unwrap_or_default();
    assert!(
        errors.contains("'string' is not assignable to type 'number'"),
        "{errors}"
    );

    // Written only when changed.
    let assert = every
        .typebus(&["export", "typescript", "--out", "ts"])
        .assert()
        .code(0);
    let (_, stderr) = output(&assert);
    assert!(stderr.contains("(0 changed)"), "{stderr}");
}
