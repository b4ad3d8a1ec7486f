//! What a webhook subscription may be: the event kinds there are, and the signing secret's bounds.

/// The event kinds webhooks can subscribe to.
pub const EVENT_KINDS: &[&str] = &[
    "finding.opened",
    "finding.resolved",
    "finding.reopened",
    "finding.waived",
    "finding.waiver_expired",
    "finding.waiver_revoked",
    "node.stale",
];

/// Why a subscription's fields are refused; each names its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    #[error("must be 16 to 256 characters without control characters")]
    Secret,
    #[error("must name at least one of {}", EVENT_KINDS.join(", "))]
    NoEvents,
    #[error("{0:?} is not one of {kinds}", kinds = EVENT_KINDS.join(", "))]
    UnknownEvent(String),
}

impl SubscriptionError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            SubscriptionError::Secret => "secret",
            SubscriptionError::NoEvents | SubscriptionError::UnknownEvent(_) => "events",
        }
    }
}

/// A signing secret as given: 16 to 256 characters without control characters.
pub fn check_secret(secret: &str) -> Result<(), SubscriptionError> {
    if (16..=256).contains(&secret.chars().count()) && !secret.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(SubscriptionError::Secret)
    }
}

/// The subscribed kinds, sorted and without repeats; at least one, each a known kind.
pub fn event_kinds(given: &[String]) -> Result<Vec<String>, SubscriptionError> {
    let mut kinds = given.to_vec();
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() {
        return Err(SubscriptionError::NoEvents);
    }
    if let Some(unknown) = kinds
        .iter()
        .find(|kind| !EVENT_KINDS.contains(&kind.as_str()))
    {
        return Err(SubscriptionError::UnknownEvent(unknown.clone()));
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_sorted_deduplicated_and_each_known() {
        let given = vec![
            "node.stale".to_owned(),
            "finding.opened".to_owned(),
            "node.stale".to_owned(),
        ];
        assert_eq!(
            event_kinds(&given),
            Ok(vec!["finding.opened".to_owned(), "node.stale".to_owned()])
        );
        assert_eq!(event_kinds(&[]), Err(SubscriptionError::NoEvents));
        let unknown = vec!["finding.opened".to_owned(), "<script>".to_owned()];
        assert_eq!(
            event_kinds(&unknown),
            Err(SubscriptionError::UnknownEvent("<script>".to_owned()))
        );
    }

    #[test]
    fn a_secret_is_16_to_256_characters_without_control_characters() {
        assert!(check_secret(&"s".repeat(16)).is_ok());
        for bad in [
            "s".repeat(15),
            "s".repeat(257),
            format!("{}\n", "s".repeat(20)),
        ] {
            assert_eq!(check_secret(&bad), Err(SubscriptionError::Secret));
        }
    }
}
