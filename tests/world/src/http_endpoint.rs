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
            .serve_http(move |path| {
                let mut s = shared.lock().unwrap();
                s.seen.push(path.to_owned());
                (s.status, s.body.clone().into_bytes())
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
        self.serve_http(move |path| {
            path.strip_prefix(prefix)
                .filter(|f| !f.contains('/') && !f.starts_with('.'))
                .and_then(|f| std::fs::read(root.join(f)).ok())
                .map_or((404, b"not found".to_vec()), |bytes| (200, bytes))
        })
        .await
    }

    /// Serves HTTP/1 on a free port of 127.0.0.1 from the world's runtime,
    /// answering each request with what `answer` gives for its path
    /// (status, body); returns the port.
    async fn serve_http<F>(&self, answer: F) -> u16
    where
        F: Fn(&str) -> (u16, Vec<u8>) + Send + Sync + 'static,
    {
        let answer = Arc::new(answer);
        self.run(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
            let port = listener.local_addr().expect("an address").port();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let answer = Arc::clone(&answer);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(
                            move |req: hyper::Request<hyper::body::Incoming>| {
                                let (status, body) = answer(req.uri().path());
                                let response = Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::from(body)))
                                    .expect("a response");
                                async move { Ok::<_, Infallible>(response) }
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
