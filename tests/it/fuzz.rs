//! Property-based fuzzing of the two parsers that take untrusted text: the
//! Claude Code hook payload parser and the `<snap>` revision shorthand
//! parser. Neither may panic on any input; well-formed input must parse to
//! what it says. `PROPTEST_CASES` raises the case count (default 2,000 per
//! property, bounded for CI).

use chrono::{Local, TimeZone};
use proptest::prelude::*;
use savepoint::integrations::agents::claude;
use savepoint::integrations::agents::Kind;
use savepoint::snapshot::revision::{self, Spec};

/// A fixed seed unless `PROPTEST_RNG_SEED` asks for another: every run
/// checks the same inputs and a failure reproduces.
fn config() -> ProptestConfig {
    let mut c = ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = proptest::test_runner::RngSeed::Fixed(0x5a7e_9017);
    }
    c
}

/// Arbitrary JSON values, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("hook_event_name".to_owned()),
                    Just("tool_name".to_owned()),
                    Just("tool_input".to_owned()),
                    Just("prompt".to_owned()),
                    Just("cwd".to_owned()),
                    Just("session_id".to_owned()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hook_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = claude::parse(&bytes);
    }

    #[test]
    fn hook_parser_never_panics_on_json(v in json()) {
        let _ = claude::parse(v.to_string().as_bytes());
    }

    #[test]
    fn well_formed_payloads_keep_their_fields(
        event in prop_oneof![
            Just("UserPromptSubmit"), Just("PostToolUse"), Just("Stop"),
            Just("SessionStart"), Just("StopFailure"), Just("Whatever"),
        ],
        session in "[a-f0-9-]{1,36}",
        text in ".{0,300}",
        path in "/[a-z/]{1,40}",
    ) {
        let payload = serde_json::json!({
            "hook_event_name": event,
            "session_id": session,
            "prompt": text,
            "tool_name": "Edit",
            "tool_input": {"file_path": path},
            "cwd": "/repo",
        });
        let e = claude::parse(payload.to_string().as_bytes()).unwrap();
        prop_assert_eq!(e.name.as_str(), event);
        prop_assert_eq!(e.session.as_deref(), Some(session.as_str()));
        match (event, &e.kind) {
            ("UserPromptSubmit", Kind::Prompt { text: t }) => prop_assert_eq!(t, &text),
            ("PostToolUse", Kind::ToolUse { paths, .. }) => {
                prop_assert_eq!(paths, &vec![std::path::PathBuf::from(&path)])
            }
            ("Whatever", Kind::Other) | ("Stop", Kind::TurnEnd) => {}
            ("SessionStart", Kind::SessionStart { .. }) | ("StopFailure", Kind::TurnFailed { .. }) => {}
            (ev, k) => prop_assert!(false, "{ev} parsed as {k:?}"),
        }
    }

    #[test]
    fn revision_parser_never_panics(s in ".{0,60}") {
        let now = Local.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let _ = revision::parse(&s, now);
        let _ = revision::parse(&format!("@{{{s}}}"), now);
        let _ = revision::parse(&format!("@~{s}"), now);
    }

    #[test]
    fn shorthands_mean_what_they_say(n in 0usize..10_000, mins in 1i64..100_000) {
        let now = Local.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        prop_assert_eq!(revision::parse(&format!("@~{n}"), now).unwrap(), Spec::Back(n));
        let at = revision::parse(&format!("@{{{mins}m}}"), now).unwrap();
        prop_assert_eq!(at, Spec::At(now - chrono::Duration::minutes(mins)));
        let ago = revision::parse(&format!("@{{{mins} minutes ago}}"), now).unwrap();
        prop_assert_eq!(ago, Spec::At(now - chrono::Duration::minutes(mins)));
    }
}
