//! The Anthropic Messages API (JSON or SSE streaming), over reqwest with rustls.

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{BackendReply, PriceTable, connection_error, http_client, status_error};
use crate::error::LlmError;
use crate::types::Usage;

/// How to reach the API.
#[derive(Debug, Clone)]
pub struct AnthropicConfig {
    /// Base URL (default `https://api.anthropic.com`).
    pub base_url: String,
    /// The API key (sent as `x-api-key`).
    pub api_key: String,
    /// The model.
    pub model: String,
    /// Answer length limit, tokens.
    pub max_tokens: u32,
    /// Stream the answer (SSE); recommended for long answers.
    pub stream: bool,
    /// Prices for the cost figure.
    pub prices: PriceTable,
}

impl AnthropicConfig {
    /// Defaults for `api_key`: the public endpoint, a Sonnet-class model, 16k tokens,
    /// streaming, and its list prices.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            base_url: "https://api.anthropic.com".to_owned(),
            api_key: api_key.into(),
            model: "claude-sonnet-4-5".to_owned(),
            max_tokens: 16_000,
            stream: true,
            prices: PriceTable {
                input_per_mtok: 3.0,
                output_per_mtok: 15.0,
            },
        }
    }
}

/// A Messages API client.
#[derive(Debug, Clone)]
pub struct AnthropicApi {
    config: AnthropicConfig,
    client: reqwest::Client,
}

impl AnthropicApi {
    /// A client for `config`.
    pub fn new(config: AnthropicConfig) -> Result<Self, LlmError> {
        if config.api_key.is_empty() {
            return Err(LlmError::Config(
                "the Anthropic API key is empty (set ANTHROPIC_API_KEY)".to_owned(),
            ));
        }
        Ok(Self {
            config,
            client: http_client()?,
        })
    }

    /// The price table.
    pub fn prices(&self) -> PriceTable {
        self.config.prices
    }

    /// The API key, for redaction.
    pub fn api_key(&self) -> &str {
        &self.config.api_key
    }

    /// One request.
    pub async fn send(&self, prompt: &str) -> Result<BackendReply, LlmError> {
        let url = format!("{}/v1/messages", self.config.base_url.trim_end_matches('/'));
        let body = json!({
            "model": self.config.model,
            "max_tokens": self.config.max_tokens,
            "stream": self.config.stream,
            "messages": [{"role": "user", "content": prompt}],
        });
        let response = self
            .client
            .post(&url)
            .header("x-api-key", &self.config.api_key)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await
            .map_err(|err| connection_error(&url, &err))?;
        if !response.status().is_success() {
            return Err(status_error(response).await);
        }
        if self.config.stream {
            read_stream(&url, response).await
        } else {
            let raw: Value = response
                .json()
                .await
                .map_err(|err| connection_error(&url, &err))?;
            let text = raw["content"]
                .as_array()
                .map(|blocks| {
                    blocks
                        .iter()
                        .filter(|b| b["type"] == "text")
                        .filter_map(|b| b["text"].as_str())
                        .collect::<String>()
                })
                .ok_or_else(|| LlmError::Malformed(format!("no content in {raw}")))?;
            if raw["stop_reason"] == "max_tokens" {
                return Err(cut_off());
            }
            let usage = Usage {
                input_tokens: raw["usage"]["input_tokens"].as_u64().unwrap_or(0),
                output_tokens: raw["usage"]["output_tokens"].as_u64().unwrap_or(0),
            };
            Ok(BackendReply {
                text,
                usage,
                cost_usd: None,
                raw,
            })
        }
    }
}

async fn read_stream(url: &str, response: reqwest::Response) -> Result<BackendReply, LlmError> {
    let mut events = response.bytes_stream().eventsource();
    let mut text = String::new();
    let mut usage = Usage::default();
    let mut stop_reason = Value::Null;
    let mut finished = false;
    let mut count = 0usize;
    while let Some(event) = events.next().await {
        let event = event.map_err(|err| {
            LlmError::TruncatedStream(format!("{err} (after {count} events from {url})"))
        })?;
        count += 1;
        let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        match event.event.as_str() {
            "message_start" => {
                usage.input_tokens = data["message"]["usage"]["input_tokens"]
                    .as_u64()
                    .unwrap_or(0);
            }
            "content_block_delta" => {
                if let Some(delta) = data["delta"]["text"].as_str() {
                    text.push_str(delta);
                }
            }
            "message_delta" => {
                if let Some(out) = data["usage"]["output_tokens"].as_u64() {
                    usage.output_tokens = out;
                }
                stop_reason = data["delta"]["stop_reason"].clone();
            }
            "message_stop" => finished = true,
            "error" => {
                let message = data["error"]["message"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned();
                return Err(match data["error"]["type"].as_str() {
                    Some("overloaded_error") => LlmError::Http {
                        status: 529,
                        body: message,
                        retry_after: None,
                    },
                    _ => LlmError::agent(message),
                });
            }
            _ => {}
        }
    }
    if !finished {
        return Err(LlmError::TruncatedStream(format!(
            "no message_stop after {count} events from {url}"
        )));
    }
    if stop_reason == "max_tokens" {
        return Err(cut_off());
    }
    Ok(BackendReply {
        raw: json!({"text": text, "usage": usage, "stop_reason": stop_reason, "events": count}),
        text,
        usage,
        cost_usd: None,
    })
}

/// An answer cut off by the token limit: a partial plan or edit set must not be used.
fn cut_off() -> LlmError {
    LlmError::agent(
        "the answer was cut off at max_tokens; raise the limit or ask for less".to_owned(),
    )
}
