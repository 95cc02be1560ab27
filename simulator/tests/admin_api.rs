//! Bad admin requests are answered 400 (or 404/405) with a one-line reason and change nothing.

mod common;

use common::Sim;

#[test]
fn bad_admin_requests_get_a_one_line_reason_and_leave_the_fleet_serving() {
    let sim = Sim::start(&["--instances", "3"]);
    let huge = format!(
        r#"{{"kind":"down","targets":{{"all":true}},"pad":"{}"}}"#,
        "x".repeat(100_000)
    );
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        ("POST", "/faults", "{", 400, "invalid fault JSON"),
        ("POST", "/faults", "", 400, "invalid fault JSON"),
        (
            "POST",
            "/faults",
            r#"{"kind":"meltdown","targets":{"all":true}}"#,
            400,
            "unknown kind",
        ),
        (
            "POST",
            "/faults",
            r#"{"kind":"down"}"#,
            400,
            "targets is required",
        ),
        (
            "POST",
            "/faults",
            r#"{"kind":"down","targets":{"index":3}}"#,
            400,
            "outside the fleet",
        ),
        (
            "POST",
            "/faults",
            r#"{"kind":"down","targets":{"zone":"zone-x"}}"#,
            400,
            "is not one of",
        ),
        (
            "POST",
            "/faults",
            r#"{"kind":"down","targets":{"range":[2,1]}}"#,
            400,
            "first <= last",
        ),
        (
            "POST",
            "/faults",
            r#"{"kind":"down","targets":{"all":true},"duration":"forever"}"#,
            400,
            "invalid duration",
        ),
        (
            "POST",
            "/faults",
            r#"{"kind":"hang","targets":{"all":true},"code":500}"#,
            400,
            "does not apply",
        ),
        (
            "POST",
            "/faults",
            r#"{"kind":"error_burst","targets":{"all":true},"code":1000}"#,
            400,
            "code must be an HTTP status",
        ),
        (
            "POST",
            "/faults",
            &huge,
            400,
            "cannot read the request body",
        ),
        ("DELETE", "/faults/abc", "", 400, "not a number"),
        ("DELETE", "/faults/999", "", 404, "no active fault 999"),
        ("GET", "/nothing", "", 404, "no such endpoint"),
        ("PATCH", "/faults", "", 405, "not allowed"),
        (
            "PUT",
            "/instances",
            r#"{"count":0}"#,
            400,
            "fleet size must be within",
        ),
        (
            "PUT",
            "/instances",
            r#"{"size":4}"#,
            400,
            "invalid resize JSON",
        ),
    ];
    for (method, path, body, status, reason) in cases {
        let (got, reply) = sim.admin(method, path, body);
        let message = reply["error"].as_str().unwrap_or_default();
        assert_eq!(got, *status, "{method} {path}: {reply}");
        assert!(message.contains(reason), "{method} {path}: {message}");
        assert!(
            !message.contains('\n'),
            "{method} {path}: multi-line reason"
        );
    }
    let (status, faults) = sim.admin("GET", "/faults", "");
    assert_eq!(status, 200);
    assert_eq!(
        faults["faults"].as_array().unwrap().len(),
        0,
        "no rejected request created a fault"
    );
    for target in sim.targets() {
        common::get_stats(target);
    }
}

#[test]
fn a_created_fault_is_listed_with_its_id_targets_and_expiry_then_cleared() {
    let sim = Sim::start(&["--instances", "6"]);
    let (status, created) = sim.admin(
        "POST",
        "/faults",
        r#"{"kind":"error_burst","targets":{"zone":"zone-a"},"share_of_requests":0.2,"code":500,"duration":"5m"}"#,
    );
    assert_eq!(status, 201);
    assert_eq!(created["instances"], serde_json::json!([0, 3]));
    assert_eq!(created["duration"], "5m");
    let id = created["id"].as_u64().unwrap();
    let (_, one) = sim.admin("GET", &format!("/faults/{id}"), "");
    assert_eq!(one["kind"], "error_burst");
    let expires_in =
        syseng_sim::prom_duration::parse_millis(one["expires_in"].as_str().unwrap()).unwrap();
    assert!((290_000..=300_000).contains(&expires_in), "{one}");
    let (_, instances) = sim.admin("GET", "/instances", "");
    assert_eq!(instances["instances"][3]["faults"], serde_json::json!([id]));
    assert_eq!(instances["instances"][1]["faults"], serde_json::json!([]));
    let (status, _) = sim.admin("DELETE", &format!("/faults/{id}"), "");
    assert_eq!(status, 200);
    let (_, listed) = sim.admin("GET", "/faults", "");
    assert_eq!(listed["faults"], serde_json::json!([]));
}
