//! Bounded YAML: every YAML text kindform reads (manifests, values files, the
//! kind config, `Chart.yaml`, `helm template` and `helm get manifest` output)
//! is parsed through here, so no input can grow in memory beyond a budget
//! proportional to its own size.
//!
//! The YAML parser underneath refuses the classic billion-laughs file (it
//! caps alias jumps at a hundred per event) but not a large anchor aliased a
//! few thousand times: each alias is one jump and a full copy. Here every
//! node built costs [`NODE_COST`] and every scalar its length, counted while
//! the parser expands aliases, and the parse stops with an error at the node
//! that crosses the budget. Texts are also capped in size before parsing.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};
use serde_yaml_ng::value::{Tag, TaggedValue};
use serde_yaml_ng::{Mapping, Value};

/// The largest YAML file read from disk: manifests, values files, the kind
/// config, `Chart.yaml`, downloaded manifests.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// What one parsed node is charged, about what a `Value` costs in memory.
pub const NODE_COST: u64 = 64;

/// The budget every text gets whatever its size: room for the few aliases a
/// hand-written file uses.
pub const BASE_BUDGET: u64 = 32 << 20;

/// The budget per byte of input: enough for a text of one-character
/// scalars with no alias at all (two bytes a node), with room to spare.
pub const BUDGET_PER_BYTE: u64 = 48;

/// The most any text may expand to, however large: a chart rendered to
/// 64 MiB gets no more than this.
pub const MAX_BUDGET: u64 = 256 << 20;

/// The budget a text of `len` bytes may expand to.
pub fn budget_for(len: usize) -> u64 {
    BASE_BUDGET
        .saturating_add(BUDGET_PER_BYTE.saturating_mul(len as u64))
        .min(MAX_BUDGET)
}

/// Every document of a multi-document text, as values, within one budget
/// for the whole text. An empty document (`---` alone) is `Value::Null`.
pub fn documents(text: &str) -> Vec<Result<Value, serde_yaml_ng::Error>> {
    let budget = Budget::new(budget_for(text.len()));
    let mut out = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let result = Counted(&budget).deserialize(document);
        let failed = result.is_err();
        out.push(result);
        // The parser cannot go past a broken document, nor should a
        // spent budget be spent again on the documents after it.
        if failed {
            break;
        }
    }
    out
}

/// One document as a value, within the budget.
pub fn value(text: &str) -> Result<Value, serde_yaml_ng::Error> {
    let budget = Budget::new(budget_for(text.len()));
    Counted(&budget).deserialize(serde_yaml_ng::Deserializer::from_str(text))
}

/// One document as a typed value. The text is first walked within the
/// budget, so the typed parse after it, which expands the same aliases, is
/// bounded too; its errors keep their line and column.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_yaml_ng::Error> {
    value(text)?;
    serde_yaml_ng::from_str(text)
}

/// What a text may still expand to.
struct Budget {
    left: Cell<u64>,
    limit: u64,
}

impl Budget {
    fn new(limit: u64) -> Self {
        Budget {
            left: Cell::new(limit),
            limit,
        }
    }

    fn charge<E: de::Error>(&self, cost: u64) -> Result<(), E> {
        match self.left.get().checked_sub(cost) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(E::custom(Exceeded(self.limit))),
        }
    }
}

/// The error text when a budget is spent.
struct Exceeded(u64);

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the YAML expands beyond {} MiB through its aliases (anchors copied many times over); \
             refused so it cannot exhaust memory",
            self.0 >> 20
        )
    }
}

/// A seed building one value while charging the budget.
#[derive(Clone, Copy)]
struct Counted<'a>(&'a Budget);

impl<'de> DeserializeSeed<'de> for Counted<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counted<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.0.charge(NODE_COST)?;
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        self.0.charge(NODE_COST)?;
        Ok(Value::Number(i.into()))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        self.0.charge(NODE_COST)?;
        Ok(Value::Number(u.into()))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        self.0.charge(NODE_COST)?;
        Ok(Value::Number(f.into()))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.0.charge(NODE_COST.saturating_add(s.len() as u64))?;
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.0.charge(NODE_COST.saturating_add(s.len() as u64))?;
        Ok(Value::String(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.charge(NODE_COST)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.charge(NODE_COST)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.charge(NODE_COST)?;
        let mut mapping = Mapping::new();
        while let Some(key) = map.next_key_seed(self)? {
            if mapping.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate entry with key {}",
                    describe_key(&key)
                )));
            }
            let value = map.next_value_seed(self)?;
            mapping.insert(key, value);
        }
        Ok(Value::Mapping(mapping))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        self.0.charge(NODE_COST)?;
        let (tag, contents) = data.variant::<String>()?;
        let value = contents.newtype_variant_seed(self)?;
        Ok(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

/// A duplicate key as the parser's own message names it.
fn describe_key(key: &Value) -> String {
    match key {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => "of a collection".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape the billion-laughs guard misses: one large anchor, aliased
    /// many times in a small file.
    fn amplification(anchor_items: usize, aliases: usize) -> String {
        let mut text = String::from("a: &a [");
        for i in 0..anchor_items {
            if i > 0 {
                text.push(',');
            }
            text.push_str("xxxxxxxx");
        }
        text.push_str("]\nb: [");
        for i in 0..aliases {
            if i > 0 {
                text.push(',');
            }
            text.push_str("*a");
        }
        text.push_str("]\n");
        text
    }

    #[test]
    fn a_large_anchor_aliased_many_times_is_refused() {
        let text = amplification(1_500, 8_000);
        assert!(text.len() < 40_000, "{}", text.len());
        // How fast and in how little memory: BENCHMARKS.md, "Hostile inputs".
        let error = value(&text).unwrap_err().to_string();
        assert!(error.contains("expands beyond"), "{error}");
        assert!(error.starts_with("b["), "the path to the node: {error}");
        let error = documents(&format!("---\nx: 1\n---\n{text}"));
        assert_eq!(error.len(), 2);
        assert!(error[1].is_err());
    }

    #[test]
    fn typed_parses_are_bounded_before_they_expand() {
        let text = amplification(1_500, 8_000);
        let error = from_str::<std::collections::BTreeMap<String, Vec<Vec<String>>>>(&text)
            .unwrap_err()
            .to_string();
        assert!(error.contains("expands beyond"), "{error}");
    }

    #[test]
    fn a_few_aliases_and_large_plain_files_are_fine() {
        let small = amplification(10, 10);
        let parsed = value(&small).unwrap();
        assert_eq!(parsed["b"].as_sequence().unwrap().len(), 10);
        // A large file with no alias at all, one-character scalars: the
        // most nodes a byte can make.
        let mut big = String::from("[");
        for i in 0..1_000_000 {
            if i > 0 {
                big.push(',');
            }
            big.push('1');
        }
        big.push(']');
        assert_eq!(value(&big).unwrap().as_sequence().unwrap().len(), 1_000_000);
    }

    #[test]
    fn values_match_the_parsers_own() {
        let text = "a: 1\nb: [x, 2.5, null, true]\nc: !tag {d: e}\n'1': &k v\nf: *k\n";
        let ours = value(text).unwrap();
        let theirs: Value = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(ours, theirs);
        let docs = documents("---\na: 1\n---\n---\nb: 2\n");
        let docs: Vec<Value> = docs.into_iter().map(Result::unwrap).collect();
        let theirs: Vec<Value> =
            serde_yaml_ng::Deserializer::from_str("---\na: 1\n---\n---\nb: 2\n")
                .map(|d| serde::Deserialize::deserialize(d).unwrap())
                .collect();
        assert_eq!(docs, theirs);
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_place() {
        let error = value("a: 1\na: 2\n").unwrap_err();
        assert!(
            error.to_string().contains("duplicate entry with key \"a\""),
            "{error}"
        );
        let theirs = serde_yaml_ng::from_str::<Value>("a: 1\na: 2\n").unwrap_err();
        assert_eq!(error.to_string(), theirs.to_string());
    }
}
