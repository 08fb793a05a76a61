//! Topology: hosts, services, links and business services with
//! parent/child dependencies. A node whose own checks fail is DOWN when
//! one of its parents is still up, and UNREACHABLE when every parent is
//! down or unreachable: the outage's root cause is then the nearest down
//! ancestor, and only the root cause should page. A business service is
//! computed from its components: all, any, or at least N of them up.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// A tenant's topology (stored as a tenant document of kind `topology`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    #[serde(default)]
    pub nodes: Vec<Node>,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    #[default]
    Host,
    Service,
    Link,
    /// Computed from `components`.
    Business,
}

/// How many components of a business service must be up.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Require {
    #[default]
    All,
    Any,
    AtLeast(usize),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub name: String,
    #[serde(default)]
    pub kind: NodeKind,
    /// The nodes this one is reached through (a host's router or switch).
    #[serde(default)]
    pub parents: Vec<String>,
    /// For business services.
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub require: Require,
}

/// What a node's own checks say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Own {
    Up,
    Down,
    /// No checks, or none has a result yet.
    NoData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Up,
    Down,
    Unreachable,
}

/// A node's state and, when it is not up, the root causes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluated {
    pub state: NodeState,
    /// The down nodes behind this one's state (itself when it is the root).
    pub root_causes: BTreeSet<String>,
}

impl Topology {
    fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Every problem: unknown names, duplicates, cycles, business services
    /// without components or with an impossible requirement.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let at = format!("nodes[{i}] ({})", n.name);
            if n.name.trim().is_empty() {
                out.push(format!("nodes[{i}].name: must not be empty"));
            }
            if !seen.insert(n.name.as_str()) {
                out.push(format!("{at}: defined twice"));
            }
            for p in n.parents.iter().chain(&n.components) {
                if self.node(p).is_none() {
                    out.push(format!("{at}: {p:?} is not a node"));
                }
            }
            if n.kind == NodeKind::Business {
                if n.components.is_empty() {
                    out.push(format!("{at}: a business service needs components"));
                }
                if let Require::AtLeast(k) = n.require {
                    if k == 0 || k > n.components.len() {
                        out.push(format!(
                            "{at}: at_least {k} of {} components",
                            n.components.len()
                        ));
                    }
                }
            } else if !n.components.is_empty() {
                out.push(format!("{at}: only business services have components"));
            }
        }
        if let Some(cycle) = self.cycle() {
            out.push(format!("a dependency cycle: {}", cycle.join(" -> ")));
        }
        out
    }

    /// A dependency cycle through parents or components, if there is one.
    fn cycle(&self) -> Option<Vec<String>> {
        fn visit<'a>(
            t: &'a Topology,
            name: &'a str,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|p| *p == name) {
                let mut c: Vec<String> = path[i..].iter().map(|s| s.to_string()).collect();
                c.push(name.to_string());
                return Some(c);
            }
            if !done.insert(name) {
                return None;
            }
            let node = t.node(name)?;
            path.push(name);
            for next in node.parents.iter().chain(&node.components) {
                if let Some(c) = visit(t, next, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        self.nodes
            .iter()
            .find_map(|n| visit(self, &n.name, &mut Vec::new(), &mut done))
    }

    /// Every node's state from what its own checks say (nodes missing
    /// from `own` have no data). Assumes no cycles ([`problems`](Self::problems)).
    pub fn evaluate(&self, own: &HashMap<String, Own>) -> BTreeMap<String, Evaluated> {
        let mut memo = BTreeMap::new();
        for n in &self.nodes {
            self.eval(&n.name, own, &mut memo, 0);
        }
        memo
    }

    fn eval(
        &self,
        name: &str,
        own: &HashMap<String, Own>,
        memo: &mut BTreeMap<String, Evaluated>,
        depth: usize,
    ) -> Evaluated {
        if let Some(e) = memo.get(name) {
            return e.clone();
        }
        let up = Evaluated {
            state: NodeState::Up,
            root_causes: BTreeSet::new(),
        };
        // A cycle that slipped through validation ends here rather than overflowing.
        let Some(node) = self.node(name).filter(|_| depth < 256) else {
            return up;
        };
        let result = if node.kind == NodeKind::Business {
            self.business(node, own, memo, depth)
        } else {
            let parents: Vec<Evaluated> = node
                .parents
                .iter()
                .map(|p| self.eval(p, own, memo, depth + 1))
                .collect();
            let cut_off = !parents.is_empty() && parents.iter().all(|p| p.state != NodeState::Up);
            let mine = own.get(name).copied().unwrap_or(Own::NoData);
            match (mine, cut_off) {
                (Own::Down | Own::NoData, true) => Evaluated {
                    state: NodeState::Unreachable,
                    root_causes: parents.into_iter().flat_map(|p| p.root_causes).collect(),
                },
                (Own::Down, false) => Evaluated {
                    state: NodeState::Down,
                    root_causes: BTreeSet::from([name.to_string()]),
                },
                _ => up,
            }
        };
        memo.insert(name.to_string(), result.clone());
        result
    }

    fn business(
        &self,
        node: &Node,
        own: &HashMap<String, Own>,
        memo: &mut BTreeMap<String, Evaluated>,
        depth: usize,
    ) -> Evaluated {
        let parts: Vec<Evaluated> = node
            .components
            .iter()
            .map(|c| self.eval(c, own, memo, depth + 1))
            .collect();
        let up = parts.iter().filter(|p| p.state == NodeState::Up).count();
        let needed = match node.require {
            Require::All => parts.len(),
            Require::Any => 1,
            Require::AtLeast(k) => k,
        };
        if up >= needed {
            Evaluated {
                state: NodeState::Up,
                root_causes: BTreeSet::new(),
            }
        } else {
            Evaluated {
                state: NodeState::Down,
                root_causes: parts.into_iter().flat_map(|p| p.root_causes).collect(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        serde_json::from_value(serde_json::json!({"nodes": [
            {"name": "core"},
            {"name": "router", "parents": ["core"]},
            {"name": "h1", "parents": ["router"]},
            {"name": "h2", "parents": ["router"]},
            {"name": "dual", "parents": ["router", "core"]},
            {"name": "web", "kind": "business", "components": ["h1", "h2"], "require": "any"},
            {"name": "all", "kind": "business", "components": ["h1", "h2", "dual"],
             "require": {"at_least": 2}}
        ]}))
        .expect("topology")
    }

    fn own(pairs: &[(&str, Own)]) -> HashMap<String, Own> {
        pairs.iter().map(|(n, o)| (n.to_string(), *o)).collect()
    }

    #[test]
    fn children_of_a_down_router_are_unreachable_with_the_router_as_cause() {
        let t = topo();
        assert!(t.problems().is_empty(), "{:?}", t.problems());
        let s = t.evaluate(&own(&[
            ("core", Own::Up),
            ("router", Own::Down),
            ("h1", Own::Down),
            ("h2", Own::Down),
            ("dual", Own::Up),
        ]));
        assert_eq!(s["router"].state, NodeState::Down);
        assert_eq!(s["h1"].state, NodeState::Unreachable);
        assert_eq!(s["h1"].root_causes, BTreeSet::from(["router".to_string()]));
        assert_eq!(s["dual"].state, NodeState::Up, "still reached through core");
        assert_eq!(s["web"].state, NodeState::Down, "no component up");
        assert_eq!(s["web"].root_causes, BTreeSet::from(["router".to_string()]));
        assert_eq!(
            s["all"].state,
            NodeState::Down,
            "one of three up, two needed"
        );
        // One host down on its own while the router is up: it is the root.
        let s = t.evaluate(&own(&[
            ("router", Own::Up),
            ("h1", Own::Down),
            ("h2", Own::Up),
        ]));
        assert_eq!(s["h1"].state, NodeState::Down);
        assert_eq!(s["web"].state, NodeState::Up, "any: h2 is up");
        assert_eq!(s["all"].state, NodeState::Up, "two of three");
    }

    #[test]
    fn a_dual_homed_host_is_unreachable_only_when_both_paths_are_down() {
        let t = topo();
        let s = t.evaluate(&own(&[
            ("core", Own::Down),
            ("router", Own::Down),
            ("dual", Own::Down),
        ]));
        assert_eq!(s["router"].state, NodeState::Unreachable);
        assert_eq!(s["dual"].state, NodeState::Unreachable);
        assert_eq!(s["dual"].root_causes, BTreeSet::from(["core".to_string()]));
    }

    #[test]
    fn problems_name_unknown_nodes_cycles_and_bad_requirements() {
        let t: Topology = serde_json::from_value(serde_json::json!({"nodes": [
            {"name": "a", "parents": ["b"]},
            {"name": "b", "parents": ["a"]},
            {"name": "c", "parents": ["nowhere"]},
            {"name": "s", "kind": "business", "components": ["a"], "require": {"at_least": 3}},
            {"name": "c"}
        ]}))
        .expect("parses");
        let p = t.problems();
        assert!(
            p.iter().any(|m| m.contains("\"nowhere\" is not a node")),
            "{p:?}"
        );
        assert!(p.iter().any(|m| m.contains("cycle: a -> b -> a")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("at_least 3 of 1")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("defined twice")), "{p:?}");
        // Evaluating a cyclic topology does not hang or overflow.
        let _ = t.evaluate(&own(&[("a", Own::Down)]));
    }
}
