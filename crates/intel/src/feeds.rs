//! Feeds pulled on a schedule: TAXII 2.1 collections, MISP feeds, and
//! STIX bundles or plain lists at a URL. A pull gives indicators page by
//! page to the caller (which imports them: re-pulled values merge, so a
//! re-pull adds nothing twice) and a new position to resume from.
//!
//! - **TAXII 2.1**: discovery, the API root, the collection (by id or
//!   title), then `objects/?limit=&added_after=` followed by `next` while
//!   `more` is true. A server compares `added_after` exclusively, so
//!   objects added in the same instant as the last one pulled, on a page
//!   not yet read when a pull stopped, would be lost: the position saved is
//!   `X-TAXII-Date-Added-Last` one millisecond back, and the overlap merges
//!   away. A page that says `more` with no object ends the pull, and a
//!   page served twice fails it (the loops of OpenCTI#4537).
//! - **MISP feeds** (`manifest.json`, `{uuid}.json`): the events whose
//!   manifest timestamp changed since the last pull are fetched; their
//!   attributes marked `to_ids` become indicators (objects' attributes
//!   too). The position is each event's timestamp.
//! - **URL**: a STIX bundle or a list, fetched whole.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use watchfloor_model::{format_rfc3339, parse_timestamp};

use crate::indicator::{Indicator, Kind, Tlp};
use crate::lists::{import_list, ListFormat};
use crate::stix::{import_bundle, import_objects, Imported};

/// What a feed is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    Taxii,
    Misp,
    /// A STIX bundle or a plain list at a URL.
    Url,
}

/// `[[intel.feeds]]`: one feed.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// The feed's name: the indicators' source, and how the API names it.
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FeedKind,
    /// TAXII: the discovery URL (`https://host/taxii2/`); MISP: the feed's
    /// directory (where `manifest.json` is); url: the file.
    pub url: String,
    /// TAXII: the collection's id or title.
    #[serde(default)]
    pub collection: Option<String>,
    /// HTTP Basic user name (TAXII servers), with the password in
    /// `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password or token (read at each pull, never
    /// shown; a token alone is sent as a bearer token).
    #[serde(default)]
    #[schemars(extend("format" = "file"))]
    pub password_file: Option<std::path::PathBuf>,
    /// The tenant the indicators go to; every tenant's (the shared scope)
    /// when absent.
    #[serde(default)]
    pub tenant: Option<String>,
    #[schemars(range(min = 1, max = 10_080))]
    #[serde(default = "default_interval")]
    pub interval_minutes: u64,
    /// Objects asked for a TAXII page.
    #[schemars(range(min = 1, max = 10_000))]
    #[serde(default = "default_page")]
    pub page_size: usize,
    /// Lists and MISP attributes: their TLP (MISP's own tags are not read).
    #[serde(default)]
    pub tlp: Option<Tlp>,
    /// Labels added to every indicator of the feed.
    #[serde(default)]
    pub labels: Vec<String>,
}

fn default_interval() -> u64 {
    60
}

fn default_page() -> usize {
    500
}

/// Where a pull resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// TAXII: `added_after` for the next pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_after: Option<String>,
    /// MISP: each event's manifest timestamp as last pulled.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub events: BTreeMap<String, i64>,
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pulled {
    /// Requests made after discovery (pages, events, files).
    pub requests: u64,
    /// STIX objects or MISP attributes read.
    pub objects: u64,
    /// Indicators given to the caller.
    pub indicators: u64,
    /// Objects or attributes not taken, the first few with why.
    pub skipped: u64,
    pub problems: Vec<String>,
}

/// Why a pull failed.
pub type FeedError = String;

/// A feed's HTTP side.
pub struct Fetcher {
    http: reqwest::Client,
    secret: Option<String>,
    username: Option<String>,
}

impl Fetcher {
    pub fn new(feed: &FeedConfig) -> Result<Fetcher, FeedError> {
        let secret = match &feed.password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("watchfloor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Fetcher {
            http,
            secret,
            username: feed.username.clone(),
        })
    }

    async fn get(&self, url: &str, accept: &str) -> Result<reqwest::Response, FeedError> {
        let mut req = self.http.get(url).header("Accept", accept);
        req = match (&self.username, &self.secret) {
            (Some(user), secret) => req.basic_auth(user, secret.as_deref()),
            (None, Some(token)) => req.bearer_auth(token),
            (None, None) => req,
        };
        let response = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            return Err(format!("{url}: HTTP {status}: {body}"));
        }
        Ok(response)
    }

    async fn json(&self, url: &str, accept: &str) -> Result<Value, FeedError> {
        let text = self
            .get(url, accept)
            .await?
            .text()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("{url}: not JSON: {e}"))
    }
}

/// Resolves `reference` (absolute, or relative to `base`).
fn join(base: &str, reference: &str) -> Result<String, FeedError> {
    let base = url::Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
    let mut joined = base
        .join(reference)
        .map_err(|e| format!("{reference}: {e}"))?;
    if !joined.path().ends_with('/') {
        joined.set_path(&format!("{}/", joined.path()));
    }
    Ok(joined.to_string())
}

const TAXII: &str = "application/taxii+json;version=2.1";

/// The objects URL of a feed's TAXII collection.
async fn taxii_objects_url(f: &Fetcher, feed: &FeedConfig) -> Result<String, FeedError> {
    let discovery = f.json(&feed.url, TAXII).await?;
    let root = discovery["default"]
        .as_str()
        .or_else(|| discovery["api_roots"].get(0).and_then(Value::as_str))
        .ok_or_else(|| format!("{}: discovery names no API root", feed.url))?;
    let root = join(&feed.url, root)?;
    let listed = f.json(&format!("{root}collections/"), TAXII).await?;
    let wanted = feed.collection.as_deref().unwrap_or_default();
    let collections = listed["collections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let found = collections
        .iter()
        .find(|c| c["id"] == wanted || c["title"] == wanted)
        .or_else(|| (wanted.is_empty() && collections.len() == 1).then(|| &collections[0]))
        .ok_or_else(|| {
            let names: Vec<String> = collections
                .iter()
                .map(|c| {
                    format!(
                        "{} ({})",
                        c["title"].as_str().unwrap_or(""),
                        c["id"].as_str().unwrap_or("")
                    )
                })
                .collect();
            format!(
                "{root}: no collection {wanted:?} (there are: {})",
                names.join(", ")
            )
        })?;
    let id = found["id"].as_str().unwrap_or_default();
    Ok(format!("{root}collections/{id}/objects/"))
}

/// Pulls a feed from `position`, handing each page's indicators to
/// `page`; the position to resume from next.
pub async fn pull(
    feed: &FeedConfig,
    position: &Position,
    page: &mut (dyn FnMut(Imported) -> Result<(), FeedError> + Send),
) -> Result<(Pulled, Position), FeedError> {
    let f = Fetcher::new(feed)?;
    let mut pulled = Pulled::default();
    let position = match feed.kind {
        FeedKind::Taxii => pull_taxii(&f, feed, position, &mut pulled, page).await?,
        FeedKind::Misp => pull_misp(&f, feed, position, &mut pulled, page).await?,
        FeedKind::Url => {
            let text = f
                .get(&feed.url, "*/*")
                .await?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            pulled.requests = 1;
            let imported = if text.trim_start().starts_with('{') {
                import_bundle(&text, &feed.name)?
            } else {
                import_list(
                    &text,
                    &feed.name,
                    &ListFormat::default(),
                    watchfloor_model::now_ns(),
                )
            };
            give(feed, imported, &mut pulled, page)?;
            position.clone()
        }
    };
    Ok((pulled, position))
}

/// Applies the feed's TLP and labels, counts, and hands a page over.
fn give(
    feed: &FeedConfig,
    mut imported: Imported,
    pulled: &mut Pulled,
    page: &mut (dyn FnMut(Imported) -> Result<(), FeedError> + Send),
) -> Result<(), FeedError> {
    for ind in &mut imported.indicators {
        if let Some(tlp) = feed.tlp {
            ind.tlp = tlp;
        }
        ind.labels.extend(feed.labels.iter().cloned());
    }
    pulled.indicators += imported.indicators.len() as u64;
    pulled.skipped += imported.skipped.len() as u64;
    for why in imported
        .skipped
        .iter()
        .take(10usize.saturating_sub(pulled.problems.len()))
    {
        pulled.problems.push(why.clone());
    }
    page(imported)
}

async fn pull_taxii(
    f: &Fetcher,
    feed: &FeedConfig,
    position: &Position,
    pulled: &mut Pulled,
    page: &mut (dyn FnMut(Imported) -> Result<(), FeedError> + Send),
) -> Result<Position, FeedError> {
    let objects_url = taxii_objects_url(f, feed).await?;
    let limit = feed.page_size.clamp(1, 10_000).to_string();
    let mut resume = position.clone();
    let mut next: Option<String> = None;
    let mut previous_first = None;
    loop {
        let mut url = url::Url::parse(&objects_url).map_err(|e| e.to_string())?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &limit);
            if let Some(after) = &position.added_after {
                q.append_pair("added_after", after);
            }
            if let Some(n) = &next {
                q.append_pair("next", n);
            }
        }
        let response = f.get(url.as_str(), TAXII).await?;
        let last_added = response
            .headers()
            .get("x-taxii-date-added-last")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_timestamp);
        let envelope: Value =
            serde_json::from_str(&response.text().await.map_err(|e| e.to_string())?)
                .map_err(|e| format!("{url}: not JSON: {e}"))?;
        pulled.requests += 1;
        let objects = envelope["objects"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        pulled.objects += objects.len() as u64;
        give(feed, import_objects(objects, &feed.name), pulled, page)?;
        if let Some(last) = last_added {
            // One millisecond back: a server's `added_after` is exclusive.
            resume.added_after = Some(format_rfc3339(last - 1_000_000));
        }
        let more = envelope["more"].as_bool().unwrap_or(false);
        // A page the same as the last means a server going round in
        // circles (some keep one `next` for all pages of a request, so
        // the token alone cannot tell).
        let first = objects
            .first()
            .map(|o| (o["id"].clone(), o["modified"].clone()));
        if first.is_some() && first == previous_first {
            return Err(format!(
                "{objects_url}: the server sent the same page twice"
            ));
        }
        previous_first = first;
        match envelope["next"].as_str() {
            Some(n) if more && !objects.is_empty() => next = Some(n.to_string()),
            _ => return Ok(resume),
        }
    }
}

/// The indicator kind of a MISP attribute type, and which part of a
/// composite value (`domain|ip`) is which.
fn misp_kinds(kind: &str) -> &'static [Option<Kind>] {
    match kind {
        "ip-src" | "ip-dst" => &[Some(Kind::Ip)],
        "ip-src|port" | "ip-dst|port" => &[Some(Kind::Ip), None],
        "domain" | "hostname" => &[Some(Kind::Domain)],
        "domain|ip" => &[Some(Kind::Domain), Some(Kind::Ip)],
        "hostname|port" => &[Some(Kind::Domain), None],
        "url" | "uri" | "link" => &[Some(Kind::Url)],
        "md5" => &[Some(Kind::Md5)],
        "sha1" => &[Some(Kind::Sha1)],
        "sha256" => &[Some(Kind::Sha256)],
        "filename|md5" => &[None, Some(Kind::Md5)],
        "filename|sha1" => &[None, Some(Kind::Sha1)],
        "filename|sha256" => &[None, Some(Kind::Sha256)],
        "email" | "email-src" | "email-dst" => &[Some(Kind::Email)],
        _ => &[],
    }
}

/// The indicators of one MISP event (its attributes marked `to_ids`, its
/// objects' too).
pub fn misp_event_indicators(event: &Value, source: &str) -> Imported {
    let event = event.get("Event").unwrap_or(event);
    let info = event["info"].as_str().unwrap_or_default();
    let mut attributes: Vec<&Value> = event["Attribute"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for object in event["Object"].as_array().into_iter().flatten() {
        attributes.extend(object["Attribute"].as_array().into_iter().flatten());
    }
    // A string in MISP's API, a number in PyMISP's feeds.
    let threat = event["threat_level_id"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .or_else(|| event["threat_level_id"].as_u64())
        .unwrap_or(2);
    let confidence = match threat {
        1 => 90,
        2 => 70,
        3 => 50,
        _ => 40,
    };
    let mut out = Imported::default();
    for a in attributes {
        let to_ids = a["to_ids"].as_bool().unwrap_or(false);
        let kind = a["type"].as_str().unwrap_or_default();
        let kinds = misp_kinds(kind);
        if !to_ids || kinds.is_empty() {
            continue;
        }
        let seen = a["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .map_or(0, |s| s * 1_000_000_000);
        let value = a["value"].as_str().unwrap_or_default();
        let parts: Vec<&str> = if kinds.len() > 1 {
            value.splitn(2, '|').collect()
        } else {
            vec![value]
        };
        for (part, kind) in parts.iter().zip(kinds) {
            let Some(kind) = kind else { continue };
            match crate::indicator::normalize(*kind, part) {
                Ok(value) => out.indicators.push(Indicator {
                    kind: *kind,
                    value,
                    source: source.to_string(),
                    confidence,
                    tlp: Tlp::Amber,
                    labels: a["category"]
                        .as_str()
                        .map(|c| vec![c.to_ascii_lowercase()])
                        .unwrap_or_default(),
                    first_seen_ns: seen,
                    last_seen_ns: seen,
                    valid_until_ns: None,
                    sightings: 0,
                }),
                Err(e) => out.skipped.push(format!("event {info:?}: {e}")),
            }
        }
    }
    out
}

async fn pull_misp(
    f: &Fetcher,
    feed: &FeedConfig,
    position: &Position,
    pulled: &mut Pulled,
    page: &mut (dyn FnMut(Imported) -> Result<(), FeedError> + Send),
) -> Result<Position, FeedError> {
    let base = join(&feed.url, "./")?;
    let manifest = f
        .json(&format!("{base}manifest.json"), "application/json")
        .await?;
    let events = manifest
        .as_object()
        .ok_or_else(|| format!("{base}manifest.json: not an object"))?;
    let mut resume = position.clone();
    for (uuid, entry) in events {
        let stamp = entry["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .or_else(|| entry["timestamp"].as_i64())
            .unwrap_or(0);
        if position.events.get(uuid).is_some_and(|&seen| seen >= stamp) {
            continue; // unchanged since the last pull
        }
        if !uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(format!(
                "{base}manifest.json: {uuid:?} is not an event uuid"
            ));
        }
        let event = f
            .json(&format!("{base}{uuid}.json"), "application/json")
            .await?;
        pulled.requests += 1;
        let inner = event.get("Event").unwrap_or(&event);
        pulled.objects += inner["Attribute"].as_array().map_or(0, Vec::len) as u64;
        give(
            feed,
            misp_event_indicators(&event, &feed.name),
            pulled,
            page,
        )?;
        resume.events.insert(uuid.clone(), stamp);
    }
    Ok(resume)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn misp_attributes_for_ids_become_indicators_composites_split() {
        let event = json!({"Event": {
            "info": "Phishing wave", "threat_level_id": "1",
            "Attribute": [
                {"type": "domain", "value": "login-portal.example", "to_ids": true, "category": "Network activity", "timestamp": "1780000000"},
                {"type": "ip-dst|port", "value": "45.137.21.9|443", "to_ids": true, "timestamp": "1780000000"},
                {"type": "filename|sha256", "value": format!("invoice.exe|{}", "ab".repeat(32)), "to_ids": true},
                {"type": "comment", "value": "not an IOC", "to_ids": false},
                {"type": "url", "value": "http://login-portal.example/reset", "to_ids": false},
                {"type": "ip-src", "value": "not an address", "to_ids": true}
            ],
            "Object": [{"Attribute": [{"type": "email-src", "value": "Boss@Login-Portal.example", "to_ids": true}]}]
        }});
        let got = misp_event_indicators(&event, "misp-feed");
        let values: Vec<(Kind, &str)> = got
            .indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str()))
            .collect();
        assert_eq!(
            values,
            [
                (Kind::Domain, "login-portal.example"),
                (Kind::Ip, "45.137.21.9"),
                (Kind::Sha256, "ab".repeat(32).as_str()),
                (Kind::Email, "boss@login-portal.example"),
            ]
        );
        assert_eq!(got.indicators[0].confidence, 90);
        assert_eq!(got.indicators[0].labels, ["network activity"]);
        assert_eq!(got.skipped.len(), 1, "{:?}", got.skipped);
    }

    #[test]
    fn relative_roots_join_their_discovery_url() {
        assert_eq!(
            join("http://h:1/taxii2/", "/api1/").unwrap(),
            "http://h:1/api1/"
        );
        assert_eq!(
            join("http://h:1/taxii2/", "http://o:2/r").unwrap(),
            "http://o:2/r/"
        );
        assert_eq!(
            join("http://h/feeds/misp/", "./").unwrap(),
            "http://h/feeds/misp/"
        );
    }
}
