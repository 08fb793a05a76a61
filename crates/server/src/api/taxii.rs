//! A TAXII 2.1 server (read-only) under `/taxii2/`: one API root, and per
//! caller two collections, its tenant's indicators and the shared feeds',
//! each holding indicator objects and the sightings of those seen in the
//! events, paged by a stable cursor (`next`), `added_after` exclusive.
//! Same tokens as the rest of the API (TAXII clients send HTTP Basic: any
//! user name, the token as password).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use watchfloor_intel::taxii::{collection_id, Key, PageRequest, STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE};
use watchfloor_intel::SHARED;
use watchfloor_model::{format_rfc3339, parse_timestamp};

use super::common::{blocking, Caller};
use super::Shared;
use crate::auth::Action;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/taxii2/", get(discovery))
        .route("/taxii2/api/", get(api_root))
        .route("/taxii2/api/collections/", get(collections))
        .route("/taxii2/api/collections/{id}/", get(collection))
        .route("/taxii2/api/collections/{id}/objects/", get(objects))
        .route(
            "/taxii2/api/collections/{id}/objects/{object}/",
            get(object),
        )
        .route("/taxii2/api/collections/{id}/manifest/", get(manifest))
}

/// A TAXII answer: its media type and body.
fn taxii(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, TAXII_MEDIA_TYPE)],
        body.to_string(),
    )
        .into_response()
}

/// A TAXII error message.
struct TaxiiError {
    status: StatusCode,
    title: &'static str,
    description: String,
}

fn error(status: StatusCode, title: &'static str, description: String) -> TaxiiError {
    TaxiiError {
        status,
        title,
        description,
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        taxii(
            self.status,
            json!({"title": self.title, "description": self.description, "http_status": self.status.as_u16().to_string()}),
        )
    }
}

fn allowed(caller: &Caller) -> Result<(), TaxiiError> {
    caller.require(Action::Read).map_err(|_| {
        error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "this role may not read indicators".into(),
        )
    })
}

/// `body` for a caller allowed to read, else the TAXII error.
fn readable(caller: &Caller, body: impl FnOnce() -> Value) -> Response {
    match allowed(caller) {
        Ok(()) => taxii(StatusCode::OK, body()),
        Err(e) => e.into_response(),
    }
}

async fn discovery(caller: Caller) -> Response {
    readable(&caller, || {
        json!({
            "title": "Watchfloor TAXII",
            "description": "Indicators and sightings of Watchfloor's tenants",
            "default": "/taxii2/api/",
            "api_roots": ["/taxii2/api/"],
        })
    })
}

async fn api_root(caller: Caller) -> Response {
    readable(&caller, || {
        json!({
            "title": "Watchfloor indicators",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": 10_485_760,
        })
    })
}

/// The collections a caller reads: its tenant's, and the shared feeds'.
fn visible(caller: &Caller) -> [(String, String); 2] {
    [
        (
            caller.tenant.clone(),
            format!("{} indicators", caller.tenant),
        ),
        (SHARED.to_string(), "Shared feeds".to_string()),
    ]
}

fn collection_json(scope: &str, title: &str) -> Value {
    json!({
        "id": collection_id(scope),
        "title": title,
        "description": "Watchfloor's indicators (STIX indicator objects) and their sightings",
        "can_read": true,
        "can_write": false,
        "media_types": [STIX_MEDIA_TYPE],
    })
}

/// The scope of a collection id the caller may read.
fn scope_of(caller: &Caller, id: &str) -> Result<(String, String), TaxiiError> {
    allowed(caller)?;
    visible(caller)
        .into_iter()
        .find(|(scope, _)| collection_id(scope) == id)
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "Collection not found",
                format!("no collection {id} here"),
            )
        })
}

async fn collections(caller: Caller) -> Response {
    readable(&caller, || {
        let list: Vec<Value> = visible(&caller)
            .iter()
            .map(|(scope, title)| collection_json(scope, title))
            .collect();
        json!({ "collections": list })
    })
}

async fn collection(caller: Caller, Path(id): Path<String>) -> Response {
    match scope_of(&caller, &id) {
        Ok((scope, title)) => taxii(StatusCode::OK, collection_json(&scope, &title)),
        Err(e) => e.into_response(),
    }
}

/// The filters and paging of a request's query (repeated and unknown
/// parameters allowed, as TAXII clients send them).
fn page_request(query: &[(String, String)]) -> Result<PageRequest, TaxiiError> {
    let bad = |what: String| error(StatusCode::BAD_REQUEST, "Bad request", what);
    let mut req = PageRequest {
        limit: 100,
        ..PageRequest::default()
    };
    let list = |v: &str| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .collect::<Vec<_>>()
    };
    for (name, value) in query {
        match name.as_str() {
            "limit" => {
                req.limit = value
                    .parse()
                    .map_err(|_| bad(format!("limit {value:?} is not a number")))?
            }
            "next" => {
                req.after = Some(
                    Key::decode(value).ok_or_else(|| bad(format!("next {value:?} is not ours")))?,
                )
            }
            "added_after" => {
                req.added_after_ns = Some(
                    parse_timestamp(value)
                        .ok_or_else(|| bad(format!("added_after {value:?} is not a timestamp")))?,
                )
            }
            "match[type]" => req.types.extend(list(value)),
            "match[id]" => req.ids.extend(list(value)),
            _ => {}
        }
    }
    Ok(req)
}

/// The page a request asks for of a collection.
async fn read_page(
    app: &Shared,
    caller: &Caller,
    id: &str,
    mut req: Result<PageRequest, TaxiiError>,
    object: Option<String>,
) -> Result<watchfloor_intel::taxii::Page, TaxiiError> {
    let (scope, _) = scope_of(caller, id)?;
    if let (Ok(r), Some(object)) = (req.as_mut(), object) {
        r.ids = vec![object];
    }
    let req = req?;
    let intel = app.intel.clone();
    blocking(move || intel.taxii_page(&scope, &req))
        .await
        .map_err(|_| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                "the page could not be read".into(),
            )
        })
}

/// An envelope (or manifest) with the date-added headers TAXII defines.
fn paged(page: &watchfloor_intel::taxii::Page, body: Value) -> Response {
    let mut response = taxii(StatusCode::OK, body);
    for (name, at) in [
        ("x-taxii-date-added-first", page.first_added_ns),
        ("x-taxii-date-added-last", page.last_added_ns),
    ] {
        if let Some(v) = at.and_then(|t| HeaderValue::from_str(&format_rfc3339(t)).ok()) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), v);
        }
    }
    response
}

async fn objects(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    match read_page(&app, &caller, &id, page_request(&query), None).await {
        Ok(page) => paged(
            &page,
            json!({"more": page.more, "next": page.next, "objects": page.objects}),
        ),
        Err(e) => e.into_response(),
    }
}

async fn object(
    State(app): State<Shared>,
    caller: Caller,
    Path((id, object)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    match read_page(
        &app,
        &caller,
        &id,
        page_request(&query),
        Some(object.clone()),
    )
    .await
    {
        Ok(page) if page.objects.is_empty() => error(
            StatusCode::NOT_FOUND,
            "Object not found",
            format!("no object {object} in this collection"),
        )
        .into_response(),
        Ok(page) => paged(&page, json!({"more": false, "objects": page.objects})),
        Err(e) => e.into_response(),
    }
}

async fn manifest(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    match read_page(&app, &caller, &id, page_request(&query), None).await {
        Ok(page) => {
            let records: Vec<Value> = page
                .manifest
                .iter()
                .map(|(id, added, version)| {
                    json!({"id": id, "date_added": format_rfc3339(*added), "version": version, "media_type": STIX_MEDIA_TYPE})
                })
                .collect();
            paged(
                &page,
                json!({"more": page.more, "next": page.next, "objects": records}),
            )
        }
        Err(e) => e.into_response(),
    }
}
