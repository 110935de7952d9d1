//! The stand-in API server's HTTPS front: TLS with client certificates as
//! kind's kubeconfig uses them, an accept loop that can be stopped (the port
//! then refuses connections, as when the control-plane container is down) and
//! started again on the same port, and the REST routes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::openapi::{self, TypeSchema};
use super::ownership;
use super::protobuf;
use super::resources::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{self, ApiError, Store};
use super::strategic;
use crate::pki::Pki;

type Body = BoxBody<Bytes, Infallible>;

/// How many requests [`ApiServer::requests`] keeps.
const REQUEST_LOG: usize = 2_000;

/// Recorded container log lines, by (namespace, pod).
pub type Logs = Arc<Mutex<HashMap<(String, String), Vec<String>>>>;

/// One cluster's API server.
pub struct ApiServer {
    /// The port on 127.0.0.1 it listens on (kept across stops).
    pub port: u16,
    /// Its objects.
    pub store: Arc<Store>,
    /// Its certificates.
    pub pki: Pki,
    /// Recorded pod logs.
    pub logs: Logs,
    git_version: String,
    acceptor: TlsAcceptor,
    requests: Mutex<std::collections::VecDeque<String>>,
    served: std::sync::atomic::AtomicU64,
    serving: Mutex<Option<JoinHandle<()>>>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Listening failed.
    #[error("cannot listen on 127.0.0.1:{port}")]
    Listen {
        /// The port.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS setup failed.
    #[error("bad TLS material: {0}")]
    Tls(String),
}

impl ApiServer {
    /// Starts a server on a free port of 127.0.0.1, reporting Kubernetes `git_version`.
    pub async fn start(
        store: Arc<Store>,
        pki: Pki,
        git_version: &str,
    ) -> Result<Arc<ApiServer>, ServerError> {
        let tls = |e: &dyn std::fmt::Display| ServerError::Tls(e.to_string());
        let certs = vec![
            CertificateDer::from_pem_slice(pki.server_cert_pem.as_bytes()).map_err(|e| tls(&e))?,
        ];
        let key =
            PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).map_err(|e| tls(&e))?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).map_err(|e| tls(&e))?)
            .map_err(|e| tls(&e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| tls(&e))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .map_err(|e| tls(&e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| ServerError::Listen { port: 0, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| ServerError::Listen { port: 0, source })?
            .port();
        let server = Arc::new(ApiServer {
            port,
            store,
            pki,
            logs: Logs::default(),
            git_version: git_version.to_owned(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
            requests: Mutex::default(),
            served: Default::default(),
            serving: Mutex::new(None),
        });
        server.serve(listener);
        Ok(server)
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Whether it accepts connections now.
    pub fn is_serving(&self) -> bool {
        self.serving.lock().unwrap().is_some()
    }

    fn serve(self: &Arc<Self>, listener: TcpListener) {
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            // Connections live in this set, so stopping the server cuts them too.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let this = Arc::clone(&this);
                        connections.spawn(async move {
                            let Ok(tls) = this.acceptor.accept(stream).await else { return };
                            let service = hyper::service::service_fn(move |req| {
                                let this = Arc::clone(&this);
                                async move { Ok::<_, Infallible>(this.handle(req).await) }
                            });
                            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(tls), service)
                                .await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        *self.serving.lock().unwrap() = Some(task);
    }

    /// Stops accepting and cuts open connections: once this returns, the port
    /// refuses connections (an aborted task drops its listener only when it
    /// is next polled, so the stop waits for that).
    pub async fn stop(&self) {
        let task = self.serving.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Stops serving without waiting, for a shutdown outside async code.
    pub fn abort(&self) {
        if let Some(task) = self.serving.lock().unwrap().take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn resume(self: &Arc<Self>) -> Result<(), ServerError> {
        if self.is_serving() {
            return Ok(());
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut last = None;
        // The old socket may linger briefly after a stop.
        for _ in 0..50 {
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(ServerError::Listen {
            port: self.port,
            source: last.expect("a bind error"),
        })
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let query: HashMap<String, String> = req
            .uri()
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let header = |name: hyper::header::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let content_type = Some(header(hyper::header::CONTENT_TYPE))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "application/json".to_owned());
        let accept = header(hyper::header::ACCEPT);
        let user_agent = header(hyper::header::USER_AGENT);
        let raw_query = req.uri().query().unwrap_or_default().to_owned();
        // A write that names no manager is recorded under the client's name,
        // as a real server does (an apply must name one).
        let mut query = query;
        if !content_type.starts_with("application/apply-patch") {
            let client = user_agent.split('/').next().unwrap_or_default().trim();
            if !client.is_empty() {
                query
                    .entry("fieldManager".to_owned())
                    .or_insert_with(|| client.to_owned());
            }
        }
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return error(&ApiError::bad_request("unreadable body")),
        };
        let size = body.len();
        let response = match self
            .route(&method, &path, &query, &content_type, body)
            .await
        {
            Ok(response) => response,
            Err(e) => error(&e),
        };
        self.log_request(&format!(
            "{method} {path}?{raw_query} [{content_type}; {size} B; accept {accept}; {user_agent}] -> {}",
            response.status().as_u16()
        ));
        response
    }

    /// Keeps the last requests for [`ApiServer::requests`]; with
    /// `KINDFORM_WORLD_API_LOG` set, also appends them to that file (for
    /// seeing what a real client sends).
    fn log_request(&self, line: &str) {
        self.served
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut requests = self.requests.lock().unwrap();
        if requests.len() >= REQUEST_LOG {
            requests.pop_front();
        }
        requests.push_back(line.to_owned());
        if let Some(file) = std::env::var_os("KINDFORM_WORLD_API_LOG") {
            use std::io::Write as _;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
            {
                let _ = writeln!(f, "{}: {line}", self.port);
            }
        }
    }

    /// How many requests it served since it started.
    pub fn served(&self) -> u64 {
        self.served.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The last requests served, oldest first, as
    /// `METHOD path?query [content type; size; accept; user agent] -> status`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().iter().cloned().collect()
    }

    async fn route(
        &self,
        method: &Method,
        path: &str,
        query: &HashMap<String, String>,
        content_type: &str,
        body: Bytes,
    ) -> Result<Response<Body>, ApiError> {
        let segments: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        match segments.as_slice() {
            ["version"] => return Ok(ok_json(&self.version())),
            ["healthz"] | ["readyz"] | ["livez"] => return Ok(text(StatusCode::OK, "ok")),
            ["api"] => {
                return Ok(ok_json(&json!({
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{}", self.port)}],
                })));
            }
            ["apis"] => return Ok(ok_json(&self.group_list())),
            ["openapi", "v3"] => {
                return Ok(ok_json(&openapi::index(&self.store.types(), &self.crds())));
            }
            ["openapi", "v3", rest @ ..] => {
                let (group, version) = match rest {
                    ["api", version] => ("", *version),
                    ["apis", group, version] => (*group, *version),
                    _ => ("", ""),
                };
                return openapi::group_version_document(
                    &self.store.types(),
                    &self.crds(),
                    group,
                    version,
                )
                .map(|doc| ok_json(&doc))
                .ok_or(ApiError {
                    code: 404,
                    reason: "NotFound",
                    message: "the server could not find the requested resource".into(),
                });
            }
            ["api", "v1"] => return Ok(ok_json(&self.resource_list("", "v1"))),
            ["apis", group] => {
                return self.group_list()["groups"]
                    .as_array()
                    .and_then(|g| g.iter().find(|x| x["name"] == *group).cloned())
                    .map(|mut g| {
                        g["kind"] = json!("APIGroup");
                        g["apiVersion"] = json!("v1");
                        ok_json(&g)
                    })
                    .ok_or(ApiError {
                        code: 404,
                        reason: "NotFound",
                        message: format!(
                            "the server could not find the requested resource (group {group})"
                        ),
                    });
            }
            ["apis", group, version] => {
                if !self
                    .store
                    .types()
                    .iter()
                    .any(|t| t.group == *group && t.version == *version)
                {
                    return Err(ApiError {
                        code: 404,
                        reason: "NotFound",
                        message: "the server could not find the requested resource".into(),
                    });
                }
                return Ok(ok_json(&self.resource_list(group, version)));
            }
            _ => {}
        }
        let (group, version, rest) = match segments.as_slice() {
            ["api", "v1", rest @ ..] => ("", "v1", rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => {
                return Err(ApiError {
                    code: 404,
                    reason: "NotFound",
                    message: "the server could not find the requested resource".into(),
                });
            }
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
                (Some(*ns), {
                    let mut v = vec![*plural];
                    v.extend_from_slice(tail);
                    v
                })
            }
            other => (None, other.to_vec()),
        };
        let Some((plural, name, sub)) = (match rest.as_slice() {
            [plural] => Some((*plural, None, None)),
            [plural, name] => Some((*plural, Some(*name), None)),
            [plural, name, sub] => Some((*plural, Some(*name), Some(*sub))),
            _ => None,
        }) else {
            return Err(ApiError {
                code: 404,
                reason: "NotFound",
                message: "the server could not find the requested resource".into(),
            });
        };
        let Some(ty) = self.store.find_type(group, version, plural) else {
            return Err(ApiError {
                code: 404,
                reason: "NotFound",
                message: format!("the server could not find the requested resource ({plural})"),
            });
        };
        let ns = namespace.unwrap_or_default();
        let dry_run = query.get("dryRun").is_some_and(|v| v == "All");
        match (method, name, sub) {
            (&Method::GET, None, None) => {
                let labels = LabelSelector::parse(
                    query
                        .get("labelSelector")
                        .map(String::as_str)
                        .unwrap_or_default(),
                )
                .map_err(ApiError::bad_request)?;
                let fields = FieldSelector::parse(
                    query
                        .get("fieldSelector")
                        .map(String::as_str)
                        .unwrap_or_default(),
                )
                .map_err(ApiError::bad_request)?;
                if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
                    return Ok(self.watch(ty, namespace.map(str::to_owned), labels, fields, query));
                }
                let (rv, items) = self.store.list(&ty, namespace);
                let items: Vec<Value> = items
                    .into_iter()
                    .filter(|o| labels.matches(o) && fields.matches(o))
                    .collect();
                Ok(ok_json(&json!({
                    "kind": format!("{}List", ty.kind),
                    "apiVersion": ty.api_version(),
                    "metadata": {"resourceVersion": rv.to_string()},
                    "items": items,
                })))
            }
            (&Method::GET, Some(name), None) | (&Method::GET, Some(name), Some("status")) => {
                Ok(ok_json(&self.store.get(&ty, ns, name)?))
            }
            (&Method::GET, Some(name), Some("log")) if plural == "pods" => {
                self.store.get(&ty, ns, name)?;
                let lines = self
                    .logs
                    .lock()
                    .unwrap()
                    .get(&(ns.to_owned(), name.to_owned()))
                    .cloned()
                    .unwrap_or_default();
                let tail = query
                    .get("tailLines")
                    .and_then(|t| t.parse::<usize>().ok())
                    .unwrap_or(lines.len());
                let shown = &lines[lines.len().saturating_sub(tail)..];
                let mut out = shown.join("\n");
                if !out.is_empty() {
                    out.push('\n');
                }
                Ok(text(StatusCode::OK, &out))
            }
            (&Method::POST, None, None) => {
                let mut object = parse_body(&body, content_type)?;
                self.validate_fields(&ty, &object, query)?;
                self.record_update(&ty, None, &mut object, query, None);
                let ns = if ns.is_empty() {
                    object["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                } else {
                    ns.to_owned()
                };
                if dry_run {
                    return Ok(json_response(StatusCode::CREATED, &object));
                }
                Ok(json_response(
                    StatusCode::CREATED,
                    &self.store.create(&ty, &ns, object)?,
                ))
            }
            (&Method::PUT, Some(name), sub @ (None | Some("status"))) => {
                let mut object = parse_body(&body, content_type)?;
                self.validate_fields(&ty, &object, query)?;
                if let Ok(old) = self.store.get(&ty, ns, name) {
                    self.record_update(&ty, Some(&old), &mut object, query, sub);
                }
                if dry_run {
                    return Ok(ok_json(&object));
                }
                Ok(ok_json(&self.store.update(
                    &ty,
                    ns,
                    name,
                    object,
                    sub.is_some(),
                )?))
            }
            (&Method::PATCH, Some(name), sub @ (None | Some("status"))) => self.patch(
                &ty,
                ns,
                name,
                sub.is_some(),
                content_type,
                &body,
                query,
                dry_run,
            ),
            (method, Some(name), Some("scale")) if has_scale(&ty) => {
                self.scale(method, &ty, ns, name, content_type, &body, query)
            }
            (&Method::DELETE, Some(name), None) => {
                if dry_run {
                    return Ok(ok_json(&self.store.get(&ty, ns, name)?));
                }
                let options = if body.is_empty() {
                    Value::Null
                } else {
                    parse_body(&body, content_type)?
                };
                let policy = query
                    .get("propagationPolicy")
                    .map(String::as_str)
                    .or(options["propagationPolicy"].as_str())
                    .or(match options["orphanDependents"].as_bool() {
                        Some(true) => Some("Orphan"),
                        _ => None,
                    })
                    .unwrap_or("Background")
                    .to_owned();
                Ok(ok_json(&self.delete_with(&ty, ns, name, &policy)?))
            }
            _ => Err(ApiError {
                code: 405,
                reason: "MethodNotAllowed",
                message: format!("{method} is not supported on this path"),
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn patch(
        &self,
        ty: &ResourceType,
        ns: &str,
        name: &str,
        status_only: bool,
        content_type: &str,
        body: &Bytes,
        query: &HashMap<String, String>,
        dry_run: bool,
    ) -> Result<Response<Body>, ApiError> {
        let kind = content_type.split(';').next().unwrap_or_default().trim();
        let current = self.store.get(ty, ns, name);
        let patched = match kind {
            "application/apply-patch+yaml" => {
                let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
                    return Err(ApiError::bad_request(
                        "PATCH request with apply content type requires fieldManager",
                    ));
                };
                let patch = parse_body(body, content_type)?;
                self.validate_fields(ty, &patch, query)?;
                let force = query.get("force").is_some_and(|f| f == "true");
                let live = match current.clone() {
                    Ok(object) => Some(object),
                    Err(e) if e.code == 404 => None,
                    Err(e) => return Err(e),
                };
                let schema = self.schema(ty);
                let applied = ownership::apply(
                    live.as_ref(),
                    &patch,
                    manager,
                    force,
                    &ty.api_version(),
                    &store::now(),
                    schema.node(),
                )
                .map_err(|e| ApiError {
                    code: e.status_code(),
                    reason: e.reason(),
                    message: e.to_string(),
                })?;
                if live.is_none() {
                    if dry_run {
                        return Ok(json_response(StatusCode::CREATED, &applied));
                    }
                    let created = self.store.create(ty, ns, applied)?;
                    return Ok(json_response(StatusCode::CREATED, &created));
                }
                applied
            }
            "application/merge-patch+json" => {
                let mut object = current.clone()?;
                merge(&mut object, &parse_body(body, content_type)?);
                object
            }
            "application/strategic-merge-patch+json" => {
                let object = current.clone()?;
                let schema = self.schema(ty);
                if openapi::is_custom(ty) {
                    // As a real server: custom resources have no patch strategies.
                    return Err(ApiError {
                        code: 415,
                        reason: "UnsupportedMediaType",
                        message: format!(
                            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (strategic merge patch is not supported for {})",
                            ty.kind
                        ),
                    });
                }
                strategic::apply(&object, &parse_body(body, content_type)?, schema.node())
                    .map_err(|e| ApiError::bad_request(e.to_string()))?
            }
            "application/json-patch+json" => {
                let mut object = current.clone()?;
                let ops: json_patch::Patch = serde_json::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
                json_patch::patch(&mut object, &ops).map_err(|e| {
                    ApiError::invalid(format!("the JSON patch does not apply: {e}"))
                })?;
                object
            }
            other => {
                return Err(ApiError {
                    code: 415,
                    reason: "UnsupportedMediaType",
                    message: format!(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other})"
                    ),
                });
            }
        };
        let mut patched = patched;
        if kind != "application/apply-patch+yaml" {
            if let Ok(old) = &current {
                self.record_update(ty, Some(old), &mut patched, query, None);
            }
        }
        if dry_run {
            return Ok(ok_json(&patched));
        }
        // A patch never carries a stale resourceVersion check unless it says so.
        if kind != "application/json-patch+json" {
            if let Some(m) = patched["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
        }
        Ok(ok_json(&self.store.update(
            ty,
            ns,
            name,
            patched,
            status_only,
        )?))
    }

    fn watch(
        &self,
        ty: ResourceType,
        namespace: Option<String>,
        labels: LabelSelector,
        fields: FieldSelector,
        query: &HashMap<String, String>,
    ) -> Response<Body> {
        let store = Arc::clone(&self.store);
        let timeout = query
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(1800);
        // A watch-list (`sendInitialEvents=true`, client-go's streaming
        // list) starts with every current object whatever the version asked,
        // then says where the initial state ends with a bookmark.
        let watch_list = query.get("sendInitialEvents").is_some_and(|v| v == "true");
        let from: Option<u64> = query
            .get("resourceVersion")
            .and_then(|rv| rv.parse().ok())
            .filter(|rv| *rv > 0 && !watch_list);
        let api_version = ty.api_version();
        let kind = ty.kind.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
        tokio::spawn(async move {
            let mut changed = store.subscribe();
            let visible = |o: &Value| {
                namespace
                    .as_deref()
                    .is_none_or(|ns| o["metadata"]["namespace"].as_str() == Some(ns))
                    && labels.matches(o)
                    && fields.matches(o)
            };
            let line = |kind: &str, object: &Value| {
                let mut bytes = serde_json::to_vec(&json!({"type": kind, "object": object}))
                    .unwrap_or_default();
                bytes.push(b'\n');
                Ok(Frame::data(Bytes::from(bytes)))
            };
            // Without a resourceVersion a watch starts with every current object.
            let mut rv = match from {
                Some(rv) => rv,
                None => {
                    let (rv, items) = store.list(&ty, namespace.as_deref());
                    for item in items.iter().filter(|o| visible(o)) {
                        if tx.send(line("ADDED", item)).await.is_err() {
                            return;
                        }
                    }
                    if watch_list {
                        let bookmark = json!({
                            "kind": kind, "apiVersion": api_version,
                            "metadata": {
                                "resourceVersion": rv.to_string(),
                                "annotations": {"k8s.io/initial-events-end": "true"},
                            },
                        });
                        if tx.send(line("BOOKMARK", &bookmark)).await.is_err() {
                            return;
                        }
                    }
                    rv
                }
            };
            loop {
                match store.events_since(&ty, rv) {
                    None => {
                        let gone = ApiError {
                            code: 410,
                            reason: "Expired",
                            message: format!("too old resource version: {rv}"),
                        };
                        let _ = tx.send(line("ERROR", &gone.status())).await;
                        return;
                    }
                    Some((latest, events)) => {
                        for event in events {
                            if visible(&event.object) {
                                let kind = event.kind.as_str();
                                if tx.send(line(kind, &event.object)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        rv = latest;
                    }
                }
                tokio::select! {
                    _ = changed.changed() => {}
                    _ = tokio::time::sleep_until(deadline) => return,
                    _ = tx.closed() => return,
                }
            }
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        Response::builder()
            .status(StatusCode::OK)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(BodyExt::boxed(StreamBody::new(stream)))
            .expect("a response")
    }

    /// Deletes an object with a propagation policy: `Background` leaves its
    /// dependents to the garbage collector, `Orphan` takes the owner
    /// reference off them and keeps them, `Foreground` deletes them first.
    fn delete_with(
        &self,
        ty: &ResourceType,
        ns: &str,
        name: &str,
        policy: &str,
    ) -> Result<Value, ApiError> {
        let object = self.store.get(ty, ns, name)?;
        let uid = object["metadata"]["uid"].as_str().unwrap_or_default();
        match policy {
            "Background" => {}
            "Orphan" => {
                for (dty, dns, dname) in self.store.dependents(uid) {
                    if let Ok(mut d) = self.store.get(&dty, &dns, &dname) {
                        if let Some(refs) = d["metadata"]["ownerReferences"].as_array_mut() {
                            refs.retain(|r| r["uid"] != uid);
                        }
                        let _ = self.store.update(&dty, &dns, &dname, d, false);
                    }
                }
            }
            "Foreground" => {
                for (dty, dns, dname) in self.store.dependents(uid) {
                    let _ = self.delete_with(&dty, &dns, &dname, "Foreground");
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid propagationPolicy {other:?}: must be Orphan, Background or Foreground"
                )));
            }
        }
        self.store.delete(ty, ns, name)
    }

    /// The `/scale` subresource: the workload's replicas as an
    /// `autoscaling/v1` Scale, read, replaced or patched (`kubectl scale`).
    #[allow(clippy::too_many_arguments)]
    fn scale(
        &self,
        method: &Method,
        ty: &ResourceType,
        ns: &str,
        name: &str,
        content_type: &str,
        body: &Bytes,
        query: &HashMap<String, String>,
    ) -> Result<Response<Body>, ApiError> {
        let workload = self.store.get(ty, ns, name)?;
        let current = scale_of(&workload);
        let wanted = match *method {
            Method::GET => return Ok(ok_json(&current)),
            Method::PUT => parse_body(body, content_type)?,
            Method::PATCH => {
                let kind = content_type.split(';').next().unwrap_or_default().trim();
                let mut scale = current.clone();
                match kind {
                    "application/json-patch+json" => {
                        let ops: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
                            ApiError::bad_request(format!("invalid JSON patch: {e}"))
                        })?;
                        json_patch::patch(&mut scale, &ops).map_err(|e| {
                            ApiError::invalid(format!("the JSON patch does not apply: {e}"))
                        })?;
                    }
                    _ => merge(&mut scale, &parse_body(body, content_type)?),
                }
                scale
            }
            _ => {
                return Err(ApiError {
                    code: 405,
                    reason: "MethodNotAllowed",
                    message: format!("{method} is not supported on scale"),
                });
            }
        };
        let replicas = wanted["spec"]["replicas"]
            .as_i64()
            .filter(|r| *r >= 0)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: must be greater than or equal to 0"
                ))
            })?;
        let mut updated = workload.clone();
        updated["spec"]["replicas"] = json!(replicas);
        self.record_update(ty, Some(&workload), &mut updated, query, Some("scale"));
        if let Some(m) = updated["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let updated = self.store.update(ty, ns, name, updated, false)?;
        Ok(ok_json(&scale_of(&updated)))
    }

    /// Records a write other than an apply in `managedFields`: the writer
    /// (`fieldManager`, or the client's user agent up to its first `/`, as a
    /// real server names it) owns what it changed.
    fn record_update(
        &self,
        ty: &ResourceType,
        old: Option<&Value>,
        new: &mut Value,
        query: &HashMap<String, String>,
        subresource: Option<&str>,
    ) {
        if subresource == Some("status") {
            return;
        }
        let manager = query
            .get("fieldManager")
            .map(String::as_str)
            .unwrap_or_default();
        let schema = self.schema(ty);
        ownership::record_update(
            old,
            new,
            manager,
            subresource,
            &ty.api_version(),
            &store::now(),
            schema.node(),
        );
    }

    /// Every CustomResourceDefinition, for the schemas of custom resources.
    fn crds(&self) -> Vec<Value> {
        self.store
            .resource("apiextensions.k8s.io", "customresourcedefinitions")
            .map(|ty| self.store.list(&ty, None).1)
            .unwrap_or_default()
    }

    /// The schema of objects of `ty`.
    fn schema(&self, ty: &ResourceType) -> TypeSchema {
        // Only a custom resource's schema lives in the store.
        if !openapi::is_custom(ty) {
            return TypeSchema::of(ty, None);
        }
        let crds = self.crds();
        let crd = crds
            .iter()
            .find(|c| c["spec"]["group"] == ty.group && c["spec"]["names"]["plural"] == ty.plural);
        TypeSchema::of(ty, crd)
    }

    /// `fieldValidation=Strict` (what Helm 4 and kubectl send once the
    /// OpenAPI says the server validates): fields the schema does not
    /// declare are refused with 400, in Kubernetes' words.
    fn validate_fields(
        &self,
        ty: &ResourceType,
        object: &Value,
        query: &HashMap<String, String>,
    ) -> Result<(), ApiError> {
        if query.get("fieldValidation").map(String::as_str) != Some("Strict") {
            return Ok(());
        }
        let unknown = openapi::unknown_fields(object, self.schema(ty).node());
        if unknown.is_empty() {
            return Ok(());
        }
        let fields: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            fields.join(", "),
            kind = ty.kind,
            version = ty.version,
        )))
    }

    fn version(&self) -> Value {
        let bare = self.git_version.trim_start_matches('v');
        let mut parts = bare.split('.');
        json!({
            "major": parts.next().unwrap_or("1"),
            "minor": parts.next().unwrap_or("0"),
            "gitVersion": self.git_version,
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.24.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        })
    }

    fn group_list(&self) -> Value {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for ty in self
            .store
            .types()
            .into_iter()
            .filter(|t| !t.group.is_empty())
        {
            match groups.iter_mut().find(|(g, _)| *g == ty.group) {
                Some((_, versions)) if !versions.contains(&ty.version) => versions.push(ty.version),
                Some(_) => {}
                None => groups.push((ty.group, vec![ty.version])),
            }
        }
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|(name, versions)| {
                let entries: Vec<Value> = versions
                    .iter()
                    .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
                    .collect();
                json!({"name": name, "versions": entries, "preferredVersion": entries[0]})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    fn resource_list(&self, group: &str, version: &str) -> Value {
        let mut resources = Vec::new();
        for ty in self
            .store
            .types()
            .into_iter()
            .filter(|t| t.group == group && t.version == version)
        {
            resources.push(ty.discovery_entry());
            if ty.status_subresource {
                resources.push(json!({"name": format!("{}/status", ty.plural), "singularName": "", "namespaced": ty.namespaced, "kind": ty.kind, "verbs": ["get", "patch", "update"]}));
            }
            if has_scale(&ty) {
                resources.push(json!({"name": format!("{}/scale", ty.plural), "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
            }
            if ty.plural == "pods" && ty.group.is_empty() {
                resources.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
            }
        }
        let group_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
    }
}

/// Whether `ty` has a `/scale` subresource.
fn has_scale(ty: &ResourceType) -> bool {
    ty.group == "apps"
        && matches!(
            ty.plural.as_str(),
            "deployments" | "statefulsets" | "replicasets"
        )
}

/// A workload's replicas as an `autoscaling/v1` Scale.
fn scale_of(workload: &Value) -> Value {
    let meta = &workload["metadata"];
    let selector = workload["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": workload["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": workload["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

/// RFC 7386 merge: maps merge, anything else replaces, `null` removes.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn parse_body(body: &Bytes, content_type: &str) -> Result<Value, ApiError> {
    let value: Value = if protobuf::is_protobuf(content_type) {
        protobuf::decode(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not a protobuf object kindform's world reads: {e}"
            ))
        })?
    } else if content_type.contains("yaml") {
        serde_yaml_ng::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the body is not YAML: {e}")))?
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?
    };
    Ok(value)
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(value).unwrap_or_default())).boxed())
        .expect("a response")
}

fn ok_json(value: &Value) -> Response<Body> {
    json_response(StatusCode::OK, value)
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from(body.to_owned())).boxed())
        .expect("a response")
}

fn error(e: &ApiError) -> Response<Body> {
    json_response(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.status(),
    )
}
