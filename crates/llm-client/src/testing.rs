//! For tests: a scripted server on 127.0.0.1 that speaks the Anthropic Messages API
//! (JSON and SSE, text and `tool_use` blocks) and OpenAI-style chat completions. It
//! answers each request with the next [`Turn`] of its script and records every request.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Turn {
    /// A text answer (100 input and 50 output tokens).
    Text(String),
    /// A text answer with the given input and output token counts.
    TextWithUsage(String, u64, u64),
    /// A `tool_use` block (Messages API only), for agents that edit files themselves.
    ToolUse {
        /// The tool (`Write`, `Edit`, …).
        name: String,
        /// Its input.
        input: Value,
    },
    /// An error status with a body and an optional `retry-after` (seconds).
    Status {
        /// The status.
        status: u16,
        /// `retry-after`, seconds.
        retry_after: Option<u64>,
        /// The body.
        body: String,
    },
    /// A 529 with the Messages API's `overloaded_error` body.
    Overloaded,
    /// The response breaks off after the headers (a reset connection).
    Reset,
    /// A streamed answer that stops before `message_stop`.
    Truncated(String),
    /// A complete answer that the token limit cut off (`stop_reason: max_tokens`,
    /// `finish_reason: length`).
    MaxTokens(String),
    /// Waits, then answers with the inner turn.
    Delay(Duration, Box<Turn>),
}

/// A request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers (names lower-case).
    pub headers: BTreeMap<String, String>,
    /// The body as JSON (`null` if it was not JSON).
    pub body: Value,
    /// When it arrived.
    pub received_at: std::time::Instant,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Turn>>,
    requests: Mutex<Vec<Recorded>>,
}

/// The server; it stops when dropped.
pub struct ScriptedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedServer {
    /// Starts a server that will answer with `turns`, in order.
    pub async fn start(turns: Vec<Turn>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        shared
            .script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(turns);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Turns not yet used.
    pub fn remaining(&self) -> usize {
        self.shared
            .script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let recorded = Recorded {
        received_at: std::time::Instant::now(),
        method: method.to_string(),
        path: uri.to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_lowercase(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: body.clone(),
    };
    shared
        .requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(recorded);
    let chat = uri.path().ends_with("/chat/completions");
    if method != Method::POST || !(chat || uri.path().starts_with("/v1/messages")) {
        return plain(StatusCode::NOT_FOUND, "not scripted");
    }
    let turn = shared
        .script
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop_front();
    let Some(mut turn) = turn else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the test script has no more turns",
        );
    };
    while let Turn::Delay(wait, inner) = turn {
        tokio::time::sleep(wait).await;
        turn = *inner;
    }
    let stream = body["stream"].as_bool() == Some(true);
    let model = body["model"].as_str().unwrap_or("scripted").to_owned();
    match turn {
        Turn::Status {
            status,
            retry_after,
            body,
        } => {
            let mut response = plain(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                &body,
            );
            if let Some(seconds) = retry_after
                && let Ok(value) = seconds.to_string().parse()
            {
                response.headers_mut().insert("retry-after", value);
            }
            response
        }
        Turn::Overloaded => json_response(
            StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ),
        Turn::Reset => {
            let broken = futures_util::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other(
                    "connection reset by the script",
                ))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header(
                    "content-type",
                    if stream {
                        "text/event-stream"
                    } else {
                        "application/json"
                    },
                )
                .body(Body::from_stream(broken))
                .unwrap_or_default()
        }
        Turn::Text(text) => answer(chat, stream, &model, Block::Text(text), 100, 50, true),
        Turn::MaxTokens(text) => answer(chat, stream, &model, Block::CutOff(text), 100, 50, true),
        Turn::TextWithUsage(text, input, output) => {
            answer(chat, stream, &model, Block::Text(text), input, output, true)
        }
        Turn::ToolUse { name, input } => answer(
            chat,
            stream,
            &model,
            Block::Tool(name, input),
            100,
            50,
            true,
        ),
        Turn::Truncated(text) => answer(chat, stream, &model, Block::Text(text), 100, 50, false),
        Turn::Delay(..) => plain(StatusCode::INTERNAL_SERVER_ERROR, "unreachable"),
    }
}

enum Block {
    Text(String),
    CutOff(String),
    Tool(String, Value),
}

fn plain(status: StatusCode, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Body::from(text.to_owned()))
        .unwrap_or_default()
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(value.to_string()))
        .unwrap_or_default()
}

/// A JSON answer, or its first half when the script wants it broken off.
fn json_answer(body: &Value, complete: bool) -> Response {
    if complete {
        return json_response(StatusCode::OK, body);
    }
    let text = body.to_string();
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(text[..text.len() / 2].to_owned()))
        .unwrap_or_default()
}

fn answer(
    chat: bool,
    stream: bool,
    model: &str,
    block: Block,
    input: u64,
    output: u64,
    complete: bool,
) -> Response {
    let (content, stop_reason) = match &block {
        Block::Text(text) => (json!({"type": "text", "text": text}), "end_turn"),
        Block::CutOff(text) => (json!({"type": "text", "text": text}), "max_tokens"),
        Block::Tool(name, input) => (
            json!({"type": "tool_use", "id": "toolu_scripted", "name": name, "input": input}),
            "tool_use",
        ),
    };
    if chat {
        let (text, finish) = match &block {
            Block::Text(text) => (text.clone(), "stop"),
            Block::CutOff(text) => (text.clone(), "length"),
            Block::Tool(..) => (String::new(), "stop"),
        };
        let body = json!({
            "id": "chatcmpl-scripted", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
        });
        return json_answer(&body, complete);
    }
    if !stream {
        let body = json!({
            "id": "msg_scripted", "type": "message", "role": "assistant", "model": model,
            "content": [content], "stop_reason": stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": input, "output_tokens": output},
        });
        return json_answer(&body, complete);
    }
    let mut events: Vec<(String, Value)> = vec![(
        "message_start".into(),
        json!({"type": "message_start", "message": {"id": "msg_scripted", "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input, "output_tokens": 1}}}),
    )];
    match &block {
        Block::Text(text) | Block::CutOff(text) => {
            events.push(("content_block_start".into(), json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
            let chars: Vec<char> = text.chars().collect();
            for chunk in chars.chunks(40) {
                let piece: String = chunk.iter().collect();
                events.push(("content_block_delta".into(), json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})));
            }
        }
        Block::Tool(name, input) => {
            events.push(("content_block_start".into(), json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "tool_use", "id": "toolu_scripted", "name": name, "input": {}}})));
            events.push((
                "content_block_delta".into(),
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
            ));
        }
    }
    if complete {
        events.push((
            "content_block_stop".into(),
            json!({"type": "content_block_stop", "index": 0}),
        ));
        events.push(("message_delta".into(), json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": output}})));
        events.push(("message_stop".into(), json!({"type": "message_stop"})));
    }
    let text: String = events
        .into_iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect();
    let chunks: Vec<Result<Bytes, Infallible>> = vec![Ok(Bytes::from(text))];
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap_or_default()
}
