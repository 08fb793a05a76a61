//! The OpenAPI 3.1 document of the REST API, served at
//! `/api/v1/openapi.json` and printed by `watchfloor openapi`.
//!
//! Request bodies, query parameters and the incident are described by
//! schemas derived from the Rust types the handlers deserialize (schemars),
//! so the document cannot drift from what the server accepts; a test checks
//! that every route the router serves is in the table below.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};
use watchfloor_incident::escalation::EscalationPolicy;
use watchfloor_incident::notify::{Channel, Team};
use watchfloor_incident::oncall::{Override, Schedule};
use watchfloor_incident::{IncidentPatch, NewIncident, NewObservable, NewTask, TaskPatch};
use watchfloor_model::incident::{Incident, TimelineEntry};

use crate::api;
use crate::api::{
    access as api_access, checks as api_checks, incidents as api_incidents, oncall as api_oncall,
};

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// One operation: method, path, what it does, who may call it, and the
/// types of its body, query and answer.
struct Op {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    /// The roles allowed, as documentation (enforced in the handlers).
    roles: &'static str,
    body: Option<SchemaFn>,
    query: Option<SchemaFn>,
    answer: Option<SchemaFn>,
    /// The success status.
    ok: u16,
}

fn of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

const READ: &str = "admin, soc_analyst, noc_engineer, incident_manager, viewer";
const WORK: &str = "admin, soc_analyst, noc_engineer, incident_manager";
const COMPLIANCE: &str = "admin, incident_manager";
const ONCALL: &str = "admin, incident_manager";
const ADMIN: &str = "admin";
const ANY: &str = "any authenticated caller";
const CHECKS: &str = "admin, noc_engineer, incident_manager";
const INTEL: &str = "admin, soc_analyst (the shared scope: provider admins)";

#[allow(clippy::too_many_arguments)]
const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    roles: &'static str,
    body: Option<SchemaFn>,
    query: Option<SchemaFn>,
    answer: Option<SchemaFn>,
) -> Op {
    let ok = match method.as_bytes() {
        b"put" | b"patch" | b"get" => 200,
        _ => 201,
    };
    Op {
        method,
        path,
        tag,
        summary,
        roles,
        body,
        query,
        answer,
        ok,
    }
}

const fn with_status(mut o: Op, ok: u16) -> Op {
    o.ok = ok;
    o
}

/// Every operation, one a line: method, path, tag, summary, roles,
/// request body, query parameters, answer.
#[rustfmt::skip]
fn operations() -> Vec<Op> {
    use api::alerts::AlertParams;
    use api::rules::CoverageParams;
    use api::events::{AggregateParams, SearchParams};
    use api::ingest::IngestParams;
    use api::tokens::NewToken;
    use api_access::{AuditParams, CreateTenant, CreateUser, LoginRequest, UpdateUser, UserParams};
    use api_checks::{AvailabilityParams, PauseRequest, ResultParams};
    use api_incidents::{
        ClockMove, FlagRequest, ListParams, MergeRequest, NewComment, ReportParams, SplitRequest,
        SubmitRequest,
    };
    use api_oncall::{AtParams, NotificationParams, SpanParams};
    use api::respond::{AnswerRequest, CancelRequest, RunRequest, RunsParams};
    use api::intel::{ExportParams, ImportParams, SightingParams, ListParams as IntelListParams, MatchParams, ValueParams};
    use watchfloor_monitor::maintenance::MaintenanceWindow;
    use watchfloor_monitor::topology::Topology;
    use watchfloor_monitor::MonitorSpec;
    let inc: Option<SchemaFn> = Some(of::<Incident>);
    vec![
        with_status(op("get", "/healthz", "service", "Liveness (no token needed)", "anyone", None, None, None), 200),
        with_status(op("get", "/metrics", "service", "Prometheus metrics (text exposition)", READ, None, None, None), 200),
        with_status(op("get", "/api/v1/openapi.json", "service", "This document", ANY, None, None, None), 200),
        with_status(op("get", "/", "shippers", "Elasticsearch product check and version for log shippers (a browser without Authorization is sent to the console)", "admin, ingest", None, None, None), 200),
        with_status(op("get", "/_cat/health", "shippers", "Elasticsearch cluster health line (rsyslog's omelasticsearch asks it)", "admin, ingest", None, None, None), 200),
        with_status(op("post", "/_bulk", "shippers", "Elasticsearch bulk API: index/create documents (update/delete refused per item)", "admin, ingest", None, None, None), 200),
        with_status(op("put", "/_bulk", "shippers", "Elasticsearch bulk API (PUT)", "admin, ingest", None, None, None), 200),
        with_status(op("post", "/{index}/_bulk", "shippers", "Elasticsearch bulk API with a default index", "admin, ingest", None, None, None), 200),
        with_status(op("put", "/{index}/_bulk", "shippers", "Elasticsearch bulk API with a default index (PUT)", "admin, ingest", None, None, None), 200),
        with_status(op("post", "/services/collector", "shippers", "Splunk HEC events", "admin, ingest", None, None, None), 200),
        with_status(op("post", "/services/collector/event", "shippers", "Splunk HEC events (concatenated JSON objects with `event`)", "admin, ingest", None, None, None), 200),
        with_status(op("post", "/services/collector/event/1.0", "shippers", "Splunk HEC events", "admin, ingest", None, None, None), 200),
        with_status(op("post", "/services/collector/raw", "shippers", "Splunk HEC raw lines", "admin, ingest", None, None, None), 200),
        with_status(op("post", "/services/collector/raw/1.0", "shippers", "Splunk HEC raw lines", "admin, ingest", None, None, None), 200),
        with_status(op("get", "/services/collector/health", "shippers", "Splunk HEC health (no token needed)", "anyone", None, None, None), 200),
        with_status(op("get", "/services/collector/health/1.0", "shippers", "Splunk HEC health (no token needed)", "anyone", None, None, None), 200),
        with_status(op("post", "/v1/logs", "shippers", "OTLP/HTTP logs export (application/x-protobuf or application/json)", "admin, ingest", None, None, None), 200),
        with_status(op("post", "/api/v1/ingest", "events", "Send events: NDJSON or a JSON array, gzip accepted", "admin, ingest", None, Some(of::<IngestParams>), None), 200),
        op("get", "/api/v1/events", "events", "Search events (Lucene-style query, time range, cursor)", READ, None, Some(of::<SearchParams>), None),
        op("get", "/api/v1/events/aggregate", "events", "Count matching events by time bucket (histogram), by the values of a field (top values) and distinct values", READ, None, Some(of::<AggregateParams>), None),
        op("get", "/api/v1/alerts", "alerts", "List alerts with filters", READ, None, Some(of::<AlertParams>), None),
        op("get", "/api/v1/rules", "rules", "The loaded rule set", READ, None, None, None),
        with_status(op("post", "/api/v1/rules/reload", "rules", "Reload the rules without stopping ingest", "admin, soc_analyst", None, None, None), 200),
        op("get", "/api/v1/rules/coverage", "rules", "ATT&CK techniques the loaded rules name, with rule counts; format=navigator gives an ATT&CK Navigator layer", READ, None, Some(of::<CoverageParams>), None),
        op("get", "/api/v1/tokens", "access", "List API tokens", ADMIN, None, None, None),
        op("post", "/api/v1/tokens", "access", "Create an API token (shown once)", ADMIN, Some(of::<NewToken>), None, None),
        with_status(op("delete", "/api/v1/tokens/{id}", "access", "Revoke a token", ADMIN, None, None, None), 204),
        with_status(op("post", "/api/v1/session", "access", "Log in with a password; answers a session token (no token needed)", "anyone", Some(of::<LoginRequest>), None, None), 200),
        with_status(op("delete", "/api/v1/session", "access", "Log out (end this session)", ANY, None, None, None), 204),
        op("get", "/api/v1/me", "access", "Who the caller is and which tenant it acts in", ANY, None, None, None),
        op("get", "/api/v1/users", "access", "Users of the tenant (all tenants with ?all=true for provider admins)", ADMIN, None, Some(of::<UserParams>), None),
        op("post", "/api/v1/users", "access", "Create a user (argon2id password)", ADMIN, Some(of::<CreateUser>), None, None),
        op("patch", "/api/v1/users/{id}", "access", "Change a user (anyone may change their own password)", ADMIN, Some(of::<UpdateUser>), None, None),
        op("get", "/api/v1/tenants", "access", "Tenants (all of them for provider admins)", ADMIN, None, None, None),
        op("post", "/api/v1/tenants", "access", "Create a tenant (provider admins)", ADMIN, Some(of::<CreateTenant>), None, None),
        op("get", "/api/v1/audit", "access", "The audit log of the tenant, newest first", ADMIN, None, Some(of::<AuditParams>), None),
        op("get", "/api/v1/incidents", "incidents", "List incidents: filter, sort, page, sync with updated_since", READ, None, Some(of::<ListParams>), None),
        op("post", "/api/v1/incidents", "incidents", "Open an incident (RACI tasks and notices follow its type)", WORK, Some(of::<NewIncident>), None, inc),
        op("get", "/api/v1/incidents/{id}", "incidents", "One incident", READ, None, None, inc),
        op("patch", "/api/v1/incidents/{id}", "incidents", "Change an incident at a version (409 when stale or not allowed)", WORK, Some(of::<IncidentPatch>), None, inc),
        op("get", "/api/v1/incidents/{id}/timeline", "incidents", "The hash-chained timeline", READ, None, None, Some(of::<Vec<TimelineEntry>>)),
        op("get", "/api/v1/incidents/{id}/timeline/verify", "incidents", "Verify the timeline's hash chain", READ, None, None, None),
        op("post", "/api/v1/incidents/{id}/comments", "incidents", "Add a comment", WORK, Some(of::<NewComment>), None, inc),
        op("post", "/api/v1/incidents/{id}/tasks", "incidents", "Add a task", WORK, Some(of::<NewTask>), None, inc),
        op("patch", "/api/v1/incidents/{id}/tasks/{task}", "incidents", "Change a task", WORK, Some(of::<TaskPatch>), None, inc),
        op("patch", "/api/v1/incidents/{id}/observables/{observable}", "incidents", "Classify an observable again: TLP, PAP, IOC", WORK, Some(of::<watchfloor_incident::ObservablePatch>), None, inc),
        op("post", "/api/v1/incidents/{id}/observables", "incidents", "Add an observable with TLP and PAP", WORK, Some(of::<NewObservable>), None, inc),
        with_status(op("post", "/api/v1/incidents/{id}/merge", "incidents", "Merge this incident into another, with a reason", WORK, Some(of::<MergeRequest>), None, inc), 200),
        op("post", "/api/v1/incidents/{id}/split", "incidents", "Split alerts off into a new incident, with a reason", WORK, Some(of::<SplitRequest>), None, inc),
        with_status(op("post", "/api/v1/incidents/{id}/compliance", "compliance", "Flag NIS2 / DORA / GDPR and record awareness and classification", COMPLIANCE, Some(of::<FlagRequest>), None, inc), 200),
        op("get", "/api/v1/incidents/{id}/clocks", "compliance", "Regulatory deadlines: due, submitted or late", READ, None, None, None),
        op("get", "/api/v1/incidents/{id}/attack", "incidents", "The incident's ATT&CK techniques by name and tactic, and the mitigations recommended for them, ranked by how many techniques each addresses", READ, None, None, Some(of::<watchfloor_incident::defense::Defense>)),
        op("get", "/api/v1/incidents/{id}/reports/{regime}/{report}", "compliance", "A report draft from the incident's data (JSON, or Markdown with ?format=md)", READ, None, Some(of::<ReportParams>), None),
        with_status(op("post", "/api/v1/incidents/{id}/reports/{regime}/{report}/submit", "compliance", "Record that a report was sent (a late one needs late_reason)", COMPLIANCE, Some(of::<SubmitRequest>), None, inc), 200),
        op("get", "/api/v1/incident-types", "incidents", "The incident type catalog with RACI matrices", READ, None, None, None),
        op("get", "/api/v1/sla-policies", "incidents", "SLA targets per priority and the priority matrix", READ, None, None, None),
        with_status(op("post", "/api/v1/test/clock", "service", "Move the test clock (only with WATCHFLOOR_TEST_CLOCK)", ADMIN, Some(of::<ClockMove>), None, None), 200),
        op("get", "/api/v1/schedules", "on-call", "On-call schedules", READ, None, None, None),
        op("get", "/api/v1/schedules/{name}", "on-call", "One schedule", READ, None, None, Some(of::<Schedule>)),
        op("put", "/api/v1/schedules/{name}", "on-call", "Create or replace a schedule (If-Match: version)", ONCALL, Some(of::<Schedule>), None, Some(of::<Schedule>)),
        with_status(op("delete", "/api/v1/schedules/{name}", "on-call", "Delete a schedule", ONCALL, None, None, None), 204),
        op("get", "/api/v1/schedules/{name}/oncall", "on-call", "Who is on call now (or at ?at=) and until when", READ, None, Some(of::<AtParams>), None),
        op("get", "/api/v1/schedules/{name}/shifts", "on-call", "The shifts between from and to", READ, None, Some(of::<SpanParams>), None),
        op("post", "/api/v1/schedules/{name}/overrides", "on-call", "Cover a period instead of the rotation", WORK, Some(of::<Override>), None, None),
        with_status(op("delete", "/api/v1/schedules/{name}/overrides/{id}", "on-call", "Remove an override", WORK, None, None, None), 204),
        op("get", "/api/v1/oncall", "on-call", "Who is on call in every schedule", READ, None, Some(of::<AtParams>), None),
        op("get", "/api/v1/escalation-policies", "on-call", "Escalation policies", READ, None, None, None),
        op("get", "/api/v1/escalation-policies/{name}", "on-call", "One escalation policy", READ, None, None, Some(of::<EscalationPolicy>)),
        op("put", "/api/v1/escalation-policies/{name}", "on-call", "Create or replace an escalation policy", ONCALL, Some(of::<EscalationPolicy>), None, Some(of::<EscalationPolicy>)),
        with_status(op("delete", "/api/v1/escalation-policies/{name}", "on-call", "Delete an escalation policy", ONCALL, None, None, None), 204),
        op("get", "/api/v1/teams", "on-call", "Teams and their channels", READ, None, None, None),
        op("get", "/api/v1/teams/{name}", "on-call", "One team", READ, None, None, Some(of::<Team>)),
        op("put", "/api/v1/teams/{name}", "on-call", "Create or replace a team", ONCALL, Some(of::<Team>), None, Some(of::<Team>)),
        with_status(op("delete", "/api/v1/teams/{name}", "on-call", "Delete a team", ONCALL, None, None, None), 204),
        op("get", "/api/v1/channels", "on-call", "Notification channels (hold webhook secrets)", ONCALL, None, None, None),
        op("get", "/api/v1/channels/{name}", "on-call", "One channel", ONCALL, None, None, Some(of::<Channel>)),
        op("put", "/api/v1/channels/{name}", "on-call", "Create or replace a channel (webhook, slack, email)", ONCALL, Some(of::<Channel>), None, Some(of::<Channel>)),
        with_status(op("delete", "/api/v1/channels/{name}", "on-call", "Delete a channel", ONCALL, None, None, None), 204),
        op("get", "/api/v1/notifications", "on-call", "Queued and sent notifications (link secrets redacted)", READ, None, Some(of::<NotificationParams>), None),
        op("get", "/api/v1/topology", "monitoring", "The topology and every node's state (up, down, unreachable with its root causes)", READ, None, None, None),
        op("put", "/api/v1/topology", "monitoring", "Replace the topology: hosts, services, links, business services and their parents", CHECKS, Some(of::<Topology>), None, None),
        op("get", "/api/v1/availability", "monitoring", "Uptime (four decimals), outages with cause, MTTR and MTBF per check over a period", READ, None, Some(of::<AvailabilityParams>), None),
        op("get", "/api/v1/maintenance", "monitoring", "Maintenance windows", READ, None, None, None),
        op("get", "/api/v1/maintenance/{name}", "monitoring", "One maintenance window", READ, None, None, Some(of::<MaintenanceWindow>)),
        op("put", "/api/v1/maintenance/{name}", "monitoring", "Create or replace a maintenance window (one-off or recurring)", CHECKS, Some(of::<MaintenanceWindow>), None, Some(of::<MaintenanceWindow>)),
        with_status(op("delete", "/api/v1/maintenance/{name}", "monitoring", "Delete a maintenance window", CHECKS, None, None, None), 204),
        op("get", "/api/v1/checks", "monitoring", "Availability checks with their state", READ, None, None, None),
        op("post", "/api/v1/checks", "monitoring", "Create or replace a check (type and its fields, interval_secs, retries, ...)", CHECKS, Some(of::<MonitorSpec>), None, None),
        op("get", "/api/v1/checks/{name}", "monitoring", "One check with its state", READ, None, None, None),
        with_status(op("delete", "/api/v1/checks/{name}", "monitoring", "Delete a check made through the API", CHECKS, None, None, None), 204),
        with_status(op("post", "/api/v1/checks/{name}/pause", "monitoring", "Pause or resume a check", CHECKS, Some(of::<PauseRequest>), None, None), 200),
        op("get", "/api/v1/checks/{name}/results", "monitoring", "Results (samples), or hourly rollups with ?rollup=hour", READ, None, Some(of::<ResultParams>), None),
        op("get", "/api/v1/intel/indicators", "intel", "Indicators the tenant sees (its own and the shared feeds), with decay score and liveness; filter and page", READ, None, Some(of::<IntelListParams>), None),
        op("post", "/api/v1/intel/indicators", "intel", "Import indicators: a STIX 2.1 bundle, one value a line, or CSV with a column map (body as text); re-imports merge", INTEL, None, Some(of::<ImportParams>), None),
        with_status(op("delete", "/api/v1/intel/indicators", "intel", "Expire an indicator now (kept with its history, matches nothing)", INTEL, None, Some(of::<ValueParams>), None), 204),
        op("get", "/api/v1/intel/match", "intel", "What the indicators say about a value: hit, warned (with the warninglist), expired or miss", READ, None, Some(of::<ValueParams>), None),
        op("get", "/api/v1/intel/matches", "intel", "Intel alerts of the tenant, newest first", READ, None, Some(of::<MatchParams>), None),
        op("get", "/api/v1/intel/hunts", "intel", "Retro-hunts started by imports (new indicators looked for in the stored events of the last [intel] retro_days), newest first, with their state and figures", READ, None, None, None),
        op("get", "/api/v1/intel/sightings", "intel", "Indicators seen in the tenant's events (its own and the shared ones), the most recently seen first, with their counts", READ, None, Some(of::<SightingParams>), None),
        op("get", "/api/v1/intel/feeds", "intel", "The feeds of [[intel.feeds]] the tenant's indicators come from (its own and the shared ones), with their last pull", READ, None, None, None),
        with_status(op("post", "/api/v1/intel/feeds/{name}/pull", "intel", "Pull a feed now (shared feeds: the provider's admins)", INTEL, None, None, None), 202),
        op("get", "/api/v1/intel/export", "intel", "A blocklist of the indicators that match now: text, DNS RPZ zone, nftables script or STIX 2.1 bundle (warninglisted values left out; counts in X-Watchfloor-* headers)", READ, None, Some(of::<ExportParams>), None),
        op("get", "/taxii2/", "taxii", "TAXII 2.1 discovery (HTTP Basic: any user, the token as password)", READ, None, None, None),
        op("get", "/taxii2/api/", "taxii", "TAXII 2.1 API root", READ, None, None, None),
        op("get", "/taxii2/api/collections/", "taxii", "The caller's collections: its tenant's indicators and the shared feeds'", READ, None, None, None),
        op("get", "/taxii2/api/collections/{id}/", "taxii", "One collection", READ, None, None, None),
        op("get", "/taxii2/api/collections/{id}/objects/", "taxii", "Indicator and sighting objects, paged (limit, next; added_after exclusive; match[type], match[id])", READ, None, None, None),
        op("get", "/taxii2/api/collections/{id}/objects/{object}/", "taxii", "One object", READ, None, None, None),
        op("get", "/taxii2/api/collections/{id}/manifest/", "taxii", "The objects' ids, dates added and versions, paged like objects", READ, None, None, None),
        with_status(op("get", "/api/v1/query", "metrics", "PromQL instant query (Prometheus API: query, time); also POST with a form body", READ, None, None, None), 200),
        with_status(op("get", "/prometheus/api/v1/query", "metrics", "PromQL instant query (Prometheus API: query, time); also POST with a form body", READ, None, None, None), 200),
        with_status(op("post", "/api/v1/query", "metrics", "PromQL instant query (form body)", READ, None, None, None), 200),
        with_status(op("post", "/prometheus/api/v1/query", "metrics", "PromQL instant query (form body)", READ, None, None, None), 200),
        with_status(op("get", "/api/v1/query_range", "metrics", "PromQL range query (query, start, end, step)", READ, None, None, None), 200),
        with_status(op("get", "/prometheus/api/v1/query_range", "metrics", "PromQL range query (query, start, end, step)", READ, None, None, None), 200),
        with_status(op("post", "/api/v1/query_range", "metrics", "PromQL range query (form body)", READ, None, None, None), 200),
        with_status(op("post", "/prometheus/api/v1/query_range", "metrics", "PromQL range query (form body)", READ, None, None, None), 200),
        with_status(op("get", "/api/v1/series", "metrics", "Series matching match[] selectors in a time range", READ, None, None, None), 200),
        with_status(op("get", "/prometheus/api/v1/series", "metrics", "Series matching match[] selectors in a time range", READ, None, None, None), 200),
        with_status(op("post", "/api/v1/series", "metrics", "Series (form body)", READ, None, None, None), 200),
        with_status(op("post", "/prometheus/api/v1/series", "metrics", "Series (form body)", READ, None, None, None), 200),
        with_status(op("get", "/api/v1/labels", "metrics", "Label names (optionally of match[] series)", READ, None, None, None), 200),
        with_status(op("get", "/prometheus/api/v1/labels", "metrics", "Label names (optionally of match[] series)", READ, None, None, None), 200),
        with_status(op("post", "/api/v1/labels", "metrics", "Label names (form body)", READ, None, None, None), 200),
        with_status(op("post", "/prometheus/api/v1/labels", "metrics", "Label names (form body)", READ, None, None, None), 200),
        with_status(op("get", "/api/v1/label/{name}/values", "metrics", "Values of one label", READ, None, None, None), 200),
        with_status(op("get", "/prometheus/api/v1/label/{name}/values", "metrics", "Values of one label", READ, None, None, None), 200),
        with_status(op("get", "/api/v1/metadata", "metrics", "Metric metadata (type, help, unit) from scrapes and remote write", READ, None, None, None), 200),
        with_status(op("get", "/prometheus/api/v1/metadata", "metrics", "Metric metadata (type, help, unit) from scrapes and remote write", READ, None, None, None), 200),
        with_status(op("get", "/api/v1/query_exemplars", "metrics", "Exemplars (none are stored: an empty list)", READ, None, None, None), 200),
        with_status(op("get", "/prometheus/api/v1/query_exemplars", "metrics", "Exemplars (none are stored: an empty list)", READ, None, None, None), 200),
        with_status(op("post", "/api/v1/query_exemplars", "metrics", "Exemplars (form body)", READ, None, None, None), 200),
        with_status(op("post", "/prometheus/api/v1/query_exemplars", "metrics", "Exemplars (form body)", READ, None, None, None), 200),
        with_status(op("get", "/api/v1/status/buildinfo", "metrics", "The Prometheus API version answered (2.42.0)", READ, None, None, None), 200),
        with_status(op("get", "/prometheus/api/v1/status/buildinfo", "metrics", "The Prometheus API version answered (2.42.0)", READ, None, None, None), 200),
        with_status(op("get", "/api/v1/targets", "metrics", "Scrape targets and their health", READ, None, None, None), 200),
        with_status(op("get", "/prometheus/api/v1/targets", "metrics", "Scrape targets and their health", READ, None, None, None), 200),
        with_status(op("post", "/api/v1/write", "metrics", "Prometheus remote write 1.0 (snappy protobuf); 204, or 400 naming the first refused sample", "admin, ingest", None, None, None), 204),
        with_status(op("post", "/prometheus/api/v1/write", "metrics", "Prometheus remote write 1.0 (snappy protobuf); 204, or 400 naming the first refused sample", "admin, ingest", None, None, None), 204),
        with_status(op("get", "/prometheus/api/v1/rules", "metrics", "Prometheus-format rule groups (metric alert rules)", READ, None, None, None), 200),
        with_status(op("get", "/prometheus/api/v1/alerts", "metrics", "Prometheus-format firing alerts of metric rules", READ, None, None, None), 200),
        with_status(op("post", "/api/v1/metrics/push", "metrics", "Push samples as JSON: [{metric, value, timestamp}] (timestamp in ms, now when absent)", "admin, ingest", None, None, None), 204),
        op("get", "/api/v1/playbooks", "respond", "Loaded playbooks and the files refused, with every problem", READ, None, None, None),
        with_status(op("post", "/api/v1/playbooks/validate", "respond", "Check a playbook document (YAML body): every problem at once", READ, None, None, None), 200),
        with_status(op("post", "/api/v1/playbooks/reload", "respond", "Read the playbook directory again (running runs keep their playbook)", "admin, soc_analyst", None, None, None), 200),
        op("get", "/api/v1/playbooks/{id}", "respond", "One playbook (the tenant's own, else the shared one)", READ, None, None, None),
        with_status(op("put", "/api/v1/playbooks/{id}", "respond", "Store the tenant's own playbook (YAML body, checked; replaces a shared one of that id for this tenant)", "admin, soc_analyst", None, None, None), 200),
        with_status(op("delete", "/api/v1/playbooks/{id}", "respond", "Remove the tenant's own playbook", "admin, soc_analyst", None, None, None), 204),
        with_status(op("post", "/api/v1/playbooks/{id}/dry-run", "respond", "What a run would do, step by step, with rendered actions; nothing is done or stored", READ, Some(of::<RunRequest>), None, None), 200),
        op("post", "/api/v1/playbooks/{id}/runs", "respond", "Start a run by hand (on an incident, with params)", WORK, Some(of::<RunRequest>), None, None),
        op("get", "/api/v1/runs", "respond", "Runs of the tenant, newest first", READ, None, Some(of::<RunsParams>), None),
        op("get", "/api/v1/runs/{id}", "respond", "A run with its log (every input and output) and its open approval", READ, None, None, None),
        with_status(op("post", "/api/v1/runs/{id}/answer", "respond", "Approve or deny the run's open approval (roles, teams, four-eyes and self-approval apply; 409 when not allowed)", WORK, Some(of::<AnswerRequest>), None, None), 200),
        with_status(op("post", "/api/v1/runs/{id}/cancel", "respond", "Stop a run; with compensate, undo what it did first", WORK, Some(of::<CancelRequest>), None, None), 200),
        op("post", "/api/v1/phishing/reports", "respond", "Report a phishing message: the .eml (or a report wrapping it) as the body; parsed, judged against intel and warninglists, filed as the SOC's phishing incident (409 when reported already)", "admin, soc_analyst, noc_engineer, incident_manager, ingest", None, None, None),
        op("get", "/api/v1/approvals", "respond", "Runs waiting for an approval, what each would do, and whether the caller may answer", READ, None, None, None),
        with_status(op("get", "/approve/{token}", "respond", "The page of an approver's answer link (the signed token is the credential)", "the link's holder", None, None, None), 200),
        with_status(op("post", "/approve/{token}", "respond", "Answer the approval as the link's approver (form: decision=approve|deny)", "the link's holder", None, None, None), 200),
        with_status(op("get", "/ack/{secret}", "on-call", "The page of an acknowledge link (the secret is the credential)", "the link's holder", None, None, None), 200),
        with_status(op("post", "/ack/{secret}", "on-call", "Acknowledge the incident as the link's recipient", "the link's holder", None, None, None), 200),
    ]
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let ty = if matches!(name, "id" | "task") {
                "integer"
            } else {
                "string"
            };
            json!({"name": name, "in": "path", "required": true, "schema": {"type": ty}})
        })
        .collect()
}

/// Query parameters from the properties of a parameter struct's schema.
fn query_parameters(g: &mut SchemaGenerator, f: SchemaFn) -> Vec<Value> {
    let schema = f(g);
    // Parameter structs are referenced; read their definition.
    let resolved = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .and_then(|name| g.definitions().get(name).cloned())
        .unwrap_or_else(|| schema.as_value().clone());
    let required: Vec<&str> = resolved["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    resolved["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, s)| {
                    let mut p = json!({"name": name, "in": "query",
                                       "required": required.contains(&name.as_str()), "schema": s});
                    if let Some(d) = s.get("description") {
                        p["description"] = d.clone();
                    }
                    p
                })
                .collect()
        })
        .unwrap_or_default()
}

fn error_responses(op: &Op) -> Map<String, Value> {
    let error = json!({"$ref": "#/components/responses/Error"});
    let mut out = Map::new();
    let open = op.roles == "anyone" || op.path.starts_with("/ack/");
    for code in ["400", "409"] {
        if op.body.is_some() || op.method == "patch" {
            out.insert(code.into(), error.clone());
        }
    }
    if !open {
        out.insert("401".into(), error.clone());
        out.insert("403".into(), error.clone());
    }
    if op.path.contains('{') {
        out.insert("404".into(), error.clone());
    }
    out
}

fn operation(g: &mut SchemaGenerator, op: &Op) -> Value {
    let mut parameters = path_parameters(op.path);
    if let Some(q) = op.query {
        parameters.extend(query_parameters(g, q));
    }
    let mut responses = error_responses(op);
    let ok = match op.answer {
        Some(f) if op.ok != 204 => json!({"description": "OK",
            "content": {"application/json": {"schema": f(g)}}}),
        _ if op.ok == 204 => json!({"description": "Done; no content"}),
        _ => {
            json!({"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}})
        }
    };
    responses.insert(op.ok.to_string(), ok);
    let mut o = json!({
        "tags": [op.tag],
        "summary": op.summary,
        "description": format!("Allowed: {}.", op.roles),
        "operationId": format!("{}_{}", op.method, op.path.trim_start_matches('/').replace(['/', '{', '}', '.', '-'], "_")),
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(f) = op.body {
        o["requestBody"] = json!({"required": true,
            "content": {"application/json": {"schema": f(g)}}});
    }
    if op.tag == "shippers" && matches!(op.method, "post" | "put") {
        o["requestBody"] = json!({"required": true, "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "text/plain": {"schema": {"type": "string"}}}});
    }
    if op.path == "/api/v1/intel/export" {
        o["responses"]["200"]["content"] = json!({
            "text/plain": {"schema": {"type": "string"}},
            "text/dns": {"schema": {"type": "string"}},
            "application/stix+json;version=2.1": {"schema": {"type": "object"}}});
    }
    if op.path == "/api/v1/intel/indicators" && op.method == "post" {
        o["requestBody"] = json!({"required": true, "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/plain": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}}}});
    }
    if op.path == "/api/v1/ingest" {
        o["requestBody"] = json!({"required": true, "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}});
    }
    if op.roles == "anyone" || op.path.starts_with("/ack/") {
        o["security"] = json!([]);
    }
    o
}

/// The whole document.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut g = settings.into_generator();
    let mut paths = Map::new();
    for op in operations() {
        let item = operation(&mut g, &op);
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        entry[op.method] = item;
    }
    let schemas: Map<String, Value> = g.take_definitions(true).into_iter().collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Watchfloor API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One operations platform for the SOC and the NOC. Every endpoint except /healthz, POST /api/v1/session and acknowledge links needs `Authorization: Bearer <token>` (an API token `wf_...` or a session `wfs_...`; log shippers may send the token as `ApiKey <token>`, as the password of `Basic`, or as `Splunk <token>`, and the `shippers` endpoints answer in their own protocol's shapes); `X-Watchfloor-Tenant` picks the tenant for users who serve several. Errors are `{\"error\": \"...\"}`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "The reason, in words",
                "content": {"application/json": {"schema": {"type": "object",
                    "properties": {"error": {"type": "string"}}, "required": ["error"]}}}}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (path, method) of every `.route(...)` in the API sources, plus the
    /// document routes that are built from constants.
    fn served_routes() -> Vec<(String, String)> {
        let sources = [
            include_str!("api/mod.rs"),
            include_str!("api/incidents.rs"),
            include_str!("api/access.rs"),
            include_str!("api/oncall.rs"),
            include_str!("api/checks.rs"),
            include_str!("api/shippers.rs"),
            include_str!("api/intel.rs"),
            include_str!("api/taxii.rs"),
            include_str!("api/prometheus.rs"),
            include_str!("api/respond.rs"),
            include_str!("api/phishing.rs"),
        ];
        let mut out = Vec::new();
        for src in sources {
            for chunk in src.split(".route(").skip(1) {
                let Some(path) = chunk
                    .trim_start()
                    .strip_prefix('"')
                    .and_then(|c| c.split('"').next())
                else {
                    continue; // doc_routes: below
                };
                let call_end = chunk
                    .find("\n        .")
                    .unwrap_or(chunk.len())
                    .min(chunk.find("\n}").unwrap_or(chunk.len()));
                for method in ["get", "post", "put", "patch", "delete"] {
                    if chunk[..call_end].contains(&format!("{method}(")) {
                        out.push((path.to_string(), method.to_string()));
                    }
                }
            }
        }
        for doc in [
            "schedules",
            "escalation-policies",
            "teams",
            "channels",
            "maintenance",
        ] {
            out.push((format!("/api/v1/{doc}"), "get".into()));
            for m in ["get", "put", "delete"] {
                out.push((format!("/api/v1/{doc}/{{name}}"), m.into()));
            }
        }
        out
    }

    #[test]
    fn every_served_route_is_documented_and_nothing_else() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let served = served_routes();
        assert!(served.len() > 50, "{served:?}");
        for (path, method) in &served {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} is served but not in the OpenAPI document"
            );
        }
        let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(
            documented,
            served.len(),
            "documented operations that are not served"
        );
    }

    #[test]
    fn schemas_come_from_the_types() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["Incident"]["properties"]["priority"].is_object());
        let patch = &doc["paths"]["/api/v1/incidents/{id}"]["patch"];
        assert_eq!(
            patch["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/IncidentPatch"
        );
        assert!(schemas["IncidentPatch"]["properties"]["version"].is_object());
        let list = &doc["paths"]["/api/v1/incidents"]["get"]["parameters"];
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(
            names.contains(&"updated_since") && names.contains(&"sort"),
            "{names:?}"
        );
        let rotation = &schemas["Rotation"]["properties"]["start"];
        assert_eq!(rotation["type"], "string");
    }
}
