//! The user session a process runs in: the person or account that started
//! it, as the orchestrator authenticated them.
//!
//! sentrace supports one kind, the Kubernetes session. The caller of
//! `sentrace trace --k8s-user-session` declares the Kubernetes user of a
//! `kubectl exec`, and every process of that trace carries it. The field
//! names follow SECL's `process.user_session.*`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The kind of a user session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionType {
    /// A Kubernetes session (`kubectl exec`, `kubectl attach`).
    #[default]
    K8s,
}

impl SessionType {
    /// Returns the number SECL gives the type in `user_session.session_type`
    /// (0 is no session, 1 Kubernetes, 2 SSH).
    pub fn secl_number(self) -> i64 {
        match self {
            SessionType::K8s => 1,
        }
    }
}

/// A user session and the identity behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSession {
    /// Identifier of the session, the same for every process in it.
    #[serde(default)]
    pub id: String,
    /// Kind of session.
    #[serde(default)]
    pub session_type: SessionType,
    /// Kubernetes user name (`UserInfo.username`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub k8s_username: String,
    /// Kubernetes user id (`UserInfo.uid`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub k8s_uid: String,
    /// Kubernetes groups of the user (`UserInfo.groups`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub k8s_groups: Vec<String>,
    /// More attributes from the authenticator (`UserInfo.extra`), such as
    /// the credential id of a token.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub k8s_extra: BTreeMap<String, Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_round_trips_through_json() {
        let session = UserSession {
            id: "s1".into(),
            session_type: SessionType::K8s,
            k8s_username: "alice@example.com".into(),
            k8s_uid: "42".into(),
            k8s_groups: vec!["system:authenticated".into()],
            k8s_extra: BTreeMap::from([("scopes".into(), vec!["a".into(), "b".into()])]),
        };
        let value = serde_json::to_value(&session).unwrap();
        assert_eq!(value["session_type"], "k8s");
        assert_eq!(value["k8s_username"], "alice@example.com");
        assert_eq!(value["k8s_extra"]["scopes"][1], "b");
        let back: UserSession = serde_json::from_value(value).unwrap();
        assert_eq!(back, session);
    }

    #[test]
    fn empty_parts_are_not_serialized() {
        let value = serde_json::to_value(UserSession::default()).unwrap();
        assert!(value.get("k8s_groups").is_none());
        assert!(value.get("k8s_extra").is_none());
    }
}
