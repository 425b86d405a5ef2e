//! The load report: the final state of every rule and why.

use serde::Serialize;

/// The state a rule ends in after loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    /// Compiled and evaluated.
    Active,
    /// `disabled: true` in the policy.
    Disabled,
    /// Written for another OS or agent version.
    Filtered,
    /// Uses a field, event type or feature sentrace does not produce.
    Unsupported,
    /// Syntax or type error.
    Error,
}

impl RuleStatus {
    /// Returns the name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Active => "active",
            RuleStatus::Disabled => "disabled",
            RuleStatus::Filtered => "filtered",
            RuleStatus::Unsupported => "unsupported",
            RuleStatus::Error => "error",
        }
    }
}

/// The position of an expression error in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Policy file (`<builtin>` for the built-in policy).
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
    /// The source line, for display.
    #[serde(skip)]
    pub source_line: String,
    /// Number of characters to underline on that line.
    #[serde(skip)]
    pub width: usize,
}

/// The outcome for one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleReport {
    /// Rule id.
    pub id: String,
    /// Final state.
    pub status: RuleStatus,
    /// The reason the rule is not active, or the part of it that is ignored.
    pub reason: Option<String>,
    /// The error position, for rules in error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The policy file the rule comes from (`<builtin>` for the built-in policy).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// Earlier policy files whose rule with the same id this one replaced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
}

/// Number of rules in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Active rules.
    pub active: usize,
    /// Disabled rules.
    pub disabled: usize,
    /// Rules for another OS or agent version.
    pub filtered: usize,
    /// Rules that need what sentrace does not produce.
    pub unsupported: usize,
    /// Rules in error.
    pub error: usize,
}

/// The state of every rule of a loaded policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// One entry per rule id, in load order.
    pub rules: Vec<RuleReport>,
    /// Problems outside rules (an invalid macro, an unknown action).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl LoadReport {
    /// Counts the rules in each state.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for rule in &self.rules {
            let counter = match rule.status {
                RuleStatus::Active => &mut summary.active,
                RuleStatus::Disabled => &mut summary.disabled,
                RuleStatus::Filtered => &mut summary.filtered,
                RuleStatus::Unsupported => &mut summary.unsupported,
                RuleStatus::Error => &mut summary.error,
            };
            *counter += 1;
        }
        summary
    }

    /// Returns the report of one rule.
    pub fn rule(&self, id: &str) -> Option<&RuleReport> {
        self.rules.iter().find(|rule| rule.id == id)
    }

    /// Renders the `sentrace rules check --format json` object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "rules": self.rules, "summary": self.summary(), "warnings": self.warnings })
    }

    /// Renders only the rules in error, each with its file, line and column.
    pub fn errors_to_text(&self) -> String {
        let mut out = String::new();
        for rule in &self.rules {
            if rule.status == RuleStatus::Error {
                render_rule(&mut out, rule);
            }
        }
        out
    }

    /// Renders the text report: one line per rule, the source of each error
    /// with its span underlined, then the summary.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for rule in &self.rules {
            render_rule(&mut out, rule);
        }
        for warning in &self.warnings {
            out.push_str(&format!("warning: {warning}\n"));
        }
        let summary = self.summary();
        out.push_str(&format!(
            "{} rules: {} active, {} disabled, {} filtered, {} unsupported, {} error\n",
            self.rules.len(),
            summary.active,
            summary.disabled,
            summary.filtered,
            summary.unsupported,
            summary.error
        ));
        out
    }
}

/// Renders one rule of the text report.
fn render_rule(out: &mut String, rule: &RuleReport) {
    out.push_str(&format!("{:<12} {}", rule.status.as_str(), rule.id));
    if let Some(reason) = &rule.reason {
        out.push_str(": ");
        out.push_str(reason);
    }
    out.push('\n');
    if !rule.overrides.is_empty() {
        out.push_str(&format!(
            "  = the rule from {} overrides the one from {}\n",
            rule.file,
            rule.overrides.join(", ")
        ));
    }
    if let Some(location) = &rule.location {
        out.push_str(&format!(
            "  --> {}:{}:{}\n",
            location.file, location.line, location.column
        ));
        out.push_str(&format!("   | {}\n", location.source_line));
        let pad = " ".repeat(location.column.saturating_sub(1));
        out.push_str(&format!(
            "   | {pad}{}\n",
            "^".repeat(location.width.max(1))
        ));
    }
}
