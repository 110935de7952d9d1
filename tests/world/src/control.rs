//! How the stand-in `kind` reaches the world: `kind` on the test's PATH is a
//! small Python script that send their arguments, working
//! folder, environment and (when an argument is `-`) standard input to the
//! world over HTTP on 127.0.0.1, then print what the world answers and exit
//! with its code. All behaviour lives in the world, in Rust.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::Shared;

/// One run of a stand-in tool.
#[derive(Debug, Clone, Deserialize)]
pub struct Invocation {
    /// `kind` or `helm`.
    pub tool: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its working folder.
    pub cwd: PathBuf,
    /// Its environment.
    pub env: HashMap<String, String>,
    /// Its standard input, base64 (read only when an argument is `-`).
    #[serde(default)]
    pub stdin: String,
}

impl Invocation {
    /// Standard input, decoded.
    pub fn stdin_bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.stdin)
            .unwrap_or_default()
    }
}

/// What a stand-in tool prints and exits with.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit code.
    pub code: i32,
}

impl Output {
    /// Exit 0 with `stdout`.
    pub fn ok(stdout: impl Into<String>) -> Self {
        Output {
            stdout: stdout.into(),
            ..Output::default()
        }
    }
}

#[derive(Serialize)]
struct Answer {
    stdout: String,
    stderr: String,
    code: i32,
}

/// Serves tool invocations; returns the port.
pub async fn serve(shared: Arc<Shared>) -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let shared = Arc::clone(&shared);
                        async move {
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let output = match serde_json::from_slice::<Invocation>(&body) {
                                Ok(invocation) => crate::dispatch(&shared, invocation).await,
                                Err(e) => Output {
                                    stderr: format!("bad invocation: {e}\n"),
                                    code: 1,
                                    ..Output::default()
                                },
                            };
                            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
                            let answer = Answer {
                                stdout: b64(&output.stdout),
                                stderr: b64(&output.stderr),
                                code: output.code,
                            };
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                                serde_json::to_vec(&answer).unwrap_or_default(),
                            ))))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(port)
}

/// The Python forwarder installed as `tool` on the test's PATH.
pub fn forwarder(tool: &str, port: u16) -> String {
    format!(
        r#"#!/usr/bin/env python3
# Stand-in `{tool}` of the kindform test world: sends this invocation to the
# world on 127.0.0.1:{port} and replays its answer (stdout, stderr, exit code).
import base64, http.client, json, os, sys

args = sys.argv[1:]
stdin = b""
if "-" in args and not sys.stdin.isatty():
    stdin = sys.stdin.buffer.read()
body = json.dumps({{"tool": "{tool}", "args": args, "cwd": os.getcwd(), "env": dict(os.environ),
                   "stdin": base64.b64encode(stdin).decode()}})
try:
    conn = http.client.HTTPConnection("127.0.0.1", {port})
    conn.request("POST", "/run", body, {{"Content-Type": "application/json"}})
    answer = json.loads(conn.getresponse().read())
except Exception as e:
    sys.stderr.write("{tool} (kindform test world): the world is gone: %s\n" % e)
    sys.exit(1)
sys.stdout.buffer.write(base64.b64decode(answer["stdout"]))
sys.stdout.flush()
sys.stderr.buffer.write(base64.b64decode(answer["stderr"]))
sys.stderr.flush()
sys.exit(answer["code"])
"#
    )
}
