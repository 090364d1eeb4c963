//! Test-only HTTP/1.1 server for the registry client and sync tests.

use url::Url;

pub(crate) type Route = dyn Fn(&str, &str) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync;

/// A tiny HTTP/1.1 server on 127.0.0.1: `route(path_and_query, lowercased request
/// head)` gives status, headers and body. Returns the base URL and the request log.
pub(crate) async fn serve(
    route: std::sync::Arc<Route>,
) -> (Url, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let route = route.clone();
            let log = log2.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&req).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let lower = head.to_ascii_lowercase();
                log.lock().unwrap().push(format!(
                    "{path} auth={}",
                    lower
                        .lines()
                        .find_map(|l| l.strip_prefix("authorization: "))
                        .unwrap_or("-")
                ));
                let (status, headers, body) = route(&path, &lower);
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let _ = sock.write_all(out.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    (Url::parse(&format!("http://{addr}/")).unwrap(), log)
}
