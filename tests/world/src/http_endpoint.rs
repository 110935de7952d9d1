//! Local HTTP servers of a world: an endpoint a spec's HTTP check can point
//! at (standing in for the ingress), which answers every path with what the
//! test last set, and a static file server (chart repositories).

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::World;

/// The answer the endpoint gives, and the requests it saw.
#[derive(Debug, Default)]
struct State {
    status: u16,
    body: String,
    seen: Vec<String>,
}

/// An HTTP endpoint on 127.0.0.1.
pub struct HttpEndpoint {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl HttpEndpoint {
    /// Answers every request with `status` and `body` from now on.
    pub fn answer(&self, status: u16, body: &str) {
        let mut state = self.state.lock().unwrap();
        state.status = status;
        state.body = body.to_owned();
    }

    /// The paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
}

impl World {
    /// Starts an endpoint answering `200` and `body`.
    pub async fn http_endpoint(&self, body: &str) -> HttpEndpoint {
        let state = Arc::new(Mutex::new(State {
            status: 200,
            body: body.to_owned(),
            seen: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        let port = self
            .run(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
                let port = listener.local_addr().expect("an address").port();
                tokio::spawn(async move {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let state = Arc::clone(&shared);
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(
                                move |req: hyper::Request<hyper::body::Incoming>| {
                                    let state = Arc::clone(&state);
                                    async move {
                                        let mut s = state.lock().unwrap();
                                        s.seen.push(req.uri().path().to_owned());
                                        let response = Response::builder()
                                            .status(s.status)
                                            .body(Full::new(Bytes::from(s.body.clone())))
                                            .expect("a response");
                                        Ok::<_, Infallible>(response)
                                    }
                                },
                            );
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                });
                port
            })
            .await;
        HttpEndpoint {
            url: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// Serves the files of `root` under the path `prefix` on 127.0.0.1
    /// (404 for anything else); returns the port.
    pub async fn serve_files(&self, root: PathBuf, prefix: &'static str) -> u16 {
        self.run(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
            let port = listener.local_addr().expect("an address").port();
            let root = Arc::new(root);
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let root = Arc::clone(&root);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(
                            move |req: hyper::Request<hyper::body::Incoming>| {
                                let root = Arc::clone(&root);
                                async move {
                                    let file = req
                                        .uri()
                                        .path()
                                        .strip_prefix(prefix)
                                        .filter(|f| !f.contains('/') && !f.starts_with('.'))
                                        .and_then(|f| std::fs::read(root.join(f)).ok());
                                    let response = match file {
                                        Some(bytes) => Response::new(Full::new(Bytes::from(bytes))),
                                        None => Response::builder()
                                            .status(404)
                                            .body(Full::new(Bytes::from_static(b"not found")))
                                            .expect("a response"),
                                    };
                                    Ok::<_, Infallible>(response)
                                }
                            },
                        );
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            port
        })
        .await
    }
}
