//! Where `-v` and `-vv` logs go: stderr, one scrubbed write per event. At
//! `-vv` the libraries under kindform log too, and they log what they send
//! and receive: Docker request URIs (build arguments in the query), bodies
//! decoded from the Docker API. Each event is held until it is whole, then
//! scrubbed of the run's secrets, of query values that carry settings, and
//! of bodies, and written at once.

use std::io::Write;
use std::sync::LazyLock;

use regex::Regex;

/// Query parameters whose values carry what the spec set (build arguments,
/// labels, registry credentials), shown by name only.
static SETTING_PARAMS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(buildargs|labels|cachefrom|x-registry-auth|x-registry-config)=[^&\s]*")
        .unwrap()
});

/// Log messages that dump a whole body after this text.
const BODY_DUMPS: &[&str] = &["Decoded into string: "];

/// The log line as it may be shown.
pub fn scrub_log_line(line: &str) -> String {
    let mut line = kindform_api::secrets::scrub(line).into_owned();
    for marker in BODY_DUMPS {
        if let Some(at) = line.find(marker) {
            let body = line[at + marker.len()..].trim_end().len();
            line.truncate(at + marker.len());
            line.push_str(&format!("({body} bytes, not shown)\n"));
        }
    }
    SETTING_PARAMS
        .replace_all(&line, "$1=(not shown)")
        .into_owned()
}

/// Makes one [`EventWriter`] per log event.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScrubbedStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbedStderr {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter(Vec::new())
    }
}

/// One event's text, written scrubbed to stderr when the event is done.
pub struct EventWriter(Vec<u8>);

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::stderr().write_all(scrub_log_line(&text).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_in_queries_bodies_and_secrets_are_not_logged() {
        kindform_api::secrets::register("canary-log-5e1d");
        let uri = "http://localhost/v1.47/build?t=app%3Adev&buildargs=%7B%22TOKEN%22%3A%22x%22%7D&rm=true\n";
        assert_eq!(
            scrub_log_line(uri),
            "http://localhost/v1.47/build?t=app%3Adev&buildargs=(not shown)&rm=true\n"
        );
        assert_eq!(
            scrub_log_line("DEBUG Decoded into string: {\"Env\":[\"A=b\"]}\n"),
            "DEBUG Decoded into string: (15 bytes, not shown)\n"
        );
        assert_eq!(
            scrub_log_line("helm said canary-log-5e1d\n"),
            "helm said (sensitive)\n"
        );
    }
}
