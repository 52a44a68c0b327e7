//! HTTP around the routes: health and readiness, metrics, the served document and docs
//! page, JSON errors for unknown routes, wrong methods and oversize bodies, request ids
//! and CORS as the original's rules.

use serde_json::Value;

use super::telegram;
use crate::support::stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_routes_errors_request_ids_and_cors() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack
        .api(&telegram.base_url(), &[("BODY_LIMIT_BYTES", "2048")])
        .await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", facade.url);

    let health: Value = http
        .get(url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert!(health["timestamp"].as_str().unwrap().ends_with('Z'));
    let ready = http.get(url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // The image's health check: `fasterclaw probe`.
    let probe = |path: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fasterclaw"))
            .args(["probe", &url(path)])
            .env("LOG_LEVEL", "off")
            .output()
            .unwrap()
    };
    assert!(probe("/ready").status.success());
    let missing = probe("/nowhere");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404 Not Found"));

    let document = http
        .get(url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(document, fasterclaw::api::openapi::document_json());
    assert_eq!(
        http.get(url("/docs/json"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        document
    );
    let page = http.get(url("/docs")).send().await.unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("postInstancesByIdStart")
    );

    // Unknown routes and methods answer JSON errors, with a request id.
    let missing = http.get(url("/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("x-request-id"));
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "Route GET /nowhere not found");
    let wrong_method = http.put(url("/instances")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(
        wrong_method.json::<Value>().await.unwrap()["error"],
        "Method PUT is not allowed on /instances"
    );
    // A given request id is kept.
    let tagged = http
        .get(url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(tagged.headers()["x-request-id"], "abc-123");

    // Bodies over the limit are refused with a JSON error.
    let big = format!(
        r#"{{"email":"a@example.com","password":"{}","name":"A"}}"#,
        "x".repeat(4096)
    );
    let refused = http
        .post(url("/auth/register"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413);
    assert!(refused.json::<Value>().await.unwrap()["error"].is_string());

    // Unauthenticated calls to protected routes.
    let anonymous = http.get(url("/instances")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.json::<Value>().await.unwrap()["error"],
        "Unauthorized"
    );
    let forged = http
        .get(url("/auth/me"))
        .bearer_auth("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    // CORS: the web app's origin, not another.
    for (origin, allowed) in [
        ("https://app.example.com", true),
        ("https://www.fasterclaw.com", true),
        ("https://evil.example.com", false),
    ] {
        let preflight = http
            .request(reqwest::Method::OPTIONS, url("/instances"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
            .await
            .unwrap();
        let echoed = preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok());
        assert_eq!(echoed == Some(origin), allowed, "{origin}");
    }

    // Metrics are served on their own listener, not with the API.
    let on_api = http.get(url("/metrics")).send().await.unwrap();
    assert_eq!(on_api.status(), 404);
    let metrics = http
        .get(format!("{}/metrics", facade.metrics_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "fasterclaw_api_requests_total{route=\"/health\",method=\"GET\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("fasterclaw_api_request_duration_seconds_bucket"));
}
