//! An HTTP proxy for tests, put between the daemon and a real object server on loopback.
//!
//! It forwards every request unchanged (the `Host` header too, so SigV4 signatures made for the
//! proxy's address still verify), and on the way:
//! - records each request (method, path and query, `Range` header) so a test can count them;
//! - adds round-trip time: every request waits `rtt` before it is forwarded, and a response body
//!   is released `window` bytes per `rtt`, as a TCP connection with that window would be. One
//!   stream then moves at most `window / rtt` bytes per second, the per-connection limit that
//!   makes parallel ranges pay off on real networks;
//! - injects faults: the next N requests matching a rule get an error response of the rule's
//!   status and body instead of reaching the server (throttling: 503 `SlowDown`);
//! - holds requests: the requests to a path after the first `skip` wait until the test lets them
//!   go, so a test can change an object between two requests of one read.
//!
//! The proxy runs on a runtime of its own, in its own thread, so blocking tests can use it too.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Body = BoxBody<Bytes, hyper::Error>;

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
}

/// Whether a fault applies to a request, from its method and target.
pub type Matcher = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Answers the next `times` requests for which `matches(method, target)` holds with `status`
/// and `body`, without forwarding them.
pub struct Fault {
    pub matches: Matcher,
    pub times: usize,
    pub status: u16,
    pub body: String,
}

struct ActiveFault {
    fault: Fault,
    left: AtomicUsize,
}

struct HoldRule {
    method: String,
    path: String,
    skip: AtomicUsize,
    held: AtomicUsize,
    gate: tokio::sync::Semaphore,
}

/// A gate opened by [`Proxy::hold`].
#[derive(Clone)]
pub struct Hold(Arc<HoldRule>);

impl Hold {
    /// Requests held so far.
    pub fn held(&self) -> usize {
        self.0.held.load(Ordering::Acquire)
    }

    /// Waits (blocking) until at least `n` requests are held; panics after `timeout`.
    pub fn wait_held(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.0.held.load(Ordering::Acquire) < n {
            assert!(
                Instant::now() < deadline,
                "no request to {} was held within {timeout:?}",
                self.0.path
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Lets every held request (and every later one) through.
    pub fn release(&self) {
        self.0
            .gate
            .add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }
}

#[derive(Default)]
struct Shaping {
    rtt: Duration,
    /// Bytes of a response body released per `rtt`; 0: unlimited.
    window: usize,
}

struct State {
    upstream: String,
    client: Client<HttpConnector, Incoming>,
    log: Mutex<Vec<Logged>>,
    shaping: Mutex<Shaping>,
    faults: Mutex<Vec<Arc<ActiveFault>>>,
    holds: Mutex<Vec<Arc<HoldRule>>>,
}

/// A running proxy; stopped when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy on a free port of 127.0.0.1 forwarding to `upstream`
    /// (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_end_matches('/').to_string();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        // Bound here, outside any runtime, so that async tests can start a proxy too.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State {
            upstream,
            client: {
                // Without TCP_NODELAY a request whose headers and body go out in two writes
                // waits for the server's delayed ACK (40 ms) on every request.
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                Client::builder(TokioExecutor::new()).build(connector)
            },
            log: Mutex::default(),
            shaping: Mutex::default(),
            faults: Mutex::default(),
            holds: Mutex::default(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("proxy listener");
                tokio::select! {
                    _ = stopped => {}
                    _ = accept_loop(listener, serving) => {}
                }
            });
            rt.shutdown_background();
        });
        Proxy {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds `rtt` to every request and limits each response body to `window` bytes per `rtt`
    /// (`window` 0: no limit).
    pub fn shape(&self, rtt: Duration, window: usize) {
        *self.state.shaping.lock().unwrap() = Shaping { rtt, window };
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    /// Forgets the requests seen so far.
    pub fn clear(&self) {
        self.state.log.lock().unwrap().clear();
    }

    /// Installs a fault rule.
    pub fn inject(&self, fault: Fault) {
        let left = AtomicUsize::new(fault.times);
        self.state
            .faults
            .lock()
            .unwrap()
            .push(Arc::new(ActiveFault { fault, left }));
    }

    /// `method` requests whose path ends with `path` pass for the first `skip`; later ones
    /// wait until [`Hold::release`].
    pub fn hold(&self, method: &str, path: &str, skip: usize) -> Hold {
        let rule = Arc::new(HoldRule {
            method: method.to_string(),
            path: path.to_string(),
            skip: AtomicUsize::new(skip),
            held: AtomicUsize::new(0),
            gate: tokio::sync::Semaphore::new(0),
        });
        self.state.holds.lock().unwrap().push(rule.clone());
        Hold(rule)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    let method = req.method().as_str().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
    let range = req
        .headers()
        .get(hyper::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    state.log.lock().unwrap().push(Logged {
        method: method.clone(),
        target: target.clone(),
        range,
    });

    let fault = state
        .faults
        .lock()
        .unwrap()
        .iter()
        .find(|f| {
            (f.fault.matches)(&method, &target)
                && f.left
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
        })
        .cloned();
    if let Some(f) = fault {
        return Ok(Response::builder()
            .status(f.fault.status)
            .header("content-type", "application/xml")
            .body(full(f.fault.body.clone()))
            .expect("fault response"));
    }

    let path = target.split('?').next().unwrap_or_default().to_string();
    let hold = state
        .holds
        .lock()
        .unwrap()
        .iter()
        .find(|h| h.method == method && path.ends_with(&h.path))
        .cloned();
    if let Some(h) = hold {
        if h.skip
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_err()
        {
            h.held.fetch_add(1, Ordering::AcqRel);
            h.gate.acquire().await.expect("gate open").forget();
        }
    }

    let (rtt, window) = {
        let s = state.shaping.lock().unwrap();
        (s.rtt, s.window)
    };
    if !rtt.is_zero() {
        tokio::time::sleep(rtt).await;
    }
    let (mut parts, body) = req.into_parts();
    parts.uri = format!("{}{target}", state.upstream)
        .parse()
        .expect("upstream URI");
    let response = match state.client.request(Request::from_parts(parts, body)).await {
        Ok(r) => r,
        Err(e) => {
            return Ok(Response::builder()
                .status(502)
                .body(full(format!("proxy: upstream {}: {e}", state.upstream)))
                .expect("502 response"))
        }
    };
    let (parts, body) = response.into_parts();
    let body = if window == 0 || rtt.is_zero() {
        body.boxed()
    } else {
        paced(body, rtt, window)
    };
    Ok(Response::from_parts(parts, body))
}

/// Releases `window` bytes of `body` per `rtt`.
fn paced(body: Incoming, rtt: Duration, window: usize) -> Body {
    let frames = BodyStream::new(body);
    let stream =
        futures::stream::unfold((frames, 0usize), move |(mut frames, mut sent)| async move {
            let frame = frames.next().await?;
            if let Ok(f) = &frame {
                if let Some(data) = f.data_ref() {
                    sent += data.len();
                    if sent >= window {
                        tokio::time::sleep(rtt).await;
                        sent -= window;
                    }
                }
            }
            Some((frame, (frames, sent)))
        });
    BodyExt::boxed(StreamBody::new(stream))
}

fn full(s: String) -> Body {
    Full::new(Bytes::from(s))
        .map_err(|never| match never {})
        .boxed()
}

/// S3's throttling answer.
pub fn s3_slow_down() -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
     <Message>Please reduce your request rate. (injected by the test proxy)</Message></Error>"
        .to_string()
}
