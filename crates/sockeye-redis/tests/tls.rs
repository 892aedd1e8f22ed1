//! `rediss://` URLs (the `tls` feature, which the tests always build with): a Redis that
//! serves TLS only, with a password, and a certificate of a test CA that the process trusts
//! through `SSL_CERT_FILE` (read by rustls-native-certs).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sockeye_core::adapter::BroadcastOptions;
use sockeye_redis::{Emitter, RedisAdapter};
use support::*;

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is needed to make the test certificates (Debian's openssl package)");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA and a certificate for 127.0.0.1 signed by it, in a new directory.
fn certificates() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sockeye-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=sockeye-test-ca",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    dir
}

#[tokio::test]
async fn rediss_urls_with_a_password() {
    let dir = certificates();
    // The only test of this binary: setting the variable affects nothing else.
    std::env::set_var("SSL_CERT_FILE", dir.join("ca.crt"));
    let redis = Redis::start_tls(
        &dir.join("server.crt"),
        &dir.join("server.key"),
        &["--requirepass", "pw"],
    );
    let url = format!("rediss://:pw@127.0.0.1:{}", redis.port);
    let b = || RedisAdapter::builder(url.clone()).requests_timeout(Duration::from_secs(3));
    let a = Server::start(b(), "/", "a").await;
    let other = Server::start(b(), "/", "b").await;
    let so = other.ns.connect(&[]);
    a.adapter
        .broadcast(packet("/", "over-tls", vec![]), BroadcastOptions::new())
        .await
        .unwrap();
    eventually("over TLS", || !other.ns.inbox(so).is_empty()).await;
    assert_eq!(
        a.adapter
            .fetch_sockets(BroadcastOptions::new())
            .await
            .unwrap()
            .len(),
        1
    );
    let emitter = Emitter::connect(url.clone()).await.unwrap();
    emitter.emit("from-emitter", &1).await.unwrap();
    eventually("emitter over TLS", || other.ns.inbox(so).len() == 2).await;
    // Plain text to the TLS port, or a wrong password: refused.
    let plain = RedisAdapter::builder(format!("redis://:pw@127.0.0.1:{}", redis.port))
        .requests_timeout(Duration::from_secs(2))
        .build()
        .await;
    assert!(
        matches!(plain, Err(sockeye_redis::Error::Connect(_))),
        "{plain:?}"
    );
    let wrong = RedisAdapter::builder(format!("rediss://:nope@127.0.0.1:{}", redis.port))
        .requests_timeout(Duration::from_secs(2))
        .build()
        .await;
    assert!(
        matches!(wrong, Err(sockeye_redis::Error::Connect(_))),
        "{wrong:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
