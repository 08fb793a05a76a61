//! How an indicator's score falls with time: MISP's polynomial decay model.
//!
//! ```text
//! score(t) = base × (1 − (t / τ)^(1/δ))    for t < τ, else 0
//! ```
//!
//! `base` is the indicator's confidence (0 to 100), `t` the time since it
//! was last seen, `τ` the lifetime and `δ` the decay speed (below 1 the
//! score holds and then falls fast; above 1 it falls fast and then slowly).
//! Unlike OpenCTI (#16282), a new sighting sets `last seen`, so seeing an
//! indicator again restarts its decay. An indicator matches while its
//! score is at or above the threshold and it is not past `valid until`.

use serde::{Deserialize, Serialize};

use crate::indicator::Indicator;

const DAY_NS: i64 = 86_400 * 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecayModel {
    /// τ: how long after its last sighting an indicator lives.
    pub lifetime_ns: i64,
    /// δ: the decay speed.
    pub speed: f64,
    /// Indicators scoring below this no longer match.
    pub threshold: f64,
}

impl Default for DecayModel {
    /// MISP's default polynomial model: 30 days, speed 0.3, threshold 30.
    fn default() -> Self {
        DecayModel {
            lifetime_ns: 30 * DAY_NS,
            speed: 0.3,
            threshold: 30.0,
        }
    }
}

impl DecayModel {
    /// The score of `ind` at `now_ns` (0 to its confidence).
    pub fn score(&self, ind: &Indicator, now_ns: i64) -> f64 {
        let base = f64::from(ind.confidence.min(100));
        let age = now_ns.saturating_sub(ind.last_seen_ns).max(0) as f64;
        let tau = self.lifetime_ns.max(1) as f64;
        if age >= tau {
            return 0.0;
        }
        let speed = if self.speed > 0.0 { self.speed } else { 1.0 };
        base * (1.0 - (age / tau).powf(1.0 / speed))
    }

    /// Whether `ind` still matches at `now_ns`.
    pub fn is_live(&self, ind: &Indicator, now_ns: i64) -> bool {
        ind.valid_until_ns.is_none_or(|until| now_ns < until)
            && self.score(ind, now_ns) >= self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::{Kind, Tlp};

    fn seen_at(last_seen_ns: i64, confidence: u8) -> Indicator {
        Indicator {
            kind: Kind::Ip,
            value: "203.0.113.9".into(),
            source: "test".into(),
            confidence,
            tlp: Tlp::Amber,
            labels: vec![],
            first_seen_ns: 0,
            last_seen_ns,
            valid_until_ns: None,
            sightings: 0,
        }
    }

    #[test]
    fn the_score_falls_from_the_confidence_to_zero_over_the_lifetime() {
        let m = DecayModel::default();
        let ind = seen_at(0, 80);
        assert_eq!(m.score(&ind, 0), 80.0);
        let day10 = m.score(&ind, 10 * DAY_NS);
        // 80 × (1 − (1/3)^(1/0.3)) = 80 × (1 − 0.0257...) ≈ 77.9
        assert!((day10 - 77.94).abs() < 0.05, "{day10}");
        let day25 = m.score(&ind, 25 * DAY_NS);
        assert!(day25 < day10 && day25 > 0.0);
        assert_eq!(m.score(&ind, 30 * DAY_NS), 0.0);
        assert_eq!(m.score(&ind, -DAY_NS), 80.0, "a clock behind the sighting");
    }

    #[test]
    fn a_sighting_restarts_the_decay_and_expiry_ends_matching() {
        let m = DecayModel::default();
        let old = seen_at(0, 60);
        let now = 29 * DAY_NS;
        assert!(!m.is_live(&old, now), "{}", m.score(&old, now));
        let seen_again = seen_at(now - DAY_NS, 60);
        assert!(m.is_live(&seen_again, now));
        let expired = Indicator {
            valid_until_ns: Some(now),
            ..seen_again
        };
        assert!(!m.is_live(&expired, now));
    }
}
