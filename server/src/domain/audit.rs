//! The audit trail's hash chain, as pure functions: how a record's hash is computed and how a sequence of
//! records is checked. Storage appends and reads; this decides what "intact" means.
//!
//! A record's hash is SHA-256 over a version tag, the previous record's hash and every field of the record,
//! each length-prefixed so that no two different records encode alike. Ids start at 1 and have no gaps.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Everything the trail records. The names are the `action` column; pages and the API filter by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Login,
    LoginRefused,
    Logout,
    ClusterEnroll,
    AgentTokenIssue,
    AgentTokenRevoke,
    ApiTokenIssue,
    ApiTokenRevoke,
    WebhookCreate,
    WebhookDelete,
    TicketLink,
    ExceptionRequest,
    ExceptionApprove,
    ExceptionReject,
    ExceptionRevoke,
    ExceptionExpire,
    AttestationRecord,
    AttestationRevoke,
    /// An admin turned a cluster's platform-owned bucket on or off.
    PlatformBucketSet,
    FindingsExport,
    AuditExport,
    /// A source was stopped for presenting too many refused credentials.
    AuthThrottled,
}

impl Action {
    pub const ALL: [Action; 22] = [
        Action::Login,
        Action::LoginRefused,
        Action::Logout,
        Action::ClusterEnroll,
        Action::AgentTokenIssue,
        Action::AgentTokenRevoke,
        Action::ApiTokenIssue,
        Action::ApiTokenRevoke,
        Action::WebhookCreate,
        Action::WebhookDelete,
        Action::TicketLink,
        Action::ExceptionRequest,
        Action::ExceptionApprove,
        Action::ExceptionReject,
        Action::ExceptionRevoke,
        Action::ExceptionExpire,
        Action::AttestationRecord,
        Action::AttestationRevoke,
        Action::PlatformBucketSet,
        Action::FindingsExport,
        Action::AuditExport,
        Action::AuthThrottled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::LoginRefused => "login.refused",
            Action::Logout => "logout",
            Action::ClusterEnroll => "cluster.enroll",
            Action::AgentTokenIssue => "agent_token.issue",
            Action::AgentTokenRevoke => "agent_token.revoke",
            Action::ApiTokenIssue => "api_token.issue",
            Action::ApiTokenRevoke => "api_token.revoke",
            Action::WebhookCreate => "webhook.create",
            Action::WebhookDelete => "webhook.delete",
            Action::TicketLink => "finding.ticket_link",
            Action::ExceptionRequest => "exception.request",
            Action::ExceptionApprove => "exception.approve",
            Action::ExceptionReject => "exception.reject",
            Action::ExceptionRevoke => "exception.revoke",
            Action::ExceptionExpire => "exception.expire",
            Action::AttestationRecord => "attestation.record",
            Action::AttestationRevoke => "attestation.revoke",
            Action::PlatformBucketSet => "cluster.platform_bucket",
            Action::FindingsExport => "findings.export",
            Action::AuditExport => "audit.export",
            Action::AuthThrottled => "auth.throttled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == text)
    }
}

/// The hash before the first record.
pub const GENESIS: [u8; 32] = [0; 32];

/// What is recorded, by whom, when and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    /// Microsecond precision, as PostgreSQL keeps it.
    pub at: OffsetDateTime,
    pub actor_id: String,
    pub actor_name: String,
    pub source: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// JSON text, hashed as stored.
    pub detail: String,
}

/// An entry with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub entry: Entry,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

fn put(digest: &mut Sha256, field: Option<&[u8]>) {
    match field {
        None => digest.update([0u8]),
        Some(bytes) => {
            digest.update([1u8]);
            digest.update((bytes.len() as u64).to_be_bytes());
            digest.update(bytes);
        }
    }
}

/// Truncates a time to what PostgreSQL stores, so the hash computed before the insert is the one read back.
pub fn to_micros(at: OffsetDateTime) -> OffsetDateTime {
    let nanos = at.nanosecond();
    at.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(at)
}

/// The hash of `entry` following `prev_hash`.
pub fn hash(prev_hash: &[u8], entry: &Entry) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(b"kubeward audit v1\0");
    put(&mut digest, Some(prev_hash));
    put(&mut digest, Some(&entry.id.to_be_bytes()));
    let micros = to_micros(entry.at).unix_timestamp_nanos() / 1_000;
    put(&mut digest, Some(&micros.to_be_bytes()));
    put(&mut digest, Some(entry.actor_id.as_bytes()));
    put(&mut digest, Some(entry.actor_name.as_bytes()));
    put(&mut digest, entry.source.as_deref().map(str::as_bytes));
    put(&mut digest, Some(entry.action.as_bytes()));
    put(&mut digest, entry.target.as_deref().map(str::as_bytes));
    put(&mut digest, Some(entry.detail.as_bytes()));
    digest.finalize().into()
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error(
        "record {found} follows record {previous}: records {missing_from} to {missing_to} are missing"
    )]
    Gap {
        previous: i64,
        found: i64,
        missing_from: i64,
        missing_to: i64,
    },
    #[error(
        "record {0} does not follow the record before it (its link to the previous hash is wrong)"
    )]
    Link(i64),
    #[error("record {0} was altered (its content no longer matches its hash)")]
    Altered(i64),
    #[error(
        "the log ends at record {found} but its head says {expected}: records after {found} were removed"
    )]
    Truncated { found: i64, expected: i64 },
    #[error("the head's hash does not match record {0}")]
    Head(i64),
    #[error("record {0} does not have the hash you expected")]
    NotExpected(i64),
    #[error("record {0}, which you expected, is not in the log")]
    ExpectedMissing(i64),
}

/// Checks records in id order, page by page: feed each page to [`Verifier::check`], then call
/// [`Verifier::finish`] with the stored head.
#[derive(Debug, Clone)]
pub struct Verifier {
    last_id: i64,
    last_hash: Vec<u8>,
    /// A record and hash someone kept outside the database, checked on the way.
    expected: Option<(i64, Vec<u8>)>,
    expected_seen: bool,
}

impl Verifier {
    pub fn new(expected: Option<(i64, Vec<u8>)>) -> Self {
        Verifier {
            last_id: 0,
            last_hash: GENESIS.to_vec(),
            expected,
            expected_seen: false,
        }
    }

    pub fn last(&self) -> (i64, &[u8]) {
        (self.last_id, &self.last_hash)
    }

    pub fn check(&mut self, record: &Record) -> Result<(), Break> {
        let id = record.entry.id;
        if id != self.last_id + 1 {
            return Err(if id > self.last_id + 1 {
                Break::Gap {
                    previous: self.last_id,
                    found: id,
                    missing_from: self.last_id + 1,
                    missing_to: id - 1,
                }
            } else {
                Break::Link(id)
            });
        }
        if record.prev_hash != self.last_hash {
            return Err(Break::Link(id));
        }
        if hash(&record.prev_hash, &record.entry).as_slice() != record.hash.as_slice() {
            return Err(Break::Altered(id));
        }
        if let Some((expected_id, expected_hash)) = &self.expected
            && *expected_id == id
        {
            if *expected_hash != record.hash {
                return Err(Break::NotExpected(id));
            }
            self.expected_seen = true;
        }
        self.last_id = id;
        self.last_hash.clone_from(&record.hash);
        Ok(())
    }

    /// After the last record: the head must name it.
    pub fn finish(&self, head_id: i64, head_hash: &[u8]) -> Result<(), Break> {
        if head_id > self.last_id {
            return Err(Break::Truncated {
                found: self.last_id,
                expected: head_id,
            });
        }
        if head_id < self.last_id || head_hash != self.last_hash.as_slice() {
            return Err(Break::Head(self.last_id));
        }
        if let Some((expected_id, _)) = &self.expected
            && !self.expected_seen
        {
            return Err(Break::ExpectedMissing(*expected_id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn chain(count: i64) -> Vec<Record> {
        let mut prev = GENESIS.to_vec();
        (1..=count)
            .map(|id| {
                let entry = Entry {
                    id,
                    at: datetime!(2026-11-30 10:00:00.123456 UTC) + time::Duration::seconds(id),
                    actor_id: "oidc:alice".to_owned(),
                    actor_name: "alice@example.com".to_owned(),
                    source: Some("192.0.2.7".to_owned()),
                    action: "exception.request".to_owned(),
                    target: Some(format!("exception {id}")),
                    detail: "{}".to_owned(),
                };
                let hash = hash(&prev, &entry).to_vec();
                let record = Record {
                    entry,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                record
            })
            .collect()
    }

    fn verify(records: &[Record], head: (i64, &[u8])) -> Result<(), Break> {
        let mut verifier = Verifier::new(None);
        for record in records {
            verifier.check(record)?;
        }
        verifier.finish(head.0, head.1)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let records = chain(5);
        assert_eq!(verify(&records, (5, &records[4].hash)), Ok(()));
        assert_eq!(verify(&[], (0, &GENESIS)), Ok(()));
    }

    #[test]
    fn every_kind_of_tampering_names_the_first_broken_record() {
        let records = chain(5);
        let head = records[4].hash.clone();
        let mut altered = records.clone();
        altered[2].entry.actor_name = "mallory".to_owned();
        assert_eq!(verify(&altered, (5, &head)), Err(Break::Altered(3)));
        let mut rehashed = records.clone();
        rehashed[1].entry.detail = "{\"x\":1}".to_owned();
        rehashed[1].hash = hash(&rehashed[1].prev_hash, &rehashed[1].entry).to_vec();
        assert_eq!(verify(&rehashed, (5, &head)), Err(Break::Link(3)));
        let mut removed = records.clone();
        removed.remove(1);
        assert!(matches!(
            verify(&removed, (5, &head)),
            Err(Break::Gap {
                found: 3,
                missing_from: 2,
                ..
            })
        ));
        assert_eq!(
            verify(&records[..4], (5, &head)),
            Err(Break::Truncated {
                found: 4,
                expected: 5
            })
        );
        let mut retimed = records.clone();
        retimed[0].entry.at += time::Duration::microseconds(1);
        assert_eq!(verify(&retimed, (5, &head)), Err(Break::Altered(1)));
    }

    #[test]
    fn a_kept_head_catches_a_rewritten_tail() {
        let records = chain(5);
        let kept = (3, records[2].hash.clone());
        let mut verifier = Verifier::new(Some(kept.clone()));
        for record in &records {
            verifier.check(record).unwrap();
        }
        assert_eq!(verifier.finish(5, &records[4].hash), Ok(()));
        // The same log rebuilt from record 3 on with other content: internally consistent, but not what was kept.
        let mut rebuilt = records[..2].to_vec();
        let mut prev = records[1].hash.clone();
        for mut record in records[2..].iter().cloned() {
            record.entry.detail = "{\"rewritten\":true}".to_owned();
            record.prev_hash = prev.clone();
            record.hash = hash(&prev, &record.entry).to_vec();
            prev = record.hash.clone();
            rebuilt.push(record);
        }
        let mut verifier = Verifier::new(Some(kept));
        let outcome = rebuilt.iter().try_for_each(|record| verifier.check(record));
        assert_eq!(outcome, Err(Break::NotExpected(3)));
    }

    #[test]
    fn times_hash_at_microsecond_precision() {
        let at = datetime!(2026-11-30 10:00:00.123456789 UTC);
        assert_eq!(to_micros(at), datetime!(2026-11-30 10:00:00.123456 UTC));
    }
}
