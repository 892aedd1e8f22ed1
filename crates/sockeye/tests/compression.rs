//! Compression: WebSocket `permessage-deflate` (negotiation, compressed messages both ways,
//! the threshold, the `compress` flag, hostile input) and gzip/deflate polling responses,
//! with a raw client that inflates and deflates itself (flate2) and reads the RSV1 bit.
//!
//! What Node does the same way is also checked against Node by `e2e/node/compression.test.mjs`;
//! here are Sockeye's own choices too (the `compress` flag over WebSocket, the threshold with
//! context takeover), documented in the README.

mod common;

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use serde_json::json;
use sockeye::{Payload, PerMessageDeflate, SocketIo, SocketRef};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What Chromium offers.
const CHROMIUM_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// A frame from the server, with its RSV1 bit and its payload inflated when set.
#[derive(Debug)]
struct Got {
    compressed: bool,
    opcode: u8,
    /// The payload as sent (compressed when `compressed`).
    wire: Vec<u8>,
    /// The message.
    data: Vec<u8>,
}

impl Got {
    fn text(&self) -> String {
        String::from_utf8(self.data.clone()).expect("text is UTF-8")
    }
}

/// A raw WebSocket client that offers `permessage-deflate`.
struct Dws {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The server's answer (`None`: not agreed).
    agreed: Option<String>,
    inflate: Decompress,
}

const TRAILER: [u8; 4] = [0, 0, 0xff, 0xff];

/// Raw deflate of one message with `c` (which keeps its context), sync flush, trailer
/// stripped: a compressed message's payload.
fn deflate(data: &[u8], c: &mut Compress) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut rest = data;
    loop {
        let before = c.total_in();
        c.compress_vec(rest, &mut out, FlushCompress::Sync)
            .expect("deflate");
        rest = &rest[(c.total_in() - before) as usize..];
        if rest.is_empty() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    assert!(out.ends_with(&TRAILER));
    out.truncate(out.len() - 4);
    out
}

/// A message compressed alone.
fn deflate_alone(data: &[u8]) -> Vec<u8> {
    deflate(data, &mut Compress::new(Compression::default(), false))
}

impl Dws {
    /// Upgrades with `offer` (none when empty); `Err` is the refusal.
    async fn upgrade(srv: &Server, path: &str, offer: &str) -> Result<Dws, HttpResponse> {
        let extra: Vec<(&str, &str)> = if offer.is_empty() {
            vec![]
        } else {
            vec![("Sec-WebSocket-Extensions", offer)]
        };
        let mut stream = TcpStream::connect(srv.addr).await.expect("connect");
        let mut req = upgrade_request("EIO=4&transport=websocket", &extra);
        if path != "/socket.io/" {
            let text = String::from_utf8(req)
                .expect("ascii")
                .replacen("/socket.io/", path, 1);
            req = text.into_bytes();
        }
        stream.write_all(&req).await.expect("write upgrade");
        let mut buf = Vec::new();
        let res = read_response(&mut stream, &mut buf)
            .await
            .expect("an answer to the upgrade");
        if res.status != 101 {
            return Err(res);
        }
        Ok(Dws {
            stream,
            buf,
            agreed: res.header("sec-websocket-extensions").map(str::to_owned),
            inflate: Decompress::new(false),
        })
    }

    /// Upgrades, reads the open packet and joins `/`.
    async fn join(srv: &Server, offer: &str) -> Dws {
        let mut ws = Dws::upgrade(srv, "/socket.io/", offer)
            .await
            .unwrap_or_else(|r| panic!("refused: {} {}", r.status, r.text()));
        let open = ws.recv().await;
        assert!(open.text().starts_with('0'), "{open:?}");
        ws.send(0x81, b"40").await;
        let ok = ws.recv().await;
        assert!(ok.text().starts_with("40{"), "{ok:?}");
        ws
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    async fn send(&mut self, b0: u8, payload: &[u8]) {
        self.send_raw(&masked_frame(b0, payload)).await;
    }

    /// A text message compressed alone, in one frame.
    async fn send_deflated(&mut self, text: &str) {
        let z = deflate_alone(text.as_bytes());
        self.send(0xC1, &z).await;
    }

    /// The next data or close frame (Engine.IO pings answered), within `within`.
    async fn recv_within(&mut self, within: Duration) -> Option<Got> {
        let deadline = std::time::Instant::now() + within;
        loop {
            while let Some(f) = self.parse() {
                if f.opcode == 1 && f.data == b"2" {
                    self.send(0x81, b"3").await;
                    continue;
                }
                return Some(f);
            }
            let mut chunk = vec![0u8; 65536];
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    return Some(Got {
                        compressed: false,
                        opcode: 0xFF,
                        wire: vec![],
                        data: vec![],
                    })
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }

    async fn recv(&mut self) -> Got {
        self.recv_within(READ_TIMEOUT)
            .await
            .expect("a frame from the server in time")
    }

    fn parse(&mut self) -> Option<Got> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let (len, at) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => (
                usize::try_from(u64::from_be_bytes(b[2..10].try_into().ok()?)).ok()?,
                10,
            ),
            126 | 127 => return None,
            n => (usize::from(n), 2),
        };
        if b.len() < at + len {
            return None;
        }
        assert_eq!(b[0] & 0x80, 0x80, "the server does not fragment");
        assert_eq!(b[0] & 0x30, 0, "RSV2/RSV3 never set");
        let compressed = b[0] & 0x40 != 0;
        let opcode = b[0] & 0x0f;
        let wire = b[at..at + len].to_vec();
        self.buf.drain(..at + len);
        let data = if compressed {
            assert!(
                self.agreed.is_some(),
                "a compressed frame without agreement"
            );
            assert!(
                opcode == 1 || opcode == 2,
                "only data frames are compressed"
            );
            if self
                .agreed
                .as_deref()
                .is_some_and(|a| a.contains("server_no_context_takeover"))
            {
                self.inflate.reset(false);
            }
            let mut out = Vec::with_capacity(wire.len() * 8 + 64);
            for chunk in [&wire[..], &TRAILER[..]] {
                let mut rest = chunk;
                loop {
                    let before = self.inflate.total_in();
                    self.inflate
                        .decompress_vec(rest, &mut out, FlushDecompress::Sync)
                        .expect("the server's deflate data inflates");
                    rest = &rest[(self.inflate.total_in() - before) as usize..];
                    if rest.is_empty() && out.len() < out.capacity() {
                        break;
                    }
                    out.reserve(out.capacity());
                }
            }
            out
        } else {
            wire.clone()
        };
        Some(Got {
            compressed,
            opcode,
            wire,
            data,
        })
    }

    /// Waits for a close frame: its code (`None` for EOF or no code).
    async fn expect_close(&mut self) -> Option<u16> {
        loop {
            let f = self.recv().await;
            match f.opcode {
                0x8 => {
                    return (f.data.len() >= 2).then(|| u16::from_be_bytes([f.data[0], f.data[1]]))
                }
                0xFF => return None,
                _ => {}
            }
        }
    }
}

/// The test server with compression on, and handlers that emit large payloads.
async fn server(deflate: Option<PerMessageDeflate>) -> Server {
    let mut b = builder().max_payload(100_000);
    if let Some(d) = deflate {
        b = b.per_message_deflate(d);
    }
    start_with(b, |io, _| install_blobs(io)).await
}

/// `blob` (size, compress): emits `"blob"` with a string of `size` characters, with the flag;
/// `blob-all` the same as a broadcast; `blob-bin` (size, compress) with a binary attachment.
fn install_blobs(io: &SocketIo) {
    io.ns("/", |socket: SocketRef| {
        socket.on("echo", |s: SocketRef, p: Payload| {
            let _ = s.emit_payload("echo", &p);
        });
        socket.on("blob", |s: SocketRef, p: Payload| {
            let (n, c) = (
                p.arg::<usize>(0).unwrap_or(0),
                p.arg::<bool>(1).unwrap_or(true),
            );
            let _ = s.compress(c).emit("blob", &blob(n));
        });
        socket.on("blob-all", |s: SocketRef, p: Payload| async move {
            let (n, c) = (
                p.arg::<usize>(0).unwrap_or(0),
                p.arg::<bool>(1).unwrap_or(true),
            );
            let _ = s.io().compress(c).emit("blob", &blob(n)).await;
        });
        socket.on("blob-bin", |s: SocketRef, p: Payload| {
            let (n, c) = (
                p.arg::<usize>(0).unwrap_or(0),
                p.arg::<bool>(1).unwrap_or(true),
            );
            let _ = s
                .compress(c)
                .emit("blob", &Bytes::from(blob(n).into_bytes()));
        });
    });
}

/// Compressible text that is not trivially repetitive.
fn blob(n: usize) -> String {
    (0..n)
        .map(|i| char::from(b"abcdefghij klmnopqrstuvwxyz"[(i * 7 + i / 13) % 27]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation() {
    // Off (the default): the offer is ignored, no answer, and RSV1 is a protocol error.
    let srv = server(None).await;
    let mut ws = Dws::join(&srv, CHROMIUM_OFFER).await;
    assert_eq!(ws.agreed, None);
    ws.send(0xC1, &deflate_alone(br#"42["echo",1]"#)).await;
    assert_eq!(ws.expect_close().await, Some(1002));
    // A header that would be refused when on is ignored when off.
    assert!(
        Dws::upgrade(&srv, "/socket.io/", "permessage-deflate; foo=bar")
            .await
            .is_ok()
    );
    srv.assert_healthy_no_leak().await;

    // On, with Node's defaults: `ws`'s answers.
    let srv = server(Some(PerMessageDeflate::new())).await;
    for (offer, answer) in [
        (CHROMIUM_OFFER, Some("permessage-deflate")),
        ("permessage-deflate", Some("permessage-deflate")),
        (
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
            Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=10"),
        ),
        ("x-webkit-deflate-frame", None),
        ("", None),
    ] {
        let ws = Dws::upgrade(&srv, "/socket.io/", offer).await.expect("101");
        assert_eq!(ws.agreed.as_deref(), answer, "offer {offer:?}");
    }
    // A header `ws` refuses: 400 with its message.
    for bad in [
        "permessage-deflate; foo",
        "permessage-deflate; server_max_window_bits=20",
        "permessage-deflate;;",
    ] {
        let res = Dws::upgrade(&srv, "/socket.io/", bad)
            .await
            .err()
            .expect("refused");
        assert_eq!(res.status, 400, "{bad:?}");
        assert_eq!(
            res.text(),
            "Invalid or unacceptable Sec-WebSocket-Extensions header"
        );
    }
    // Both no-context-takeover options: added after the offer's parameters.
    let nct = PerMessageDeflate::new()
        .server_no_context_takeover(true)
        .client_no_context_takeover(true);
    let srv2 = server(Some(nct)).await;
    let ws = Dws::upgrade(&srv2, "/socket.io/", CHROMIUM_OFFER)
        .await
        .expect("101");
    assert_eq!(
        ws.agreed.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    srv.assert_healthy_no_leak().await;
    srv2.assert_healthy_no_leak().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_both_ways() {
    for config in [
        PerMessageDeflate::new(),
        PerMessageDeflate::new()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true),
    ] {
        let srv = server(Some(config)).await;
        let mut ws = Dws::join(&srv, CHROMIUM_OFFER).await;
        // From 1024 bytes (the packet with its type) the server compresses; below, not.
        for n in [5000usize, 1000, 60_000] {
            ws.send(0x81, format!(r#"42["blob",{n}]"#).as_bytes()).await;
            let got = ws.recv().await;
            let want = format!(r#"42["blob",{}]"#, json!(blob(n)));
            assert_eq!(got.text(), want);
            assert_eq!(got.compressed, want.len() >= 1024, "{n}: {}", want.len());
            if got.compressed {
                assert!(
                    got.wire.len() < want.len() / 2,
                    "{} of {}",
                    got.wire.len(),
                    want.len()
                );
            }
        }
        // Client to server: compressed alone, compressed with context, and in fragments.
        let msg = format!(r#"42["echo","{}"]"#, blob(3000));
        ws.send_deflated(&msg).await;
        assert_eq!(ws.recv().await.text(), msg);
        if !config.client_no_context_takeover {
            // The second message refers to the first (one compressor for both).
            let mut c = Compress::new(Compression::default(), false);
            let m1 = r#"42["echo","the quick brown fox jumps over the lazy dog"]"#;
            let m2 = r#"42["echo","the quick brown fox jumps over the lazy dog again"]"#;
            let (z1, z2) = (
                deflate(m1.as_bytes(), &mut c),
                deflate(m2.as_bytes(), &mut c),
            );
            ws.send(0xC1, &z1).await;
            assert_eq!(ws.recv().await.text(), m1);
            ws.send(0xC1, &z2).await;
            assert_eq!(ws.recv().await.text(), m2);
        }
        let z = deflate_alone(msg.as_bytes());
        let (a, rest) = z.split_at(z.len() / 3);
        let (b, c) = rest.split_at(rest.len() / 2);
        ws.send(0x41, a).await; // RSV1 on the first frame only
        ws.send(0x00, b).await;
        ws.send(0x89, b"ping").await; // a control frame between fragments
        ws.send(0x80, c).await;
        let pong = ws.recv().await;
        assert_eq!(
            (pong.opcode, pong.compressed, &pong.data[..]),
            (0xA, false, &b"ping"[..])
        );
        assert_eq!(ws.recv().await.text(), msg);
        // An uncompressed message is fine too.
        ws.send(0x81, br#"42["echo","plain"]"#).await;
        assert_eq!(ws.recv().await.text(), r#"42["echo","plain"]"#);
        srv.assert_healthy_no_leak().await;
    }
}

/// Sockeye honours `compress(false)` over WebSocket (Node 4.8's engine.io no longer passes
/// the flag to its WebSocket transport: see the README).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_false_is_never_compressed() {
    for config in [
        PerMessageDeflate::new(),
        PerMessageDeflate::new().server_no_context_takeover(true),
    ] {
        let srv = server(Some(config.threshold(0))).await;
        let mut a = Dws::join(&srv, CHROMIUM_OFFER).await;
        let mut b = Dws::join(&srv, CHROMIUM_OFFER).await;
        a.send(0x81, br#"42["blob",5000,false]"#).await;
        let got = a.recv().await;
        assert!(!got.compressed);
        assert_eq!(got.text(), format!(r#"42["blob",{}]"#, json!(blob(5000))));
        // A broadcast with the flag, to both.
        a.send(0x81, br#"42["blob-all",5000,false]"#).await;
        for ws in [&mut a, &mut b] {
            let got = ws.recv().await;
            assert!(!got.compressed);
            assert_eq!(got.text(), format!(r#"42["blob",{}]"#, json!(blob(5000))));
        }
        // And compressed without it, the second broadcast identical for both clients.
        a.send(0x81, br#"42["blob-all",5000]"#).await;
        let (ga, gb) = (a.recv().await, b.recv().await);
        assert!(ga.compressed && gb.compressed);
        assert_eq!(ga.data, gb.data);
        // A binary attachment follows its packet's flag.
        a.send(0x81, br#"42["blob-bin",5000,false]"#).await;
        let head = a.recv().await;
        assert!(
            !head.compressed && head.text().starts_with("451-"),
            "{head:?}"
        );
        let bin = a.recv().await;
        assert_eq!((bin.opcode, bin.compressed), (2, false));
        assert_eq!(bin.data, blob(5000).into_bytes());
        a.send(0x81, br#"42["blob-bin",5000]"#).await;
        let _head = a.recv().await;
        let bin = a.recv().await;
        assert_eq!((bin.opcode, bin.compressed), (2, true));
        assert_eq!(bin.data, blob(5000).into_bytes());
        srv.assert_healthy_no_leak().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_compressed_input() {
    let srv = server(Some(PerMessageDeflate::new())).await;
    let mut bystander = Dws::join(&srv, CHROMIUM_OFFER).await;
    // A decompression bomb: 50 MB of zeros in about 50 KB, under the 100 KB limit.
    let bomb = deflate_alone(&vec![0u8; 50_000_000]);
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    let mut ws = Dws::join(&srv, CHROMIUM_OFFER).await;
    ws.send(0xC2, &bomb).await;
    assert_eq!(ws.expect_close().await, Some(1009), "bomb");
    // The same in fragments.
    let mut ws = Dws::join(&srv, CHROMIUM_OFFER).await;
    let (a, b) = bomb.split_at(bomb.len() / 2);
    ws.send(0x42, a).await;
    ws.send(0x80, b).await;
    assert_eq!(ws.expect_close().await, Some(1009), "bomb in fragments");
    // Invalid deflate data: 1007.
    let mut ws = Dws::join(&srv, CHROMIUM_OFFER).await;
    ws.send(0xC1, &[0xff, 0xff, 0xff, 0x00]).await;
    assert_eq!(ws.expect_close().await, Some(1007), "invalid deflate");
    // Invalid UTF-8 inside valid deflate data: 1007.
    let mut ws = Dws::join(&srv, CHROMIUM_OFFER).await;
    ws.send(0xC1, &deflate_alone(b"42[\"echo\",\"\xff\"]"))
        .await;
    assert_eq!(ws.expect_close().await, Some(1007), "invalid UTF-8");
    // A reference to bytes the client never sent (context it does not have): 1007.
    let mut c = Compress::new(Compression::default(), false);
    let _ = deflate(b"42[\"echo\",\"abcdefghijklmnop\"]", &mut c);
    let second = deflate(b"42[\"echo\",\"abcdefghijklmnop\"]", &mut c);
    let mut ws = Dws::join(&srv, CHROMIUM_OFFER).await;
    ws.send(0xC1, &second).await;
    assert_eq!(ws.expect_close().await, Some(1007), "distance too far back");
    // RSV1 on a continuation, on a control frame; RSV2 and RSV3: 1002.
    for frames in [
        vec![(0x41u8, deflate_alone(b"42[")), (0xC0, vec![0x00])],
        vec![(0xC9, vec![])],
        vec![(0xA1, b"42[\"echo\",1]".to_vec())],
        vec![(0x91, b"42[\"echo\",1]".to_vec())],
        vec![(0xE1, deflate_alone(b"42[\"echo\",1]"))],
    ] {
        let mut ws = Dws::join(&srv, CHROMIUM_OFFER).await;
        for (b0, p) in &frames {
            ws.send(*b0, p).await;
        }
        assert_eq!(ws.expect_close().await, Some(1002), "{frames:?}");
    }
    // A compressed frame on a connection that did not agree to compression: 1002.
    let mut ws = Dws::join(&srv, "").await;
    assert_eq!(ws.agreed, None);
    ws.send(0xC1, &deflate_alone(br#"42["echo",1]"#)).await;
    assert_eq!(ws.expect_close().await, Some(1002), "not agreed");
    // The bystander saw none of it.
    let msg = format!(r#"42["echo","{}"]"#, blob(2000));
    bystander.send_deflated(&msg).await;
    let got = bystander.recv().await;
    assert!(got.compressed);
    assert_eq!(got.text(), msg);
    srv.assert_healthy().await;
}

/// gzip and deflate polling responses, as Node's `httpCompression`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_responses() {
    let srv = server(None).await;
    let get_with = |sid: String, accept: &'static str| {
        let addr = srv.addr;
        async move {
            let headers: Vec<(&str, &str)> = if accept.is_empty() {
                vec![]
            } else {
                vec![("Accept-Encoding", accept)]
            };
            request(addr, "GET", &poll_url(&sid), &headers, b"").await
        }
    };
    let sid = eio_open(srv.addr).await;
    assert_eq!(eio_post(srv.addr, &sid, b"40").await.status, 200);
    let res = get_with(sid.clone(), "gzip, deflate, br").await;
    assert!(res.text().starts_with("40{"), "{:?}", res.text());
    assert_eq!(res.header("content-encoding"), None, "below the threshold");

    let body_of = |n: usize| format!(r#"42["blob",{}]"#, json!(blob(n)));
    for (accept, coding) in [
        ("gzip, deflate, br", Some("gzip")),
        ("deflate", Some("deflate")),
        ("br", None),
        ("", None),
        ("gzip;q=0", None),
    ] {
        assert_eq!(
            eio_post(srv.addr, &sid, br#"42["blob",5000]"#).await.status,
            200
        );
        let res = get_with(sid.clone(), accept).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-encoding"), coding, "{accept:?}");
        let body = match coding {
            Some("gzip") => {
                let mut s = String::new();
                flate2::read::GzDecoder::new(&res.body[..])
                    .read_to_string(&mut s)
                    .expect("gunzip");
                s
            }
            Some(_) => {
                let mut s = String::new();
                flate2::read::ZlibDecoder::new(&res.body[..])
                    .read_to_string(&mut s)
                    .expect("inflate");
                s
            }
            None => res.text(),
        };
        assert_eq!(body, body_of(5000));
        if coding.is_some() {
            assert_eq!(
                res.header("content-length"),
                Some(&*res.body.len().to_string())
            );
            assert!(res.body.len() < 5000 / 2);
        }
    }
    // `compress(false)`: not compressed, unless another packet of the response may be.
    assert_eq!(
        eio_post(srv.addr, &sid, br#"42["blob",5000,false]"#)
            .await
            .status,
        200
    );
    let res = get_with(sid.clone(), "gzip").await;
    assert_eq!(res.header("content-encoding"), None);
    assert_eq!(res.text(), body_of(5000));
    let both = format!("{}\x1e{}", r#"42["blob",3000,false]"#, r#"42["echo",1]"#);
    assert_eq!(eio_post(srv.addr, &sid, both.as_bytes()).await.status, 200);
    let res = get_with(sid.clone(), "gzip").await;
    assert_eq!(res.header("content-encoding"), Some("gzip"));

    // Off: never.
    let off = start_with(
        builder().max_payload(100_000).http_compression(None),
        |io, _| install_blobs(io),
    )
    .await;
    let sid = eio_open(off.addr).await;
    assert_eq!(eio_post(off.addr, &sid, b"40").await.status, 200);
    let _ = eio_get(off.addr, &sid).await;
    assert_eq!(
        eio_post(off.addr, &sid, br#"42["blob",5000]"#).await.status,
        200
    );
    let res = request(
        off.addr,
        "GET",
        &poll_url(&sid),
        &[("Accept-Encoding", "gzip")],
        b"",
    )
    .await;
    assert_eq!(res.header("content-encoding"), None);
    assert_eq!(res.text(), body_of(5000));
    srv.assert_healthy_no_leak().await;
}

/// As Node: a POST's `Content-Encoding` is not read, so a compressed body is an invalid
/// payload (the session closes, `parse error`), and it is never inflated (a bomb costs what
/// it weighs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_post_bodies_are_not_inflated() {
    let srv = server(None).await;
    let mut bystander = Poller::connect_sio(srv.addr).await;
    for coding in ["gzip", "deflate"] {
        let plain = br#"42["echo","hello"]"#.to_vec();
        let body = match coding {
            "gzip" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
                std::io::Write::write_all(&mut e, &plain).expect("gzip");
                e.finish().expect("gzip")
            }
            _ => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
                std::io::Write::write_all(&mut e, &plain).expect("deflate");
                e.finish().expect("deflate")
            }
        };
        let p = Poller::connect_sio(srv.addr).await;
        let res = request(
            srv.addr,
            "POST",
            &poll_url(&p.sid),
            &[
                ("Content-Type", "text/plain;charset=UTF-8"),
                ("Content-Encoding", coding),
            ],
            &body,
        )
        .await;
        assert_eq!((res.status, res.text().as_str()), (200, "ok"), "{coding}");
        p.assert_closed().await;
    }
    // A gzip bomb (10 MB of zeros in about 10 KB): read as the 10 KB it is.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
    std::io::Write::write_all(&mut e, &vec![0u8; 10_000_000]).expect("gzip");
    let bomb = e.finish().expect("gzip");
    assert!(bomb.len() < 100_000);
    let p = Poller::connect_sio(srv.addr).await;
    let res = request(
        srv.addr,
        "POST",
        &poll_url(&p.sid),
        &[
            ("Content-Type", "text/plain;charset=UTF-8"),
            ("Content-Encoding", "gzip"),
        ],
        &bomb,
    )
    .await;
    assert_eq!(res.status, 200);
    p.assert_closed().await;
    // Over the limit as sent: 413, the session goes on (as for any oversized body).
    let p = Poller::connect_sio(srv.addr).await;
    let big = vec![b'x'; 100_001];
    let res = request(
        srv.addr,
        "POST",
        &poll_url(&p.sid),
        &[
            ("Content-Type", "text/plain;charset=UTF-8"),
            ("Content-Encoding", "gzip"),
        ],
        &big,
    )
    .await;
    assert_eq!(res.status, 413);
    bystander.post_ok(r#"42["echo","still here"]"#).await;
    assert_eq!(bystander.recv().await, r#"42["echo","still here"]"#);
}
