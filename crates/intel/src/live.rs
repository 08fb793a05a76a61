//! The indicators the floor holds while it runs: one [`IntelSet`] per
//! scope (each tenant's own, and [`SHARED`] for feeds every tenant
//! uses), the decay model and the warninglists, behind one lock that
//! detection takes once per batch of events.
//!
//! Storing is the caller's: [`Intel::import`], [`Intel::sighted`] and
//! [`Intel::expire`] return the indicators as they now are, for the state
//! store to keep.

use std::sync::{RwLock, RwLockReadGuard};

use watchfloor_model::{Event, Severity};

use crate::decay::DecayModel;
use crate::fields::for_each_value;
use crate::indicator::{Indicator, Kind, Tlp};
use crate::set::{Added, IntelSet, Outcome};
use crate::warninglist::Warninglists;

/// The indicator sets by scope; looked up twice an event (the tenant's and
/// the shared one), so with a fast hash rather than SipHash.
type ScopeMap = foldhash::HashMap<String, IntelSet>;

/// The scope of indicators every tenant matches against.
pub const SHARED: &str = "*";

/// Indicators imported under one write lock: a big import lets detection
/// in between.
const IMPORT_CHUNK: usize = 20_000;

/// The live indicators.
pub struct Intel {
    scopes: RwLock<ScopeMap>,
    pub decay: DecayModel,
    pub warninglists: Warninglists,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub added: usize,
    pub merged: usize,
    /// Values refused, each with why.
    pub invalid: Vec<String>,
    /// The indicators as they are after the import (new and merged), to
    /// be stored.
    pub changed: Vec<Indicator>,
    /// Of `changed`, the ones not held before (a retro-hunt looks for
    /// them in the stored events).
    pub fresh: Vec<Indicator>,
}

/// The indicators of one source in one scope.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceSummary {
    pub scope: String,
    pub source: String,
    pub indicators: usize,
    pub sightings: u64,
    /// The latest `last_seen` of its indicators (an import or a sighting).
    pub last_seen_ns: i64,
}

/// What an export holds, and what it left out.
#[derive(Debug, Default)]
pub struct Exportable {
    pub indicators: Vec<Indicator>,
    /// Live indicators a warninglist vouches for (blocking them would
    /// block a public resolver, a CDN, a top site).
    pub warned: usize,
    /// Indicators past their validity or decayed.
    pub expired: usize,
    /// Indicators above the TLP ceiling.
    pub withheld: usize,
}

/// An event's value that an indicator holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The event's field.
    pub field: String,
    /// The event's value.
    pub value: String,
    /// The indicator's scope: a tenant, or [`SHARED`].
    pub scope: String,
    pub indicator: Indicator,
    /// Its decay score when it matched.
    pub score: f64,
}

impl Match {
    /// The id a match reports as its rule: one per indicator.
    pub fn rule_id(&self) -> String {
        format!("intel:{}:{}", self.indicator.kind, self.indicator.value)
    }

    /// The alert title of the match: the indicator with its labels (so a
    /// `phishing` label files it as a phishing incident) and its source.
    pub fn title(&self, retro: bool) -> String {
        let ind = &self.indicator;
        let labels = if ind.labels.is_empty() {
            String::new()
        } else {
            format!(" [{}]", ind.labels.join(", "))
        };
        format!(
            "Threat intel match{}: {} {}{labels} from {}",
            if retro { " (retro-hunt)" } else { "" },
            ind.kind,
            ind.value,
            ind.source
        )
    }

    /// The level by the decay score when it matched (at most the
    /// confidence): 75 and over high, 50 and over medium, else low.
    pub fn level(&self) -> Severity {
        if self.score >= 75.0 {
            Severity::High
        } else if self.score >= 50.0 {
            Severity::Medium
        } else {
            Severity::Low
        }
    }

    /// The indicator's ATT&CK labels (`attack.t1566`), as tags.
    pub fn tags(&self) -> Vec<String> {
        self.indicator
            .labels
            .iter()
            .filter(|l| l.to_ascii_lowercase().starts_with("attack."))
            .cloned()
            .collect()
    }

    /// The match's context as `intel.*` fields.
    pub fn fields(&self, retro: bool) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::json;
        let ind = &self.indicator;
        [
            ("intel.kind", json!(ind.kind.as_str())),
            ("intel.indicator", json!(ind.value)),
            ("intel.scope", json!(self.scope)),
            ("intel.source", json!(ind.source)),
            ("intel.confidence", json!(ind.confidence)),
            ("intel.score", json!((self.score * 10.0).round() / 10.0)),
            ("intel.tlp", json!(ind.tlp.as_str())),
            ("intel.labels", json!(ind.labels)),
            ("intel.sightings", json!(ind.sightings)),
            ("intel.field", json!(self.field)),
            ("intel.value", json!(self.value)),
            ("intel.retro", json!(retro)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl std::fmt::Debug for Intel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intel")
            .field("indicators", &self.len())
            .field("warninglists", &self.warninglists.len())
            .finish()
    }
}

/// What became of one value checked against the indicators.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Explanation {
    pub kind: Kind,
    pub value: String,
    /// `hit`, `warned` (held, but a warninglist names the value benign),
    /// `expired` (held, past its validity or decayed below the
    /// threshold) or `miss`.
    pub outcome: &'static str,
    pub scope: Option<String>,
    pub indicator: Option<Indicator>,
    pub score: Option<f64>,
    pub warninglist: Option<String>,
}

impl Intel {
    pub fn new(decay: DecayModel, warninglists: Warninglists) -> Intel {
        Intel {
            scopes: RwLock::new(ScopeMap::default()),
            decay,
            warninglists,
        }
    }

    fn read_scopes(&self) -> RwLockReadGuard<'_, ScopeMap> {
        self.scopes.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_scopes(&self) -> std::sync::RwLockWriteGuard<'_, ScopeMap> {
        self.scopes.write().unwrap_or_else(|p| p.into_inner())
    }

    /// A view for matching many events under one read lock.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            intel: self,
            scopes: self.read_scopes(),
        }
    }

    /// Adds indicators to a scope; values already held are merged.
    pub fn import(&self, scope: &str, indicators: Vec<Indicator>) -> ImportReport {
        self.add_all(scope, indicators, true)
    }

    /// Puts back indicators read from the state store at start (nothing
    /// to store again, so nothing is collected).
    pub fn restore(&self, scope: &str, indicators: Vec<Indicator>) -> ImportReport {
        self.add_all(scope, indicators, false)
    }

    fn add_all(&self, scope: &str, indicators: Vec<Indicator>, collect: bool) -> ImportReport {
        let mut report = ImportReport::default();
        let mut rest = indicators.into_iter().peekable();
        while rest.peek().is_some() {
            let mut scopes = self.write_scopes();
            let set = scopes.entry(scope.to_string()).or_default();
            for ind in rest.by_ref().take(IMPORT_CHUNK) {
                let (kind, value) = (ind.kind, collect.then(|| ind.value.clone()));
                let added = match set.add(ind) {
                    Ok(added) => added,
                    Err(e) => {
                        report.invalid.push(e.to_string());
                        continue;
                    }
                };
                match added {
                    Added::New => report.added += 1,
                    Added::Merged => report.merged += 1,
                }
                if let Some(held) = value.and_then(|v| set.get(kind, &v)) {
                    if added == Added::New {
                        report.fresh.push(held.clone());
                    }
                    report.changed.push(held.clone());
                }
            }
        }
        report
    }

    /// Records a sighting in `scope`; the indicator as it now is.
    pub fn sighted(&self, scope: &str, kind: Kind, value: &str, at_ns: i64) -> Option<Indicator> {
        let mut scopes = self.write_scopes();
        scopes.get_mut(scope)?.sighted(kind, value, at_ns).cloned()
    }

    /// Ends an indicator's validity now; the indicator as it now is.
    pub fn expire(&self, scope: &str, kind: Kind, value: &str, now_ns: i64) -> Option<Indicator> {
        let mut scopes = self.write_scopes();
        scopes.get_mut(scope)?.expire(kind, value, now_ns).cloned()
    }

    /// Indicators held, all scopes.
    pub fn len(&self) -> usize {
        self.read_scopes().values().map(IntelSet::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Indicators held per scope.
    pub fn counts(&self) -> Vec<(String, usize)> {
        let mut out: Vec<_> = self
            .read_scopes()
            .iter()
            .map(|(scope, set)| (scope.clone(), set.len()))
            .collect();
        out.sort();
        out
    }

    /// Calls `f` on the indicators `tenant` sees (its own, then the shared
    /// ones), with their scope, until it returns false.
    pub fn visit(&self, tenant: &str, mut f: impl FnMut(&str, &Indicator) -> bool) {
        let scopes = self.read_scopes();
        for scope in [tenant, SHARED] {
            let Some(set) = scopes.get(scope) else {
                continue;
            };
            for ind in set.indicators() {
                if !f(scope, ind) {
                    return;
                }
            }
        }
    }

    /// The indicators of `kinds` an export for `tenant` holds at `now_ns`:
    /// live, at most `max_tlp`, not vouched for by a warninglist, each
    /// value once (the tenant's own before the shared one).
    pub fn exportable(
        &self,
        tenant: &str,
        kinds: &[Kind],
        max_tlp: Tlp,
        now_ns: i64,
    ) -> Exportable {
        let mut out = Exportable::default();
        let mut seen = foldhash::HashSet::default();
        self.visit(tenant, |_, ind| {
            if !kinds.contains(&ind.kind) || !seen.insert((ind.kind, ind.value.clone())) {
                return true;
            }
            if ind.tlp > max_tlp {
                out.withheld += 1;
            } else if !self.decay.is_live(ind, now_ns) {
                out.expired += 1;
            } else if self.warninglists.check(ind.kind, &ind.value).is_some() {
                out.warned += 1;
            } else {
                out.indicators.push(ind.clone());
            }
            true
        });
        out
    }

    /// The sources `tenant` sees indicators from (its own, then the
    /// shared ones), each with its count and latest sighting or update.
    pub fn sources(&self, tenant: &str) -> Vec<SourceSummary> {
        let mut by: std::collections::BTreeMap<(String, String), SourceSummary> =
            Default::default();
        self.visit(tenant, |scope, ind| {
            let entry = by
                .entry((scope.to_string(), ind.source.clone()))
                .or_insert_with(|| SourceSummary {
                    scope: scope.to_string(),
                    source: ind.source.clone(),
                    indicators: 0,
                    sightings: 0,
                    last_seen_ns: ind.last_seen_ns,
                });
            entry.indicators += 1;
            entry.sightings += ind.sightings;
            entry.last_seen_ns = entry.last_seen_ns.max(ind.last_seen_ns);
            true
        });
        let mut out: Vec<SourceSummary> = by.into_values().collect();
        out.sort_by(|a, b| {
            b.last_seen_ns
                .cmp(&a.last_seen_ns)
                .then(a.source.cmp(&b.source))
        });
        out
    }

    /// A TAXII page of one scope's indicators (an empty one for a scope
    /// holding none).
    pub fn taxii_page(&self, scope: &str, req: &crate::taxii::PageRequest) -> crate::taxii::Page {
        let scopes = self.read_scopes();
        let held = scopes
            .get(scope)
            .map(IntelSet::indicators)
            .unwrap_or_default();
        crate::taxii::page(held, req)
    }

    /// The warninglist that names `value` benign, if one does (whether or
    /// not an indicator holds it).
    pub fn warninglist(&self, kind: Kind, value: &str) -> Option<String> {
        self.warninglists.check(kind, value).map(String::from)
    }

    /// What `tenant`'s indicators say about `value` (of `kind`, or of the
    /// kind it looks like) at `now_ns`, with the warninglist that vouches
    /// for it if one does.
    pub fn explain(&self, tenant: &str, kind: Kind, value: &str, now_ns: i64) -> Explanation {
        let scopes = self.read_scopes();
        let mut out = Explanation {
            kind,
            value: value.trim().to_string(),
            outcome: "miss",
            scope: None,
            indicator: None,
            score: None,
            warninglist: None,
        };
        for scope in [tenant, SHARED] {
            let Some(ind) = scopes.get(scope).and_then(|s| s.lookup(kind, value)) else {
                continue;
            };
            let live = self.decay.is_live(ind, now_ns);
            out.outcome = if live { "hit" } else { "expired" };
            out.scope = Some(scope.to_string());
            out.score = Some(self.decay.score(ind, now_ns));
            out.indicator = Some(ind.clone());
            if live {
                if let Some(list) = self.warninglists.check(kind, value) {
                    out.outcome = "warned";
                    out.warninglist = Some(list.to_string());
                }
                break;
            }
        }
        out
    }
}

/// The indicators under a read lock, for matching a batch of events.
pub struct Reader<'a> {
    intel: &'a Intel,
    scopes: RwLockReadGuard<'a, ScopeMap>,
}

/// Counts of one event's matching.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MatchTally {
    pub hits: u64,
    /// Held values a warninglist vouched for.
    pub warned: u64,
}

impl Reader<'_> {
    /// Whether any indicator is held at all (when none, matching is
    /// skipped).
    pub fn is_empty(&self) -> bool {
        self.scopes.values().all(IntelSet::is_empty)
    }

    /// Appends the matches of `event` (of `tenant`) at `now_ns` to `out`:
    /// each value once per scope, the tenant's own indicator first.
    pub fn match_event(
        &self,
        tenant: &str,
        event: &Event,
        now_ns: i64,
        out: &mut Vec<Match>,
    ) -> MatchTally {
        let mut tally = MatchTally::default();
        let own = self.scopes.get(tenant);
        let shared = self.scopes.get(SHARED);
        if own.is_none_or(IntelSet::is_empty) && shared.is_none_or(IntelSet::is_empty) {
            return tally;
        }
        let first = out.len();
        for_each_value(event, |field, kind, value| {
            for (scope, set) in [(tenant, own), (SHARED, shared)] {
                let Some(set) = set.filter(|s| s.holds(kind)) else {
                    continue;
                };
                let outcome = set.check(
                    kind,
                    value,
                    &self.intel.decay,
                    &self.intel.warninglists,
                    now_ns,
                );
                match outcome {
                    Outcome::Hit(ind) => {
                        let seen = out[first..]
                            .iter()
                            .any(|m| m.indicator.kind == kind && m.indicator.value == ind.value);
                        if !seen {
                            tally.hits += 1;
                            out.push(Match {
                                field: field.to_string(),
                                value: value.to_string(),
                                scope: scope.to_string(),
                                indicator: ind.clone(),
                                score: self.intel.decay.score(ind, now_ns),
                            });
                        }
                        break;
                    }
                    Outcome::Warned { .. } => {
                        tally.warned += 1;
                        break;
                    }
                    Outcome::Miss => {}
                }
            }
        });
        tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::Tlp;
    use watchfloor_model::{SourceRef, Value};

    const DAY: i64 = 86_400 * 1_000_000_000;

    fn ind(kind: Kind, value: &str, source: &str) -> Indicator {
        Indicator {
            kind,
            value: value.into(),
            source: source.into(),
            confidence: 90,
            tlp: Tlp::Amber,
            labels: vec![],
            first_seen_ns: DAY,
            last_seen_ns: DAY,
            valid_until_ns: None,
            sightings: 0,
        }
    }

    fn event(fields: &[(&str, &str)]) -> Event {
        let mut e = Event::new(SourceRef::default());
        for (k, v) in fields {
            e.push(*k, Value::Str((*v).into()));
        }
        e
    }

    fn intel() -> Intel {
        let mut w = Warninglists::default();
        w.add(
            "Public DNS resolvers".into(),
            "cidr",
            &["8.8.8.8/32".into()],
        );
        let intel = Intel::new(DecayModel::default(), w);
        let r = intel.import(
            SHARED,
            vec![
                ind(Kind::Ip, "198.51.100.0/24", "shared feed"),
                ind(Kind::Ip, "8.8.8.8", "shared feed"),
                ind(Kind::Domain, "evil.example", "shared feed"),
            ],
        );
        assert_eq!((r.added, r.changed.len()), (3, 3));
        intel.import("acme", vec![ind(Kind::Ip, "203.0.113.9", "acme's own")]);
        intel
    }

    #[test]
    fn tenants_match_their_own_and_the_shared_indicators_only() {
        let intel = intel();
        let e = event(&[
            ("source.ip", "203.0.113.9"),
            ("destination.ip", "198.51.100.7"),
            ("dns.question.name", "www.evil.example"),
            ("client.ip", "8.8.8.8"),
        ]);
        let mut out = Vec::new();
        let tally = intel.reader().match_event("acme", &e, 2 * DAY, &mut out);
        assert_eq!(tally, MatchTally { hits: 3, warned: 1 });
        let got: Vec<_> = out
            .iter()
            .map(|m| {
                (
                    m.field.as_str(),
                    m.scope.as_str(),
                    m.indicator.value.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("source.ip", "acme", "203.0.113.9"),
                ("destination.ip", SHARED, "198.51.100.0/24"),
                ("dns.question.name", SHARED, "evil.example"),
            ]
        );
        out.clear();
        intel.reader().match_event("globex", &e, 2 * DAY, &mut out);
        assert_eq!(out.len(), 2, "acme's indicator is not globex's: {out:?}");
    }

    #[test]
    fn sightings_expiry_and_explanations() {
        let intel = intel();
        let seen = intel
            .sighted("acme", Kind::Ip, "203.0.113.9", 40 * DAY)
            .unwrap();
        assert_eq!((seen.sightings, seen.last_seen_ns), (1, 40 * DAY));
        let ex = intel.explain("acme", Kind::Ip, "203.0.113.9", 41 * DAY);
        assert_eq!((ex.outcome, ex.scope.as_deref()), ("hit", Some("acme")));
        let ex = intel.explain("acme", Kind::Ip, "8.8.8.8", 2 * DAY);
        assert_eq!(ex.outcome, "warned");
        assert_eq!(ex.warninglist.as_deref(), Some("Public DNS resolvers"));
        assert_eq!(
            intel
                .explain("acme", Kind::Ip, "198.51.100.1", 40 * DAY)
                .outcome,
            "expired",
            "decayed thirty days after its last sighting"
        );
        intel
            .expire("acme", Kind::Ip, "203.0.113.9", 42 * DAY)
            .unwrap();
        assert_eq!(
            intel
                .explain("acme", Kind::Ip, "203.0.113.9", 43 * DAY)
                .outcome,
            "expired"
        );
        assert_eq!(
            intel
                .explain("acme", Kind::Domain, "good.example", 2 * DAY)
                .outcome,
            "miss"
        );
    }
}
