//! Expressions and templates over a run's context (minijinja, Jinja2's
//! syntax as Ansible and StackStorm users know it).
//!
//! A string input that is exactly one `{{ expression }}` keeps the
//! expression's type (a list of addresses stays a list); any other string
//! with `{{` or `{%` renders to text. Undefined names are errors, not empty
//! strings: a typo must not turn into a block of nothing, or of everything.

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env
    })
}

/// For dry runs, where earlier steps' outputs are stand-ins: names that
/// are not there render empty instead of failing.
fn lenient_env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env
    })
}

/// What a dry run shows for a value it cannot know before the run
/// (it depends on an earlier step's real output).
pub const UNKNOWN: &str = "(known when it runs)";

/// Strict (real runs) or lenient (dry runs) evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Strict,
    Lenient,
}

impl Mode {
    fn env(self) -> &'static Environment<'static> {
        match self {
            Mode::Strict => env(),
            Mode::Lenient => lenient_env(),
        }
    }
}

/// The expression inside `{{ ... }}` when the whole string is one.
fn sole_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// An `if` or `for_each` source: a bare expression, or one in `{{ }}`.
fn bare(text: &str) -> &str {
    sole_expression(text).unwrap_or(text.trim())
}

pub fn check_expression(text: &str) -> Result<(), String> {
    env()
        .compile_expression(bare(text))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub fn check_template(text: &str) -> Result<(), String> {
    env()
        .template_from_str(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Checks every template inside an input value.
pub fn check_value(value: &Value) -> Result<(), String> {
    match value {
        Value::String(s) => match sole_expression(s) {
            Some(e) => check_expression(e),
            None if is_template(s) => check_template(s),
            None => Ok(()),
        },
        Value::Array(items) => items.iter().try_for_each(check_value),
        Value::Object(map) => map.values().try_for_each(check_value),
        _ => Ok(()),
    }
}

fn evaluate(text: &str, ctx: &Value, mode: Mode) -> Result<Value, String> {
    match (evaluate_strictly(text, ctx, mode), mode) {
        (Err(_), Mode::Lenient) => Ok(Value::String(UNKNOWN.into())),
        (result, _) => result,
    }
}

fn evaluate_strictly(text: &str, ctx: &Value, mode: Mode) -> Result<Value, String> {
    let expression = mode
        .env()
        .compile_expression(bare(text))
        .map_err(|e| e.to_string())?;
    let value = expression
        .eval(minijinja::Value::from_serialize(ctx))
        .map_err(|e| e.to_string())?;
    if value.is_undefined() && mode == Mode::Strict {
        return Err(format!("{} is undefined", bare(text)));
    }
    serde_json::to_value(&value).map_err(|e| e.to_string())
}

/// An `if`: true, false, or an error naming what went wrong.
pub fn truth(text: &str, ctx: &Value, mode: Mode) -> Result<bool, String> {
    Ok(match evaluate(text, ctx, mode)? {
        Value::Null => false,
        Value::Bool(b) => b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    })
}

/// A `for_each`: the list to loop over (a single value is a list of one;
/// null is empty).
pub fn list(text: &str, ctx: &Value, mode: Mode) -> Result<Vec<Value>, String> {
    Ok(match evaluate(text, ctx, mode)? {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    })
}

/// Renders an input value against the context.
pub fn render(value: &Value, ctx: &Value, mode: Mode) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => match sole_expression(s) {
            Some(e) => evaluate(e, ctx, mode)?,
            None if is_template(s) => Value::String(render_text(s, ctx, mode)?),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render(v, ctx, mode))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render(v, ctx, mode)?)))
                .collect::<Result<_, String>>()?,
        ),
        _ => value.clone(),
    })
}

/// Renders a text template.
pub fn render_text(text: &str, ctx: &Value, mode: Mode) -> Result<String, String> {
    let rendered = mode
        .env()
        .render_str(text, minijinja::Value::from_serialize(ctx))
        .map_err(|e| e.to_string());
    match (rendered, mode) {
        (Err(_), Mode::Lenient) => Ok(UNKNOWN.into()),
        (result, _) => result,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> Value {
        json!({
            "alert": {"fields": {"attackers": ["198.51.100.7", "203.0.113.9"]}, "host": "10.0.0.80"},
            "incident": {"id": 7, "type": "ddos"},
        })
    }

    #[test]
    fn a_sole_expression_keeps_its_type() {
        let v = render(&json!("{{ alert.fields.attackers }}"), &ctx(), Mode::Strict).unwrap();
        assert_eq!(v, json!(["198.51.100.7", "203.0.113.9"]));
        let n = render(&json!("{{ incident.id }}"), &ctx(), Mode::Strict).unwrap();
        assert_eq!(n, json!(7));
    }

    #[test]
    fn mixed_text_renders_to_a_string() {
        let v = render(
            &json!({"text": "incident {{ incident.id }} ({{ incident.type }})", "n": 3}),
            &ctx(),
            Mode::Strict,
        )
        .unwrap();
        assert_eq!(v, json!({"text": "incident 7 (ddos)", "n": 3}));
    }

    #[test]
    fn undefined_names_are_errors() {
        let e = render(&json!("{{ alert.fields.attackerz }}"), &ctx(), Mode::Strict).unwrap_err();
        assert!(e.contains("undefined"), "{e}");
        let lenient = render(
            &json!("{{ steps.x.added | length }}"),
            &ctx(),
            Mode::Lenient,
        );
        assert_eq!(
            lenient.unwrap(),
            json!(UNKNOWN),
            "dry runs say what they cannot know"
        );
        assert!(e.contains("undefined"), "{e}");
        assert!(check_value(&json!(["{{ broken( }}"])).is_err());
        assert!(check_value(&json!({"a": "{% if %}"})).is_err());
        assert!(check_value(&json!({"a": "plain", "b": "{{ x.y }}"})).is_ok());
    }

    #[test]
    fn conditions_and_lists() {
        let s = Mode::Strict;
        assert!(truth("incident.type == 'ddos'", &ctx(), s).unwrap());
        assert!(!truth("{{ incident.type == 'phishing' }}", &ctx(), s).unwrap());
        assert_eq!(list("alert.fields.attackers", &ctx(), s).unwrap().len(), 2);
        assert_eq!(list("alert.host", &ctx(), s).unwrap(), [json!("10.0.0.80")]);
        assert!(list("none", &ctx(), s).unwrap().is_empty());
    }
}
