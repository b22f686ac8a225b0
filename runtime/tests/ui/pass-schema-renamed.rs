//! Wire names through `#[serde(rename)]` and every `rename_all` rule,
//! checked against `tests/ui/schemas/good/events.yaml`; each event's
//! subject and version come from the schema.

use typebus::{Event, Timestamp};

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "TicketCreated")]
struct Created {
    id: String,
    version: u64,
    title: String,
    price: f64,
    #[serde(rename = "userId")]
    user_id: String,
}

macro_rules! renamed {
    ($struct:ident, $name:literal, $rule:literal) => {
        #[derive(serde::Serialize, serde::Deserialize, Event)]
        #[event(schema = "tests/ui/schemas/good/events.yaml", name = $name)]
        #[serde(rename_all = $rule)]
        struct $struct {
            user_id: String,
            expires_at: Timestamp,
        }
    };
}

renamed!(Lower, "Lowercase", "lowercase");
renamed!(Upper, "Uppercase", "UPPERCASE");
renamed!(Pascal, "PascalCase", "PascalCase");
renamed!(Snake, "SnakeCase", "snake_case");
renamed!(ScreamingSnake, "ScreamingSnakeCase", "SCREAMING_SNAKE_CASE");
renamed!(Kebab, "KebabCase", "kebab-case");
renamed!(ScreamingKebab, "ScreamingKebabCase", "SCREAMING-KEBAB-CASE");

// `rename_all` for most fields, `rename` where the rule does not reach,
// and a raw identifier.
#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "CamelCase")]
#[serde(rename_all(serialize = "camelCase", deserialize = "camelCase"))]
struct Camel {
    user_id: String,
    expires_at: Timestamp,
    #[serde(rename = "@type")]
    r#type: String,
}

fn keys<E: serde::Serialize>(event: &E) -> Vec<String> {
    let value = serde_json::to_value(event).unwrap();
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

fn at() -> Timestamp {
    serde_json::from_str("\"2020-05-01T12:00:00.000Z\"").unwrap()
}

fn main() {
    assert_eq!(Created::SUBJECT, "ticket:created");
    assert_eq!(Created::VERSION, 1);
    assert_eq!(Created::NAME, "TicketCreated");

    let subjects = [
        (Lower::SUBJECT, Lower::VERSION),
        (Upper::SUBJECT, Upper::VERSION),
        (Pascal::SUBJECT, Pascal::VERSION),
        (Camel::SUBJECT, Camel::VERSION),
        (Snake::SUBJECT, Snake::VERSION),
        (ScreamingSnake::SUBJECT, ScreamingSnake::VERSION),
        (Kebab::SUBJECT, Kebab::VERSION),
        (ScreamingKebab::SUBJECT, ScreamingKebab::VERSION),
    ];
    assert_eq!(
        subjects,
        [
            ("fixture:lowercase", 1),
            ("fixture:uppercase", 1),
            ("fixture:pascal-case", 1),
            ("fixture:camel-case", 2),
            ("fixture:snake-case", 1),
            ("fixture:screaming-snake-case", 1),
            ("fixture:kebab-case", 1),
            ("fixture:screaming-kebab-case", 1),
        ]
    );
    assert_eq!(Camel::NAME, "CamelCase");

    let created = Created {
        id: "1".into(),
        version: 0,
        title: "t".into(),
        price: 20.0,
        user_id: "u".into(),
    };
    assert_eq!(keys(&created), ["id", "price", "title", "userId", "version"]);
    let camel = Camel { user_id: "u".into(), expires_at: at(), r#type: "x".into() };
    assert_eq!(keys(&camel), ["@type", "expiresAt", "userId"]);
    let kebab = Kebab { user_id: "u".into(), expires_at: at() };
    assert_eq!(keys(&kebab), ["expires-at", "user-id"]);
    let upper = ScreamingKebab { user_id: "u".into(), expires_at: at() };
    assert_eq!(keys(&upper), ["EXPIRES-AT", "USER-ID"]);
}
