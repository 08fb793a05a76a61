//! A set of indicators, indexed for matching: addresses and networks in a
//! [`NetTable`], domains in a [`DomainTable`], the rest by exact value.
//! Adding a value already held merges (the later sighting, the higher
//! confidence, the labels of both), so re-importing a feed adds nothing.

use std::collections::HashMap;

/// Looked up for every value of every event: foldhash (seeded per
/// process) rather than SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::net::IpAddr;

use crate::decay::DecayModel;
use crate::domains::DomainTable;
use crate::indicator::{normalize, parse_net, Indicator, InvalidValue, Kind};
use crate::trie::NetTable;
use crate::warninglist::Warninglists;

#[derive(Default)]
pub struct IntelSet {
    indicators: Vec<Indicator>,
    by_value: FastMap<(Kind, String), u32>,
    nets: NetTable,
    domains: DomainTable,
    /// Indicators held of each kind: matching skips the kinds the set has
    /// none of (a URL is parsed only if some URL indicator is held).
    kinds: [u32; 7],
}

/// What matching a value found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome<'a> {
    Hit(&'a Indicator),
    /// An indicator holds the value, but a warninglist says it is benign.
    Warned {
        indicator: &'a Indicator,
        list: &'a str,
    },
    Miss,
}

/// Whether [`IntelSet::add`] added an indicator or merged it into one held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    New,
    Merged,
}

impl IntelSet {
    /// Adds an indicator (its value normalised here).
    pub fn add(&mut self, mut ind: Indicator) -> Result<Added, InvalidValue> {
        ind.value = normalize(ind.kind, &ind.value)?;
        let key = (ind.kind, ind.value.clone());
        if let Some(&at) = self.by_value.get(&key) {
            merge(&mut self.indicators[at as usize], ind);
            return Ok(Added::Merged);
        }
        let at = self.indicators.len() as u32;
        match ind.kind {
            Kind::Ip => {
                if let Some(net) = parse_net(&ind.value) {
                    self.nets.insert(net, at);
                }
            }
            Kind::Domain => self.domains.insert(ind.value.clone(), at),
            _ => {}
        }
        self.by_value.insert(key, at);
        self.kinds[ind.kind as usize] += 1;
        self.indicators.push(ind);
        Ok(Added::New)
    }

    /// Whether the set holds any indicator of `kind`.
    pub fn holds(&self, kind: Kind) -> bool {
        self.kinds[kind as usize] > 0
    }

    /// The indicator of exactly this value (no parent network or domain).
    pub fn get(&self, kind: Kind, value: &str) -> Option<&Indicator> {
        let value = normalize(kind, value).ok()?;
        let at = *self.by_value.get(&(kind, value))?;
        self.indicators.get(at as usize)
    }

    /// Ends the validity of the indicator of exactly this value at
    /// `now_ns` (it stays held, and matches nothing from then on); the
    /// changed indicator, if one was held.
    pub fn expire(&mut self, kind: Kind, value: &str, now_ns: i64) -> Option<&Indicator> {
        let ind = self.exact_mut(kind, value)?;
        ind.valid_until_ns = Some(ind.valid_until_ns.map_or(now_ns, |v| v.min(now_ns)));
        Some(ind)
    }

    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    /// The indicator holding `value` of `kind` (addresses by the most
    /// specific network, domains with their subdomains, the others
    /// exactly after normalising), if it is live at `now_ns`, and whether
    /// a warninglist vouches for the value.
    pub fn check<'a>(
        &'a self,
        kind: Kind,
        value: &str,
        decay: &DecayModel,
        warninglists: &'a Warninglists,
        now_ns: i64,
    ) -> Outcome<'a> {
        let Some(indicator) = self.lookup(kind, value) else {
            return Outcome::Miss;
        };
        if !decay.is_live(indicator, now_ns) {
            return Outcome::Miss;
        }
        match warninglists.check(kind, value) {
            Some(list) => Outcome::Warned { indicator, list },
            None => Outcome::Hit(indicator),
        }
    }

    /// The indicator holding `value`, live or not.
    pub fn lookup(&self, kind: Kind, value: &str) -> Option<&Indicator> {
        self.position(kind, value)
            .map(|i| &self.indicators[i as usize])
    }

    /// Where the indicator holding `value` is: addresses by the most
    /// specific network, domains with their parents, the rest exactly
    /// after normalising.
    fn position(&self, kind: Kind, value: &str) -> Option<u32> {
        match kind {
            Kind::Ip => value
                .trim()
                .parse::<IpAddr>()
                .ok()
                .and_then(|a| self.nets.lookup(a)),
            Kind::Domain => self.domains.lookup(value.trim()),
            _ => {
                let value = normalize(kind, value).ok()?;
                self.by_value.get(&(kind, value)).copied()
            }
        }
    }

    /// Records a sighting of the indicator of exactly `value` (a network
    /// by its CIDR, a domain itself): one more, and seen now (which
    /// restarts its decay).
    pub fn sighted(&mut self, kind: Kind, value: &str, now_ns: i64) -> Option<&Indicator> {
        let ind = self.exact_mut(kind, value)?;
        ind.sightings += 1;
        ind.last_seen_ns = ind.last_seen_ns.max(now_ns);
        Some(ind)
    }

    fn exact_mut(&mut self, kind: Kind, value: &str) -> Option<&mut Indicator> {
        let value = normalize(kind, value).ok()?;
        let at = *self.by_value.get(&(kind, value))?;
        self.indicators.get_mut(at as usize)
    }
}

fn merge(held: &mut Indicator, new: Indicator) {
    held.first_seen_ns = held.first_seen_ns.min(new.first_seen_ns);
    held.last_seen_ns = held.last_seen_ns.max(new.last_seen_ns);
    held.confidence = held.confidence.max(new.confidence);
    held.valid_until_ns = match (held.valid_until_ns, new.valid_until_ns) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
    for label in new.labels {
        if !held.labels.contains(&label) {
            held.labels.push(label);
        }
    }
    held.sightings += new.sightings;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::Tlp;

    const DAY: i64 = 86_400 * 1_000_000_000;

    fn ind(kind: Kind, value: &str) -> Indicator {
        Indicator {
            kind,
            value: value.into(),
            source: "test feed".into(),
            confidence: 80,
            tlp: Tlp::Green,
            labels: vec!["c2".into()],
            first_seen_ns: 0,
            last_seen_ns: 0,
            valid_until_ns: None,
            sightings: 0,
        }
    }

    fn set() -> IntelSet {
        let mut s = IntelSet::default();
        for (k, v) in [
            (Kind::Ip, "203.0.113.9"),
            (Kind::Ip, "198.51.100.0/24"),
            (Kind::Ip, "2001:db8:bad::/48"),
            (Kind::Ip, "8.8.8.8"),
            (Kind::Domain, "evil.example"),
            (Kind::Url, "http://Phish.example/login#x"),
            (Kind::Md5, "44D88612FEA8A8F36DE82E1278ABB02F"),
            (Kind::Sha1, &"b".repeat(40)),
            (Kind::Sha256, &"c".repeat(64)),
            (Kind::Email, "Boss@Phish.example"),
        ] {
            assert_eq!(s.add(ind(k, v)).unwrap(), Added::New, "{v}");
        }
        s
    }

    #[test]
    fn every_kind_matches_in_its_normal_form() {
        let s = set();
        let (d, w) = (DecayModel::default(), Warninglists::default());
        let hit = |k, v: &str| matches!(s.check(k, v, &d, &w, DAY), Outcome::Hit(_));
        assert!(hit(Kind::Ip, "203.0.113.9"));
        assert!(hit(Kind::Ip, "198.51.100.77"));
        assert!(hit(Kind::Ip, "2001:db8:bad:1::5"), "an IPv6 network");
        assert!(!hit(Kind::Ip, "2001:db8:bae::1"));
        assert!(hit(Kind::Domain, "cdn.EVIL.example"), "a subdomain");
        assert!(
            hit(Kind::Url, "HTTP://phish.example:80/login"),
            "normalised"
        );
        assert!(hit(Kind::Md5, "44d88612fea8a8f36de82e1278abb02f"));
        assert!(hit(Kind::Sha1, &"B".repeat(40)));
        assert!(hit(Kind::Sha256, &"c".repeat(64)));
        assert!(hit(Kind::Email, "boss@phish.example"));
        assert!(!hit(Kind::Domain, "example"));
    }

    #[test]
    fn warned_decayed_and_merged_indicators() {
        let mut s = set();
        let d = DecayModel::default();
        let mut w = Warninglists::default();
        w.add(
            "Public DNS resolvers".into(),
            "cidr",
            &["8.8.8.0/24".to_string()],
        );
        match s.check(Kind::Ip, "8.8.8.8", &d, &w, DAY) {
            Outcome::Warned { list, .. } => assert_eq!(list, "Public DNS resolvers"),
            other => panic!("{other:?}"),
        }
        // Thirty days after its last sighting it has decayed away; a new
        // sighting brings it back.
        assert_eq!(
            s.check(Kind::Ip, "203.0.113.9", &d, &w, 30 * DAY),
            Outcome::Miss
        );
        assert!(s.sighted(Kind::Ip, "203.0.113.9", 29 * DAY).is_some());
        assert!(matches!(
            s.check(Kind::Ip, "203.0.113.9", &d, &w, 30 * DAY),
            Outcome::Hit(i) if i.sightings == 1
        ));
        // Re-importing merges.
        let mut again = ind(Kind::Domain, "EVIL.example.");
        again.labels = vec!["phishing".into()];
        again.confidence = 95;
        assert_eq!(s.add(again).unwrap(), Added::Merged);
        let held = s.lookup(Kind::Domain, "evil.example").unwrap();
        assert_eq!((held.confidence, held.labels.len()), (95, 2));
        assert_eq!(s.len(), 10);
        assert!(s.add(ind(Kind::Md5, "nope")).is_err());
    }
}
