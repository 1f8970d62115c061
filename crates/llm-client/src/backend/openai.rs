//! OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, llama.cpp's server).

use serde_json::{Value, json};

use super::{BackendReply, PriceTable, connection_error, http_client, status_error};
use crate::error::LlmError;
use crate::types::Usage;

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Base URL, up to and including `/v1` (for example `http://127.0.0.1:8000/v1`).
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when not empty.
    pub api_key: String,
    /// The model.
    pub model: String,
    /// Answer length limit, tokens.
    pub max_tokens: u32,
    /// Prices for the cost figure (zero for a local server).
    pub prices: PriceTable,
}

/// A chat-completions client.
#[derive(Debug, Clone)]
pub struct OpenAiApi {
    config: OpenAiConfig,
    client: reqwest::Client,
}

impl OpenAiApi {
    /// A client for `config`.
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        if config.model.is_empty() {
            return Err(LlmError::Config(
                "the chat-completions model is empty".to_owned(),
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
        let url = format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        );
        let body = json!({
            "model": self.config.model,
            "max_tokens": self.config.max_tokens,
            "messages": [{"role": "user", "content": prompt}],
        });
        let mut request = self.client.post(&url).json(&body);
        if !self.config.api_key.is_empty() {
            request = request.bearer_auth(&self.config.api_key);
        }
        let response = request
            .send()
            .await
            .map_err(|err| connection_error(&url, &err))?;
        if !response.status().is_success() {
            return Err(status_error(response).await);
        }
        let raw: Value = response
            .json()
            .await
            .map_err(|err| connection_error(&url, &err))?;
        let text = raw["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| LlmError::Malformed(format!("no choices[0].message.content in {raw}")))?
            .to_owned();
        if raw["choices"][0]["finish_reason"] == "length" {
            return Err(LlmError::agent(
                "the answer was cut off at max_tokens; raise the limit or ask for less".to_owned(),
            ));
        }
        let usage = Usage {
            input_tokens: raw["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            output_tokens: raw["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        };
        Ok(BackendReply {
            text,
            usage,
            cost_usd: None,
            raw,
        })
    }
}
