//! `rediss://` (the `tls-rustls` feature) against a `redis-server` of the test's own that speaks only TLS and asks
//! clients for a certificate (`--tls-auth-clients yes`), with a CA, server and client certificates made by
//! `openssl` for the test: the shared store suite over TLS (mutual TLS, a private CA), and the failures a
//! misconfigured client meets — an untrusted server certificate, no client certificate, plain `redis://` to the
//! TLS port — each a `StoreError` within the time limit, never a panic. Skipped, loudly, without `redis-server`,
//! `redis-cli` or `openssl` (a failure under `REQUIRE_SERVICES=1`).

#![cfg(feature = "tls-rustls")]

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::secured::{Pki, Server};
use express_session::SessionId;
use express_session::store::{Store, StoreError};
use express_session_redis::{RedisStore, RedisStoreBuilder};

/// The time limit of the stores that must fail, and what a failure may take beyond it on a loaded machine.
const LIMIT: Duration = Duration::from_millis(1_500);
const SLACK: Duration = Duration::from_millis(1_000);

struct Fixture {
    pki: Pki,
    server: Server,
}

impl Fixture {
    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.server.port)
    }
}

/// One TLS server (and its PKI) for the whole test binary; the watchdog stops it by PID when the process ends.
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            if !common::secured::tools_available(true) {
                return None;
            }
            let pki = Pki::new();
            let server = Server::tls(&pki);
            server.also_remove(&pki.dir);
            Some(Fixture { pki, server })
        })
        .as_ref()
}

/// A builder that trusts the test CA and shows the test client certificate.
fn trusting(fixture: &Fixture, prefix: &str) -> RedisStoreBuilder {
    common::builder(prefix)
        .tls_root_ca_pem(fixture.pki.read("ca.crt"))
        .tls_client_cert_pem(fixture.pki.read("client.crt"), fixture.pki.read("client.key"))
}

async fn tls_store() -> Option<RedisStore> {
    let fixture = fixture()?;
    let builder = trusting(fixture, &common::unique_prefix("tls")).owner_key("user");
    Some(builder.connect(&fixture.url()).await.unwrap_or_else(|e| panic!("{}", common::error_chain(&e))))
}

mod suite {
    express_session::store_suite!(|| async { super::tls_store().await });
}

/// A connection that must fail: it does within the limit, as a `StoreError`; returns its text, sources included.
async fn refused(builder: RedisStoreBuilder, url: &str) -> (StoreError, String) {
    let start = Instant::now();
    let error = builder.timeout(LIMIT).connect(url).await.expect_err("the connection must be refused");
    assert!(start.elapsed() <= LIMIT + SLACK, "took {:?}", start.elapsed());
    let text = common::error_chain(&error);
    (error, text)
}

#[tokio::test]
async fn a_lazy_store_reaches_the_server_over_tls_with_the_builders_certificates() {
    let Some(fixture) = fixture() else { return };
    let store = trusting(fixture, &common::unique_prefix("tls-lazy")).connect_lazy(&fixture.url()).unwrap();
    assert_eq!(store.len().await.unwrap(), 0);
    assert!(store.get(&SessionId::generate()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_server_certificate_of_another_ca_is_refused() {
    let Some(fixture) = fixture() else { return };
    let builder = common::builder("tls-untrusted:")
        .tls_root_ca_pem(fixture.pki.read("other-ca.crt"))
        .tls_client_cert_pem(fixture.pki.read("client.crt"), fixture.pki.read("client.key"));
    let (error, text) = refused(builder, &fixture.url()).await;
    eprintln!("another CA: {text}");
    assert!(text.contains("certificate") && error.is_unavailable(), "{text}");
    // Without a CA of the builder's, the operating system's roots do not know the test CA either.
    let builder = common::builder("tls-untrusted:")
        .tls_client_cert_pem(fixture.pki.read("client.crt"), fixture.pki.read("client.key"));
    let (error, text) = refused(builder, &fixture.url()).await;
    assert!(text.contains("certificate") && error.is_unavailable(), "{text}");
}

#[tokio::test]
async fn a_server_certificate_of_the_trusted_ca_for_another_name_is_refused() {
    // Without this the suite would pass with the host name (here an IP address) unchecked: any certificate the CA
    // signed, for any server, would do.
    let Some(fixture) = fixture() else { return };
    let elsewhere = Server::tls_with(&fixture.pki, "elsewhere");
    let url = format!("rediss://127.0.0.1:{}", elsewhere.port);
    let (error, text) = refused(trusting(fixture, "tls-elsewhere:"), &url).await;
    eprintln!("a certificate for another name: {text}");
    assert!(text.contains("not valid for name") && error.is_unavailable(), "{text}");
    let store = trusting(fixture, "tls-elsewhere:").timeout(LIMIT).connect_lazy(&url).unwrap();
    let lazy = store.get(&SessionId::generate()).await.unwrap_err();
    assert!(common::error_chain(&lazy).contains("not valid for name"), "{lazy}");
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused_by_a_server_that_asks_for_one() {
    let Some(fixture) = fixture() else { return };
    let builder = common::builder("tls-anonymous:").tls_root_ca_pem(fixture.pki.read("ca.crt"));
    let (error, text) = refused(builder, &fixture.url()).await;
    eprintln!("no client certificate: {text}");
    assert!(error.is_unavailable(), "{text}");
    // A lazy store answers each call with the same failure (the layer answers 503 or 500), never a panic.
    let builder = common::builder("tls-anonymous:").tls_root_ca_pem(fixture.pki.read("ca.crt")).timeout(LIMIT);
    let store = builder.connect_lazy(&fixture.url()).unwrap();
    let lazy = store.get(&SessionId::generate()).await.unwrap_err();
    assert_eq!(lazy.is_unavailable(), error.is_unavailable(), "{lazy} / {error}");
}

#[tokio::test]
async fn plain_redis_to_the_tls_port_fails_cleanly() {
    let Some(fixture) = fixture() else { return };
    let url = format!("redis://127.0.0.1:{}", fixture.server.port);
    let (error, text) = refused(common::builder("tls-plain:"), &url).await;
    eprintln!("plain redis:// to the TLS port: {text}");
    assert!(error.is_unavailable(), "{text}");
}

#[tokio::test]
async fn certificates_with_a_plain_url_or_an_invalid_pem_are_refused_when_the_store_is_built() {
    let Some(fixture) = fixture() else { return };
    let plain = format!("redis://127.0.0.1:{}", fixture.server.port);
    let error = trusting(fixture, "tls-config:").connect_lazy(&plain).unwrap_err();
    assert!(common::error_chain(&error).contains("rediss://"), "{error}");
    let error = common::builder("tls-config:")
        .tls_root_ca_pem(fixture.pki.read("ca.crt"))
        .tls_client_cert_pem(fixture.pki.read("client.crt"), b"not a key".to_vec())
        .connect_lazy(&fixture.url())
        .unwrap_err();
    assert!(matches!(error, StoreError::Backend { .. }), "{error}");
}

#[tokio::test]
async fn connect_cluster_uses_tls_and_the_builders_certificates() {
    // The fixture is no cluster: with the right certificates the handshake succeeds and the server answers that
    // cluster support is disabled (so the cluster client spoke TLS with the builder's CA and client certificate);
    // with another CA the handshake itself fails.
    let Some(fixture) = fixture() else { return };
    let start = Instant::now();
    let error = trusting(fixture, "tls-cluster:").timeout(LIMIT).connect_cluster([fixture.url()]).await.unwrap_err();
    let text = common::error_chain(&error);
    eprintln!("cluster over TLS to a single server: {text} ({:?})", start.elapsed());
    assert!(text.to_lowercase().contains("cluster") && !text.contains("certificate"), "{text}");
    let builder = common::builder("tls-cluster:")
        .tls_root_ca_pem(fixture.pki.read("other-ca.crt"))
        .tls_client_cert_pem(fixture.pki.read("client.crt"), fixture.pki.read("client.key"))
        .timeout(LIMIT);
    let start = Instant::now();
    let error = builder.connect_cluster([fixture.url()]).await.unwrap_err();
    let text = common::error_chain(&error);
    eprintln!("cluster with another CA: {text} ({:?})", start.elapsed());
    assert!(text.contains("UnknownIssuer") && start.elapsed() <= LIMIT + SLACK, "{text}");
}
