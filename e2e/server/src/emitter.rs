//! `e2e-server --emitter`: the cluster suite's emitter (`e2e/cluster/CONTRACT.md`, section 5)
//! on the emitter of `sockeye-redis`, the same interface as `e2e/cluster/emitter.js` on Node's
//! `@socket.io/redis-emitter`:
//!
//! ```text
//! e2e-server --emitter --redis URL [--key K]
//! ```
//!
//! Prints `ready` once connected, then reads one JSON command a line on stdin and answers
//! each with one JSON line on stdout: `{"id":…,"ok":true}` once the message is in Redis, or
//! `{"id":…,"ok":false,"error":"…"}`. Exits at the end of stdin.
//!
//! A command: `{"id", "op", "nsp"?, "rooms"?, "except"?, ...}` where `op` is
//! - `emit` (`event`, `args`, `volatile`?, `compress`?),
//! - `sockets-join` / `sockets-leave` (`targets`: the rooms to join or leave),
//! - `disconnect-sockets` (`close`),
//! - `server-side-emit` (`event`, `args`; rooms do not apply).
//!
//! `{"$binary": "<base64>"}` anywhere in `args` is a binary value.

use base64::Engine as _;
use serde_json::{json, Value as Json};
use sockeye::value::Value;
use sockeye::Payload;
use sockeye_redis::Emitter;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn usage(msg: &str) -> ! {
    eprintln!("emitter: {msg}\nusage: e2e-server --emitter --redis URL [--key K]");
    std::process::exit(2)
}

/// A command's JSON as a `Value`, `{"$binary": base64}` as binary.
fn revive(v: &Json) -> Result<Value, String> {
    Ok(match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i),
            (_, Some(u), _) => Value::UInt(u),
            (_, _, Some(f)) => Value::Float(f),
            _ => return Err(format!("bad number {n}")),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(revive).collect::<Result<_, _>>()?),
        Json::Object(o) => match (o.len(), o.get("$binary")) {
            (1, Some(Json::String(b64))) => Value::Bin(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("bad $binary: {e}"))?
                    .into(),
            ),
            _ => Value::Map(
                o.iter()
                    .map(|(k, v)| Ok((k.clone(), revive(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
        },
    })
}

/// `x`, `[x, ...]` or nothing, as a list of room names.
fn list(v: Option<&Json>) -> Result<Vec<String>, String> {
    let items = match v {
        None | Some(Json::Null) => return Ok(Vec::new()),
        Some(Json::Array(a)) => a.iter().collect(),
        Some(one) => vec![one],
    };
    items
        .into_iter()
        .map(|r| match r {
            Json::String(s) => Ok(s.clone()),
            Json::Number(n) => Ok(n.to_string()),
            other => Err(format!("not a room: {other}")),
        })
        .collect()
}

fn args(cmd: &Json) -> Result<Vec<Value>, String> {
    match cmd.get("args") {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(a)) => a.iter().map(revive).collect(),
        Some(one) => Ok(vec![revive(one)?]),
    }
}

async fn run(emitter: &Emitter, cmd: &Json) -> Result<(), String> {
    let nsp = cmd.get("nsp").and_then(Json::as_str).unwrap_or("/");
    let base = if nsp == "/" {
        emitter.clone()
    } else {
        emitter.of(nsp)
    };
    let mut op = base.clone();
    let rooms = list(cmd.get("rooms"))?;
    let except = list(cmd.get("except"))?;
    if !rooms.is_empty() {
        op = op.to(rooms);
    }
    if !except.is_empty() {
        op = op.except(except);
    }
    let event = || {
        cmd.get("event")
            .and_then(Json::as_str)
            .ok_or_else(|| "no event".to_owned())
    };
    let result = match cmd.get("op").and_then(Json::as_str) {
        Some("emit") => {
            if cmd.get("volatile").and_then(Json::as_bool) == Some(true) {
                op = op.volatile();
            }
            if let Some(c) = cmd.get("compress").and_then(Json::as_bool) {
                op = op.compress(c);
            }
            let payload = Payload::from_values(args(cmd)?);
            op.emit_payload(event()?, &payload).await
        }
        Some("sockets-join") => op.sockets_join(list(cmd.get("targets"))?).await,
        Some("sockets-leave") => op.sockets_leave(list(cmd.get("targets"))?).await,
        Some("disconnect-sockets") => {
            let close = cmd.get("close").and_then(Json::as_bool).unwrap_or(false);
            op.disconnect_sockets(close).await
        }
        Some("server-side-emit") => {
            let payload = Payload::from_values(args(cmd)?);
            base.server_side_emit_payload(event()?, &payload).await
        }
        Some(other) => return Err(format!("unknown op {other:?}")),
        None => return Err("no op".to_owned()),
    };
    result.map_err(|e| e.to_string())
}

/// Runs the emitter until stdin closes.
pub(crate) async fn run_cli(args: &[String]) -> std::io::Result<()> {
    let mut redis = None;
    let mut key = None;
    let mut argv = args.iter().cloned();
    while let Some(a) = argv.next() {
        let mut value = || {
            argv.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--emitter" => {}
            "--redis" => redis = Some(value()),
            "--key" => key = Some(value()),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let Some(redis) = redis else {
        usage("--redis URL is required")
    };
    let mut builder = Emitter::builder(redis);
    if let Some(key) = key {
        builder = builder.key(key);
    }
    let emitter = match builder.build().await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("emitter: {e}");
            std::process::exit(1);
        }
    };
    let mut out = tokio::io::stdout();
    let _ = out.write_all(b"ready\n").await;
    let _ = out.flush().await;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Json>(&line) {
            Err(e) => json!({ "id": null, "ok": false, "error": format!("bad JSON: {e}") }),
            Ok(cmd) => {
                let id = cmd.get("id").cloned().unwrap_or(Json::Null);
                match run(&emitter, &cmd).await {
                    Ok(()) => json!({ "id": id, "ok": true }),
                    Err(error) => json!({ "id": id, "ok": false, "error": error }),
                }
            }
        };
        let _ = out.write_all(format!("{reply}\n").as_bytes()).await;
        let _ = out.flush().await;
    }
    Ok(())
}
