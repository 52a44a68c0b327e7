//! Label selectors (`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and field
//! selectors (`=`, `==`, `!=`) over the fields each type supports: `metadata.name` and
//! `metadata.namespace` everywhere, `type` on Secrets, `involvedObject.*` (core) and
//! `regarding.*` (`events.k8s.io`) on Events.

use serde_json::Value;

use super::resources::ResourceType;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn set_values(text: &str) -> Option<Vec<String>> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

impl LabelSelector {
    /// Parses `labelSelector`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::DoesNotExist(key.trim().to_owned())
            } else if let Some((key, values)) = part.split_once(" notin ") {
                Requirement::NotIn(
                    key.trim().to_owned(),
                    set_values(values).ok_or_else(|| format!("invalid selector {part:?}"))?,
                )
            } else if let Some((key, values)) = part.split_once(" in ") {
                Requirement::In(
                    key.trim().to_owned(),
                    set_values(values).ok_or_else(|| format!("invalid selector {part:?}"))?,
                )
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) =
                part.split_once("==").or_else(|| part.split_once('='))
            {
                Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                Requirement::Exists(part.to_owned())
            } else {
                return Err(format!("unable to parse requirement: {part:?}"));
            };
            requirements.push(requirement);
        }
        Ok(Self(requirements))
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object["metadata"]["labels"].as_object();
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.0.iter().all(|requirement| match requirement {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::DoesNotExist(k) => label(k).is_none(),
        })
    }
}

/// A parsed field selector; empty matches everything. Each term holds the path of the
/// field in the stored form, whether it must equal the value, and the value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// A selector of one object by name, as a watch of a single object is.
    pub fn name(name: &str) -> Self {
        Self(vec![("metadata.name".to_owned(), true, name.to_owned())])
    }

    /// Parses `fieldSelector` for `resource`, refusing labels it does not support as
    /// the real server does.
    pub fn parse(text: &str, resource: &ResourceType) -> Result<Self, String> {
        let labels = resource.field_labels();
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!("invalid field selector {part:?}"));
            };
            let field = field.trim();
            let Some((_, path)) = labels.iter().find(|(label, _)| label == field) else {
                return Err(format!("field label not supported: {field}"));
            };
            terms.push((path.clone(), equal, value.trim().to_owned()));
        }
        Ok(Self(terms))
    }

    /// Whether an object satisfies every term.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, value)| {
            let actual = path
                .split('.')
                .try_fold(object, |node, key| node.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default();
            (actual == value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn label_selectors() {
        let o = object(json!({"app": "bot", "tier": "web"}));
        for (selector, expected) in [
            ("", true),
            ("app=bot", true),
            ("app==bot,tier=web", true),
            ("app!=bot", false),
            ("app in (bot, api)", true),
            ("app notin (bot)", false),
            ("tier", true),
            ("!tier", false),
            ("missing notin (x)", true),
            ("app in (api),tier", false),
        ] {
            assert_eq!(
                LabelSelector::parse(selector).unwrap().matches(&o),
                expected,
                "{selector}"
            );
        }
        assert!(LabelSelector::parse("a in b").is_err());
    }

    #[test]
    fn field_selectors() {
        let types = crate::kube::resources::builtins();
        let of = |group: &str, kind: &str| {
            types
                .iter()
                .find(|t| t.group == group && t.kind == kind)
                .unwrap()
        };
        let secrets = of("", "Secret");
        let o = object(json!({}));
        assert!(
            FieldSelector::parse("metadata.name=a", secrets)
                .unwrap()
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("metadata.namespace!=ns", secrets)
                .unwrap()
                .matches(&o)
        );
        assert!(FieldSelector::parse("spec.x=1", secrets).is_err());

        let event = json!({"metadata": {"name": "e"}, "involvedObject": {"name": "bot"}, "source": {"component": "c"}});
        let core = of("", "Event");
        let v1 = of("events.k8s.io", "Event");
        assert!(
            FieldSelector::parse("involvedObject.name=bot", core)
                .unwrap()
                .matches(&event)
        );
        assert!(
            FieldSelector::parse("source=c", core)
                .unwrap()
                .matches(&event)
        );
        assert!(
            FieldSelector::parse("regarding.name=bot", v1)
                .unwrap()
                .matches(&event)
        );
        assert_eq!(
            FieldSelector::parse("involvedObject.name=bot", v1),
            Err("field label not supported: involvedObject.name".to_owned())
        );
    }
}
