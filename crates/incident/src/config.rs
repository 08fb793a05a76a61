//! `[incidents]`: grouping windows, SLA targets, the priority matrix and the
//! type catalog, as the configuration file sets them.

use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// Alerts to incidents: grouping windows, SLA targets, the priority matrix.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentsConfig {
    /// A repeat of the same rule on the same entities within this time
    /// raises a count instead of adding an alert.
    #[schemars(range(min = 0, max = 2_592_000))]
    pub dedup_window_secs: u64,
    /// Alerts sharing an entity with an incident active within this time join it.
    #[schemars(range(min = 0, max = 2_592_000))]
    pub group_window_secs: u64,
    /// Distinct alerts one incident takes.
    #[schemars(range(min = 1, max = 100_000))]
    pub max_alerts: u64,
    /// Per priority 1..5, minutes to acknowledge and to resolve.
    #[schemars(length(equal = 5), inner(range(min = 1, max = 527_040)))]
    pub sla_acknowledge_minutes: Vec<u64>,
    #[schemars(length(equal = 5), inner(range(min = 1, max = 527_040)))]
    pub sla_resolve_minutes: Vec<u64>,
    /// Warn when this share of an SLA target is used up.
    #[schemars(range(min = 1, max = 99))]
    pub sla_warn_percent: u64,
    /// Impact rows (high, medium, low) by urgency columns (high, medium,
    /// low), nine priorities 1..5.
    #[schemars(length(equal = 9), inner(range(min = 1, max = 5)))]
    pub priority_matrix: Vec<u64>,
    /// A YAML or JSON incident type catalog (types and RACI matrices)
    /// replacing the shipped one (`watchfloor config catalog` prints it).
    #[schemars(extend("format" = "file"))]
    pub catalog_file: Option<PathBuf>,
    /// The catalog read from `catalog_file`.
    #[serde(skip)]
    #[schemars(skip)]
    pub catalog: Option<crate::Catalog>,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        let d = crate::IncidentConfig::default();
        IncidentsConfig {
            dedup_window_secs: d.grouping.dedup_window.as_secs(),
            group_window_secs: d.grouping.group_window.as_secs(),
            max_alerts: d.grouping.max_alerts as u64,
            sla_acknowledge_minutes: d.sla.targets.iter().map(|t| t.acknowledge_s / 60).collect(),
            sla_resolve_minutes: d.sla.targets.iter().map(|t| t.resolve_s / 60).collect(),
            sla_warn_percent: (d.sla.warn_ratio * 100.0).round() as u64,
            priority_matrix: d
                .priority
                .cells
                .iter()
                .flatten()
                .map(|&p| u64::from(p))
                .collect(),
            catalog_file: None,
            catalog: None,
        }
    }
}

impl IncidentsConfig {
    /// The incident crate's configuration (lists already checked for length).
    pub fn to_incident_config(&self) -> crate::IncidentConfig {
        let mut c = crate::IncidentConfig::default();
        c.grouping.dedup_window = Duration::from_secs(self.dedup_window_secs);
        c.grouping.group_window = Duration::from_secs(self.group_window_secs);
        c.grouping.max_alerts = self.max_alerts as usize;
        for (i, t) in c.sla.targets.iter_mut().enumerate() {
            if let (Some(a), Some(r)) = (
                self.sla_acknowledge_minutes.get(i),
                self.sla_resolve_minutes.get(i),
            ) {
                t.acknowledge_s = a * 60;
                t.resolve_s = r * 60;
            }
        }
        c.sla.warn_ratio = self.sla_warn_percent as f64 / 100.0;
        for (n, p) in self.priority_matrix.iter().take(9).enumerate() {
            c.priority.cells[n / 3][n % 3] = *p as u8;
        }
        if let Some(catalog) = &self.catalog {
            c.catalog = catalog.clone();
        }
        c
    }
}

impl IncidentsConfig {
    /// Problems between keys (each key's own range is checked from the schema).
    pub fn problems(&self) -> Vec<String> {
        self.sla_acknowledge_minutes
            .iter()
            .zip(&self.sla_resolve_minutes)
            .enumerate()
            .filter(|(_, (a, r))| a > r)
            .map(|(p, (a, r))| {
                format!(
                    "[incidents] priority {}: acknowledge target {a} min is after the resolve target {r} min",
                    p + 1
                )
            })
            .collect()
    }
}
