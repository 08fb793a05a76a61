//! Label sets: the identity of a series.

use std::fmt;
use std::sync::Arc;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label: a name and its value.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// A set of labels, sorted by name, names unique, no empty values (an empty
/// value means "no such label" in Prometheus's data model). Shared: a clone
/// is a reference count, a change copies (the evaluator clones label sets
/// once per step and changes few).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Arc<Vec<Label>>);

impl Labels {
    pub fn new() -> Self {
        Labels(Arc::new(Vec::new()))
    }

    /// Builds a set from pairs in any order; the last of repeated names wins
    /// and empty values are dropped.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut labels = Labels::new();
        for (name, value) in pairs {
            labels.set(&name.into(), &value.into());
        }
        labels
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The value of `name`, or "" when absent (PromQL's view of labels).
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                Arc::make_mut(&mut self.0).remove(i);
            }
            Ok(i) if self.0[i].value == value => {}
            Ok(i) => Arc::make_mut(&mut self.0)[i].value = value.to_string(),
            Err(_) if value.is_empty() => {}
            Err(i) => Arc::make_mut(&mut self.0).insert(
                i,
                Label {
                    name: name.to_string(),
                    value: value.to_string(),
                },
            ),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.set(name, "");
    }

    pub fn without_metric_name(&self) -> Labels {
        let mut out = self.clone();
        out.remove(METRIC_NAME);
        out
    }

    /// Keeps only the labels whose names are in `names`.
    pub fn keep_only(&self, names: &[String]) -> Labels {
        Labels(Arc::new(
            self.0
                .iter()
                .filter(|l| names.contains(&l.name))
                .cloned()
                .collect(),
        ))
    }

    /// Drops the labels whose names are in `names`.
    pub fn drop_names(&self, names: &[String]) -> Labels {
        Labels(Arc::new(
            self.0
                .iter()
                .filter(|l| !names.contains(&l.name))
                .cloned()
                .collect(),
        ))
    }

    /// A stable 64-bit hash of the set, for grouping.
    pub fn signature(&self) -> u64 {
        use std::hash::BuildHasher;
        foldhash::quality::FixedState::with_seed(0x5741_5443).hash_one(self)
    }
}

impl FromIterator<Label> for Labels {
    fn from_iter<T: IntoIterator<Item = Label>>(iter: T) -> Self {
        let mut labels = Labels::new();
        for l in iter {
            labels.set(&l.name, &l.value);
        }
        labels
    }
}

impl fmt::Display for Labels {
    /// Prometheus's text form: `name{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

impl serde::Serialize for Labels {
    /// A JSON object, as the Prometheus API writes a `metric`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for l in self.0.iter() {
            map.serialize_entry(&l.name, &l.value)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(Labels::from_pairs(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_unique_and_empty_values_dropped() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
        assert_eq!(l.value("c"), "");
        let named = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        assert_eq!(named.to_string(), r#"up{job="x"}"#);
        assert_eq!(named.without_metric_name().to_string(), r#"{job="x"}"#);
    }
}
