//! No_std libraries written against `embedded-io-async` work over our TCP
//! flows unchanged (issue 5's promise): `picoserve`, an HTTP server, serves
//! on host B through the flows' `split` halves, and `reqwless`, an HTTP
//! client, asks from host A through a flow itself, over two direct stacks
//! on the in-memory link (virtual time, 1 % loss, reordering and
//! duplication). Neither crate knows of mirage: the glue below is what an
//! application writes (picoserve's `Socket` and `Timer` over a flow and
//! `mirage::rt::sleep_ns`).
//!
//! Also here: a flow's halves carry both directions at once, which one
//! sequential reader-writer cannot (an echo of more than the buffers hold
//! deadlocks a client that writes everything before reading).

#[path = "common/netsim.rs"]
mod netsim;

use embedded_io_async::{Read, Write};
use mirage::net::device::memory::{Faults, LinkConfig};
use mirage::net::stack::Stackv4v6;
use mirage::net::tcp::{Flow, Tcp, TcpError};
use mirage::rt::{join, sleep_ns};
use netsim::{Addressing, SEC, payload, v4};

fn hosts() -> (Addressing, Addressing) {
    (
        Addressing::both("10.0.0.1", "fd00::1"),
        Addressing::both("10.0.0.2", "fd00::2"),
    )
}

fn lossy() -> LinkConfig {
    LinkConfig::default().with_faults(Faults {
        seed: 21,
        drop: 0.01,
        duplicate: 0.01,
        reorder: 0.01,
        corrupt: 0.0,
        delay_ns: 100_000,
    })
}

/// picoserve's runtime marker for mirage.
struct Mirage;

/// picoserve's timer over the executor's (virtual, here) time.
struct MirageTimer;

impl picoserve::Timer<Mirage> for MirageTimer {
    async fn delay(&self, duration: picoserve::time::Duration) {
        sleep_ns(duration.as_millis() * 1_000_000).await
    }
}

/// picoserve's socket over one of our flows.
struct HttpSocket<F>(F);

/// picoserve's writer over a flow's writing half: picoserve formats into
/// a buffer it is lent, which is written out whole.
struct HttpWriter<W>(W);

impl<W: Write<Error = TcpError>> embedded_io_async::ErrorType for HttpWriter<W> {
    type Error = TcpError;
}

impl<W: Write<Error = TcpError>> Write for HttpWriter<W> {
    async fn write(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        self.0.write(data).await
    }

    async fn flush(&mut self) -> Result<(), TcpError> {
        self.0.flush().await
    }
}

impl<W: Write<Error = TcpError>> picoserve::io::Write for HttpWriter<W> {
    async fn write_with<G: FnOnce(picoserve::mem::BorrowedCursor<'_>) -> R, R>(
        &mut self,
        g: G,
    ) -> Result<R, TcpError> {
        let mut room = [0u8; 1024];
        let mut buffer = picoserve::mem::BorrowedBuffer::new(&mut room);
        let r = g(buffer.unfilled());
        self.0.write_all(buffer.filled()).await?;
        Ok(r)
    }
}

impl<F: Flow> picoserve::io::Socket<Mirage> for HttpSocket<F> {
    type Error = TcpError;
    type ReadHalf<'a>
        = F::Reader<'a>
    where
        F: 'a;
    type WriteHalf<'a>
        = HttpWriter<F::Writer<'a>>
    where
        F: 'a;

    fn split(&mut self) -> (F::Reader<'_>, HttpWriter<F::Writer<'_>>) {
        let (reader, writer) = self.0.split();
        (reader, HttpWriter(writer))
    }

    async fn abort<T: picoserve::Timer<Mirage>>(
        self,
        _timeouts: &picoserve::Timeouts,
        _timer: &T,
    ) -> Result<(), picoserve::Error<TcpError>> {
        // (A reset is the direct stack's; any flow can close.)
        self.0.close().await.map_err(picoserve::Error::Write)
    }

    async fn shutdown<T: picoserve::Timer<Mirage>>(
        mut self,
        _timeouts: &picoserve::Timeouts,
        _timer: &T,
    ) -> Result<(), picoserve::Error<TcpError>> {
        self.0
            .shutdown_write()
            .await
            .map_err(picoserve::Error::Write)?;
        let mut rest = [0u8; 512];
        while self
            .0
            .read(&mut rest)
            .await
            .map_err(picoserve::Error::Read)?
            > 0
        {}
        self.0.close().await.map_err(picoserve::Error::Write)
    }
}

/// The length of `/big`'s body.
const BIG: usize = 300_000;

/// B's HTTP server on port 80: `/hello`, `/big` (a large body) and
/// `POST /sum` (the length and byte sum of what was posted).
async fn serve_http(b: &'static netsim::Stack) {
    use picoserve::routing::{get, post};
    let app = std::rc::Rc::new(
        picoserve::Router::new()
            .route(
                "/hello",
                get(|| async { "hello from picoserve over mirage" }),
            )
            .route("/big", get(|| async { payload(BIG, 9) }))
            .route(
                "/sum",
                post(|body: Vec<u8>| async move {
                    let sum: u64 = body.iter().map(|&x| u64::from(x)).sum();
                    format!("{} bytes, sum {sum}", body.len())
                }),
            ),
    );
    let config: &'static picoserve::Config = Box::leak(Box::new(
        picoserve::Config::const_default().keep_connection_alive(),
    ));
    b.tcp()
        .listen(80, move |flow| {
            let app = app.clone();
            async move {
                let mut buffer = vec![0u8; 8192];
                let served = picoserve::Server::custom(&app, MirageTimer, config, &mut buffer)
                    .serve(HttpSocket(flow))
                    .await;
                assert!(served.is_ok(), "picoserve: {:?}", served.err());
            }
        })
        .await
        .unwrap();
}

/// reqwless on A: one keep-alive connection, three requests; the bodies
/// are what B's routes answer.
#[test]
fn picoserve_serves_reqwless_over_our_flows() {
    use reqwless::client::HttpConnection;
    use reqwless::request::{Method, Request, RequestBuilder};
    let (ha, hb) = hosts();
    netsim::pair(lossy(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        serve_http(b).await;
        let mut flow = a.tcp().connect(v4("10.0.0.2"), 80).await.unwrap();
        let mut rx = vec![0u8; 4096];

        let request = Request::get("/hello").host("10.0.0.2").build();
        let mut conn = HttpConnection::Plain(&mut flow);
        let response = conn.send(request, &mut rx).await.unwrap();
        assert!(response.status.is_successful(), "{:?}", response.status);
        let body = response.body().read_to_end().await.unwrap();
        assert_eq!(body, b"hello from picoserve over mirage");

        // A body larger than the TCP buffers, read as it streams.
        let request = Request::get("/big").host("10.0.0.2").build();
        let mut conn = HttpConnection::Plain(&mut flow);
        let response = conn.send(request, &mut rx).await.unwrap();
        assert_eq!(response.content_length, Some(BIG));
        let mut big = vec![0u8; BIG];
        let n = response
            .body()
            .reader()
            .read_to_end(&mut big)
            .await
            .unwrap();
        assert_eq!(n, BIG);
        assert!(big == payload(BIG, 9));

        let posted = payload(20_000, 4);
        let request = Request::new(Method::POST, "/sum")
            .host("10.0.0.2")
            .body(&posted[..])
            .build();
        let mut conn = HttpConnection::Plain(&mut flow);
        let response = conn.send(request, &mut rx).await.unwrap();
        assert!(response.status.is_successful(), "{:?}", response.status);
        let body = response.body().read_to_end().await.unwrap();
        let sum: u64 = posted.iter().map(|&x| u64::from(x)).sum();
        assert_eq!(
            std::str::from_utf8(body).unwrap(),
            format!("20000 bytes, sum {sum}")
        );
        flow.close().await.unwrap();
    });
}

/// Through B's echo, A writes 4 MiB on its writing half while its reading
/// half takes the echo, in one task; both directions arrive intact.
#[test]
fn a_flows_halves_carry_both_directions_at_once() {
    const LEN: usize = 4 * 1024 * 1024;
    let (ha, hb) = hosts();
    netsim::pair(lossy(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        netsim::serve_echo(b, 7).await;
        let mut flow = a.tcp().connect(v4("10.0.0.2"), 7).await.unwrap();
        let sent = payload(LEN, 6);
        let (mut reader, mut writer) = flow.split();
        let (wrote, echoed) = join(
            async {
                for chunk in sent.chunks(10_000) {
                    writer.write_all(chunk).await?;
                }
                Ok::<_, TcpError>(())
            },
            async {
                let mut back = Vec::with_capacity(LEN);
                let mut buf = vec![0u8; 7000];
                while back.len() < LEN {
                    let n = reader.read(&mut buf).await?;
                    assert!(n > 0, "the echo ended early");
                    back.extend_from_slice(&buf[..n]);
                }
                Ok::<_, TcpError>(back)
            },
        )
        .await;
        wrote.unwrap();
        assert!(echoed.unwrap() == sent);
        flow.shutdown_write().await.unwrap();
        assert_eq!(flow.read(&mut [0u8; 8]).await, Ok(0));
        flow.close().await.unwrap();
    });
}
