//! Command-line parsing as cobra does it for kind and helm: `--flag value`,
//! `--flag=value`, `-f value`, repeatable flags, bare booleans, `--` ends flags.

use std::collections::HashMap;

/// One flag a command accepts: its names (long first) and whether it takes a value.
pub struct Flag {
    /// `["name", "n"]` for `--name`/`-n`.
    pub names: &'static [&'static str],
    /// Whether it takes a value.
    pub value: bool,
}

/// Shorthand for a flag with a value.
pub const fn value(names: &'static [&'static str]) -> Flag {
    Flag { names, value: true }
}

/// Shorthand for a boolean flag.
pub const fn switch(names: &'static [&'static str]) -> Flag {
    Flag {
        names,
        value: false,
    }
}

/// Parsed arguments.
#[derive(Debug, Default)]
pub struct Args {
    /// Arguments that are not flags, in order.
    pub positional: Vec<String>,
    values: HashMap<&'static str, Vec<String>>,
}

impl Args {
    /// Parses `raw` against `flags`; an unknown flag is cobra's error.
    pub fn parse(raw: &[String], flags: &[Flag]) -> Result<Args, String> {
        let mut out = Args::default();
        let mut iter = raw.iter().peekable();
        while let Some(arg) = iter.next() {
            if arg == "--" {
                out.positional.extend(iter.by_ref().cloned());
                break;
            }
            let (name, inline) = if let Some(long) = arg.strip_prefix("--") {
                match long.split_once('=') {
                    Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                    None => (long.to_owned(), None),
                }
            } else if arg.len() > 1 && arg.starts_with('-') && arg != "-" {
                let short = &arg[1..];
                match short.split_once('=') {
                    Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                    None if short.len() > 1 => (short[..1].to_owned(), Some(short[1..].to_owned())),
                    None => (short.to_owned(), None),
                }
            } else {
                out.positional.push(arg.clone());
                continue;
            };
            let Some(flag) = flags.iter().find(|f| f.names.contains(&name.as_str())) else {
                let shown = if arg.starts_with("--") {
                    format!("--{name}")
                } else {
                    format!("-{name}")
                };
                return Err(format!("unknown flag: {shown}"));
            };
            let value = if flag.value {
                match inline {
                    Some(v) => v,
                    None => iter
                        .next()
                        .cloned()
                        .ok_or_else(|| format!("flag needs an argument: --{}", flag.names[0]))?,
                }
            } else {
                inline.unwrap_or_else(|| "true".to_owned())
            };
            out.values.entry(flag.names[0]).or_default().push(value);
        }
        Ok(out)
    }

    /// The last value of a flag.
    pub fn get(&self, long: &str) -> Option<&str> {
        self.values
            .get(long)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value of a repeatable flag.
    pub fn all(&self, long: &str) -> Vec<String> {
        self.values.get(long).cloned().unwrap_or_default()
    }

    /// Whether a boolean flag is set (and not `=false`).
    pub fn on(&self, long: &str) -> bool {
        self.get(long).is_some_and(|v| v != "false")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_cobra() {
        let raw: Vec<String> = [
            "create", "cluster", "--name=a", "-n", "b", "--retain", "--wait", "30s", "-f",
            "x.yaml", "--", "--odd",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let flags = [
            value(&["name", "n"]),
            switch(&["retain"]),
            value(&["wait"]),
            value(&["values", "f"]),
        ];
        let args = Args::parse(&raw, &flags).unwrap();
        assert_eq!(args.positional, ["create", "cluster", "--odd"]);
        assert_eq!(args.get("name"), Some("b"));
        assert_eq!(args.all("name"), ["a", "b"]);
        assert!(args.on("retain"));
        assert_eq!(args.get("wait"), Some("30s"));
        assert_eq!(args.get("values"), Some("x.yaml"));
        assert_eq!(
            Args::parse(&["--nope".to_string()], &flags).unwrap_err(),
            "unknown flag: --nope"
        );
    }
}
