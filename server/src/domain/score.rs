//! The score: one rule and its one definition, used by every page, the API's trends and the exports.

/// What `score` means, shown beside every score and sent with every series.
pub const DEFINITION: &str = "Score: the passing share of the applicable automated checks \
     (automated passes ÷ (automated passes + fails)) over each node's last scan of the day. Manual and \
     not-applicable checks are counted apart and do not move the score. A failure an approved exception waives \
     is still a failure in the score; it is counted apart as waived, never as passed. A day on which a node's \
     scan predates kubeward's per-set counts (stored before 2026-11-23) has no score.";

/// The score of `automated_pass` passes and `fail` failures: `None` when the passes are unknown or nothing
/// applied.
pub fn score(automated_pass: Option<i64>, fail: i64) -> Option<f64> {
    let passed = automated_pass?;
    let applicable = passed + fail;
    (applicable > 0).then(|| passed as f64 / applicable as f64)
}

/// Counts over a set of nodes' last scans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pass: i64,
    pub fail: i64,
    pub warn: i64,
    pub manual: i64,
    pub not_applicable: i64,
    pub error: i64,
    pub automated_pass: i64,
    /// Of `fail` and `warn`, the results an exception in force waived. They stay in `fail` and `warn`, so
    /// the score counts them as failures: an accepted risk is not a pass.
    pub waived_fail: i64,
    pub waived_warn: i64,
    /// Of `manual`, the results an attestation answered.
    pub attested_pass: i64,
    pub attested_fail: i64,
    /// Nodes counted here whose scan was stored before kubeward counted automated passes per result set.
    pub unscored_nodes: i64,
}

impl Counts {
    /// The score ([`DEFINITION`]): `None` when no automated check applied, or when a node's scan predates
    /// the per-set counts (its automated passes are unknown, and a guess would read as a fall).
    pub fn score(&self) -> Option<f64> {
        if self.unscored_nodes > 0 {
            return None;
        }
        score(Some(self.automated_pass), self.fail)
    }

    /// Failures no exception covers.
    pub fn unwaived_fail(&self) -> i64 {
        self.fail - self.waived_fail
    }

    pub fn unwaived_warn(&self) -> i64 {
        self.warn - self.waived_warn
    }

    pub fn waived(&self) -> i64 {
        self.waived_fail + self.waived_warn
    }

    /// Manual results nobody has attested.
    pub fn unattested_manual(&self) -> i64 {
        self.manual - self.attested_pass - self.attested_fail
    }

    pub fn attested(&self) -> i64 {
        self.attested_pass + self.attested_fail
    }

    /// Counts a waived result (its status stays counted where it was).
    pub fn waive(&mut self, status: &str) {
        match status {
            "fail" => self.waived_fail += 1,
            "warn" => self.waived_warn += 1,
            _ => {}
        }
    }

    /// Counts an attested manual result.
    pub fn attest(&mut self, verdict: &str) {
        match verdict {
            "pass" => self.attested_pass += 1,
            _ => self.attested_fail += 1,
        }
    }

    pub fn add(&mut self, more: &Counts) {
        self.pass += more.pass;
        self.fail += more.fail;
        self.warn += more.warn;
        self.manual += more.manual;
        self.not_applicable += more.not_applicable;
        self.error += more.error;
        self.automated_pass += more.automated_pass;
        self.waived_fail += more.waived_fail;
        self.waived_warn += more.waived_warn;
        self.attested_pass += more.attested_pass;
        self.attested_fail += more.attested_fail;
        self.unscored_nodes += more.unscored_nodes;
    }
}

/// What the policy score means, shown beside it: it is defined and shown apart from the node score.
pub const POLICY_DEFINITION: &str = "Policy score: the passing share of the cluster-scope checks that decided \
     (passes ÷ (passes + checks with a failing object)) in the cluster's newest scan of each catalog. A check \
     fails when any object that is not platform-owned fails it; platform-owned objects, checks left to a person \
     (manual), checks with nothing to evaluate and checks that could not run are counted apart and do not move \
     the score.";

/// The policy score of `passed` and `failed` checks: `None` when no check decided.
pub fn policy_score(passed: i64, failed: i64) -> Option<f64> {
    let decided = passed + failed;
    (decided > 0).then(|| passed as f64 / decided as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_needs_known_passes_and_something_applicable() {
        assert_eq!(score(Some(3), 1), Some(0.75));
        assert_eq!(score(Some(0), 0), None);
        assert_eq!(score(None, 4), None);
        let mut counts = Counts {
            automated_pass: 9,
            fail: 1,
            ..Counts::default()
        };
        assert_eq!(counts.score(), Some(0.9));
        counts.add(&Counts {
            fail: 2,
            unscored_nodes: 1,
            ..Counts::default()
        });
        assert_eq!(
            counts.score(),
            None,
            "one node without per-set counts leaves the day unscored"
        );
    }

    #[test]
    fn a_waived_failure_still_lowers_the_score() {
        let mut counts = Counts {
            automated_pass: 1,
            fail: 1,
            ..Counts::default()
        };
        counts.waive("fail");
        assert_eq!(counts.score(), Some(0.5));
        assert_eq!(counts.unwaived_fail(), 0);
    }

    #[test]
    fn the_policy_score_counts_only_checks_that_decided() {
        assert_eq!(policy_score(3, 1), Some(0.75));
        assert_eq!(policy_score(0, 0), None);
        assert_eq!(policy_score(0, 2), Some(0.0));
    }
}
