//! Manifests named by URL: fetched within a connect and a total timeout and
//! a size cap, kept only with the SHA-256 the spec pins, and cached in the
//! state folder by that hash.
//!
//! Reading a manifest is part of planning, and `plan` and `watch` run
//! without the environment's lock, so fetching never writes: a fresh body
//! travels in the desired state ([`Downloaded`]) and is stored by apply,
//! under the lock, through a temporary file, `fsync` and `rename`, so a kill
//! mid-write leaves no truncated file under the final name. The cache is
//! trusted only as far as its hash: every read hashes it again, and a file
//! that does not match (truncated, edited) is fetched anew.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kindform_api::bounded::{TooLarge, read_capped};
use kindform_api::yaml::MAX_FILE_BYTES;
use sha2::Digest as _;

use crate::error::ManifestError;

/// How long and how much a download may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// To open the connection.
    pub connect: Duration,
    /// For the whole request, body included.
    pub total: Duration,
    /// The largest body taken.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect: Duration::from_secs(10),
            total: Duration::from_secs(120),
            max_bytes: MAX_FILE_BYTES,
        }
    }
}

/// A manifest's body as the spec pins it.
#[derive(Clone, Debug)]
pub struct Downloaded {
    /// The body (its SHA-256 is the spec's).
    pub body: Arc<Vec<u8>>,
    /// Where apply should keep it, when it was not read from there.
    pub to_store: Option<PathBuf>,
}

impl PartialEq for Downloaded {
    /// Two reads of one pinned file are equal whether or not one came from
    /// the cache: the hash pinned them both.
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body
    }
}

/// Where a downloaded manifest is kept: the state folder's `downloads`,
/// by its SHA-256 (so a pinned file is fetched once).
pub fn cache_path(state_dir: &Path, sha256: &str) -> PathBuf {
    state_dir
        .join("downloads")
        .join(format!("{}.yaml", sha256.to_lowercase()))
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The pinned body of `url`: from the cache when the file there still has
/// the pinned hash, else fetched (and then marked to be stored).
pub async fn fetch(
    url: &str,
    sha256: &str,
    state_dir: &Path,
    limits: &Limits,
) -> Result<Downloaded, ManifestError> {
    let path = cache_path(state_dir, sha256);
    if let Some(body) = read_cached(&path, sha256, limits.max_bytes) {
        return Ok(Downloaded {
            body: Arc::new(body),
            to_store: None,
        });
    }
    let body = get(url, limits).await?;
    let actual = sha256_hex(&body);
    if !actual.eq_ignore_ascii_case(sha256) {
        return Err(ManifestError::Checksum {
            url: url.to_owned(),
            actual,
            expected: sha256.to_owned(),
        });
    }
    Ok(Downloaded {
        body: Arc::new(body),
        to_store: Some(path),
    })
}

/// The cached file's bytes when it is there, within the cap, and has the
/// pinned hash; anything else is a miss.
fn read_cached(path: &Path, sha256: &str, cap: usize) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let body = read_capped(file, cap).ok()?;
    if sha256_hex(&body).eq_ignore_ascii_case(sha256) {
        Some(body)
    } else {
        tracing::debug!(
            "the cached download {} does not have its pinned hash; fetching it again",
            path.display()
        );
        None
    }
}

async fn get(url: &str, limits: &Limits) -> Result<Vec<u8>, ManifestError> {
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| ManifestError::Download {
        url: url.to_owned(),
        source,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(limits.connect)
        .timeout(limits.total)
        .build()
        .map_err(|e| failed(Box::new(e)))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| failed(Box::new(e)))?;
    if response
        .content_length()
        .is_some_and(|n| n > limits.max_bytes as u64)
    {
        return Err(failed(Box::new(TooLarge(limits.max_bytes))));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(Box::new(e)))? {
        if body.len() + chunk.len() > limits.max_bytes {
            return Err(failed(Box::new(TooLarge(limits.max_bytes))));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Keeps a fetched body under its cache path: written to a temporary file
/// beside it, synced, then renamed over it, so the name only ever holds a
/// whole file. Run by apply, under the environment's lock.
pub fn store(downloaded: &Downloaded) -> std::io::Result<()> {
    let Some(path) = &downloaded.to_store else {
        return Ok(());
    };
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder)?;
    // What a killed store left: only a run under the lock writes here.
    for entry in std::fs::read_dir(folder)?.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".partial-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    // Swept just now, and no other writer under the lock: the name is free.
    let temp = folder.join(format!(".partial-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(&downloaded.body)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        // The rename is durable once the folder's entry is.
        std::fs::File::open(folder)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    /// A one-connection-at-a-time HTTP server: for each request, `reply`
    /// says what to write, and how long to pause between its chunks.
    async fn server(chunks: Vec<Vec<u8>>, pause: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let chunks = chunks.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    for chunk in chunks {
                        if socket.write_all(&chunk).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(pause).await;
                    }
                });
            }
        });
        format!("http://{address}/m.yaml")
    }

    fn response(body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    const BODY: &[u8] = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n";

    fn limits() -> Limits {
        Limits {
            connect: Duration::from_secs(2),
            total: Duration::from_millis(600),
            max_bytes: 1024,
        }
    }

    #[tokio::test]
    async fn a_slow_server_is_given_up_on_at_the_total_timeout() {
        // Headers at once, then a byte of the body, then nothing for an
        // hour: only the total timeout ends the request.
        let mut chunks =
            vec![format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", BODY.len()).into_bytes()];
        chunks.extend(BODY.iter().take(2).map(|b| vec![*b]));
        let url = server(chunks, Duration::from_secs(3600)).await;
        let state = tempfile::tempdir().unwrap();
        let fetched = tokio::time::timeout(
            Duration::from_secs(60),
            fetch(&url, &sha256_hex(BODY), state.path(), &limits()),
        )
        .await
        .expect("the download's own timeout ended it");
        let error = fetched.unwrap_err();
        assert!(matches!(error, ManifestError::Download { .. }), "{error:?}");
        assert!(!cache_path(state.path(), &sha256_hex(BODY)).exists());
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused_whether_or_not_it_says_its_length() {
        let big = vec![b'#'; 4096];
        let declared = server(vec![response(&big)], Duration::ZERO).await;
        let mut chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for piece in big.chunks(512) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let undeclared = server(vec![chunked], Duration::ZERO).await;
        let state = tempfile::tempdir().unwrap();
        for url in [declared, undeclared] {
            let error = fetch(&url, &sha256_hex(&big), state.path(), &limits())
                .await
                .unwrap_err();
            let ManifestError::Download { source, .. } = &error else {
                panic!("{error:?}");
            };
            assert_eq!(source.to_string(), "larger than the 1 KiB limit");
        }
    }

    #[tokio::test]
    async fn a_truncated_cache_file_is_fetched_again_and_stored_whole() {
        let url = server(vec![response(BODY)], Duration::ZERO).await;
        let state = tempfile::tempdir().unwrap();
        let sha = sha256_hex(BODY);
        let path = cache_path(state.path(), &sha);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &BODY[..10]).unwrap();

        let fetched = fetch(&url, &sha, state.path(), &limits()).await.unwrap();
        assert_eq!(fetched.body.as_slice(), BODY);
        assert_eq!(fetched.to_store.as_deref(), Some(path.as_path()));
        // Fetching wrote nothing: only apply stores.
        assert_eq!(std::fs::read(&path).unwrap(), &BODY[..10]);

        store(&fetched).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), BODY);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");

        // Now the cache answers, with the server gone quiet.
        let again = fetch(
            "http://127.0.0.1:9/unreachable",
            &sha,
            state.path(),
            &limits(),
        )
        .await
        .unwrap();
        assert_eq!(again.body.as_slice(), BODY);
        assert!(again.to_store.is_none());
    }

    #[tokio::test]
    async fn a_body_without_the_pinned_hash_is_not_used() {
        let url = server(vec![response(BODY)], Duration::ZERO).await;
        let state = tempfile::tempdir().unwrap();
        let error = fetch(&url, &"0".repeat(64), state.path(), &limits())
            .await
            .unwrap_err();
        assert!(matches!(error, ManifestError::Checksum { .. }), "{error:?}");
    }
}
