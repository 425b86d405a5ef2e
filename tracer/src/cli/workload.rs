//! What the caller of `sentrace trace` declares about its workload rather
//! than what the tracer observes: the workload's tags (`--tag`, `SENTRACE_TAGS`) and the Kubernetes
//! user of a `kubectl exec` session (`--k8s-user-session`).

use std::collections::BTreeMap;

use anyhow::Context;
use protocol::{SessionType, UserSession};
use serde::Deserialize;

/// Environment variable with comma-separated tags, as a Kubernetes downward
/// API field or an ECS task definition sets it.
pub const TAGS_ENV: &str = "SENTRACE_TAGS";

/// Checks one tag: `key:value` or a bare `key`, with no comma, whitespace
/// or control character. Used as the value parser of `--tag`.
pub fn parse_tag(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("a tag cannot be empty".to_string());
    }
    if text.contains(',') {
        return Err(format!(
            "invalid tag {text:?}: a tag cannot contain a comma; give one --tag per tag"
        ));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "invalid tag {text:?}: a tag cannot contain whitespace or control characters"
        ));
    }
    Ok(text.to_string())
}

/// Returns the tags of `SENTRACE_TAGS` (`from_env`) followed by the `--tag`
/// options, without repeats. Empty entries of the variable, such as the one
/// after a trailing comma, are skipped.
pub fn collect_tags(options: &[String], from_env: Option<&str>) -> anyhow::Result<Vec<String>> {
    let mut tags: Vec<String> = Vec::new();
    let entries = from_env
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty());
    for entry in entries {
        let tag = parse_tag(entry)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("reading {TAGS_ENV}"))?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    for tag in options {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    Ok(tags)
}

/// A Kubernetes `UserInfo` (`authentication.k8s.io/v1`), as an admission
/// request carries it. Fields that later API versions add are ignored.
#[derive(Debug, Deserialize)]
struct UserInfo {
    #[serde(default)]
    username: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    extra: BTreeMap<String, Vec<String>>,
}

/// Reads the `--k8s-user-session` value, a `UserInfo` object in JSON, into
/// the user session `id`.
pub fn parse_user_session(json: &str, id: &str) -> anyhow::Result<UserSession> {
    let user: UserInfo = serde_json::from_str(json).with_context(|| {
        format!(
            "invalid --k8s-user-session {json:?}: expected a Kubernetes UserInfo object such as \
             {{\"username\":\"alice\",\"uid\":\"1\",\"groups\":[\"dev\"],\"extra\":{{}}}}"
        )
    })?;
    if user.username.is_empty() {
        anyhow::bail!("invalid --k8s-user-session {json:?}: username is missing or empty");
    }
    Ok(UserSession {
        id: id.to_string(),
        session_type: SessionType::K8s,
        k8s_username: user.username,
        k8s_uid: user.uid,
        k8s_groups: user.groups,
        k8s_extra: user.extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_from_environment_then_options() {
        let options = vec!["team:a".to_string(), "env:prod".to_string()];
        let tags = collect_tags(&options, Some(" env:prod, tags.datadoghq.com/service ,")).unwrap();
        assert_eq!(tags, ["env:prod", "tags.datadoghq.com/service", "team:a"]);
        assert!(collect_tags(&[], None).unwrap().is_empty());
    }

    #[test]
    fn invalid_tags_are_rejected() {
        for tag in ["", "a,b", "a b", "a\tb", "a\u{1}"] {
            assert!(parse_tag(tag).is_err(), "{tag:?}");
        }
        assert_eq!(parse_tag("service:web").unwrap(), "service:web");
        let error = collect_tags(&[], Some("ok, bad\u{1}tag")).unwrap_err();
        assert!(format!("{error:#}").contains(TAGS_ENV), "{error:#}");
    }

    #[test]
    fn user_info_becomes_a_session() {
        let json = r#"{"username":"alice@example.com","uid":"42","groups":["dev","system:authenticated"],
            "extra":{"authentication.kubernetes.io/credential-id":["X509SHA256=ab"]},"future":1}"#;
        let session = parse_user_session(json, "s1").unwrap();
        assert_eq!(session.id, "s1");
        assert_eq!(session.k8s_username, "alice@example.com");
        assert_eq!(session.k8s_uid, "42");
        assert_eq!(session.k8s_groups, ["dev", "system:authenticated"]);
        assert_eq!(
            session.k8s_extra["authentication.kubernetes.io/credential-id"],
            ["X509SHA256=ab"]
        );
    }

    #[test]
    fn user_info_without_username_is_rejected() {
        for json in [
            r#"{"uid":"42"}"#,
            r#"{"username":""}"#,
            "alice",
            r#"{"username":7}"#,
        ] {
            assert!(parse_user_session(json, "s1").is_err(), "{json}");
        }
    }
}
