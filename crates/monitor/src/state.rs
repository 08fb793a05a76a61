//! Soft and hard states, as Nagios users know them. A problem result
//! starts a *soft* state and the check is retried; only after `retries`
//! more problem results in a row does the state become *hard*, and only
//! hard changes raise alerts. A recovery from a hard problem is hard at
//! once; a recovery from a soft one ends the soft state quietly.

use serde::{Deserialize, Serialize};

use crate::Status;

/// Where a check stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    /// The last result's status.
    pub status: Status,
    /// The status that counts: the last hard one.
    pub hard_status: Status,
    /// Problem results in a row (1 = the first); 0 when OK.
    pub attempt: u32,
    /// Whether `status` is confirmed (hard) or still being retried (soft).
    pub hard: bool,
    /// When the hard status last changed.
    pub hard_since_ns: i64,
    pub last_check_ns: i64,
    pub output: String,
    /// Flap detection over the recent results.
    #[serde(default)]
    pub flap: crate::flap::FlapState,
}

/// A change worth telling: a hard state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    pub from: Status,
    pub to: Status,
    pub at_ns: i64,
    pub output: String,
}

impl CheckState {
    /// A check not run yet: taken as OK (hard), like a fresh Nagios service.
    pub fn new(now_ns: i64) -> CheckState {
        CheckState {
            status: Status::Ok,
            hard_status: Status::Ok,
            attempt: 0,
            hard: true,
            hard_since_ns: now_ns,
            last_check_ns: 0,
            output: String::new(),
            flap: Default::default(),
        }
    }

    /// Takes a result; `retries` is how many more problem results confirm
    /// a problem. Returns the hard change, if this result made one.
    pub fn record(
        &mut self,
        status: Status,
        output: &str,
        retries: u32,
        now_ns: i64,
    ) -> Option<StateChange> {
        self.last_check_ns = now_ns;
        self.output = output.to_string();
        self.status = status;
        if status == Status::Ok {
            self.attempt = 0;
            self.hard = true;
            return self.harden(Status::Ok, now_ns);
        }
        self.attempt = self.attempt.saturating_add(1);
        if self.attempt > retries {
            self.hard = true;
            self.harden(status, now_ns)
        } else {
            self.hard = false;
            None
        }
    }

    fn harden(&mut self, to: Status, now_ns: i64) -> Option<StateChange> {
        if self.hard_status == to {
            return None;
        }
        let change = StateChange {
            from: self.hard_status,
            to,
            at_ns: now_ns,
            output: self.output.clone(),
        };
        self.hard_status = to;
        self.hard_since_ns = now_ns;
        Some(change)
    }

    /// Whether the next run is a retry (soft problem): it comes after the
    /// retry interval, not the normal one.
    pub fn retrying(&self) -> bool {
        !self.hard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_harden_after_the_retries_and_recover_at_once() {
        let mut s = CheckState::new(0);
        assert_eq!(s.record(Status::Critical, "down", 2, 1), None);
        assert!(s.retrying());
        assert_eq!(s.record(Status::Critical, "down", 2, 2), None);
        let change = s.record(Status::Critical, "down", 2, 3).expect("hard");
        assert_eq!(
            (change.from, change.to, change.at_ns),
            (Status::Ok, Status::Critical, 3)
        );
        assert_eq!(s.record(Status::Critical, "down", 2, 4), None, "no repeat");
        let change = s
            .record(Status::Warning, "slow", 2, 5)
            .expect("worse to better is a change");
        assert_eq!(change.to, Status::Warning);
        let back = s.record(Status::Ok, "up", 2, 6).expect("recovery");
        assert_eq!((back.from, back.to), (Status::Warning, Status::Ok));
        assert_eq!(s.hard_since_ns, 6);
    }

    #[test]
    fn a_soft_problem_that_clears_raises_nothing() {
        let mut s = CheckState::new(0);
        assert_eq!(s.record(Status::Critical, "blip", 3, 1), None);
        assert_eq!(s.record(Status::Ok, "up", 3, 2), None);
        assert_eq!((s.hard_status, s.attempt, s.hard), (Status::Ok, 0, true));
        let mut zero = CheckState::new(0);
        assert!(
            zero.record(Status::Critical, "down", 0, 1).is_some(),
            "no retries: hard at once"
        );
    }
}
