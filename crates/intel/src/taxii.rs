//! TAXII 2.1 collections of a scope's indicators: the objects (an indicator
//! object per indicator, and a sighting object for one seen in the events),
//! paged by a stable cursor.
//!
//! Objects are ordered by `date_added` (an indicator's last change: its
//! import, merge or last sighting), then by sighting-after-indicator, kind
//! and value. The cursor (`next`) is that key of the last object served, so
//! a page follows exactly where the last ended however many indicators
//! arrive meanwhile: new and changed ones sort after it and come on later
//! pages (a changed one again, in its new version). `added_after` is
//! exclusive, as TAXII 2.1 says.

use std::collections::BinaryHeap;

use base64::Engine as _;
use serde_json::{json, Value};
use watchfloor_model::format_rfc3339;

use crate::export::{stix_id, stix_identity, stix_indicator};
use crate::indicator::{Indicator, Kind};

pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";

/// The id of the collection of a scope's indicators (stable across
/// restarts and servers).
pub fn collection_id(scope: &str) -> String {
    crate::export::derived_uuid(&format!("taxii-collection:{scope}")).to_string()
}

/// The most objects a page holds.
pub const MAX_PAGE: usize = 1000;

/// Where an object sorts: date added, sighting after its indicator, kind,
/// value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub added_ns: i64,
    pub sighting: bool,
    pub kind: Kind,
    pub value: String,
}

impl Key {
    fn of(ind: &Indicator, sighting: bool) -> KeyRef<'_> {
        KeyRef {
            added_ns: ind.last_seen_ns,
            sighting,
            kind: ind.kind,
            value: &ind.value,
        }
    }

    /// The cursor text of a key.
    pub fn encode(&self) -> String {
        let text = format!(
            "{}|{}|{}|{}",
            self.added_ns,
            u8::from(self.sighting),
            self.kind,
            self.value
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    /// A cursor back into a key; `None` for one this server did not write.
    pub fn decode(cursor: &str) -> Option<Key> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(4, '|');
        Some(Key {
            added_ns: parts.next()?.parse().ok()?,
            sighting: parts.next()? == "1",
            kind: parts.next()?.parse().ok()?,
            value: parts.next()?.to_string(),
        })
    }
}

/// A key borrowing its value from the indicator (no allocation while the
/// whole collection is walked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct KeyRef<'a> {
    added_ns: i64,
    sighting: bool,
    kind: Kind,
    value: &'a str,
}

impl KeyRef<'_> {
    fn after(&self, key: &Key) -> bool {
        (self.added_ns, self.sighting, self.kind, self.value)
            > (key.added_ns, key.sighting, key.kind, key.value.as_str())
    }

    fn owned(&self) -> Key {
        Key {
            added_ns: self.added_ns,
            sighting: self.sighting,
            kind: self.kind,
            value: self.value.to_string(),
        }
    }
}

/// What a client asks of a collection.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Only objects added after this (exclusive).
    pub added_after_ns: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<Key>,
    pub limit: usize,
    /// `match[type]`: only these object types (`indicator`, `sighting`).
    pub types: Vec<String>,
    /// `match[id]`: only these object ids.
    pub ids: Vec<String>,
}

/// One page of a collection.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub objects: Vec<Value>,
    /// `(id, date_added, version)` of each object, for the manifest.
    pub manifest: Vec<(String, i64, String)>,
    pub more: bool,
    pub next: Option<String>,
    pub first_added_ns: Option<i64>,
    pub last_added_ns: Option<i64>,
}

/// The page `req` asks for of `indicators` (one scope's).
pub fn page<'a>(indicators: impl IntoIterator<Item = &'a Indicator>, req: &PageRequest) -> Page {
    let limit = req.limit.clamp(1, MAX_PAGE);
    let wants = |t: &str| req.types.is_empty() || req.types.iter().any(|x| x == t);
    let (want_indicators, want_sightings) = (wants("indicator"), wants("sighting"));
    // The `limit + 1` smallest keys past the cursor: one more tells if
    // there are more.
    let all: Vec<&'a Indicator> = indicators.into_iter().collect();
    let mut smallest: BinaryHeap<(KeyRef<'a>, usize)> = BinaryHeap::new();
    let mut consider = |key: KeyRef<'a>, at: usize| {
        if req
            .added_after_ns
            .is_some_and(|after| key.added_ns <= after)
            || req.after.as_ref().is_some_and(|k| !key.after(k))
        {
            return;
        }
        if smallest.len() <= limit {
            smallest.push((key, at));
        } else if smallest.peek().is_some_and(|(top, _)| key < *top) {
            smallest.pop();
            smallest.push((key, at));
        }
    };
    for (at, ind) in all.iter().enumerate() {
        if want_indicators && id_wanted(req, ind, false) {
            consider(Key::of(ind, false), at);
        }
        if want_sightings && ind.sightings > 0 && id_wanted(req, ind, true) {
            consider(Key::of(ind, true), at);
        }
    }
    let mut chosen = smallest.into_sorted_vec();
    let more = chosen.len() > limit;
    chosen.truncate(limit);
    let creator = stix_identity()["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut out = Page {
        more,
        next: more
            .then(|| chosen.last().map(|(k, _)| k.owned().encode()))
            .flatten(),
        first_added_ns: chosen.first().map(|(k, _)| k.added_ns),
        last_added_ns: chosen.last().map(|(k, _)| k.added_ns),
        ..Page::default()
    };
    for (key, at) in chosen {
        let ind = all[at];
        let object = if key.sighting {
            sighting_object(ind, &creator)
        } else {
            stix_indicator(ind, &creator)
        };
        let id = object["id"].as_str().unwrap_or_default().to_string();
        let version = object["modified"].as_str().unwrap_or_default().to_string();
        out.manifest.push((id, key.added_ns, version));
        out.objects.push(object);
    }
    out
}

fn id_wanted(req: &PageRequest, ind: &Indicator, sighting: bool) -> bool {
    if req.ids.is_empty() {
        return true;
    }
    let id = if sighting {
        sighting_id(ind)
    } else {
        stix_id(ind)
    };
    req.ids.contains(&id)
}

/// The STIX id of an indicator's sighting object.
pub fn sighting_id(ind: &Indicator) -> String {
    stix_id(ind).replacen("indicator--", "sighting--", 1)
}

/// The sightings of an indicator as one STIX sighting object.
pub fn sighting_object(ind: &Indicator, created_by: &str) -> Value {
    let last = format_rfc3339(ind.last_seen_ns);
    json!({
        "type": "sighting",
        "spec_version": "2.1",
        "id": sighting_id(ind),
        "created_by_ref": created_by,
        "created": format_rfc3339(ind.first_seen_ns.min(ind.last_seen_ns)),
        "modified": last,
        "sighting_of_ref": stix_id(ind),
        "count": ind.sightings.min(999_999_999),
        "last_seen": last,
        "description": "seen in events matched by Watchfloor",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::Tlp;

    fn ind(i: i64, sightings: u64) -> Indicator {
        Indicator {
            kind: Kind::Ip,
            value: format!("198.51.100.{i}"),
            source: "feed".into(),
            confidence: 80,
            tlp: Tlp::Green,
            labels: vec![],
            first_seen_ns: 1_780_000_000_000_000_000,
            // Pairs share a time: the order falls back to kind and value.
            last_seen_ns: 1_780_000_000_000_000_000 + (i / 2) * 1_000_000_000,
            valid_until_ns: None,
            sightings,
        }
    }

    fn all_pages(set: &[Indicator], mut req: PageRequest) -> (Vec<String>, usize) {
        let (mut ids, mut pages) = (Vec::new(), 0);
        loop {
            let p = page(set, &req);
            pages += 1;
            ids.extend(
                p.objects
                    .iter()
                    .map(|o| o["id"].as_str().unwrap().to_string()),
            );
            match p.next {
                Some(next) => req.after = Key::decode(&next),
                None => {
                    assert!(!p.more);
                    return (ids, pages);
                }
            }
        }
    }

    #[test]
    fn pages_cover_every_object_once_in_order() {
        let set: Vec<Indicator> = (0..25).map(|i| ind(i, u64::from(i % 5 == 0))).collect();
        let req = PageRequest {
            limit: 7,
            ..PageRequest::default()
        };
        let (ids, pages) = all_pages(&set, req);
        assert_eq!(ids.len(), 25 + 5, "25 indicators and 5 sightings");
        assert_eq!(pages, 5);
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "nothing twice");
        // The sighting sorts after the indicators of its time.
        let first = page(
            &set,
            &PageRequest {
                limit: 3,
                ..PageRequest::default()
            },
        );
        assert_eq!(first.objects[0]["type"], "indicator");
        assert_eq!(first.objects[1]["type"], "indicator");
        assert_eq!(first.objects[2]["type"], "sighting");
        assert_eq!(first.objects[2]["sighting_of_ref"], first.objects[0]["id"]);
    }

    #[test]
    fn added_after_is_exclusive_and_new_indicators_come_after_the_cursor() {
        let mut set: Vec<Indicator> = (0..10).map(|i| ind(i, 0)).collect();
        let first = page(
            &set,
            &PageRequest {
                limit: 4,
                ..PageRequest::default()
            },
        );
        let last = first.last_added_ns.unwrap();
        let after = page(
            &set,
            &PageRequest {
                added_after_ns: Some(last),
                limit: 100,
                ..PageRequest::default()
            },
        );
        assert!(after
            .objects
            .iter()
            .all(|o| o["modified"].as_str().unwrap() > ""));
        assert_eq!(
            after.objects.len(),
            10 - 4,
            "objects added at `last` are excluded"
        );
        // An indicator arriving between pages sorts after the cursor.
        set.push(ind(40, 0));
        let cursor = Key::decode(first.next.as_deref().unwrap());
        let rest = all_pages(
            &set,
            PageRequest {
                after: cursor,
                limit: 3,
                ..PageRequest::default()
            },
        );
        assert_eq!(rest.0.len(), 10 - 4 + 1);
    }

    #[test]
    fn filters_by_type_and_id_and_cursors_round_trip() {
        let set: Vec<Indicator> = (0..6).map(|i| ind(i, 2)).collect();
        let sightings = page(
            &set,
            &PageRequest {
                limit: 100,
                types: vec!["sighting".into()],
                ..PageRequest::default()
            },
        );
        assert_eq!(sightings.objects.len(), 6);
        assert_eq!(sightings.objects[0]["count"], 2);
        let one = page(
            &set,
            &PageRequest {
                limit: 100,
                ids: vec![stix_id(&set[3])],
                ..PageRequest::default()
            },
        );
        assert_eq!(one.objects.len(), 1);
        let key = Key {
            added_ns: 5,
            sighting: true,
            kind: Kind::Url,
            value: "http://x.example/a|b".into(),
        };
        assert_eq!(Key::decode(&key.encode()), Some(key));
        assert_eq!(Key::decode("not a cursor"), None);
    }
}
