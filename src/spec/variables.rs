//! Spec variables: `${name}` in any string value, resolved from `--var`, then
//! `KINDFORM_VAR_<name>`, then `[variables]`; `$${` is a literal `${`.

use std::collections::BTreeMap;
use std::ops::Range;

/// Where variable values come from, in order of precedence.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    /// `--var KEY=VALUE` from the command line.
    pub overrides: BTreeMap<String, String>,
    /// `KINDFORM_VAR_<KEY>` from the environment, by `<KEY>`.
    pub environment: BTreeMap<String, String>,
    /// `[variables]` of the spec.
    pub spec: BTreeMap<String, String>,
}

/// One problem found while substituting a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstitutionError {
    /// The bytes of the string the problem covers.
    pub range: Range<usize>,
    /// The variable reference as written, e.g. `${version}`.
    pub reference: String,
    /// What is wrong.
    pub message: String,
}

impl Variables {
    /// The value of variable `name`: `--var` beats the environment (as
    /// `KINDFORM_VAR_<name>`, or upper-cased with `-` as `_`), which beats the spec.
    pub fn lookup(&self, name: &str) -> Option<&str> {
        let shouted = name.to_ascii_uppercase().replace('-', "_");
        self.overrides
            .get(name)
            .or_else(|| self.environment.get(name))
            .or_else(|| self.environment.get(&shouted))
            .or_else(|| self.spec.get(name))
            .map(String::as_str)
    }

    /// Every variable name that has a value, for suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.overrides
            .keys()
            .chain(self.environment.keys())
            .chain(self.spec.keys())
            .map(String::as_str)
    }

    /// Replaces every `${name}` in `text` and turns `$${` into `${`; `None`
    /// when there is nothing to replace.
    pub fn substitute(&self, text: &str) -> Result<Option<String>, Vec<SubstitutionError>> {
        if !text.contains("${") {
            return Ok(None);
        }
        let mut out = String::with_capacity(text.len());
        let mut errors = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            let consumed = if tail.starts_with("$${") {
                out.push_str("${");
                3
            } else if let Some(body) = tail.strip_prefix("${") {
                match body.find('}') {
                    None => {
                        errors.push(SubstitutionError {
                            range: offset + at..offset + rest.len(),
                            reference: tail.to_owned(),
                            message: "unterminated `${`: close it with `}`, or write `$${` for a literal `${`".into(),
                        });
                        tail.len()
                    }
                    Some(end) => {
                        let name = &body[..end];
                        let reference = &tail[..end + 3];
                        let range = offset + at..offset + at + reference.len();
                        if !is_variable_name(name) {
                            errors.push(SubstitutionError {
                                range,
                                reference: reference.to_owned(),
                                message: format!("`{reference}` is not a variable reference: names use letters, digits, `_` and `-`"),
                            });
                        } else if let Some(value) = self.lookup(name) {
                            out.push_str(value);
                        } else {
                            errors.push(SubstitutionError {
                                range,
                                reference: reference.to_owned(),
                                message: format!(
                                    "undefined variable `{name}`: define it under [variables], pass --var {name}=VALUE or set KINDFORM_VAR_{}{}",
                                    name.to_ascii_uppercase().replace('-', "_"),
                                    crate::suggest::hint(name, self.names())
                                ),
                            });
                        }
                        reference.len()
                    }
                }
            } else {
                out.push('$');
                1
            };
            offset += at + consumed;
            rest = &rest[at + consumed..];
        }
        out.push_str(rest);
        if errors.is_empty() {
            Ok(Some(out))
        } else {
            Err(errors)
        }
    }
}

/// Whether `name` can name a variable.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Variables {
            overrides: map(&[("a", "from-cli")]),
            environment: map(&[("a", "from-env"), ("b", "from-env"), ("DAPR_VERSION", "9")]),
            spec: map(&[
                ("a", "spec"),
                ("b", "spec"),
                ("c", "spec"),
                ("dapr-version", "1"),
            ]),
        }
    }

    #[test]
    fn precedence_is_cli_then_environment_then_spec() {
        let v = vars();
        assert_eq!(v.lookup("a"), Some("from-cli"));
        assert_eq!(v.lookup("b"), Some("from-env"));
        assert_eq!(v.lookup("c"), Some("spec"));
        assert_eq!(v.lookup("dapr-version"), Some("9"));
        assert_eq!(v.lookup("d"), None);
    }

    #[test]
    fn substitutes_and_escapes() {
        let v = vars();
        assert_eq!(v.substitute("plain").unwrap(), None);
        assert_eq!(
            v.substitute("x-${c}-${a}").unwrap().unwrap(),
            "x-spec-from-cli"
        );
        assert_eq!(
            v.substitute("$${c} and ${c}").unwrap().unwrap(),
            "${c} and spec"
        );
        assert_eq!(
            v.substitute("cost $5 ${c}").unwrap().unwrap(),
            "cost $5 spec"
        );
    }

    #[test]
    fn reports_every_bad_reference_with_its_place() {
        let errors = vars()
            .substitute("${nope} ${c} ${bad name} ${open")
            .unwrap_err();
        let found: Vec<_> = errors
            .iter()
            .map(|e| (e.range.clone(), e.reference.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (0..7, "${nope}"),
                (13..24, "${bad name}"),
                (25..31, "${open")
            ]
        );
    }
}
