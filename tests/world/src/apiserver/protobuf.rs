//! Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`): decoding them into
//! the JSON objects the server keeps, and encoding JSON into them for tests.
//!
//! This module owns the `k8s\0` + `runtime.Unknown` envelope and the field-by-field mapping
//! between the JSON form and the protobuf messages (the prost types of `k8s-pb`) of the kinds
//! client-go may send as protobuf: core `v1` Secret, ConfigMap, Namespace and Event,
//! `autoscaling/v1` Scale, and DeleteOptions under any apiVersion (client-go labels it with
//! the group version of the client that sends it).
//!
//! The JSON that [`decode`] makes is what client-go would have sent as JSON for the same Go
//! object. Go writes its value fields into protobuf even when they hold the zero value, so a
//! zero value is left out exactly where the Go JSON tag says `omitempty` and kept where it
//! does not (`status.replicas` of a Scale, the `reportingComponent` of an Event, ...); Go
//! pointer fields appear whenever they are set, even to a zero value; Go struct fields
//! (`metadata`, `spec`, `status`, `involvedObject`, `source`) always appear. One deliberate
//! difference: a zero timestamp is left out instead of being written as `null` (newer
//! apimachinery does the same for `creationTimestamp`), so a caller only has to handle absence.
//!
//! [`encode`] writes bodies shaped the way client-go writes them (value fields always present,
//! zero timestamps as empty messages), so tests built on it walk the same decode paths as the
//! real clients' bodies.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_pb::api::autoscaling::v1 as autoscaling;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::{Map, Value};

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The bytes every body starts with; the fourth is the envelope style, and only 0 exists.
const MAGIC: &[u8] = b"k8s\0";

/// `time.Time{}.Unix()` in Go: a Timestamp carrying it is Go's zero time, not a real instant.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

const SECONDS_PER_DAY: i64 = 86_400;
const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// What can go wrong decoding or encoding a protobuf body.
#[derive(Debug)]
pub enum ProtobufError {
    /// The body does not start with the `k8s\0` magic bytes, so it is not a Kubernetes protobuf body.
    MissingPrefix,
    /// The envelope or the object inside it is not a valid protobuf message (truncated, a wrong wire type, text that is not UTF-8).
    Malformed {
        /// Which message failed to parse.
        message: &'static str,
        /// The parser's complaint.
        source: prost::DecodeError,
    },
    /// The envelope (or the JSON object given to [`encode`]) lacks an apiVersion or a kind.
    MissingTypeMeta,
    /// The envelope says its raw bytes carry a content encoding (such as compression), which is not handled.
    ContentEncoding(String),
    /// The apiVersion and kind name an object this module does not convert.
    Unsupported {
        /// The apiVersion that was named.
        api_version: String,
        /// The kind that was named.
        kind: String,
    },
    /// A managedFields entry's `fieldsV1` bytes are not a JSON document.
    FieldsV1(serde_json::Error),
    /// A protobuf timestamp falls outside the years 0000 to 9999 that RFC 3339 can write.
    TimeOutOfRange {
        /// Seconds since the Unix epoch, as carried in the message.
        seconds: i64,
    },
    /// A JSON field given to [`encode`] has the wrong type, an unknown name, or a value its protobuf field cannot hold.
    InvalidJson {
        /// Dotted path of the field within the object.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A JSON field given to [`encode`] that holds bytes is not valid standard base64.
    Base64 {
        /// Dotted path of the field within the object.
        path: String,
        /// The base64 decoder's complaint.
        source: base64::DecodeError,
    },
}

impl fmt::Display for ProtobufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingPrefix => write!(
                f,
                "body is not a Kubernetes protobuf message: it does not start with \"k8s\\0\""
            ),
            Self::Malformed { message, .. } => write!(f, "malformed protobuf in {message}"),
            Self::MissingTypeMeta => write!(f, "object names no apiVersion or no kind"),
            Self::ContentEncoding(encoding) => write!(
                f,
                "protobuf envelope has content encoding {encoding:?}, which is not supported"
            ),
            Self::Unsupported { api_version, kind } => write!(
                f,
                "protobuf bodies of {api_version:?} {kind:?} are not supported"
            ),
            Self::FieldsV1(_) => write!(f, "managedFields fieldsV1 is not a JSON document"),
            Self::TimeOutOfRange { seconds } => write!(
                f,
                "timestamp of {seconds} seconds since the epoch is outside the years 0000-9999"
            ),
            Self::InvalidJson { path, reason } => write!(f, "field {path}: {reason}"),
            Self::Base64 { path, .. } => write!(f, "field {path}: invalid base64"),
        }
    }
}

impl std::error::Error for ProtobufError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Malformed { source, .. } => Some(source),
            Self::FieldsV1(source) => Some(source),
            Self::Base64 { source, .. } => Some(source),
            _ => None,
        }
    }
}

type Result<T, E = ProtobufError> = std::result::Result<T, E>;

/// Whether a Content-Type header value names the protobuf encoding (parameters are ignored).
pub fn is_protobuf(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case(CONTENT_TYPE)
}

/// Decodes a protobuf body into the JSON object it stands for, with `apiVersion` and `kind`
/// set from the envelope.
pub fn decode(body: &[u8]) -> Result<Value> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingPrefix)?;
    let unknown: Unknown = parse(envelope, "runtime.Unknown envelope")?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    if let Some(encoding) = unknown.content_encoding.filter(|e| !e.is_empty()) {
        return Err(ProtobufError::ContentEncoding(encoding));
    }
    let supported = kind_of(&api_version, &kind).ok_or_else(|| ProtobufError::Unsupported {
        api_version: api_version.clone(),
        kind: kind.clone(),
    })?;
    let raw = unknown.raw.unwrap_or_default();
    let mut object = match supported {
        Kind::Secret => secret_json(parse(&raw, "v1 Secret")?)?,
        Kind::ConfigMap => config_map_json(parse(&raw, "v1 ConfigMap")?)?,
        Kind::Namespace => namespace_json(parse(&raw, "v1 Namespace")?)?,
        Kind::Event => event_json(parse(&raw, "v1 Event")?)?,
        Kind::DeleteOptions => delete_options_json(parse(&raw, "DeleteOptions")?),
        Kind::Scale => scale_json(parse(&raw, "autoscaling/v1 Scale")?)?,
    };
    object.put("apiVersion", api_version);
    object.put("kind", kind);
    Ok(object.into_value())
}

/// Encodes a JSON object of a supported kind as a protobuf body, envelope included, shaped
/// the way client-go writes it. Fields the kind does not have are an error rather than being
/// dropped, so a test cannot silently send less than it meant to.
pub fn encode(object: &Value) -> Result<Vec<u8>> {
    let mut reader = Reader::new(object, String::new())?;
    let api_version = reader.text("apiVersion")?.unwrap_or_default();
    let kind = reader.text("kind")?.unwrap_or_default();
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    let supported = kind_of(&api_version, &kind).ok_or_else(|| ProtobufError::Unsupported {
        api_version: api_version.clone(),
        kind: kind.clone(),
    })?;
    let raw = match supported {
        Kind::Secret => secret_pb(&mut reader)?.encode_to_vec(),
        Kind::ConfigMap => config_map_pb(&mut reader)?.encode_to_vec(),
        Kind::Namespace => namespace_pb(&mut reader)?.encode_to_vec(),
        Kind::Event => event_pb(&mut reader)?.encode_to_vec(),
        Kind::DeleteOptions => delete_options_pb(&mut reader)?.encode_to_vec(),
        Kind::Scale => scale_pb(&mut reader)?.encode_to_vec(),
    };
    reader.finish()?;
    let envelope = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version),
            kind: Some(kind),
        }),
        raw: Some(raw),
        // Go writes these empty strings too; decoders must not mistake them for an encoding.
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = MAGIC.to_vec();
    body.extend(envelope.encode_to_vec());
    Ok(body)
}

#[derive(Clone, Copy)]
enum Kind {
    Secret,
    ConfigMap,
    Namespace,
    Event,
    DeleteOptions,
    Scale,
}

fn kind_of(api_version: &str, kind: &str) -> Option<Kind> {
    match (api_version, kind) {
        ("v1", "Secret") => Some(Kind::Secret),
        ("v1", "ConfigMap") => Some(Kind::ConfigMap),
        ("v1", "Namespace") => Some(Kind::Namespace),
        ("v1", "Event") => Some(Kind::Event),
        ("autoscaling/v1", "Scale") => Some(Kind::Scale),
        // apimachinery registers DeleteOptions in every group version, and client-go labels
        // the body with its own client's one ("v1", "apps/v1", ...); the message is the same.
        (_, "DeleteOptions") => Some(Kind::DeleteOptions),
        _ => None,
    }
}

fn parse<M: Message + Default>(bytes: &[u8], message: &'static str) -> Result<M> {
    M::decode(bytes).map_err(|source| ProtobufError::Malformed { message, source })
}

// ---------------------------------------------------------------------------------------
// protobuf -> JSON
// ---------------------------------------------------------------------------------------

/// A JSON object under construction; each method applies one of Go's JSON omission rules.
#[derive(Default)]
struct Json(Map<String, Value>);

impl Json {
    fn put(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_owned(), value.into());
    }

    /// A Go value string tagged `omitempty`.
    fn text(&mut self, key: &str, value: Option<String>) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.put(key, value);
        }
    }

    /// A Go value string without `omitempty`.
    fn text_always(&mut self, key: &str, value: Option<String>) {
        self.put(key, value.unwrap_or_default());
    }

    /// A Go `*string`.
    fn text_ptr(&mut self, key: &str, value: Option<String>) {
        if let Some(value) = value {
            self.put(key, value);
        }
    }

    /// A Go value integer tagged `omitempty`.
    fn int(&mut self, key: &str, value: Option<i64>) {
        if let Some(value) = value.filter(|v| *v != 0) {
            self.put(key, value);
        }
    }

    /// A Go value integer without `omitempty`.
    fn int_always(&mut self, key: &str, value: Option<i64>) {
        self.put(key, value.unwrap_or_default());
    }

    /// A Go `*int64`.
    fn int_ptr(&mut self, key: &str, value: Option<i64>) {
        if let Some(value) = value {
            self.put(key, value);
        }
    }

    /// A Go `*bool`.
    fn flag_ptr(&mut self, key: &str, value: Option<bool>) {
        if let Some(value) = value {
            self.put(key, value);
        }
    }

    fn strings(&mut self, key: &str, values: Vec<String>) {
        if !values.is_empty() {
            self.put(key, values);
        }
    }

    fn string_map(&mut self, key: &str, map: BTreeMap<String, String>) {
        if !map.is_empty() {
            let map: Map<String, Value> = map.into_iter().map(|(k, v)| (k, v.into())).collect();
            self.put(key, map);
        }
    }

    /// A Go `map[string][]byte`, whose JSON form holds standard base64 strings.
    fn bytes_map(&mut self, key: &str, map: BTreeMap<String, Vec<u8>>) {
        if !map.is_empty() {
            let map: Map<String, Value> = map
                .into_iter()
                .map(|(k, v)| (k, BASE64.encode(v).into()))
                .collect();
            self.put(key, map);
        }
    }

    fn list(&mut self, key: &str, items: Vec<Json>) {
        if !items.is_empty() {
            let items: Vec<Value> = items.into_iter().map(Json::into_value).collect();
            self.put(key, items);
        }
    }

    /// A Go struct field: present whatever it holds.
    fn object(&mut self, key: &str, object: Json) {
        self.put(key, object.into_value());
    }

    /// A `metav1.Time`, value or pointer.
    fn time(&mut self, key: &str, time: Option<meta::Time>) -> Result<()> {
        if let Some(time) = time {
            // Go's Time ignores the nanos it is sent: its JSON only ever had seconds.
            if let Some(text) = time_text(time.seconds, time.nanos.map(|_| 0), false)? {
                self.put(key, text);
            }
        }
        Ok(())
    }

    /// A `metav1.MicroTime`, value or pointer.
    fn micro_time(&mut self, key: &str, time: Option<meta::MicroTime>) -> Result<()> {
        let Some(time) = time else {
            return Ok(());
        };
        if let Some(text) = time_text(time.seconds, time.nanos, true)? {
            self.put(key, text);
        }
        Ok(())
    }

    fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

fn object_meta_json(m: Option<meta::ObjectMeta>) -> Result<Json> {
    let m = m.unwrap_or_default();
    let mut out = Json::default();
    out.text("name", m.name);
    out.text("generateName", m.generate_name);
    out.text("namespace", m.namespace);
    out.text("selfLink", m.self_link);
    out.text("uid", m.uid);
    out.text("resourceVersion", m.resource_version);
    out.int("generation", m.generation);
    out.time("creationTimestamp", m.creation_timestamp)?;
    out.time("deletionTimestamp", m.deletion_timestamp)?;
    out.int_ptr(
        "deletionGracePeriodSeconds",
        m.deletion_grace_period_seconds,
    );
    out.string_map("labels", m.labels);
    out.string_map("annotations", m.annotations);
    out.list(
        "ownerReferences",
        m.owner_references
            .into_iter()
            .map(owner_reference_json)
            .collect(),
    );
    out.strings("finalizers", m.finalizers);
    out.list(
        "managedFields",
        m.managed_fields
            .into_iter()
            .map(managed_fields_json)
            .collect::<Result<_>>()?,
    );
    Ok(out)
}

fn owner_reference_json(r: meta::OwnerReference) -> Json {
    let mut out = Json::default();
    out.text_always("apiVersion", r.api_version);
    out.text_always("kind", r.kind);
    out.text_always("name", r.name);
    out.text_always("uid", r.uid);
    out.flag_ptr("controller", r.controller);
    out.flag_ptr("blockOwnerDeletion", r.block_owner_deletion);
    out
}

fn managed_fields_json(e: meta::ManagedFieldsEntry) -> Result<Json> {
    let mut out = Json::default();
    out.text("manager", e.manager);
    out.text("operation", e.operation);
    out.text("apiVersion", e.api_version);
    out.time("time", e.time)?;
    out.text("fieldsType", e.fields_type);
    // fieldsV1 carries the JSON text of the field set; Go writes empty raw bytes as null,
    // which says no more than leaving the field out.
    if let Some(raw) = e.fields_v1.and_then(|f| f.raw).filter(|r| !r.is_empty()) {
        let fields: Value = serde_json::from_slice(&raw).map_err(ProtobufError::FieldsV1)?;
        out.put("fieldsV1", fields);
    }
    out.text("subresource", e.subresource);
    Ok(out)
}

fn secret_json(s: core::Secret) -> Result<Json> {
    let mut out = Json::default();
    out.object("metadata", object_meta_json(s.metadata)?);
    out.flag_ptr("immutable", s.immutable);
    out.bytes_map("data", s.data);
    out.string_map("stringData", s.string_data);
    out.text("type", s.r#type);
    Ok(out)
}

fn config_map_json(c: core::ConfigMap) -> Result<Json> {
    let mut out = Json::default();
    out.object("metadata", object_meta_json(c.metadata)?);
    out.flag_ptr("immutable", c.immutable);
    out.string_map("data", c.data);
    out.bytes_map("binaryData", c.binary_data);
    Ok(out)
}

fn namespace_json(n: core::Namespace) -> Result<Json> {
    let mut out = Json::default();
    out.object("metadata", object_meta_json(n.metadata)?);
    let mut spec = Json::default();
    spec.strings("finalizers", n.spec.unwrap_or_default().finalizers);
    out.object("spec", spec);
    let status = n.status.unwrap_or_default();
    let mut status_json = Json::default();
    status_json.text("phase", status.phase);
    let conditions = status
        .conditions
        .into_iter()
        .map(|c| {
            let mut out = Json::default();
            out.text_always("type", c.r#type);
            out.text_always("status", c.status);
            out.time("lastTransitionTime", c.last_transition_time)?;
            out.text("reason", c.reason);
            out.text("message", c.message);
            Ok(out)
        })
        .collect::<Result<_>>()?;
    status_json.list("conditions", conditions);
    out.object("status", status_json);
    Ok(out)
}

fn object_reference_json(r: core::ObjectReference) -> Json {
    let mut out = Json::default();
    out.text("kind", r.kind);
    out.text("namespace", r.namespace);
    out.text("name", r.name);
    out.text("uid", r.uid);
    out.text("apiVersion", r.api_version);
    out.text("resourceVersion", r.resource_version);
    out.text("fieldPath", r.field_path);
    out
}

fn event_json(e: core::Event) -> Result<Json> {
    let mut out = Json::default();
    out.object("metadata", object_meta_json(e.metadata)?);
    out.object(
        "involvedObject",
        object_reference_json(e.involved_object.unwrap_or_default()),
    );
    out.text("reason", e.reason);
    out.text("message", e.message);
    let source = e.source.unwrap_or_default();
    let mut source_json = Json::default();
    source_json.text("component", source.component);
    source_json.text("host", source.host);
    out.object("source", source_json);
    out.time("firstTimestamp", e.first_timestamp)?;
    out.time("lastTimestamp", e.last_timestamp)?;
    out.int("count", e.count.map(i64::from));
    out.text("type", e.r#type);
    out.micro_time("eventTime", e.event_time)?;
    if let Some(series) = e.series {
        let mut series_json = Json::default();
        series_json.int("count", series.count.map(i64::from));
        series_json.micro_time("lastObservedTime", series.last_observed_time)?;
        out.object("series", series_json);
    }
    out.text("action", e.action);
    if let Some(related) = e.related {
        out.object("related", object_reference_json(related));
    }
    out.text_always("reportingComponent", e.reporting_component);
    out.text_always("reportingInstance", e.reporting_instance);
    Ok(out)
}

fn delete_options_json(d: meta::DeleteOptions) -> Json {
    let mut out = Json::default();
    out.int_ptr("gracePeriodSeconds", d.grace_period_seconds);
    if let Some(p) = d.preconditions {
        let mut preconditions = Json::default();
        preconditions.text_ptr("uid", p.uid);
        preconditions.text_ptr("resourceVersion", p.resource_version);
        out.object("preconditions", preconditions);
    }
    out.flag_ptr("orphanDependents", d.orphan_dependents);
    out.text_ptr("propagationPolicy", d.propagation_policy);
    out.strings("dryRun", d.dry_run);
    out.flag_ptr(
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        d.ignore_store_read_error_with_cluster_breaking_potential,
    );
    out
}

fn scale_json(s: autoscaling::Scale) -> Result<Json> {
    let mut out = Json::default();
    out.object("metadata", object_meta_json(s.metadata)?);
    let mut spec = Json::default();
    spec.int(
        "replicas",
        s.spec.unwrap_or_default().replicas.map(i64::from),
    );
    out.object("spec", spec);
    let status = s.status.unwrap_or_default();
    let mut status_json = Json::default();
    status_json.int_always("replicas", status.replicas.map(i64::from));
    status_json.text("selector", status.selector);
    out.object("status", status_json);
    Ok(out)
}

/// Writes a protobuf Timestamp as Go's JSON does: RFC 3339 in UTC, to the second, or to the
/// microsecond for a MicroTime. `None` means Go's zero time, which is left out.
fn time_text(seconds: Option<i64>, nanos: Option<i32>, micro: bool) -> Result<Option<String>> {
    if seconds.is_none() && nanos.is_none() {
        // An empty message: Go writes its zero time this way.
        return Ok(None);
    }
    let seconds = seconds.unwrap_or_default();
    let out_of_range = ProtobufError::TimeOutOfRange { seconds };
    let nanos = i64::from(nanos.unwrap_or_default());
    // Go's time.Unix carries nanos outside 0..1e9 into the seconds.
    let seconds = seconds
        .checked_add(nanos.div_euclid(NANOS_PER_SECOND))
        .ok_or(out_of_range)?;
    let micros = nanos.rem_euclid(NANOS_PER_SECOND) / 1_000;
    if seconds == GO_ZERO_TIME_SECONDS && micros == 0 {
        return Ok(None);
    }
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return Err(ProtobufError::TimeOutOfRange { seconds });
    }
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if micro {
        text.push_str(&format!(".{micros:06}"));
    }
    text.push('Z');
    Ok(Some(text))
}

/// Proleptic Gregorian date of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date; the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------------------------------
// JSON -> protobuf
// ---------------------------------------------------------------------------------------

/// Go writes every value field, zero or not; pointer fields only when set.
fn always<T: Default>(value: Option<T>) -> Option<T> {
    Some(value.unwrap_or_default())
}

/// Reads the fields of one JSON object and remembers which it read, so that
/// [`Reader::finish`] can refuse the ones no protobuf field takes.
struct Reader<'a> {
    /// `None` stands for an absent object, read as if it were `{}`.
    map: Option<&'a Map<String, Value>>,
    path: String,
    seen: Vec<&'static str>,
}

impl<'a> Reader<'a> {
    fn new(value: &'a Value, path: String) -> Result<Self> {
        match value {
            Value::Object(map) => Ok(Reader {
                map: Some(map),
                path,
                seen: Vec::new(),
            }),
            _ => Err(ProtobufError::InvalidJson {
                path: if path.is_empty() {
                    "(object)".into()
                } else {
                    path
                },
                reason: "expected an object".into(),
            }),
        }
    }

    fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn invalid(&self, key: &str, reason: impl Into<String>) -> ProtobufError {
        ProtobufError::InvalidJson {
            path: self.path_of(key),
            reason: reason.into(),
        }
    }

    /// The field's value; JSON `null` counts as absent, as it does for Go's decoder.
    fn field(&mut self, key: &'static str) -> Option<&'a Value> {
        self.seen.push(key);
        self.map?.get(key).filter(|v| !v.is_null())
    }

    fn text(&mut self, key: &'static str) -> Result<Option<String>> {
        match self.field(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.invalid(key, "expected a string")),
        }
    }

    fn int(&mut self, key: &'static str) -> Result<Option<i64>> {
        match self.field(key) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.invalid(key, "expected a 64-bit integer")),
        }
    }

    fn int32(&mut self, key: &'static str) -> Result<Option<i32>> {
        self.int(key)?
            .map(|v| i32::try_from(v).map_err(|_| self.invalid(key, "expected a 32-bit integer")))
            .transpose()
    }

    fn flag(&mut self, key: &'static str) -> Result<Option<bool>> {
        match self.field(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.invalid(key, "expected a boolean")),
        }
    }

    fn strings(&mut self, key: &'static str) -> Result<Vec<String>> {
        match self.field(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| self.invalid(key, "expected a list of strings"))
                })
                .collect(),
            Some(_) => Err(self.invalid(key, "expected a list of strings")),
        }
    }

    fn string_map(&mut self, key: &'static str) -> Result<BTreeMap<String, String>> {
        match self.field(key) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(self.invalid(&format!("{key}.{k}"), "expected a string")),
                })
                .collect(),
            Some(_) => Err(self.invalid(key, "expected an object of strings")),
        }
    }

    fn bytes_map(&mut self, key: &'static str) -> Result<BTreeMap<String, Vec<u8>>> {
        self.string_map(key)?
            .into_iter()
            .map(|(k, v)| {
                let bytes = BASE64.decode(v).map_err(|source| ProtobufError::Base64 {
                    path: self.path_of(&format!("{key}.{k}")),
                    source,
                })?;
                Ok((k, bytes))
            })
            .collect()
    }

    fn time(&mut self, key: &'static str) -> Result<Option<meta::Time>> {
        Ok(self.instant(key)?.map(|(seconds, _)| meta::Time {
            seconds: Some(seconds),
            // Go's Time never sends nanos other than 0, and always sends them.
            nanos: Some(0),
        }))
    }

    fn micro_time(&mut self, key: &'static str) -> Result<Option<meta::MicroTime>> {
        Ok(self.instant(key)?.map(|(seconds, nanos)| meta::MicroTime {
            seconds: Some(seconds),
            nanos: Some(nanos / 1_000 * 1_000),
        }))
    }

    fn instant(&mut self, key: &'static str) -> Result<Option<(i64, i32)>> {
        self.text(key)?
            .map(|text| {
                parse_time(&text).ok_or_else(|| self.invalid(key, "expected an RFC 3339 time"))
            })
            .transpose()
    }

    /// A nested object, or `None` when absent (for Go pointer structs).
    fn child<T>(
        &mut self,
        key: &'static str,
        read: impl FnOnce(&mut Reader<'a>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self.field(key) {
            Some(value) => read_object(value, self.path_of(key), read).map(Some),
            None => Ok(None),
        }
    }

    /// A nested object that Go always writes (a value struct), read as `{}` when absent.
    fn value_child<T>(
        &mut self,
        key: &'static str,
        read: impl FnOnce(&mut Reader<'a>) -> Result<T>,
    ) -> Result<T> {
        match self.field(key) {
            Some(value) => read_object(value, self.path_of(key), read),
            None => read(&mut Reader {
                map: None,
                path: self.path_of(key),
                seen: Vec::new(),
            }),
        }
    }

    fn children<T>(
        &mut self,
        key: &'static str,
        mut read: impl FnMut(&mut Reader<'a>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let items = match self.field(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(self.invalid(key, "expected a list of objects")),
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                read_object(item, format!("{}[{index}]", self.path_of(key)), &mut read)
            })
            .collect()
    }

    fn finish(self) -> Result<()> {
        let Some(map) = self.map else {
            return Ok(());
        };
        match map.keys().find(|k| !self.seen.contains(&k.as_str())) {
            Some(unknown) => Err(self.invalid(unknown, "no such field in this kind's protobuf")),
            None => Ok(()),
        }
    }
}

/// Reads one nested JSON object with `read`, refusing fields it did not take.
fn read_object<'a, T>(
    value: &'a Value,
    path: String,
    read: impl FnOnce(&mut Reader<'a>) -> Result<T>,
) -> Result<T> {
    let mut reader = Reader::new(value, path)?;
    let out = read(&mut reader)?;
    reader.finish()?;
    Ok(out)
}

/// Parses Go's `time.RFC3339` form (fraction optional, `Z` or a numeric offset) into
/// seconds since the epoch and nanoseconds.
fn parse_time(text: &str) -> Option<(i64, i32)> {
    let b = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || !(1..=month_days[month as usize - 1]).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 9 {
            return None;
        }
        nanos = fraction[..len].parse::<i32>().ok()? * 10_i32.pow(9 - len as u32);
        rest = &fraction[len..];
    }
    let offset = match rest.as_bytes() {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let (hours, minutes) = (digit(h1)? * 10 + digit(h2)?, digit(m1)? * 10 + digit(m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let seconds =
        days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second
            - offset;
    Some((seconds, nanos))
}

fn object_meta_pb(r: &mut Reader) -> Result<meta::ObjectMeta> {
    Ok(meta::ObjectMeta {
        name: always(r.text("name")?),
        generate_name: always(r.text("generateName")?),
        namespace: always(r.text("namespace")?),
        self_link: always(r.text("selfLink")?),
        uid: always(r.text("uid")?),
        resource_version: always(r.text("resourceVersion")?),
        generation: always(r.int("generation")?),
        creation_timestamp: always(r.time("creationTimestamp")?),
        deletion_timestamp: r.time("deletionTimestamp")?,
        deletion_grace_period_seconds: r.int("deletionGracePeriodSeconds")?,
        labels: r.string_map("labels")?,
        annotations: r.string_map("annotations")?,
        owner_references: r.children("ownerReferences", |o| {
            Ok(meta::OwnerReference {
                api_version: always(o.text("apiVersion")?),
                kind: always(o.text("kind")?),
                name: always(o.text("name")?),
                uid: always(o.text("uid")?),
                controller: o.flag("controller")?,
                block_owner_deletion: o.flag("blockOwnerDeletion")?,
            })
        })?,
        finalizers: r.strings("finalizers")?,
        managed_fields: r.children("managedFields", managed_fields_pb)?,
    })
}

fn managed_fields_pb(e: &mut Reader) -> Result<meta::ManagedFieldsEntry> {
    let fields_v1 = match e.field("fieldsV1") {
        None => None,
        Some(fields @ Value::Object(_)) => Some(meta::FieldsV1 {
            raw: Some(serde_json::to_vec(fields).map_err(ProtobufError::FieldsV1)?),
        }),
        Some(_) => return Err(e.invalid("fieldsV1", "expected an object")),
    };
    Ok(meta::ManagedFieldsEntry {
        manager: always(e.text("manager")?),
        operation: always(e.text("operation")?),
        api_version: always(e.text("apiVersion")?),
        time: e.time("time")?,
        fields_type: always(e.text("fieldsType")?),
        fields_v1,
        subresource: always(e.text("subresource")?),
    })
}

fn secret_pb(r: &mut Reader) -> Result<core::Secret> {
    Ok(core::Secret {
        metadata: Some(r.value_child("metadata", object_meta_pb)?),
        immutable: r.flag("immutable")?,
        data: r.bytes_map("data")?,
        string_data: r.string_map("stringData")?,
        r#type: always(r.text("type")?),
    })
}

fn config_map_pb(r: &mut Reader) -> Result<core::ConfigMap> {
    Ok(core::ConfigMap {
        metadata: Some(r.value_child("metadata", object_meta_pb)?),
        immutable: r.flag("immutable")?,
        data: r.string_map("data")?,
        binary_data: r.bytes_map("binaryData")?,
    })
}

fn namespace_pb(r: &mut Reader) -> Result<core::Namespace> {
    Ok(core::Namespace {
        metadata: Some(r.value_child("metadata", object_meta_pb)?),
        spec: Some(r.value_child("spec", |s| {
            Ok(core::NamespaceSpec {
                finalizers: s.strings("finalizers")?,
            })
        })?),
        status: Some(r.value_child("status", |s| {
            Ok(core::NamespaceStatus {
                phase: always(s.text("phase")?),
                conditions: s.children("conditions", |c| {
                    Ok(core::NamespaceCondition {
                        r#type: always(c.text("type")?),
                        status: always(c.text("status")?),
                        last_transition_time: always(c.time("lastTransitionTime")?),
                        reason: always(c.text("reason")?),
                        message: always(c.text("message")?),
                    })
                })?,
            })
        })?),
    })
}

fn object_reference_pb(r: &mut Reader) -> Result<core::ObjectReference> {
    Ok(core::ObjectReference {
        kind: always(r.text("kind")?),
        namespace: always(r.text("namespace")?),
        name: always(r.text("name")?),
        uid: always(r.text("uid")?),
        api_version: always(r.text("apiVersion")?),
        resource_version: always(r.text("resourceVersion")?),
        field_path: always(r.text("fieldPath")?),
    })
}

fn event_pb(r: &mut Reader) -> Result<core::Event> {
    Ok(core::Event {
        metadata: Some(r.value_child("metadata", object_meta_pb)?),
        involved_object: Some(r.value_child("involvedObject", object_reference_pb)?),
        reason: always(r.text("reason")?),
        message: always(r.text("message")?),
        source: Some(r.value_child("source", |s| {
            Ok(core::EventSource {
                component: always(s.text("component")?),
                host: always(s.text("host")?),
            })
        })?),
        first_timestamp: always(r.time("firstTimestamp")?),
        last_timestamp: always(r.time("lastTimestamp")?),
        count: always(r.int32("count")?),
        r#type: always(r.text("type")?),
        event_time: always(r.micro_time("eventTime")?),
        series: r.child("series", |s| {
            Ok(core::EventSeries {
                count: always(s.int32("count")?),
                last_observed_time: always(s.micro_time("lastObservedTime")?),
            })
        })?,
        action: always(r.text("action")?),
        related: r.child("related", object_reference_pb)?,
        reporting_component: always(r.text("reportingComponent")?),
        reporting_instance: always(r.text("reportingInstance")?),
    })
}

fn delete_options_pb(r: &mut Reader) -> Result<meta::DeleteOptions> {
    Ok(meta::DeleteOptions {
        grace_period_seconds: r.int("gracePeriodSeconds")?,
        preconditions: r.child("preconditions", |p| {
            Ok(meta::Preconditions {
                uid: p.text("uid")?,
                resource_version: p.text("resourceVersion")?,
            })
        })?,
        orphan_dependents: r.flag("orphanDependents")?,
        propagation_policy: r.text("propagationPolicy")?,
        dry_run: r.strings("dryRun")?,
        ignore_store_read_error_with_cluster_breaking_potential: r
            .flag("ignoreStoreReadErrorWithClusterBreakingPotential")?,
    })
}

fn scale_pb(r: &mut Reader) -> Result<autoscaling::Scale> {
    Ok(autoscaling::Scale {
        metadata: Some(r.value_child("metadata", object_meta_pb)?),
        spec: Some(r.value_child("spec", |s| {
            Ok(autoscaling::ScaleSpec {
                replicas: always(s.int32("replicas")?),
            })
        })?),
        status: Some(r.value_child("status", |s| {
            Ok(autoscaling::ScaleStatus {
                replicas: always(s.int32("replicas")?),
                selector: always(s.text("selector")?),
            })
        })?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Protobuf wire encoding written by hand from the field numbers in the .proto files,
    /// independent of prost, with every value field present as Go's generated code writes it.
    mod wire {
        pub fn varint(mut v: u64, out: &mut Vec<u8>) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }

        /// A varint field; negative numbers take ten bytes, as in Go.
        pub fn int(field: u64, v: i64) -> Vec<u8> {
            let mut out = Vec::new();
            varint(field << 3, &mut out);
            varint(v as u64, &mut out);
            out
        }

        /// A length-delimited field.
        pub fn bytes(field: u64, data: impl AsRef<[u8]>) -> Vec<u8> {
            let data = data.as_ref();
            let mut out = Vec::new();
            varint((field << 3) | 2, &mut out);
            varint(data.len() as u64, &mut out);
            out.extend_from_slice(data);
            out
        }

        pub fn msg(field: u64, parts: &[Vec<u8>]) -> Vec<u8> {
            bytes(field, parts.concat())
        }

        pub fn entry(field: u64, key: &str, value: impl AsRef<[u8]>) -> Vec<u8> {
            msg(field, &[bytes(1, key), bytes(2, value)])
        }

        /// ObjectMeta as Go writes it with only name and namespace set: every value field
        /// present, creationTimestamp as an empty message.
        pub fn object_meta(name: &str, namespace: &str, rest: &[Vec<u8>]) -> Vec<u8> {
            let mut parts = vec![
                bytes(1, name),
                bytes(2, ""),
                bytes(3, namespace),
                bytes(4, ""),
                bytes(5, ""),
                bytes(6, ""),
                int(7, 0),
                bytes(8, ""),
            ];
            parts.extend_from_slice(rest);
            msg(1, &parts)
        }

        pub fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
            [
                b"k8s\0".to_vec(),
                msg(1, &[bytes(1, api_version), bytes(2, kind)]),
                bytes(2, raw),
                bytes(3, ""),
                bytes(4, ""),
            ]
            .concat()
        }
    }

    fn round_trip(object: Value) {
        let body = encode(&object).expect("encode");
        assert!(body.starts_with(b"k8s\0"));
        assert_eq!(decode(&body).expect("decode"), object);
    }

    fn full_metadata() -> Value {
        json!({
            "name": "demo",
            "generateName": "demo-",
            "namespace": "apps",
            "selfLink": "/api/v1/namespaces/apps/secrets/demo",
            "uid": "0b8c0f2e-3f5e-4c55-9a55-7c3c9f1c0a11",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2024-02-29T12:34:56Z",
            "deletionTimestamp": "2024-03-01T00:00:00Z",
            "deletionGracePeriodSeconds": 30,
            "labels": {"app": "demo", "tier": ""},
            "annotations": {"note": "x"},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                 "uid": "u-1", "controller": true, "blockOwnerDeletion": false},
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": ""}
            ],
            "finalizers": ["kubernetes.io/demo"],
            "managedFields": [{
                "manager": "helm",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2024-02-29T12:34:56Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {".": {}, "f:release": {}}, "f:type": {}},
                "subresource": "status"
            }]
        })
    }

    fn helm_release_secret() -> Value {
        // Helm stores base64 text of the gzipped release as the secret's bytes, so the JSON
        // API shows base64 of that text.
        let release_text = "H4sIAAAAAAAC/6pWyk0tLk5MT1WyUlAqSS0uUaoFBAAA//8=";
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "sh.helm.release.v1.demo.v1",
                "namespace": "default",
                "labels": {"name": "demo", "owner": "helm", "status": "deployed", "version": "1"}
            },
            "type": "helm.sh/release.v1",
            "data": {"release": BASE64.encode(release_text)}
        })
    }

    #[test]
    fn content_type_detection() {
        assert!(is_protobuf("application/vnd.kubernetes.protobuf"));
        assert!(is_protobuf(
            "Application/VND.Kubernetes.Protobuf ; charset=binary"
        ));
        assert!(is_protobuf(
            "application/vnd.kubernetes.protobuf;stream=watch"
        ));
        assert!(!is_protobuf("application/json"));
        assert!(!is_protobuf("application/vnd.kubernetes.protobuf+json"));
        assert!(!is_protobuf(""));
    }

    #[test]
    fn secret_round_trip() {
        round_trip(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": full_metadata(),
            "immutable": false,
            "data": {"bin": BASE64.encode([0u8, 159, 146, 150, 255]), "empty": ""},
            "stringData": {"plain": "text"},
            "type": "Opaque"
        }));
    }

    #[test]
    fn helm_release_secret_round_trip() {
        round_trip(helm_release_secret());
    }

    #[test]
    fn helm_release_secret_matches_go_bytes() {
        let release_text = "H4sIAAAAAAAC/6pWyk0tLk5MT1WyUlAqSS0uUaoFBAAA//8=";
        let raw = [
            wire::object_meta(
                "sh.helm.release.v1.demo.v1",
                "default",
                &[
                    wire::entry(11, "name", "demo"),
                    wire::entry(11, "owner", "helm"),
                    wire::entry(11, "status", "deployed"),
                    wire::entry(11, "version", "1"),
                ],
            ),
            wire::entry(2, "release", release_text),
            wire::bytes(3, "helm.sh/release.v1"),
        ]
        .concat();
        let body = wire::envelope("v1", "Secret", &raw);
        assert_eq!(decode(&body).unwrap(), helm_release_secret());
        // The encoder writes the same bytes client-go does for this object.
        assert_eq!(encode(&helm_release_secret()).unwrap(), body);
    }

    #[test]
    fn config_map_round_trip() {
        round_trip(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "apps", "labels": {"a": "b"}},
            "immutable": true,
            "data": {"config.yaml": "key: value\n", "blank": ""},
            "binaryData": {"blob": BASE64.encode(b"\x00\x01\x02")}
        }));
    }

    #[test]
    fn namespace_round_trip() {
        round_trip(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "team"}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {
                "phase": "Terminating",
                "conditions": [{
                    "type": "NamespaceDeletionContentFailure",
                    "status": "False",
                    "lastTransitionTime": "2024-01-01T00:00:00Z",
                    "reason": "ContentDeleted",
                    "message": "All content successfully deleted"
                }]
            }
        }));
    }

    #[test]
    fn namespace_from_go_bytes_keeps_empty_spec_and_status() {
        // What helm --create-namespace sends: only a name, the rest Go's zero values.
        let raw = [
            wire::object_meta("team", "", &[]),
            wire::msg(2, &[]),
            wire::msg(3, &[wire::bytes(1, "")]),
        ]
        .concat();
        assert_eq!(
            decode(&wire::envelope("v1", "Namespace", &raw)).unwrap(),
            json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "team"}, "spec": {}, "status": {}
            })
        );
    }

    #[test]
    fn event_round_trip() {
        round_trip(json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web.17a", "namespace": "apps"},
            "involvedObject": {
                "kind": "Pod", "namespace": "apps", "name": "web-0", "uid": "u-2",
                "apiVersion": "v1", "resourceVersion": "7", "fieldPath": "spec.containers{web}"
            },
            "reason": "Started",
            "message": "Started container web",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2024-05-06T07:08:09Z",
            "lastTimestamp": "2024-05-06T07:08:10Z",
            "count": 2,
            "type": "Normal",
            "eventTime": "2024-05-06T07:08:09.123456Z",
            "series": {"count": 4, "lastObservedTime": "2024-05-06T07:08:11.000001Z"},
            "action": "Starting",
            "related": {"kind": "Node", "name": "node-1"},
            "reportingComponent": "kubelet",
            "reportingInstance": "node-1"
        }));
    }

    #[test]
    fn sparse_event_gets_go_defaults() {
        let body = encode(&json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "Secret", "name": "s"},
            "reason": "Created"
        }))
        .unwrap();
        assert_eq!(
            decode(&body).unwrap(),
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "e"},
                "involvedObject": {"kind": "Secret", "name": "s"},
                "reason": "Created",
                "source": {},
                "reportingComponent": "",
                "reportingInstance": ""
            })
        );
    }

    #[test]
    fn delete_options_round_trip() {
        round_trip(json!({
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "u-3", "resourceVersion": "9"},
            "orphanDependents": false,
            "propagationPolicy": "Foreground",
            "dryRun": ["All"],
            "ignoreStoreReadErrorWithClusterBreakingPotential": true
        }));
        round_trip(json!({"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions"}));
    }

    #[test]
    fn delete_options_from_go_bytes() {
        let empty = wire::envelope("v1", "DeleteOptions", &[]);
        assert_eq!(
            decode(&empty).unwrap(),
            json!({"apiVersion": "v1", "kind": "DeleteOptions"})
        );
        let raw = [
            wire::int(1, 0),
            wire::msg(2, &[wire::bytes(2, "")]),
            wire::bytes(4, "Background"),
            wire::bytes(5, "All"),
        ]
        .concat();
        assert_eq!(
            decode(&wire::envelope("apps/v1", "DeleteOptions", &raw)).unwrap(),
            json!({
                "apiVersion": "apps/v1", "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"resourceVersion": ""},
                "propagationPolicy": "Background",
                "dryRun": ["All"]
            })
        );
    }

    #[test]
    fn scale_round_trip() {
        round_trip(json!({
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": "web", "namespace": "apps", "resourceVersion": "5"},
            "spec": {"replicas": 3},
            "status": {"replicas": 1, "selector": "app=web"}
        }));
    }

    #[test]
    fn scale_from_go_bytes_keeps_zero_status_replicas() {
        let raw = [
            wire::object_meta("web", "apps", &[]),
            wire::msg(2, &[wire::int(1, 0)]),
            wire::msg(3, &[wire::int(1, 0), wire::bytes(2, "")]),
        ]
        .concat();
        assert_eq!(
            decode(&wire::envelope("autoscaling/v1", "Scale", &raw)).unwrap(),
            json!({
                "apiVersion": "autoscaling/v1", "kind": "Scale",
                "metadata": {"name": "web", "namespace": "apps"},
                "spec": {},
                "status": {"replicas": 0}
            })
        );
    }

    #[test]
    fn timestamps_from_go_bytes() {
        let meta = |creation: Vec<u8>| {
            let raw = wire::msg(1, &[wire::bytes(1, "s"), creation]);
            decode(&wire::envelope("v1", "Secret", &raw)).unwrap()["metadata"].clone()
        };
        let seconds = |s: i64| wire::msg(8, &[wire::int(1, s), wire::int(2, 0)]);
        assert_eq!(
            meta(seconds(1_700_000_000)),
            json!({"name": "s", "creationTimestamp": "2023-11-14T22:13:20Z"})
        );
        assert_eq!(
            meta(seconds(951_782_400)),
            json!({"name": "s", "creationTimestamp": "2000-02-29T00:00:00Z"})
        );
        assert_eq!(
            meta(seconds(0)),
            json!({"name": "s", "creationTimestamp": "1970-01-01T00:00:00Z"})
        );
        // Go's Time drops the nanos it receives.
        assert_eq!(
            meta(wire::msg(8, &[wire::int(1, 60), wire::int(2, 999)])),
            json!({"name": "s", "creationTimestamp": "1970-01-01T00:01:00Z"})
        );
        // Go's zero time, whether written empty or as its Unix seconds, is left out.
        assert_eq!(meta(wire::bytes(8, "")), json!({"name": "s"}));
        assert_eq!(meta(seconds(GO_ZERO_TIME_SECONDS)), json!({"name": "s"}));
        let far = wire::msg(1, &[seconds(253_402_300_800)]);
        assert!(matches!(
            decode(&wire::envelope("v1", "Secret", &far)),
            Err(ProtobufError::TimeOutOfRange { .. })
        ));
    }

    #[test]
    fn time_text_and_parse_agree() {
        for seconds in [
            GO_ZERO_TIME_SECONDS + 1,
            -1,
            0,
            68_169_600,
            951_782_400,
            1_700_000_000,
            253_402_300_799,
        ] {
            let text = time_text(Some(seconds), Some(0), false).unwrap().unwrap();
            assert_eq!(parse_time(&text), Some((seconds, 0)), "{text}");
        }
        assert_eq!(
            time_text(Some(0), Some(1_234_567), true).unwrap().unwrap(),
            "1970-01-01T00:00:00.001234Z"
        );
        assert_eq!(
            parse_time("2024-01-01T02:00:00.5+02:00"),
            Some((1_704_067_200, 500_000_000))
        );
        for bad in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0200",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn body_without_magic_is_rejected() {
        let good = encode(&helm_release_secret()).unwrap();
        let mut wrong_style = good.clone();
        wrong_style[3] = 1;
        for body in [
            &b""[..],
            b"k8s",
            br#"{"apiVersion":"v1","kind":"Secret"}"#,
            &good[4..],
            &wrong_style,
        ] {
            assert!(
                matches!(decode(body), Err(ProtobufError::MissingPrefix)),
                "{body:?}"
            );
        }
    }

    #[test]
    fn truncated_bodies_error_without_panicking() {
        let body = encode(&json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": full_metadata(),
            "data": {"release": BASE64.encode([7u8; 300])}
        }))
        .unwrap();
        let full = decode(&body).unwrap();
        let raw_len = Unknown::decode(&body[4..]).unwrap().raw.unwrap().len();
        // The envelope ends with raw followed by the two empty strings (2 bytes each).
        let raw_end = body.len() - 4;
        let raw_start = raw_end - raw_len;
        for cut in 0..body.len() {
            let result = decode(&body[..cut]);
            if (raw_start - 2..raw_end).contains(&cut) || cut == body.len() - 1 {
                assert!(result.is_err(), "cut at {cut} decoded");
            }
            if result.is_ok() {
                // Cutting between whole envelope fields leaves a valid, smaller message.
                assert!(cut <= raw_start - 3 || cut >= raw_end, "cut at {cut}");
            }
        }
        assert_eq!(decode(&body[..raw_end]).unwrap(), full);
    }

    #[test]
    fn malformed_object_inside_envelope_is_an_error() {
        let body = wire::envelope("v1", "Secret", &[0x0a, 0x05, 0x01]);
        let err = decode(&body).unwrap_err();
        assert!(matches!(
            err,
            ProtobufError::Malformed {
                message: "v1 Secret",
                ..
            }
        ));
        assert!(std::error::Error::source(&err).is_some());
        // A string field holding bytes that are not UTF-8.
        let body = wire::envelope("v1", "Secret", &wire::bytes(3, [0xff, 0xfe]));
        assert!(matches!(
            decode(&body),
            Err(ProtobufError::Malformed { .. })
        ));
    }

    #[test]
    fn unsupported_kinds_are_named() {
        let body = wire::envelope("apps/v1", "Deployment", &[]);
        match decode(&body) {
            Err(ProtobufError::Unsupported { api_version, kind }) => {
                assert_eq!(
                    (api_version.as_str(), kind.as_str()),
                    ("apps/v1", "Deployment")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(&wire::envelope("v2", "Secret", &[])),
            Err(ProtobufError::Unsupported { .. })
        ));
        assert!(matches!(
            encode(&json!({"apiVersion": "apps/v1", "kind": "Deployment"})),
            Err(ProtobufError::Unsupported { .. })
        ));
        let err = decode(&body).unwrap_err().to_string();
        assert!(
            err.contains("apps/v1") && err.contains("Deployment"),
            "{err}"
        );
    }

    #[test]
    fn envelope_problems_are_errors() {
        assert!(matches!(
            decode(b"k8s\0"),
            Err(ProtobufError::MissingTypeMeta)
        ));
        assert!(matches!(
            decode(&wire::envelope("", "Secret", &[])),
            Err(ProtobufError::MissingTypeMeta)
        ));
        let gzipped = [
            b"k8s\0".to_vec(),
            wire::msg(1, &[wire::bytes(1, "v1"), wire::bytes(2, "Secret")]),
            wire::bytes(2, ""),
            wire::bytes(3, "gzip"),
        ]
        .concat();
        assert!(matches!(
            decode(&gzipped),
            Err(ProtobufError::ContentEncoding(e)) if e == "gzip"
        ));
        let bad_fields = wire::msg(
            1,
            &[wire::msg(
                17,
                &[wire::msg(7, &[wire::bytes(1, "{not json")])],
            )],
        );
        assert!(matches!(
            decode(&wire::envelope("v1", "ConfigMap", &bad_fields)),
            Err(ProtobufError::FieldsV1(_))
        ));
    }

    #[test]
    fn encode_refuses_bad_json() {
        let invalid = |object: Value| match encode(&object) {
            Err(ProtobufError::InvalidJson { path, .. }) => path,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            invalid(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"lables": {}}})),
            "metadata.lables"
        );
        assert_eq!(
            invalid(json!({"apiVersion": "v1", "kind": "Secret", "type": 3})),
            "type"
        );
        assert_eq!(
            invalid(json!({"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"ownerReferences": [{"kind": 1}]}})),
            "metadata.ownerReferences[0].kind"
        );
        assert_eq!(
            invalid(json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                           "spec": {"replicas": 1u64 << 40}})),
            "spec.replicas"
        );
        assert_eq!(
            invalid(json!({"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"creationTimestamp": "yesterday"}})),
            "metadata.creationTimestamp"
        );
        assert!(matches!(
            encode(&json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}})),
            Err(ProtobufError::Base64 { path, .. }) if path == "data.k"
        ));
        assert!(matches!(
            encode(&json!({"kind": "Secret"})),
            Err(ProtobufError::MissingTypeMeta)
        ));
        assert!(matches!(
            encode(&json!([])),
            Err(ProtobufError::InvalidJson { .. })
        ));
    }

    #[test]
    fn null_fields_are_absent() {
        let body = encode(&json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "creationTimestamp": null},
            "data": null
        }))
        .unwrap();
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
        );
    }
}
