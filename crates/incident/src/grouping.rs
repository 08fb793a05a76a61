//! Which incident an alert belongs to: a repeat of an alert already in an
//! open incident (same rule, same entities, within the dedup window)
//! raises that alert's count; an alert that names a parent joins the
//! parent's incident; an alert sharing an entity with an open incident
//! active within the grouping window joins it; anything else opens one.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use watchfloor_model::incident::Incident;
use watchfloor_model::Alert;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupingOptions {
    /// A repeat within this time of the last one is a duplicate.
    #[serde(with = "secs")]
    pub dedup_window: Duration,
    /// An alert joins an incident whose last alert is at most this old.
    #[serde(with = "secs")]
    pub group_window: Duration,
    /// Distinct alerts an incident takes before related ones open a new one.
    pub max_alerts: usize,
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

impl Default for GroupingOptions {
    fn default() -> Self {
        GroupingOptions {
            dedup_window: Duration::from_secs(3600),
            group_window: Duration::from_secs(4 * 3600),
            max_alerts: 500,
        }
    }
}

/// Where an alert goes, as an index into the candidate incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A repeat of the incident's alert entry `entry`.
    Duplicate {
        incident: usize,
        entry: usize,
    },
    /// A new alert of this incident.
    Attach {
        incident: usize,
    },
    Open,
}

fn last_alert_ns(i: &Incident) -> i64 {
    i.alerts
        .iter()
        .map(|a| a.last_ns)
        .max()
        .unwrap_or(i.created_ns)
}

/// Where each alert key sits among a batch's incidents (incident and
/// entry numbers), so that placing an alert does not compare its key with
/// every alert of every open incident: with thousands of open incidents
/// that comparison was most of the filing's time.
#[derive(Debug, Default)]
pub struct KeyIndex {
    at: HashMap<String, Vec<(usize, usize)>>,
}

impl KeyIndex {
    /// The keys of every alert entry of `incidents`.
    pub fn new(incidents: &[&Incident]) -> Self {
        let mut index = KeyIndex::default();
        for (n, incident) in incidents.iter().enumerate() {
            for (entry, alert) in incident.alerts.iter().enumerate() {
                index.add(&alert.dedup_key, n, entry);
            }
        }
        index
    }

    /// Records that entry `entry` of incident `incident` has `key`.
    pub fn add(&mut self, key: &str, incident: usize, entry: usize) {
        match self.at.get_mut(key) {
            Some(places) => places.push((incident, entry)),
            None => {
                self.at.insert(key.to_string(), vec![(incident, entry)]);
            }
        }
    }

    /// The first (incident, entry) with `key` that `accept` takes, in
    /// candidate order.
    fn first(&self, key: &str, accept: impl Fn(usize, usize) -> bool) -> Option<(usize, usize)> {
        self.at
            .get(key)?
            .iter()
            .copied()
            .filter(|&(n, entry)| accept(n, entry))
            .min()
    }
}

/// Decides where `alert` goes among `candidates` (any incidents; only open
/// ones of the alert's tenant are considered); `keys` indexes their alerts.
pub fn place(
    alert: &Alert,
    key: &str,
    candidates: &[&Incident],
    keys: &KeyIndex,
    o: &GroupingOptions,
) -> Placement {
    let within = |a: i64, b: i64, w: Duration| (a - b).unsigned_abs() <= w.as_nanos() as u64;
    let live =
        |i: &Incident| i.tenant == alert.tenant && i.status.is_open() && i.merged_into.is_none();
    let repeat = keys.first(key, |n, entry| {
        let inc = candidates[n];
        live(inc) && within(alert.time_ns, inc.alerts[entry].last_ns, o.dedup_window)
    });
    if let Some((incident, entry)) = repeat {
        return Placement::Duplicate { incident, entry };
    }
    if let Some(parent) = &alert.parent {
        if let Some((incident, _)) = keys.first(parent, |n, _| live(candidates[n])) {
            return Placement::Attach { incident };
        }
    }
    let entities = alert.entities();
    if entities.is_empty() {
        return Placement::Open;
    }
    candidates
        .iter()
        .enumerate()
        .filter(|(_, i)| live(i) && i.alerts.len() < o.max_alerts)
        .filter(|(_, i)| within(alert.time_ns, last_alert_ns(i), o.group_window))
        .filter(|(_, i)| i.entities.overlaps(&entities))
        .max_by_key(|(_, i)| last_alert_ns(i))
        .map_or(Placement::Open, |(n, _)| Placement::Attach { incident: n })
}
