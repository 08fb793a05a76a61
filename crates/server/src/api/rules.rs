//! `GET /api/v1/rules`, `POST /api/v1/rules/reload` and
//! `GET /api/v1/rules/coverage` (ATT&CK techniques the loaded rules cover,
//! as JSON or an ATT&CK Navigator layer).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use watchfloor_intel::attack;

use super::common::{blocking, ApiError, Caller};
use super::Shared;
use crate::auth::Action;

fn report_json(r: &watchfloor_sigma::LoadReport) -> serde_json::Value {
    json!({
        "files": r.files,
        "rules": r.rules_loaded,
        "correlations": r.correlations_loaded,
        "filters": r.filters_loaded,
        "rejected": r.rejected.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
    })
}

pub(super) async fn rules_summary(
    State(app): State<Shared>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let (generation, set) = app.rules.current();
    let mut body = report_json(set.report());
    body["generation"] = json!(generation);
    Ok(Json(body).into_response())
}

pub(super) async fn reload_rules(
    State(app): State<Shared>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Action::ReloadRules)?;
    let rules = app.rules.clone();
    let report = blocking(move || rules.reload()).await?.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reload refused, current rules kept: {e}"),
        )
    })?;
    let mut body = report_json(&report);
    body["generation"] = json!(app.rules.generation());
    Ok(Json(body).into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CoverageParams {
    /// `json` (default) or `navigator` (an ATT&CK Navigator layer file).
    format: Option<String>,
}

/// The ATT&CK techniques the loaded rules and correlations name, each with
/// how many rules name it.
pub(super) async fn coverage(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<CoverageParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let (generation, set) = app.rules.current();
    let table = attack::shipped();
    let coverage = rule_coverage(&set);
    match p.format.as_deref().unwrap_or("json") {
        "navigator" => Ok(navigator_download(&coverage, generation)),
        "json" => {
            let techniques: Vec<serde_json::Value> = coverage
                .techniques
                .iter()
                .filter_map(|(id, rules)| {
                    let t = table.technique(id)?;
                    Some(json!({"id": id, "name": t.name, "tactics": t.tactics, "rules": rules}))
                })
                .collect();
            Ok(Json(json!({
                "generation": generation,
                "techniques": techniques,
                "unresolved": coverage.unresolved,
                "known_techniques": table.techniques().iter().filter(|t| !t.deprecated).count(),
                "notice": attack::NOTICE,
            }))
            .into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "format {other:?}: expected json or navigator"
        ))),
    }
}

/// The ATT&CK coverage of a rule set (rules and correlations).
pub(crate) fn rule_coverage(set: &watchfloor_sigma::RuleSet) -> attack::Coverage {
    let tags = set
        .rules()
        .iter()
        .map(|r| r.meta.tags.as_slice())
        .chain(set.correlations().iter().map(|c| c.meta.tags.as_slice()));
    attack::shipped().coverage(tags)
}

/// The coverage as an ATT&CK Navigator layer file to download.
pub(crate) fn navigator_download(coverage: &attack::Coverage, generation: u64) -> Response {
    let description = format!(
        "Techniques named by Watchfloor's loaded rules (generation {generation}), scored by rule count"
    );
    let layer = attack::navigator_layer(coverage, "Watchfloor rules", &description);
    (
        [(
            axum::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"watchfloor-coverage-layer.json\"",
        )],
        Json(layer),
    )
        .into_response()
}
