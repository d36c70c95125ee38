//! Draining through real sockets (`server::serve` with a test-controlled stop signal): open streams
//! finish within the window; after it they get a final `draining` event; /ready and new chats 503.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use greenlight::AppState;
use tokio::net::TcpListener;

struct Running {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn run(provider: Arc<Scripted>, flags: &[&str]) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let state = AppState::new(&config(flags), provider);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(greenlight::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Running {
        url,
        stop: Some(stop),
        server,
    }
}

/// Opens a chat and reads until its first delta, so it is surely in flight.
async fn open_chat(url: &str, path: &str, body: &str) -> reqwest::Response {
    let res = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 200);
    res
}

fn slow_answer() -> Vec<Act> {
    let mut script = Vec::new();
    for _ in 0..10 {
        script.push(Act::Delta("word "));
        script.push(Act::Sleep(Duration::from_millis(100)));
    }
    script.push(Act::Done);
    script
}

#[tokio::test]
async fn open_streams_complete_during_the_drain_window() {
    let provider = Scripted::new(slow_answer());
    let mut running = run(provider.clone(), &["--drain-seconds", "20"]).await;
    let mut streams = Vec::new();
    for _ in 0..4 {
        streams.push(open_chat(&running.url, "/api/chat", HELLO).await);
    }
    let v1 = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let v1_stream = open_chat(&running.url, "/v1/chat/completions", v1).await;

    let _ = running.stop.take().expect("stop").send(());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ready = reqwest::get(format!("{}/ready", running.url))
        .await
        .expect("GET /ready");
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(ready["reasons"], serde_json::json!(["draining"]));
    let refused = reqwest::Client::new()
        .post(format!("{}/api/chat", running.url))
        .header("content-type", "application/json")
        .body(HELLO)
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 503);
    let refused: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(refused["error"]["code"], "draining");

    for stream in streams {
        let events = read_stream(stream).await;
        assert_eq!(names(&events).last().map(String::as_str), Some("done"));
        assert_eq!(names(&events).iter().filter(|n| *n == "delta").count(), 10);
    }
    let events = read_stream(v1_stream).await;
    assert_eq!(events.last().map(|e| e.data.as_str()), Some("[DONE]"));

    let result = tokio::time::timeout(Duration::from_secs(10), running.server)
        .await
        .expect("the server stops once the streams are done")
        .expect("no panic");
    result.expect("serve ends cleanly");
    assert_eq!(provider.counters.started(), 5);
    assert_eq!(provider.counters.dropped(), 5);
}

#[tokio::test]
async fn streams_still_open_after_the_window_get_a_final_draining_event() {
    let provider = Scripted::new(vec![Act::Delta("thinking"), Act::Hang]);
    let mut running = run(provider.clone(), &["--drain-seconds", "1"]).await;
    let chat = open_chat(&running.url, "/api/chat", HELLO).await;
    let v1 = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let v1_stream = open_chat(&running.url, "/v1/chat/completions", v1).await;
    let _ = running.stop.take().expect("stop").send(());

    let events = read_stream(chat).await;
    assert_eq!(names(&events), ["meta", "delta", "html", "error"]);
    let err = events[3].json();
    assert_eq!(err["code"], "draining");
    assert_eq!(err["retryable"], true);

    let events = read_stream(v1_stream).await;
    let last = events.last().expect("events").json();
    assert_eq!(last["error"]["code"], "draining");

    tokio::time::timeout(Duration::from_secs(10), running.server)
        .await
        .expect("the server stops after the window")
        .expect("no panic")
        .expect("serve ends cleanly");
    assert_eq!(
        provider.counters.dropped(),
        2,
        "upstream requests are cancelled"
    );
}
