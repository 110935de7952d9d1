//! A documented subset of Helm's templating, enough for the charts the tests
//! use: `{{ .Values.a.b }}`, `.Release.Name`, `.Release.Namespace`,
//! `.Chart.Name`, `.Chart.Version`, `.Chart.AppVersion`; string, number and
//! boolean literals; pipelines and calls of `quote`, `squote`, `default`,
//! `required`, `upper`, `lower`, `toString`, `int`, `toYaml`, `toJson`,
//! `indent`, `nindent`, `trunc`, `trimSuffix`, `b64enc`; `if`/`else if`/
//! `else`/`end` blocks; `{{-`/`-}}` trimming and `{{/* comments */}}`.
//! Anything else is a render error naming the template, as Helm's would be.
//! As in Helm, a missing value renders as nothing.

use base64::Engine as _;
use serde_json::{Value, json};

/// What templates can see.
pub struct Scope {
    /// `.Values`
    pub values: Value,
    /// `.Release`
    pub release: Value,
    /// `.Chart`
    pub chart: Value,
}

#[derive(Debug, Clone)]
enum Token {
    Text(String),
    Action(String),
}

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_owned();
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("unclosed action")?;
        let mut body = &after[..end];
        if let Some(b) = body.strip_prefix('-') {
            if b.starts_with(char::is_whitespace) {
                text = text.trim_end().to_owned();
                body = b;
            }
        }
        let mut trim_right = false;
        if let Some(b) = body.strip_suffix('-') {
            if b.ends_with(char::is_whitespace) {
                trim_right = true;
                body = b;
            }
        }
        out.push(Token::Text(text));
        out.push(Token::Action(body.trim().to_owned()));
        rest = &after[end + 2..];
        if trim_right {
            rest = rest.trim_start();
        }
    }
    out.push(Token::Text(rest.to_owned()));
    Ok(out)
}

/// Renders one template.
pub fn render(name: &str, src: &str, scope: &Scope) -> Result<String, String> {
    let tokens = tokenize(src).map_err(|e| format!("parse error in \"{name}\": {e}"))?;
    let mut out = String::new();
    let mut at = 0;
    render_block(&tokens, &mut at, scope, &mut out, true, name)?;
    if at < tokens.len() {
        return Err(format!("parse error in \"{name}\": unexpected {{{{end}}}}"));
    }
    Ok(out.replace("<no value>", ""))
}

/// Renders tokens from `*at` until an `else`/`end` at this level; returns the
/// word that stopped it (`""` at the end of input).
fn render_block(
    tokens: &[Token],
    at: &mut usize,
    scope: &Scope,
    out: &mut String,
    emit: bool,
    name: &str,
) -> Result<String, String> {
    while *at < tokens.len() {
        let token = tokens[*at].clone();
        *at += 1;
        match token {
            Token::Text(t) => {
                if emit {
                    out.push_str(&t);
                }
            }
            Token::Action(body) => {
                if body.starts_with("/*") {
                    continue;
                }
                if body == "end" || body == "else" || body.starts_with("else if ") {
                    return Ok(body);
                }
                if let Some(cond) = body.strip_prefix("if ") {
                    let mut taken = emit && truthy(&eval(cond, scope, name)?);
                    let mut any = taken;
                    let mut stop = render_block(tokens, at, scope, out, taken, name)?;
                    loop {
                        if stop == "end" {
                            break;
                        } else if let Some(cond) = stop.strip_prefix("else if ") {
                            taken = emit && !any && truthy(&eval(cond, scope, name)?);
                            any |= taken;
                            stop = render_block(tokens, at, scope, out, taken, name)?;
                        } else if stop == "else" {
                            taken = emit && !any;
                            any = true;
                            stop = render_block(tokens, at, scope, out, taken, name)?;
                        } else {
                            return Err(format!(
                                "parse error in \"{name}\": unexpected EOF, missing {{{{end}}}}"
                            ));
                        }
                    }
                    continue;
                }
                if let Some(word) = [
                    "range ",
                    "with ",
                    "define ",
                    "template ",
                    "include ",
                    "block ",
                ]
                .iter()
                .find(|w| body.starts_with(**w))
                {
                    return Err(format!(
                        "template: {name}: `{}` is not in the test world's template subset",
                        word.trim()
                    ));
                }
                if emit {
                    out.push_str(&show(&eval(&body, scope, name)?));
                }
            }
        }
    }
    Ok(String::new())
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// Splits `text` where `is_separator` holds outside quotes and parentheses.
fn split_outside(text: &str, is_separator: impl Fn(char) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = false;
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '"' => quote = !quote,
            '(' if !quote => depth += 1,
            ')' if !quote => depth -= 1,
            c if !quote && depth == 0 && is_separator(c) => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// The words of one pipeline stage.
fn words(text: &str) -> Vec<String> {
    split_outside(text, char::is_whitespace)
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect()
}

/// The stages of a pipeline.
fn split_pipes(text: &str) -> Vec<String> {
    split_outside(text, |c| c == '|')
}

fn eval(pipeline: &str, scope: &Scope, name: &str) -> Result<Value, String> {
    let mut value: Option<Value> = None;
    for stage in split_pipes(pipeline) {
        let parts = words(stage.trim());
        let Some(head) = parts.first() else {
            return Err(format!("template: {name}: missing value for command"));
        };
        let mut args: Vec<Value> = parts[1..]
            .iter()
            .map(|a| operand(a, scope, name))
            .collect::<Result<_, _>>()?;
        if let Some(v) = value.take() {
            args.push(v);
        }
        value = Some(if is_function(head) {
            call(head, &args, name)?
        } else if args.is_empty() {
            operand(head, scope, name)?
        } else {
            return Err(format!(
                "template: {name}: can't give argument to non-function {head}"
            ));
        });
    }
    Ok(value.unwrap_or(Value::Null))
}

fn is_function(word: &str) -> bool {
    matches!(
        word,
        "quote"
            | "squote"
            | "default"
            | "required"
            | "upper"
            | "lower"
            | "toString"
            | "int"
            | "toYaml"
            | "toJson"
            | "indent"
            | "nindent"
            | "trunc"
            | "trimSuffix"
            | "b64enc"
    )
}

fn operand(word: &str, scope: &Scope, name: &str) -> Result<Value, String> {
    if let Some(inner) = word.strip_prefix('(').and_then(|w| w.strip_suffix(')')) {
        return eval(inner, scope, name);
    }
    if let Some(s) = word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        return Ok(json!(s.replace("\\\"", "\"").replace("\\n", "\n")));
    }
    if word == "true" || word == "false" {
        return Ok(json!(word == "true"));
    }
    if let Ok(i) = word.parse::<i64>() {
        return Ok(json!(i));
    }
    if let Some(path) = word.strip_prefix('.') {
        let mut parts = path.split('.');
        let root = match parts.next() {
            Some("Values") => &scope.values,
            Some("Release") => &scope.release,
            Some("Chart") => &scope.chart,
            Some("") => {
                return Ok(
                    json!({"Values": scope.values, "Release": scope.release, "Chart": scope.chart}),
                );
            }
            Some(other) => return Err(format!("template: {name}: can't evaluate field {other}")),
            None => return Ok(Value::Null),
        };
        let mut here = root;
        for part in parts {
            here = match here.get(part) {
                Some(v) => v,
                None => return Ok(Value::Null),
            };
        }
        return Ok(here.clone());
    }
    if is_function(word) {
        return call(word, &[], name);
    }
    Err(format!("template: {name}: function \"{word}\" not defined"))
}

fn call(function: &str, args: &[Value], name: &str) -> Result<Value, String> {
    let last = || args.last().cloned().unwrap_or(Value::Null);
    let int_arg = |i: usize| args.get(i).and_then(Value::as_i64).unwrap_or(0);
    Ok(match function {
        "quote" => json!(format!("{:?}", show(&last()))),
        "squote" => json!(format!("'{}'", show(&last()))),
        "default" => {
            if args.len() > 1 && truthy(&args[1]) {
                args[1].clone()
            } else {
                args.first().cloned().unwrap_or(Value::Null)
            }
        }
        "required" => {
            if args.len() > 1 && truthy(&args[1]) {
                args[1].clone()
            } else {
                return Err(format!("execution error at ({name}): {}", show(&args[0])));
            }
        }
        "upper" => json!(show(&last()).to_uppercase()),
        "lower" => json!(show(&last()).to_lowercase()),
        "toString" => json!(show(&last())),
        "int" => json!(show(&last()).parse::<f64>().map(|f| f as i64).unwrap_or(0)),
        "toYaml" => {
            let v = last();
            if v.is_null() {
                json!("null")
            } else {
                json!(
                    serde_yaml_ng::to_string(&v)
                        .unwrap_or_default()
                        .trim_end()
                        .to_owned()
                )
            }
        }
        "toJson" => json!(last().to_string()),
        "indent" | "nindent" => {
            let pad = " ".repeat(int_arg(0).max(0) as usize);
            let text = show(&last());
            let indented = text
                .lines()
                .map(|l| format!("{pad}{l}"))
                .collect::<Vec<_>>()
                .join("\n");
            json!(if function == "nindent" {
                format!("\n{indented}")
            } else {
                indented
            })
        }
        "trunc" => json!(
            show(&last())
                .chars()
                .take(int_arg(0).max(0) as usize)
                .collect::<String>()
        ),
        "trimSuffix" => {
            let suffix = args.first().map(show).unwrap_or_default();
            let text = show(&last());
            json!(
                text.strip_suffix(suffix.as_str())
                    .unwrap_or(&text)
                    .to_owned()
            )
        }
        "b64enc" => json!(base64::engine::general_purpose::STANDARD.encode(show(&last()))),
        other => {
            return Err(format!(
                "template: {name}: function \"{other}\" not defined"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            values: json!({"image": {"tag": "local", "repo": "app"}, "replicas": 2, "debug": false, "labels": {"a": "b"}}),
            release: json!({"Name": "web", "Namespace": "apps"}),
            chart: json!({"Name": "hello", "Version": "0.1.0"}),
        }
    }

    #[test]
    fn renders_the_subset() {
        let src = "name: {{ .Release.Name }}\nimage: \"{{ .Values.image.repo }}:{{ .Values.image.tag }}\"\nreplicas: {{ .Values.replicas }}\n{{- if .Values.debug }}\ndebug: true\n{{- else }}\ndebug: false\n{{- end }}\nmissing: {{ .Values.nope }}\nq: {{ .Values.image.tag | quote }}\nd: {{ .Values.nope | default \"x\" }}\nlabels:{{ toYaml .Values.labels | nindent 2 }}\n";
        let out = render("t", src, &scope()).unwrap();
        assert_eq!(
            out,
            "name: web\nimage: \"app:local\"\nreplicas: 2\ndebug: false\nmissing: \nq: \"local\"\nd: x\nlabels:\n  a: b\n"
        );
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert!(render("t", "{{ range .Values.x }}{{ end }}", &scope()).is_err());
        assert!(render("t", "{{ frob .Values.x }}", &scope()).is_err());
        assert!(render("t", "{{ if .Values.x }}", &scope()).is_err());
    }
}
