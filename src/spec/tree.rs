//! The parsed TOML document with every key's and value's place in the file:
//! finding the place of a setting, and substituting variables in place.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::Diagnostic;
use super::source::SourceFile;
use super::variables::Variables;

/// One step of a path into the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array position.
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Seg::Key(key.to_owned())
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Self {
        Seg::Index(index)
    }
}

/// Builds a path into the document: `at!["values", 2]`.
macro_rules! at {
    ($($seg:expr),* $(,)?) => { [$($crate::spec::tree::Seg::from($seg)),*] };
}
pub(crate) use at;

/// The deepest part of `value` along `path`, and how many steps of the path
/// it took to get there.
fn walk<'a, 'i>(
    value: &'a Spanned<DeValue<'i>>,
    path: &[Seg],
) -> (&'a Spanned<DeValue<'i>>, usize) {
    let mut here = value;
    for (taken, seg) in path.iter().enumerate() {
        let next = match (seg, here.get_ref()) {
            (Seg::Key(k), DeValue::Table(t)) => t.get(k.as_str()),
            (Seg::Index(i), DeValue::Array(a)) => a.get(*i),
            _ => None,
        };
        match next {
            Some(next) => here = next,
            None => return (here, taken),
        }
    }
    (here, path.len())
}

/// Whether `path` exists all the way under `value`.
pub fn has(value: &Spanned<DeValue<'_>>, path: &[Seg]) -> bool {
    walk(value, path).1 == path.len()
}

/// The span of the value at `path` under `value`; when the path does not go
/// all the way, the span of the deepest part that exists.
pub fn value_span(value: &Spanned<DeValue<'_>>, path: &[Seg]) -> Range<usize> {
    walk(value, path).0.span()
}

/// The span of the key `key` itself in `table`.
pub fn key_span(table: &DeTable<'_>, key: &str) -> Option<Range<usize>> {
    table.get_key_value(key).map(|(k, _)| k.span())
}

/// The span of the key at the end of `path` (its value's span when the last
/// step is not a key or the key is absent).
pub fn key_span_at(value: &Spanned<DeValue<'_>>, path: &[Seg]) -> Range<usize> {
    if let Some((Seg::Key(last), parent)) = path.split_last() {
        let (here, taken) = walk(value, parent);
        if taken < parent.len() {
            return here.span();
        }
        if let DeValue::Table(t) = here.get_ref() {
            if let Some(span) = key_span(t, last) {
                return span;
            }
        }
    }
    value_span(value, path)
}

/// Replaces `${name}` in every string under `value`, reporting each bad
/// reference at its place in the source.
pub fn substitute(
    value: &mut Spanned<DeValue<'_>>,
    variables: &Variables,
    source: &Arc<SourceFile>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(text) => match variables.substitute(text) {
            Ok(None) => {}
            Ok(Some(replaced)) => *text = Cow::Owned(replaced),
            Err(errors) => {
                let raw = source.slice(&span);
                for error in errors {
                    // Escapes can make the raw text differ from the value; find the
                    // reference itself when it is written plainly.
                    let at = raw
                        .find(&error.reference)
                        .map(|i| span.start + i..span.start + i + error.reference.len())
                        .unwrap_or(span.clone());
                    diagnostics.push(Diagnostic::new(source, at, error.message));
                }
            }
        },
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                substitute(item, variables, source, diagnostics);
            }
        }
        DeValue::Table(table) => {
            for (_, item) in table.iter_mut() {
                substitute(item, variables, source, diagnostics);
            }
        }
        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {}
    }
}
