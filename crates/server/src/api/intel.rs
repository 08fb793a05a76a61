//! `/api/v1/intel/...`: threat indicators of the caller's tenant and the
//! shared feeds: list, import (STIX 2.1 bundles, plain lists, CSV),
//! expire, explain a value, the matches (intel alerts), the retro-hunts
//! imports start, and blocklist exports.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use watchfloor_intel::export::{Format as ExportFormat, Names};
use watchfloor_intel::lists::{import_list, ListFormat};
use watchfloor_intel::stix::{import_bundle, Imported};
use watchfloor_intel::{Indicator, Intel, Kind, Tlp, SHARED};
use watchfloor_model::{format_rfc3339, now_ns, AlertKind};
use watchfloor_pipeline::retro::HuntStores;
use watchfloor_state::AlertFilter;

use super::common::{blocking, ApiError, Caller};
use super::Shared;
use crate::auth::{Action, Role};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/api/v1/intel/indicators",
            get(list).post(import).delete(expire),
        )
        .route("/api/v1/intel/match", get(explain))
        .route("/api/v1/intel/matches", get(matches))
        .route("/api/v1/intel/hunts", get(hunts))
        .route("/api/v1/intel/sightings", get(sightings))
        .route("/api/v1/intel/feeds", get(feeds))
        .route(
            "/api/v1/intel/feeds/{name}/pull",
            axum::routing::post(pull_feed),
        )
        .route("/api/v1/intel/export", get(export))
}

/// Which indicators: the caller's tenant's own, or the shared feeds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scope {
    #[default]
    Tenant,
    Shared,
}

impl Scope {
    /// The scope's key in the intel room; writing to the shared feeds is
    /// for the provider's admins.
    pub(crate) fn key(
        self,
        app: &Shared,
        caller: &crate::auth::Principal,
        writing: bool,
    ) -> Result<String, ApiError> {
        match self {
            Scope::Tenant => Ok(caller.tenant.clone()),
            Scope::Shared if !writing => Ok(SHARED.to_string()),
            Scope::Shared => {
                if caller.role == Role::Admin && caller.home_tenant == app.provider_tenant {
                    Ok(SHARED.to_string())
                } else {
                    Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "only admins of the provider tenant change the shared indicators",
                    ))
                }
            }
        }
    }
}

fn kind_param(text: Option<&str>) -> Result<Option<Kind>, ApiError> {
    text.map(|k| k.parse::<Kind>().map_err(ApiError::bad_request))
        .transpose()
}

#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Only indicators of this kind (ip, domain, url, md5, sha1, sha256, email).
    pub(crate) kind: Option<String>,
    /// Text the value, source or a label contains (any case).
    pub(crate) q: Option<String>,
    /// Only the tenant's own (`tenant`) or the shared ones (`shared`); both by default.
    pub(crate) scope: Option<Scope>,
    /// Only indicators that match now (not expired, not decayed).
    pub(crate) live: Option<bool>,
    /// At most this many (1 to 1000, 100 by default).
    pub(crate) limit: Option<usize>,
    /// Skip this many first.
    pub(crate) offset: Option<usize>,
}

/// An indicator as the API shows it: its fields, its scope, its decay
/// score and whether it matches now.
pub(crate) fn indicator_json(intel: &Intel, scope: &str, ind: &Indicator, now: i64) -> Value {
    json!({
        "scope": if scope == SHARED { "shared" } else { scope },
        "kind": ind.kind,
        "value": ind.value,
        "source": ind.source,
        "confidence": ind.confidence,
        "tlp": ind.tlp,
        "labels": ind.labels,
        "first_seen": format_rfc3339(ind.first_seen_ns),
        "last_seen": format_rfc3339(ind.last_seen_ns),
        "valid_until": ind.valid_until_ns.map(format_rfc3339),
        "sightings": ind.sightings,
        "score": (intel.decay.score(ind, now) * 10.0).round() / 10.0,
        "live": intel.decay.is_live(ind, now),
    })
}

/// One page of the indicators a tenant sees, and how many match.
pub(crate) fn list_page(
    intel: &Intel,
    tenant: &str,
    kind: Option<Kind>,
    q: Option<&str>,
    scope: Option<Scope>,
    live: bool,
    (offset, limit): (usize, usize),
) -> (usize, Vec<Value>) {
    let now = now_ns();
    let q = q.map(str::to_ascii_lowercase).filter(|q| !q.is_empty());
    let contains = |ind: &Indicator, q: &str| {
        ind.value.contains(q)
            || ind.source.to_ascii_lowercase().contains(q)
            || ind
                .labels
                .iter()
                .any(|l| l.to_ascii_lowercase().contains(q))
    };
    let (mut total, mut page) = (0usize, Vec::new());
    intel.visit(tenant, |s, ind| {
        let in_scope = match scope {
            None => true,
            Some(Scope::Shared) => s == SHARED,
            Some(Scope::Tenant) => s != SHARED,
        };
        let wanted = in_scope
            && kind.is_none_or(|k| ind.kind == k)
            && q.as_deref().is_none_or(|q| contains(ind, q))
            && (!live || intel.decay.is_live(ind, now));
        if wanted {
            if total >= offset && page.len() < limit {
                page.push(indicator_json(intel, s, ind, now));
            }
            total += 1;
        }
        true
    });
    (total, page)
}

async fn list(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let kind = kind_param(p.kind.as_deref())?;
    let (offset, limit) = (p.offset.unwrap_or(0), p.limit.unwrap_or(100).clamp(1, 1000));
    let intel = app.intel.clone();
    let tenant = caller.tenant.clone();
    let (total, indicators) = blocking(move || {
        list_page(
            &intel,
            &tenant,
            kind,
            p.q.as_deref(),
            p.scope,
            p.live.unwrap_or(false),
            (offset, limit),
        )
    })
    .await?;
    Ok(Json(json!({ "total": total, "offset": offset, "indicators": indicators })).into_response())
}

/// How the body of an import is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// A STIX bundle if the body is a JSON object, else one value a line.
    #[default]
    Auto,
    Stix,
    Text,
    Csv,
}

#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportParams {
    pub(crate) format: Option<Format>,
    /// Where the indicators come from (a feed's name); `api` by default.
    pub(crate) source: Option<String>,
    /// `tenant` (default) or `shared` (every tenant; provider admins).
    pub(crate) scope: Option<Scope>,
    /// Lists: every value's kind; guessed from each value when absent.
    pub(crate) kind: Option<String>,
    /// Lists: 0 to 100 (50 by default).
    pub(crate) confidence: Option<u8>,
    /// Lists: clear, green, amber (default), amber-strict or red.
    pub(crate) tlp: Option<String>,
    /// Lists: labels for every value, comma-separated (`phishing,c2`).
    pub(crate) labels: Option<String>,
    /// Lists: the indicators stop matching this many days from now.
    pub(crate) valid_days: Option<u32>,
    /// CSV: the column (from 0) holding the value.
    pub(crate) value_column: Option<usize>,
    /// CSV: the column naming each value's kind.
    pub(crate) kind_column: Option<usize>,
}

const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// The indicators of an import's body, with the objects or lines not
/// taken.
pub(crate) fn read_import(p: &ImportParams, text: &str) -> Result<Imported, ApiError> {
    let source = p.source.clone().unwrap_or_else(|| "api".into());
    if source.trim().is_empty() || source.len() > 200 {
        return Err(ApiError::bad_request("source: 1 to 200 characters"));
    }
    let format = match p.format.unwrap_or_default() {
        Format::Auto if text.trim_start().starts_with('{') => Format::Stix,
        Format::Auto => Format::Text,
        other => other,
    };
    if format == Format::Stix {
        return import_bundle(text, &source)
            .map_err(|e| ApiError::bad_request(format!("body: {e}")));
    }
    if format == Format::Csv && p.value_column.is_none() {
        return Err(ApiError::bad_request("format=csv needs value_column"));
    }
    let list = ListFormat {
        kind: kind_param(p.kind.as_deref())?,
        csv_value_column: p.value_column,
        csv_kind_column: p.kind_column,
        confidence: p.confidence.unwrap_or(50).min(100),
    };
    let now = now_ns();
    let mut imported = import_list(text, &source, &list, now);
    let tlp = p
        .tlp
        .as_deref()
        .map(|t| t.parse::<Tlp>().map_err(ApiError::bad_request))
        .transpose()?;
    let labels: Vec<String> = p
        .labels
        .iter()
        .flat_map(|l| l.split(','))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    for ind in &mut imported.indicators {
        ind.tlp = tlp.unwrap_or(Tlp::Amber);
        ind.labels.extend(labels.iter().cloned());
        ind.valid_until_ns = p.valid_days.map(|d| now + i64::from(d) * NS_PER_DAY);
    }
    Ok(imported)
}

/// At most this many refusals are listed in an answer (all are counted).
const LISTED_PROBLEMS: usize = 100;

async fn import(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<ImportParams>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageIntel)?;
    let scope = p.scope.unwrap_or_default().key(&app, &caller, true)?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request(format!("body: not UTF-8 ({e})")))?;
    let outcome = import_indicators(&app, &scope, &p, text).await?;
    Ok((StatusCode::CREATED, Json(outcome)).into_response())
}

/// What an import did, as the API and the console tell it.
#[derive(Debug, serde::Serialize)]
pub(crate) struct ImportOutcome {
    pub scope: String,
    pub added: usize,
    pub merged: usize,
    pub refused: usize,
    /// The first refusals, each with why.
    pub problems: Vec<String>,
    /// The retro-hunt of the new indicators, if one was queued.
    pub retro_hunt: Option<u64>,
}

/// Imports `text` into `scope` (the caller checked the role and the
/// scope): indicators merged into the live set and stored, the new ones
/// retro-hunted.
pub(crate) async fn import_indicators(
    app: &Shared,
    scope: &str,
    p: &ImportParams,
    text: &str,
) -> Result<ImportOutcome, ApiError> {
    let imported = read_import(p, text)?;
    let skipped = imported.skipped;
    let (shared, key) = (app.clone(), scope.to_string());
    let mut report = blocking(move || store_import(&shared, &key, imported.indicators)).await??;
    let source = p.source.as_deref().unwrap_or("api");
    let retro_hunt = start_retro_hunt(app, scope, source, std::mem::take(&mut report.fresh));
    Ok(ImportOutcome {
        scope: if scope == SHARED {
            "shared".into()
        } else {
            scope.into()
        },
        added: report.added,
        merged: report.merged,
        refused: report.invalid.len() + skipped.len(),
        problems: report
            .invalid
            .into_iter()
            .chain(skipped)
            .take(LISTED_PROBLEMS)
            .collect(),
        retro_hunt,
    })
}

/// Merges indicators into a scope's live set and stores what changed (in
/// a blocking context).
pub(crate) fn store_import(
    app: &Shared,
    scope: &str,
    indicators: Vec<Indicator>,
) -> Result<watchfloor_intel::live::ImportReport, watchfloor_state::StateError> {
    import_and_store(
        &app.intel,
        app.state.as_ref(),
        &app.pipeline_metrics,
        scope,
        indicators,
    )
}

/// The import itself, for callers without the API's state (playbooks'
/// blocklist): merged live, the indicator gauge set, the changes stored.
pub(crate) fn import_and_store(
    intel: &watchfloor_intel::Intel,
    store: &dyn watchfloor_state::IntelStore,
    metrics: &watchfloor_pipeline::PipelineMetrics,
    scope: &str,
    indicators: Vec<Indicator>,
) -> Result<watchfloor_intel::live::ImportReport, watchfloor_state::StateError> {
    let report = intel.import(scope, indicators);
    metrics.intel_indicators.set(intel.len() as i64);
    store.put_indicators(scope, &report.changed)?;
    Ok(report)
}

/// Queues the retro-hunt of an import's new indicators over the window
/// of `[intel] retro_days`; the hunt's id.
pub(crate) fn start_retro_hunt(
    app: &Shared,
    scope: &str,
    source: &str,
    fresh: Vec<Indicator>,
) -> Option<u64> {
    if fresh.is_empty() || app.retro_window_ns <= 0 {
        return None;
    }
    let now = now_ns();
    let stores = HuntStores {
        events: app.events.clone(),
        state: app.state.clone(),
        intel: app.intel.clone(),
    };
    let window = (now.saturating_sub(app.retro_window_ns), now);
    Some(app.retro.start(stores, scope, source, fresh, window))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SightingParams {
    /// At most this many (1 to 1000, 100 by default).
    limit: Option<usize>,
}

/// The indicators seen in the tenant's events (its own and the shared
/// ones), the most recently seen first, with their counts.
async fn sightings(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<SightingParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let (intel, tenant) = (app.intel.clone(), caller.tenant.clone());
    let seen = blocking(move || {
        let mut seen: Vec<(String, Indicator)> = Vec::new();
        intel.visit(&tenant, |scope, ind| {
            if ind.sightings > 0 {
                seen.push((scope.to_string(), ind.clone()));
            }
            true
        });
        seen.sort_by_key(|s| std::cmp::Reverse(s.1.last_seen_ns));
        seen.truncate(limit);
        let now = now_ns();
        seen.iter()
            .map(|(scope, ind)| indicator_json(&intel, scope, ind, now))
            .collect::<Vec<Value>>()
    })
    .await?;
    Ok(Json(json!({ "sightings": seen })).into_response())
}

/// The feeds the tenant's indicators come from (its own and the shared
/// ones), with their last pull.
async fn feeds(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    Ok(Json(json!({ "feeds": app.feeds.list(&caller.tenant) })).into_response())
}

/// Pulls a feed now (its own tenant's, or a shared one for the provider's
/// admins).
async fn pull_feed(
    State(app): State<Shared>,
    caller: Caller,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageIntel)?;
    let feed = app
        .feeds
        .list(&caller.tenant)
        .into_iter()
        .find(|f| f.name == name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no feed {name:?}")))?;
    if feed.scope == "shared" {
        Scope::Shared.key(&app, &caller, true)?;
    }
    app.feeds.pull_now(&name);
    Ok((StatusCode::ACCEPTED, Json(json!({ "pulling": name }))).into_response())
}

/// The retro-hunts of the tenant's imports, newest first (the shared
/// feeds' too for the provider's users: those read every tenant's events).
async fn hunts(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let mut scopes = vec![caller.tenant.as_str()];
    if caller.home_tenant == app.provider_tenant {
        scopes.push(SHARED);
    }
    let hunts: Vec<Value> = app
        .retro
        .list(&scopes)
        .into_iter()
        .map(|h| {
            json!({
                "id": h.id,
                "scope": if h.scope == SHARED { "shared" } else { &h.scope },
                "source": h.source,
                "from": format_rfc3339(h.from_ns),
                "to": format_rfc3339(h.to_ns),
                "state": h.state,
                "queued": format_rfc3339(h.queued_ns),
                "finished": h.finished_ns.map(format_rfc3339),
                "report": h.report,
                "error": h.error,
            })
        })
        .collect();
    Ok(Json(json!({ "hunts": hunts })).into_response())
}

#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportParams {
    /// `text` (one value a line), `rpz` (a DNS response policy zone),
    /// `nftables` (a script filling interval sets) or `stix` (a STIX 2.1
    /// bundle).
    pub(crate) format: String,
    /// Only these kinds, comma-separated (every kind the format holds by
    /// default: text and stix all, rpz domains and addresses, nftables
    /// addresses).
    pub(crate) kind: Option<String>,
    /// The most restricted TLP exported: clear, green, amber (default),
    /// amber-strict or red.
    pub(crate) max_tlp: Option<String>,
    /// rpz: the zone's origin (`rpz.watchfloor` by default).
    pub(crate) zone: Option<String>,
    /// nftables: the table, `FAMILY NAME` (`inet watchfloor` by default).
    pub(crate) table: Option<String>,
    /// nftables: the sets' name prefix, `{set}_v4` and `{set}_v6`
    /// (`intel` by default).
    pub(crate) set: Option<String>,
}

/// A blocklist of the indicators the tenant sees that match now, in a form
/// firewalls, DNS resolvers, proxies or other platforms read; values a
/// warninglist vouches for are left out. The counts of what was left out
/// are in `X-Watchfloor-*` headers.
async fn export(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<ExportParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    export_response(&app, &caller.tenant, p).await
}

/// The export `p` asks for of what `tenant` sees, as a response: the body
/// in the format's media type, the counts of what was left out in
/// `X-Watchfloor-*` headers.
pub(crate) async fn export_response(
    app: &Shared,
    tenant: &str,
    p: ExportParams,
) -> Result<Response, ApiError> {
    let format: ExportFormat = p.format.parse().map_err(ApiError::bad_request)?;
    let kinds: Vec<Kind> = match p.kind.as_deref() {
        Some(list) => list
            .split(',')
            .map(|k| k.trim().parse::<Kind>().map_err(ApiError::bad_request))
            .collect::<Result<_, _>>()?,
        None => Kind::ALL.into_iter().filter(|k| format.holds(*k)).collect(),
    };
    if let Some(k) = kinds.iter().find(|k| !format.holds(**k)) {
        return Err(ApiError::bad_request(format!(
            "kind {k}: a {} export cannot hold it",
            p.format
        )));
    }
    let max_tlp = match p.max_tlp.as_deref() {
        Some(t) => t.parse::<Tlp>().map_err(ApiError::bad_request)?,
        None => Tlp::Amber,
    };
    let defaults = Names::default();
    let names = Names {
        zone: p.zone.unwrap_or(defaults.zone),
        nft_table: p.table.unwrap_or(defaults.nft_table),
        nft_set: p.set.unwrap_or(defaults.nft_set),
    };
    names.check().map_err(ApiError::bad_request)?;
    let (intel, tenant) = (app.intel.clone(), tenant.to_string());
    let (out, body) = blocking(move || {
        let now = now_ns();
        let out = intel.exportable(&tenant, &kinds, max_tlp, now);
        let body = watchfloor_intel::export::write(format, &out.indicators, &names, now);
        (out, body)
    })
    .await?;
    let header =
        |name: &'static str, n: usize| (axum::http::HeaderName::from_static(name), n.to_string());
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                format.content_type().to_string(),
            ),
            header("x-watchfloor-indicators", out.indicators.len()),
            header("x-watchfloor-warned", out.warned),
            header("x-watchfloor-expired", out.expired),
            header("x-watchfloor-withheld", out.withheld),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValueParams {
    /// The value (an address, domain, URL, hash or e-mail address).
    value: String,
    /// Its kind; guessed from the value when absent.
    kind: Option<String>,
    /// `expire` only: `tenant` (default) or `shared`.
    scope: Option<Scope>,
}

fn kind_of(p: &ValueParams) -> Result<Kind, ApiError> {
    match kind_param(p.kind.as_deref())? {
        Some(k) => Ok(k),
        None => watchfloor_intel::indicator::guess_kind(&p.value).ok_or_else(|| {
            ApiError::bad_request(format!(
                "value {:?}: not an address, domain, URL, hash or e-mail address (give kind=)",
                p.value
            ))
        }),
    }
}

/// Ends an indicator's validity now: it stays listed (with its history)
/// and matches nothing.
async fn expire(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<ValueParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageIntel)?;
    let scope = p.scope.unwrap_or_default().key(&app, &caller, true)?;
    let kind = kind_of(&p)?;
    let (intel, state) = (app.intel.clone(), app.state.clone());
    let expired = blocking(move || {
        let Some(ind) = intel.expire(&scope, kind, &p.value, now_ns()) else {
            return Ok(None);
        };
        state
            .put_indicators(&scope, std::slice::from_ref(&ind))
            .map(|()| Some(ind))
    })
    .await??;
    match expired {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no such indicator in this scope",
        )),
    }
}

/// What the indicators say about a value: hit, warned (with the
/// warninglist), expired, or miss.
async fn explain(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<ValueParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let kind = kind_of(&p)?;
    let now = now_ns();
    let ex = app.intel.explain(&caller.tenant, kind, &p.value, now);
    let indicator = match (&ex.indicator, &ex.scope) {
        (Some(ind), Some(scope)) => indicator_json(&app.intel, scope, ind, now),
        _ => Value::Null,
    };
    Ok(Json(json!({
        "kind": ex.kind,
        "value": ex.value,
        "outcome": ex.outcome,
        "warninglist": ex.warninglist,
        "indicator": indicator,
    }))
    .into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchParams {
    /// At most this many (1 to 1000, 100 by default).
    limit: Option<usize>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// The tenant's intel alerts, newest first.
async fn matches(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<MatchParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let before_id = p
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("invalid cursor"))
        })
        .transpose()?;
    let filter = AlertFilter {
        tenant: caller.tenant.clone(),
        kind: Some(AlertKind::Intel),
        limit,
        before_id,
        ..AlertFilter::default()
    };
    let state = app.state.clone();
    let alerts = blocking(move || state.list_alerts(&filter)).await??;
    let next = (alerts.len() == limit).then(|| alerts.last().map(|a| a.id.to_string()));
    Ok(Json(json!({ "matches": alerts, "next": next.flatten() })).into_response())
}

#[cfg(test)]
mod tests {
    use super::super::common::parse_one;
    use super::*;

    #[test]
    fn unknown_words_in_parameters_are_refused_by_name() {
        assert!(parse_one::<Scope>("scope", "everyone").is_err());
        assert!(kind_param(Some("ipv9")).is_err());
    }
}
