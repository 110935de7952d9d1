//! "Did you mean" suggestions, and serde's messages retold in the spec's words.

/// The candidate closest to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|&(distance, _)| distance <= limit)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

/// `; did you mean `x`?` when a candidate is close, else nothing.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// How the field names in a message should be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldCase {
    /// As the type names them.
    AsIs,
    /// Converted from kind's camelCase to the spec's snake_case.
    Snake,
}

impl FieldCase {
    fn show(self, name: &str) -> String {
        match self {
            FieldCase::AsIs => name.to_owned(),
            FieldCase::Snake => crate::spec::to_snake(name),
        }
    }
}

/// Retells a serde error message about fields and variants in the spec's words:
/// `unknown key `chrat`; did you mean `chart`?` instead of serde's list.
pub fn retell(message: &str, case: FieldCase) -> String {
    let message = message.trim_end();
    for (marker, noun) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        let Some(at) = message.find(marker) else {
            continue;
        };
        let prefix = &message[..at];
        let rest = &message[at + marker.len()..];
        let Some(end) = rest.find('`') else { continue };
        // Variants are values, written as kind writes them; only keys change case.
        let case = if noun == "key" { case } else { FieldCase::AsIs };
        let word = case.show(&rest[..end]);
        let expected: Vec<String> = backticked(&rest[end + 1..])
            .into_iter()
            .map(|n| case.show(n))
            .collect();
        let mut out = format!("{prefix}unknown {noun} `{word}`");
        if let Some(close) = did_you_mean(&word, expected.iter().map(String::as_str)) {
            out.push_str(&format!("; did you mean `{close}`?"));
        } else if !expected.is_empty() {
            let list: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
            out.push_str(&format!("; expected one of {}", list.join(", ")));
        }
        return out;
    }
    if let Some(at) = message.find("missing field `") {
        let rest = &message[at + "missing field `".len()..];
        if let Some(end) = rest.find('`') {
            return format!(
                "{}missing required key `{}`",
                &message[..at],
                case.show(&rest[..end])
            );
        }
    }
    let mut out = message.replace('\n', "; ");
    for (machine, human) in [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
    ] {
        if let Some(rest) = out.strip_suffix(machine) {
            out = format!("{rest}{human}");
        }
    }
    out
}

fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["chart", "repo", "version", "namespace"];
        assert_eq!(did_you_mean("chrat", keys), Some("chart"));
        assert_eq!(did_you_mean("namespac", keys), Some("namespace"));
        assert_eq!(did_you_mean("colour", keys), None);
    }

    #[test]
    fn retells_serde_messages() {
        assert_eq!(
            retell(
                "unknown field `chrat`, expected one of `chart`, `repo`",
                FieldCase::AsIs
            ),
            "unknown key `chrat`; did you mean `chart`?"
        );
        assert_eq!(
            retell("unknown field `zzz`, expected `chart`", FieldCase::AsIs),
            "unknown key `zzz`; expected one of `chart`"
        );
        assert_eq!(
            retell(
                "nodes[0]: unknown field `extraPortMapings`, expected one of `role`, `extraPortMappings`",
                FieldCase::Snake
            ),
            "nodes[0]: unknown key `extra_port_mapings`; did you mean `extra_port_mappings`?"
        );
        assert_eq!(
            retell("missing field `containerPort`", FieldCase::Snake),
            "missing required key `container_port`"
        );
    }
}
