//! The call: budget, logging, retries, JSON checking with one repair round.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::backend::{Backend, BackendReply};
use crate::budget::CostBudget;
use crate::edits::{EDIT_INSTRUCTIONS, parse_edits};
use crate::error::LlmError;
use crate::json::{
    JsonProblem, MAX_STRING_BYTES, cap_strings, extract_json, json_instructions, repair_prompt,
    schema_of, validate,
};
use crate::log::CallLog;
use crate::retry::RetryPolicy;
use crate::types::{AgentCall, AgentReply, Usage};

/// Answers larger than this are refused by default.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// An agent with its budget, log and retry policy. Cheap to clone; clones share the
/// budget.
#[derive(Debug, Clone)]
pub struct LlmClient {
    backend: Backend,
    budget: CostBudget,
    log: CallLog,
    retry: RetryPolicy,
    max_answer_bytes: usize,
}

impl LlmClient {
    /// A client for `backend`, logging into `log` and spending from `budget`.
    pub fn new(backend: Backend, budget: CostBudget, log: CallLog) -> Self {
        Self {
            backend,
            budget,
            log,
            retry: RetryPolicy::default(),
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
        }
    }

    /// The same client with another retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The same client with another answer size limit.
    #[must_use]
    pub fn with_max_answer_bytes(mut self, bytes: usize) -> Self {
        self.max_answer_bytes = bytes;
        self
    }

    /// The agent.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The shared budget.
    pub fn budget(&self) -> &CostBudget {
        &self.budget
    }

    /// The call log (and its redaction of secrets).
    pub fn log(&self) -> &CallLog {
        &self.log
    }

    /// One call: refused when the budget is spent; transient failures retried; prompt,
    /// answer and raw response logged. For API agents, an edit call's answer is parsed
    /// into checked [`crate::FileEdit`]s (not applied).
    pub async fn call(&self, call: AgentCall) -> Result<AgentReply, LlmError> {
        let started = Instant::now();
        self.budget.check()?;
        let mut prompt = call.prompt.clone();
        if call.workdir.is_some() && !self.backend.edits_files_itself() {
            prompt.push_str(EDIT_INSTRUCTIONS);
        }
        if let Some(schema) = &call.json_schema {
            prompt.push_str(&json_instructions(schema));
        }
        let stem = self.log.stem(&call.phase);
        self.log.write(&stem, "prompt.md", &prompt)?;
        let mut attempts = 0u32;
        let mut usage = Usage::default();
        let mut cost = 0.0;
        let result: Result<BackendReply, LlmError> = loop {
            attempts += 1;
            let attempt =
                match tokio::time::timeout(call.timeout, self.backend.send(&call, &prompt)).await {
                    Ok(result) => result,
                    // Dropping the attempt's future killed its work (a CLI's process group).
                    Err(_) => Err(LlmError::Timeout(call.timeout)),
                };
            if let Err(err) = &attempt
                && let Some(spent) = err.cost_usd()
            {
                // A failed attempt still spent money.
                cost += spent;
                self.budget.charge(spent);
            }
            match attempt {
                Ok(reply) => break Ok(reply),
                // An edit call that timed out may have half-edited its folder: not retried.
                Err(LlmError::Timeout(t)) if call.workdir.is_some() => {
                    break Err(LlmError::Timeout(t));
                }
                Err(err) if err.is_transient() && attempts <= self.retry.max_retries => {
                    self.budget.check()?;
                    let delay = self.retry.delay(attempts - 1, &err);
                    tracing::warn!(phase = %call.phase, agent = self.backend.name(), attempt = attempts, ?delay, %err, "transient agent failure; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(err) => break Err(err),
            }
        };
        let reply = match result {
            Ok(reply) => reply,
            Err(err) => {
                let raw = json!({"agent": self.backend.name(), "attempts": attempts, "error": err.to_string()});
                self.log.write(
                    &stem,
                    "raw.json",
                    &serde_json::to_string_pretty(&raw).unwrap_or_default(),
                )?;
                self.log
                    .write(&stem, "output.md", &format!("(no answer: {err})\n"))?;
                return Err(err);
            }
        };
        usage.input_tokens += reply.usage.input_tokens;
        usage.output_tokens += reply.usage.output_tokens;
        let this_cost = reply.cost_usd.or_else(|| self.backend.price(&reply.usage));
        if let Some(c) = this_cost {
            cost += c;
            self.budget.charge(c);
        }
        self.log.write(&stem, "output.md", &reply.text)?;
        let raw = json!({
            "agent": self.backend.name(),
            "attempts": attempts,
            "usage": usage,
            "cost_usd": this_cost,
            "duration_ms": started.elapsed().as_millis() as u64,
            "response": reply.raw,
        });
        self.log.write(
            &stem,
            "raw.json",
            &serde_json::to_string_pretty(&raw).unwrap_or_default(),
        )?;
        if reply.text.len() > self.max_answer_bytes {
            return Err(LlmError::Oversized {
                size: reply.text.len(),
                limit: self.max_answer_bytes,
            });
        }
        if let Some(cap) = call.cost_cap_usd
            && cost > cap
        {
            return Err(LlmError::CallCostExceeded { cost, cap });
        }
        let edits = if call.workdir.is_some() && !self.backend.edits_files_itself() {
            parse_edits(&reply.text)?
        } else {
            Vec::new()
        };
        Ok(AgentReply {
            text: reply.text,
            json: None,
            edits,
            usage,
            cost_usd: this_cost.map(|_| cost),
            duration: started.elapsed(),
            raw: reply.raw,
        })
    }

    /// A call whose answer must be JSON of type `T`: the schema goes into the prompt;
    /// an answer that does not match gets one repair round naming every problem.
    pub async fn call_json<T: DeserializeOwned + JsonSchema>(
        &self,
        call: AgentCall,
    ) -> Result<(T, AgentReply), LlmError> {
        self.call_json_checked(call, |_: &T| Vec::new()).await
    }

    /// [`Self::call_json`] with the caller's own rules: `check` lists what is wrong with
    /// an answer that fits the schema (an empty plan, say), and those problems get the
    /// same repair round as a schema mismatch. Strings in the answer are capped at
    /// [`MAX_STRING_BYTES`].
    pub async fn call_json_checked<T, F>(
        &self,
        mut call: AgentCall,
        check: F,
    ) -> Result<(T, AgentReply), LlmError>
    where
        T: DeserializeOwned + JsonSchema,
        F: Fn(&T) -> Vec<JsonProblem>,
    {
        call.json_schema = Some(schema_of::<T>());
        let original = call.prompt.clone();
        let first = self.call(call.clone()).await?;
        let error = match read_answer(&call.phase, &first.text, &check) {
            Ok((typed, value)) => {
                let mut reply = first;
                reply.json = Some(value);
                return Ok((typed, reply));
            }
            Err(err) => err,
        };
        tracing::warn!(phase = %call.phase, %error, "answer rejected; one repair round");
        let mut repair = call.clone();
        repair.phase = format!("{}_repair", call.phase);
        repair.prompt = repair_prompt(&original, &first.text, &error);
        let second = self.call(repair).await?;
        let (typed, value) = read_answer(&call.phase, &second.text, &check)?;
        let mut reply = second;
        reply.usage.input_tokens += first.usage.input_tokens;
        reply.usage.output_tokens += first.usage.output_tokens;
        reply.cost_usd = match (first.cost_usd, reply.cost_usd) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        reply.duration += first.duration;
        reply.json = Some(value);
        Ok((typed, reply))
    }
}

/// The typed answer in `text`, with its strings capped, or every problem with it.
fn read_answer<T, F>(phase: &str, text: &str, check: &F) -> Result<(T, serde_json::Value), LlmError>
where
    T: DeserializeOwned + JsonSchema,
    F: Fn(&T) -> Vec<JsonProblem>,
{
    let mut value = extract_json(text)?;
    let cut = cap_strings(&mut value, MAX_STRING_BYTES);
    if cut > 0 {
        tracing::warn!(
            phase,
            cut,
            limit = MAX_STRING_BYTES,
            "cut over-long strings in the answer"
        );
    }
    let typed = validate::<T>(&value)?;
    let problems = check(&typed);
    if !problems.is_empty() {
        return Err(LlmError::InvalidJson { problems });
    }
    Ok((typed, value))
}

/// The default timeout of one attempt of a call (see [`AgentCall::new`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);
