//! A cost budget shared by every call.

use std::sync::{Arc, Mutex};

use crate::error::LlmError;

/// Dollars spent against a cap, shared by clones. Calls are refused once the cap is
/// reached; a call in flight may overshoot it by its own cost.
#[derive(Debug, Clone)]
pub struct CostBudget {
    cap_usd: Option<f64>,
    spent: Arc<Mutex<f64>>,
}

impl CostBudget {
    /// A budget of `cap_usd` (`None` = unlimited), with `already_spent` counted (a
    /// resumed run carries its spend over).
    pub fn new(cap_usd: Option<f64>, already_spent: f64) -> Self {
        Self {
            cap_usd,
            spent: Arc::new(Mutex::new(already_spent)),
        }
    }

    /// No cap.
    pub fn unlimited() -> Self {
        Self::new(None, 0.0)
    }

    /// Dollars spent so far.
    pub fn spent(&self) -> f64 {
        // A poisoned lock only means another thread panicked mid-update of an f64.
        *self
            .spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refuses when the cap is reached.
    pub fn check(&self) -> Result<(), LlmError> {
        let spent = self.spent();
        match self.cap_usd {
            Some(cap) if spent >= cap => Err(LlmError::BudgetExhausted { cap, spent }),
            _ => Ok(()),
        }
    }

    /// Records a cost.
    pub fn charge(&self, usd: f64) {
        if usd.is_finite() && usd > 0.0 {
            *self
                .spent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) += usd;
        }
    }
}
