//! Watchfloor's Sigma engine.
//!
//! Rules are parsed ([`rule`]), compiled into matchers ([`compile`],
//! [`matcher`], [`modifiers`]), routed to the events they apply to
//! ([`logsource`]) and indexed into one [`RuleSet`] that evaluates all
//! rules together: candidates come from an index by Windows channel and
//! event id, and a shared Aho-Corasick automaton over the literals each rule
//! requires skips every rule whose literals are absent, so most rules cost
//! nothing for most events. Correlation rules run on the matches
//! ([`correlation`]).
//!
//! ```
//! use watchfloor_sigma::{RuleSetBuilder, RuleSetOptions, Scratch};
//! use watchfloor_model::{Event, SourceRef, Value};
//!
//! let mut b = RuleSetBuilder::new(RuleSetOptions::default());
//! b.add_yaml("title: t\nlogsource: {product: linux}\ndetection:\n  sel:\n    message|contains: 'Failed password'\n  condition: sel\n", "inline");
//! let rules = b.build();
//! let mut e = Event::new(SourceRef::default());
//! e.push("message", Value::Str("Failed password for root".into()));
//! e.core.product = Some("linux".into()); // a rule for a product sees only that product's events
//! let mut out = Vec::new();
//! rules.evaluate(&e, &mut Scratch::default(), &mut out);
//! assert_eq!(out, vec![0]);
//! ```

pub mod bits;
pub mod compile;
pub mod condition;
pub mod correlation;
pub mod engine;
pub mod finding;
pub mod loader;
pub mod logsource;
pub mod matcher;
pub mod modifiers;
pub mod placeholders;
pub mod prefilter;
pub mod rule;
pub mod strings;
pub mod strmatch;

pub use correlation::{CorrelationEngine, CorrelationMatch, Hit, Limits, Snapshot, Source};
pub use engine::{LoadReport, Rule, RuleSet, RuleSetBuilder, RuleSetOptions, Scratch};
pub use finding::{Finding, RuleRef, SourceInfo};
pub use loader::Rejection;
pub use logsource::Routing;
pub use placeholders::Placeholders;
pub use watchfloor_model::Severity;
