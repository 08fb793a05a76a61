//! Flapping: a check whose state keeps changing. As in Nagios, the last 21
//! results give 20 chances to change; changes are weighted from 0.8 (the
//! oldest) to 1.2 (the newest) and summed into a percentage. Flapping
//! starts above `high` percent and stops only below `low` (hysteresis), so
//! a flapping check raises one alert, not one per change.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::Status;

const WINDOW: usize = 21;

/// Thresholds in percent of state change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlapThresholds {
    pub low: f64,
    pub high: f64,
}

impl Default for FlapThresholds {
    fn default() -> Self {
        FlapThresholds {
            low: 25.0,
            high: 50.0,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlapState {
    /// The last results' statuses, oldest first.
    history: VecDeque<Status>,
    pub flapping: bool,
    /// The last computed state change percentage.
    pub percent: f64,
}

/// Flapping began or ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlapChange {
    Started { percent: f64 },
    Stopped { percent: f64 },
}

impl FlapState {
    /// The weighted share of results that changed state, in percent.
    fn change_percent(&self) -> f64 {
        let n = self.history.len();
        if n < 2 {
            return 0.0;
        }
        let transitions = (WINDOW - 1) as f64;
        let mut sum = 0.0;
        for (i, pair) in self
            .history
            .iter()
            .collect::<Vec<_>>()
            .windows(2)
            .enumerate()
        {
            if pair[0] != pair[1] {
                // Weight 0.8 for the oldest possible change, 1.2 for the newest.
                let pos = i + (WINDOW - n);
                sum += 0.8 + 0.4 * pos as f64 / (transitions - 1.0);
            }
        }
        100.0 * sum / transitions
    }

    pub fn record(&mut self, status: Status, t: FlapThresholds) -> Option<FlapChange> {
        self.history.push_back(status);
        while self.history.len() > WINDOW {
            self.history.pop_front();
        }
        self.percent = self.change_percent();
        match self.flapping {
            false if self.percent > t.high => {
                self.flapping = true;
                Some(FlapChange::Started {
                    percent: self.percent,
                })
            }
            true if self.percent < t.low => {
                self.flapping = false;
                Some(FlapChange::Stopped {
                    percent: self.percent,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_start_while_it_flaps_and_one_stop_after() {
        let mut f = FlapState::default();
        let t = FlapThresholds::default();
        let mut changes = Vec::new();
        // Up, down, up, down ...: every result is a change.
        for i in 0..30 {
            let s = if i % 2 == 0 {
                Status::Ok
            } else {
                Status::Critical
            };
            changes.extend(f.record(s, t));
        }
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(matches!(changes[0], FlapChange::Started { percent } if percent > 50.0));
        assert!(f.flapping);
        // Steady: the percentage sinks, through the band, below 25.
        let mut steady = Vec::new();
        for _ in 0..30 {
            steady.extend(f.record(Status::Ok, t));
        }
        assert_eq!(steady.len(), 1);
        assert!(matches!(steady[0], FlapChange::Stopped { percent } if percent < 25.0));
        assert_eq!(f.percent, 0.0);
    }

    #[test]
    fn occasional_changes_are_not_flapping() {
        let mut f = FlapState::default();
        let t = FlapThresholds::default();
        for i in 0..60 {
            let s = if i % 10 == 0 {
                Status::Critical
            } else {
                Status::Ok
            };
            assert_eq!(f.record(s, t), None);
        }
        assert!(f.percent < 25.0, "{}", f.percent);
    }

    #[test]
    fn the_newest_changes_weigh_most() {
        let mut old = FlapState::default();
        let mut new = FlapState::default();
        let t = FlapThresholds {
            low: 99.0,
            high: 100.0,
        };
        for i in 0..21 {
            old.record(if i == 1 { Status::Critical } else { Status::Ok }, t);
            new.record(
                if i == 19 {
                    Status::Critical
                } else {
                    Status::Ok
                },
                t,
            );
        }
        assert!(
            new.percent > old.percent,
            "{} vs {}",
            new.percent,
            old.percent
        );
        assert!(
            (old.percent - 8.2).abs() < 0.1 && (new.percent - 11.8).abs() < 0.1,
            "{} {}",
            old.percent,
            new.percent
        );
    }
}
