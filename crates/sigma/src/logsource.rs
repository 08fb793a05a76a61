//! Logsource routing: which events a rule's `logsource` applies to, and how
//! its field names map onto each log (for example Sysmon process creation
//! versus Security 4688). The mapping is data (`data/logsources.yaml`,
//! shipped in the binary, replaceable by a file of the same shape).

use std::collections::HashMap;
use std::path::Path;

use crate::rule::Logsource;

/// The routing table shipped with Watchfloor.
pub const DEFAULT_LOGSOURCES: &str = include_str!("../data/logsources.yaml");

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutingFile {
    services: HashMap<String, Vec<String>>,
    categories: HashMap<String, Vec<VariantDef>>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantDef {
    service: String,
    event_ids: Vec<u32>,
    #[serde(default)]
    fields: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    fieldmap: HashMap<String, String>,
}

/// Which family of events a target applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Windows,
    NonWindows,
    Any,
}

/// One place a rule runs: a scope, optional channel and event id
/// restrictions, extra field conditions and field renames.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub scope: Option<Scope>,
    /// Lowercase channel names; `None` means any channel.
    pub channels: Option<Vec<String>>,
    pub event_ids: Option<Vec<u32>>,
    pub fields: Vec<(String, String)>,
    pub fieldmap: HashMap<String, String>,
    /// For non-Windows targets: the product the rule is for (lower-case).
    pub product: Option<String>,
    /// Only events that declare this category (lower-case): the target of
    /// a rule that names a category and no product.
    pub category: Option<String>,
}

impl Target {
    fn unconstrained(scope: Scope) -> Target {
        Target {
            scope: Some(scope),
            ..Target::default()
        }
    }

    pub fn scope(&self) -> Scope {
        self.scope.unwrap_or(Scope::Any)
    }
}

/// The routing table.
#[derive(Debug, Clone)]
pub struct Routing {
    file: RoutingFile,
    /// Ignore logsources: every rule runs on every event (for comparisons
    /// with engines that do not route).
    unrouted: bool,
}

impl Default for Routing {
    fn default() -> Self {
        // The shipped table is checked by a unit test; an error here is a build defect.
        Routing::from_yaml(DEFAULT_LOGSOURCES).unwrap_or_else(|_| Routing::unrouted())
    }
}

impl Routing {
    pub fn from_yaml(text: &str) -> Result<Routing, String> {
        let file: RoutingFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        Ok(Routing {
            file,
            unrouted: false,
        })
    }

    /// A table that routes nothing: every rule applies to every event,
    /// with no field renames.
    pub fn unrouted() -> Routing {
        Routing {
            file: RoutingFile {
                services: HashMap::new(),
                categories: HashMap::new(),
            },
            unrouted: true,
        }
    }

    pub fn load(path: &Path) -> Result<Routing, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Routing::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn channels(&self, service: &str) -> Option<Vec<String>> {
        self.file
            .services
            .get(service)
            .map(|c| c.iter().map(|s| s.to_lowercase()).collect())
    }

    /// The targets of a rule's logsource.
    pub fn resolve(&self, ls: &Logsource) -> Vec<Target> {
        if self.unrouted {
            return vec![Target::unconstrained(Scope::Any)];
        }
        let product = ls.product.as_deref();
        let windows_category = ls
            .category
            .as_deref()
            .and_then(|c| self.file.categories.get(c));
        // A rule that names a category but no product runs on the events
        // known to be of that category, and on nothing else: SigmaHQ's
        // database rules must not read Windows or syslog events.
        let declared = ls
            .category
            .as_ref()
            .filter(|_| product.is_none())
            .map(|c| Target {
                category: Some(c.to_lowercase()),
                ..Target::unconstrained(Scope::Any)
            });
        if product == Some("windows") || windows_category.is_some() && product.is_none() {
            let mut targets = self.windows_targets(ls, windows_category);
            targets.extend(declared);
            return targets;
        }
        match (product, declared) {
            (Some(p), _) => vec![Target {
                product: Some(p.to_lowercase()),
                ..Target::unconstrained(Scope::NonWindows)
            }],
            (None, Some(category)) => vec![category],
            (None, None) => vec![Target::unconstrained(Scope::Any)],
        }
    }

    fn windows_targets(&self, ls: &Logsource, category: Option<&Vec<VariantDef>>) -> Vec<Target> {
        if let Some(variants) = category {
            let chosen: Vec<&VariantDef> = match ls.service.as_deref() {
                Some(s) if variants.iter().any(|v| v.service == s) => {
                    variants.iter().filter(|v| v.service == s).collect()
                }
                _ => variants.iter().collect(),
            };
            return chosen
                .into_iter()
                .map(|v| Target {
                    scope: Some(Scope::Windows),
                    channels: self.channels(&v.service),
                    event_ids: Some(v.event_ids.clone()),
                    fields: v
                        .fields
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    fieldmap: v.fieldmap.clone(),
                    product: None,
                    category: None,
                })
                .collect();
        }
        let channels = ls.service.as_deref().and_then(|s| self.channels(s));
        vec![Target {
            scope: Some(Scope::Windows),
            channels,
            ..Target::default()
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(category: Option<&str>, product: Option<&str>, service: Option<&str>) -> Logsource {
        Logsource {
            category: category.map(Into::into),
            product: product.map(Into::into),
            service: service.map(Into::into),
        }
    }

    #[test]
    fn shipped_table_loads() {
        Routing::from_yaml(DEFAULT_LOGSOURCES).unwrap();
    }

    #[test]
    fn process_creation_fans_out_to_sysmon_and_security() {
        let t = Routing::default().resolve(&ls(Some("process_creation"), Some("windows"), None));
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0].channels.as_deref(),
            Some(&["microsoft-windows-sysmon/operational".to_string()][..])
        );
        assert_eq!(t[1].event_ids.as_deref(), Some(&[4688][..]));
        assert_eq!(
            t[1].fieldmap.get("Image").map(String::as_str),
            Some("NewProcessName")
        );
    }

    #[test]
    fn services_restrict_channels_and_other_products_are_not_windows() {
        let r = Routing::default();
        let t = r.resolve(&ls(None, Some("windows"), Some("security")));
        assert_eq!(
            t[0].channels.as_deref(),
            Some(&["security".to_string()][..])
        );
        assert_eq!(t[0].event_ids, None);
        assert_eq!(
            r.resolve(&ls(None, Some("linux"), Some("auth")))[0].scope(),
            Scope::NonWindows
        );
        assert_eq!(
            r.resolve(&ls(Some("proxy"), None, None))[0].scope(),
            Scope::Any
        );
    }

    #[test]
    fn bad_tables_are_errors() {
        assert!(Routing::from_yaml("services: {}\ncategories: {}\nextra: 1").is_err());
    }
}
