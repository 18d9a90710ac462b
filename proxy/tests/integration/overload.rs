//! Overload, bounded in time and count on loopback: many more clients than the model server
//! admits, directly and through the proxy. Every answer is a success or a quick, explicit
//! refusal (503 with `Retry-After` and a JSON code), never a dropped connection or a 5xx
//! error; both processes stay up with bounded memory, and capacity is back as soon as the load
//! stops. The figures (rates, latencies) come from `scripts/overload.sh`, not from here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;

/// Closed-loop clients: 16 times what the model server admits at once (MAX_IN_FLIGHT=2).
const CLIENTS: usize = 32;
const LOAD: Duration = Duration::from_secs(3);
/// Per client, whatever the timing.
const MAX_REQUESTS_PER_CLIENT: usize = 400;

#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    refused: usize,
    other: Vec<String>,
}

async fn hammer(url: String, body: Arc<Vec<u8>>) -> Tally {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + LOAD;
    let mut tally = Tally::default();
    for _ in 0..MAX_REQUESTS_PER_CLIENT {
        if Instant::now() >= deadline {
            break;
        }
        let sent = client
            .post(&url)
            .header("content-type", "image/jpeg")
            .body(body.as_ref().clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                tally.other.push(format!("connection: {e}"));
                continue;
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        match (
            status,
            retry_after.as_deref(),
            body["error"]["code"].as_str(),
        ) {
            (200, _, _)
                if body["predictions"]
                    .as_array()
                    .is_some_and(|p| !p.is_empty()) =>
            {
                tally.ok += 1;
            }
            (503, Some("1"), Some("overloaded" | "busy")) => tally.refused += 1,
            other => tally.other.push(format!("{other:?}")),
        }
    }
    tally
}

async fn overload(url: &str) -> Tally {
    let body = Arc::new(shared_image("house-finch.jpg"));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(hammer(url.to_owned(), body.clone())))
        .collect();
    let mut total = Tally::default();
    for client in clients {
        let tally = client.await.unwrap();
        total.ok += tally.ok;
        total.refused += tally.refused;
        total.other.extend(tally.other);
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_beyond_capacity_excess_is_refused_with_retry_after_and_capacity_returns_at_once() {
    let mut model = start_model_server(&[("MAX_IN_FLIGHT", "2")]);
    // The default retry policy, which must not retry the model's refusals.
    let mut proxy = start_proxy(&model.url(""), &[]);
    proxy.wait_until_ok("/health");
    for (service, url) in [
        ("model server", model.url("/invocations")),
        ("proxy", proxy.url("/predict")),
    ] {
        let tally = overload(&url).await;
        assert!(
            tally.other.is_empty(),
            "{service}: unexpected answers {:?}",
            tally.other
        );
        assert!(tally.ok > 0, "{service}: nothing admitted: {tally:?}");
        assert!(
            tally.refused > 0,
            "{service}: nothing refused under {CLIENTS} clients: {tally:?}"
        );
        assert!(
            model.is_running() && proxy.is_running(),
            "{service}: a process died"
        );
        // Capacity is back as soon as the load stops: sequential requests all succeed.
        let after = {
            let body = Arc::new(shared_image("house-finch.jpg"));
            let client = reqwest::Client::new();
            let mut ok = 0;
            for _ in 0..20 {
                let response = client
                    .post(&url)
                    .header("content-type", "image/jpeg")
                    .body(body.as_ref().clone())
                    .send()
                    .await
                    .unwrap();
                ok += usize::from(response.status() == 200);
            }
            ok
        };
        assert_eq!(
            after, 20,
            "{service}: requests right after the overload failed"
        );
    }
    // Bounded memory under load: admitted work is bounded, refusals keep nothing.
    let model_mib = model.peak_rss_kib() / 1024;
    let proxy_mib = proxy.peak_rss_kib() / 1024;
    assert!(model_mib < 400, "model server peak RSS {model_mib} MiB");
    assert!(proxy_mib < 120, "proxy peak RSS {proxy_mib} MiB");
}
