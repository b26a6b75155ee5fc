//! A webhook receiver for the tests: a real HTTP/1.1 server on 127.0.0.1 whose answers
//! the test drives (healthy, failing, hanging; not listening until the test says).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use proisp_testing::free_ports;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// What a receiver does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// 200.
    Healthy,
    /// 500.
    Fails,
    /// Reads the request and answers nothing until released (past the sender's timeout).
    Hangs,
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: String,
    pub(crate) mode: Mode,
}

/// A webhook receiver: a real HTTP/1.1 server on 127.0.0.1, started when the test says
/// (until then its port refuses connections).
pub(crate) struct Receiver {
    pub(crate) port: u16,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<Received>>>,
    release: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Receiver {
    /// A receiver whose port is reserved but not listening yet.
    pub(crate) fn down() -> Receiver {
        let [port] = free_ports::<1>();
        Receiver {
            port,
            mode: Arc::new(Mutex::new(Mode::Healthy)),
            seen: Arc::default(),
            release: Arc::default(),
            stop: CancellationToken::new(),
        }
    }

    /// A listening receiver in `mode`.
    pub(crate) async fn up(mode: Mode) -> Receiver {
        let r = Receiver::down();
        r.listen(mode).await;
        r
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/proisp", self.port)
    }

    pub(crate) fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
        let mut release = self.release.lock().unwrap();
        if mode == Mode::Hangs {
            *release = CancellationToken::new();
        } else {
            release.cancel();
        }
    }

    pub(crate) fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Ids of the requests answered 200.
    pub(crate) fn delivered_ids(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|r| r.mode == Mode::Healthy)
            .map(|r| r.headers["webhook-id"].clone())
            .collect()
    }

    pub(crate) async fn listen(&self, mode: Mode) {
        self.set(mode);
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the receiver's port");
        let (mode, seen, release, stop) = (
            self.mode.clone(),
            self.seen.clone(),
            self.release.clone(),
            self.stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    () = stop.cancelled() => return,
                    conn = listener.accept() => conn,
                };
                let Ok((conn, _)) = conn else { continue };
                let (mode, seen, release) = (mode.clone(), seen.clone(), release.clone());
                tokio::spawn(serve(conn, mode, seen, release));
            }
        });
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
        self.release.lock().unwrap().cancel();
    }
}

/// Serves one connection's requests (keep-alive) until it closes.
async fn serve(
    conn: TcpStream,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<Received>>>,
    release: Arc<Mutex<CancellationToken>>,
) {
    let mut conn = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if conn.read_line(&mut h).await.unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if conn.read_exact(&mut body).await.is_err() {
            return;
        }
        let now = *mode.lock().unwrap();
        seen.lock().unwrap().push(Received {
            headers,
            body: String::from_utf8(body).expect("a UTF-8 body"),
            mode: now,
        });
        let status = match now {
            Mode::Healthy => "200 OK",
            Mode::Fails => "500 Internal Server Error",
            Mode::Hangs => {
                let token = release.lock().unwrap().clone();
                token.cancelled().await;
                return;
            }
        };
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        if conn.get_mut().write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}
