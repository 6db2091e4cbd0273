//! Configuration errors shared by every policy's config table.
//!
//! Each policy has a serde struct that mirrors its `[policy.*]` table in the
//! scenario (and in the sidecar's config file) and a checked type built from it
//! exactly once. Building the checked type is where every range is enforced;
//! a violation is a [`ConfigError`] naming the key, the bad value and what is
//! accepted. Drivers add the table path in front with [`ConfigError::within`].

use std::fmt;

/// A configuration value outside its accepted range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    key: String,
    value: String,
    expected: String,
}

impl ConfigError {
    /// A rejected `value` for `key` (a dotted path relative to the policy's
    /// table, e.g. `"half_open_calls"`), with what is `expected` instead.
    pub fn new(
        key: impl Into<String>,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        ConfigError {
            key: key.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// Prefixes the key with the table it belongs to, e.g.
    /// `err.within("policy.mesh.circuit_breaker")`.
    #[must_use]
    pub fn within(mut self, table: &str) -> Self {
        if !table.is_empty() {
            self.key = format!("{table}.{}", self.key);
        }
        self
    }

    /// The dotted key of the rejected value.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The rejected value, as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the key accepts.
    pub fn expected(&self) -> &str {
        &self.expected
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` = {}: expected {}",
            self.key, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_key_value_and_range() {
        let err = ConfigError::new("half_open_calls", 0, "an integer >= 1")
            .within("policy.mesh.circuit_breaker");
        assert_eq!(err.key(), "policy.mesh.circuit_breaker.half_open_calls");
        assert_eq!(
            err.to_string(),
            "`policy.mesh.circuit_breaker.half_open_calls` = 0: expected an integer >= 1"
        );
    }
}
