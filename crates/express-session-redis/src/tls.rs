//! How [`connect`](crate::RedisStoreBuilder::connect), [`connect_lazy`](crate::RedisStoreBuilder::connect_lazy)
//! and [`connect_cluster`](crate::RedisStoreBuilder::connect_cluster) make their `redis` clients: the URL, the ACL
//! credentials given to the builder, and TLS (`rediss://`, with the `tls-rustls` feature: a private CA, a client
//! certificate).

use std::fmt;

use express_session::store::StoreError;
use redis::cluster::ClusterClientBuilder;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::builder::RedisStoreBuilder;
use crate::connection::{STORE, classify};

/// The options of the clients the builder makes, besides the URL. Its `Debug` never prints the password, nor the
/// certificates and key.
#[derive(Clone, Default)]
pub(crate) struct ClientOptions {
    username: Option<String>,
    password: Option<String>,
    #[cfg(feature = "tls-rustls")]
    root_ca_pem: Option<Vec<u8>>,
    #[cfg(feature = "tls-rustls")]
    client_cert: Option<redis::ClientTlsConfig>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("ClientOptions");
        out.field("username", &self.username);
        out.field("password", &self.password.as_ref().map(|_| "<redacted>"));
        #[cfg(feature = "tls-rustls")]
        {
            out.field("root_ca_pem", &self.root_ca_pem.as_ref().map(|pem| format!("{} bytes", pem.len())));
            out.field("client_cert", &self.client_cert.as_ref().map(|_| "<redacted>"));
        }
        out.finish()
    }
}

/// Whether `url` asks for TLS (`rediss://`, `valkeys://`).
fn is_tls_url(url: &str) -> bool {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    scheme.eq_ignore_ascii_case("rediss") || scheme.eq_ignore_ascii_case("valkeys")
}

/// The message of a `rediss://` URL in a build without TLS.
const TLS_NOT_ENABLED: &str = "a rediss:// URL needs TLS: enable the `tls-rustls` feature of express-session-redis";

/// The message of a username given without a password.
const USERNAME_WITHOUT_PASSWORD: &str = "a Redis username needs a password (in the URL, `redis://user:password@host`, \
     or with `RedisStoreBuilder::password`; for a `nopass` user any password does): without one the store would log \
     in as the `default` user";

/// The message of a `rediss://…#insecure` URL.
#[cfg(feature = "tls-rustls")]
const INSECURE_REFUSED: &str = "a rediss:// URL with #insecure would accept any server certificate: remove \
     #insecure, and give a private CA with `RedisStoreBuilder::tls_root_ca_pem`";

impl ClientOptions {
    /// `url` parsed, with the builder's username and password (which replace the URL's).
    pub(crate) fn connection_info(&self, url: &str) -> Result<ConnectionInfo, StoreError> {
        let info = url.into_connection_info().map_err(|error| {
            if is_tls_url(url) && !cfg!(feature = "tls-rustls") {
                StoreError::backend(STORE, format!("{TLS_NOT_ENABLED} ({error})"))
            } else {
                classify(error)
            }
        })?;
        let mut settings = info.redis_settings().clone();
        if let Some(username) = &self.username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        if settings.username().is_some() && settings.password().is_none() {
            // redis-rs logs in only with a password: without one the connection would be `default`'s, silently.
            return Err(StoreError::backend(STORE, USERNAME_WITHOUT_PASSWORD));
        }
        let info = info.set_redis_settings(settings);
        self.check_tls(&info)?;
        Ok(info)
    }

    /// Refuses TLS options for a URL without TLS, and makes sure rustls has a crypto provider for a URL with.
    fn check_tls(&self, info: &ConnectionInfo) -> Result<(), StoreError> {
        let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        #[cfg(feature = "tls-rustls")]
        {
            if !tls && (self.root_ca_pem.is_some() || self.client_cert.is_some()) {
                return Err(StoreError::backend(
                    STORE,
                    "TLS certificates were given to the builder for a URL without TLS: use a rediss:// URL",
                ));
            }
            if matches!(info.addr(), ConnectionAddr::TcpTls { insecure: true, .. }) {
                return Err(StoreError::backend(STORE, INSECURE_REFUSED));
            }
            if tls {
                install_crypto_provider();
            }
        }
        let _ = tls;
        Ok(())
    }

    /// The certificates for the `redis` crate, if any were given.
    #[cfg(feature = "tls-rustls")]
    fn certificates(&self) -> Option<redis::TlsCertificates> {
        if self.root_ca_pem.is_none() && self.client_cert.is_none() {
            return None;
        }
        Some(redis::TlsCertificates { client_tls: self.client_cert.clone(), root_cert: self.root_ca_pem.clone() })
    }

    /// The ACL credentials given to the builder (for the master that Sentinel names).
    pub(crate) fn credentials(&self) -> (Option<&str>, Option<&str>) {
        (self.username.as_deref(), self.password.as_deref())
    }

    /// Whether TLS certificates were given to the builder.
    pub(crate) fn has_certificates(&self) -> bool {
        #[cfg(feature = "tls-rustls")]
        if self.root_ca_pem.is_some() || self.client_cert.is_some() {
            return true;
        }
        false
    }

    /// A client for one server at `url`.
    pub(crate) fn client(&self, url: &str) -> Result<redis::Client, StoreError> {
        let info = self.connection_info(url)?;
        #[cfg(feature = "tls-rustls")]
        if let Some(certificates) = self.certificates() {
            // A PEM that does not parse is an I/O error of the `redis` crate's: a configuration error here (500), not
            // an unreachable server.
            return redis::Client::build_with_tls(info, certificates)
                .map_err(|error| StoreError::backend(STORE, error));
        }
        redis::Client::open(info).map_err(classify)
    }

    /// A cluster client builder for the nodes at `urls`.
    pub(crate) fn cluster_builder(&self, urls: &[String]) -> Result<ClusterClientBuilder, StoreError> {
        let nodes = urls.iter().map(|url| self.connection_info(url)).collect::<Result<Vec<_>, _>>()?;
        #[cfg(feature = "tls-rustls")]
        if let Some(certificates) = self.certificates() {
            // The PEMs parsed now, as for one server: a bad one is a configuration error (Backend), not the I/O
            // error the cluster client's `build` would report.
            if let Some(first) = nodes.first() {
                redis::Client::build_with_tls(first.clone(), certificates.clone())
                    .map_err(|error| StoreError::backend(STORE, error))?;
            }
            return Ok(ClusterClientBuilder::new(nodes).certs(certificates));
        }
        Ok(ClusterClientBuilder::new(nodes))
    }
}

/// rustls needs a process-wide crypto provider; it installs one by itself when exactly one provider feature is on
/// (this crate turns on `ring`), and panics when none is installed and several are on (an app that also turns on
/// `aws-lc-rs`). So, before the first TLS connection, the store installs ring's provider if none is installed: what
/// rustls would do itself, and no panic in the second case. An app that installs its own does so before connecting.
#[cfg(feature = "tls-rustls")]
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // `Err` means another thread installed one meanwhile: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// ACL credentials and TLS.
impl RedisStoreBuilder {
    /// The ACL user to log in as (Redis 6 and later), instead of the URL's (`redis://user:password@host`). Give
    /// its password with [`password`](Self::password). See the crate documentation's "TLS and ACL" for the
    /// commands and keys the user needs.
    ///
    /// ```
    /// let builder = express_session_redis::RedisStore::builder().username("sessions").password("s3cret");
    /// # let _ = builder;
    /// ```
    #[must_use]
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.client.username = Some(username.into());
        self
    }

    /// The password to log in with, instead of the URL's: the ACL user's (see [`username`](Self::username)), or
    /// without a username the `default` user's (`requirepass`). The builder's `Debug` does not print it, nor do
    /// the store's errors.
    ///
    /// ```
    /// let builder = express_session_redis::RedisStore::builder().password(std::env::var("REDIS_PASSWORD").unwrap_or_default());
    /// # let _ = builder;
    /// ```
    #[must_use]
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.client.password = Some(password.into());
        self
    }

    /// The certificate authorities to check a `rediss://` server's certificate against, in PEM (one or several
    /// certificates), instead of the operating system's roots (or Mozilla's, with the `tls-rustls-webpki-roots`
    /// feature): a private CA. The store is refused when built for a URL without TLS, and on an invalid PEM.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = express_session_redis::RedisStore::builder()
    ///     .tls_root_ca_pem(std::fs::read("/etc/redis/tls/ca.crt")?)
    ///     .connect("rediss://redis.internal:6380")
    ///     .await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tls-rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls-rustls")))]
    #[must_use]
    pub fn tls_root_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.client.root_ca_pem = Some(pem.into());
        self
    }

    /// A client certificate (chain) and its private key, in PEM, for servers that ask for one (mutual TLS: redis's
    /// `tls-auth-clients yes`, its default). The builder's `Debug` prints neither.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = express_session_redis::RedisStore::builder()
    ///     .tls_root_ca_pem(std::fs::read("/etc/redis/tls/ca.crt")?)
    ///     .tls_client_cert_pem(std::fs::read("/etc/app/redis.crt")?, std::fs::read("/etc/app/redis.key")?)
    ///     .connect("rediss://redis.internal:6380")
    ///     .await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tls-rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls-rustls")))]
    #[must_use]
    pub fn tls_client_cert_pem(mut self, cert_chain: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.client.client_cert =
            Some(redis::ClientTlsConfig { client_cert: cert_chain.into(), client_key: key.into() });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_replace_the_urls_and_debug_hides_the_password() {
        let options = RedisStoreBuilder::default().username("sessions").password("hunter2-secret").client;
        let info = options.connection_info("redis://other:urlpass@127.0.0.1:6390/2").unwrap();
        assert_eq!(info.redis_settings().username(), Some("sessions"));
        assert_eq!(info.redis_settings().password(), Some("hunter2-secret"));
        assert_eq!(info.redis_settings().db(), 2);
        assert!(!format!("{options:?}").contains("hunter2"), "{options:?}");
        assert!(!format!("{info:?}").contains("hunter2"), "{info:?}");
        let builder = RedisStoreBuilder::default().username("u").password("hunter2-secret");
        assert!(!format!("{builder:?}").contains("hunter2"), "{builder:?}");
        let from_url = ClientOptions::default().connection_info("redis://u:p%40ss@127.0.0.1").unwrap();
        assert_eq!(from_url.redis_settings().password(), Some("p@ss"));
    }

    #[test]
    fn tls_urls_without_the_feature_name_the_feature() {
        assert!(is_tls_url("rediss://h:1") && is_tls_url("REDISS://h") && is_tls_url("valkeys://h"));
        assert!(!is_tls_url("redis://h") && !is_tls_url("redis+unix:///tmp/s"));
        let result = ClientOptions::default().connection_info("rediss://127.0.0.1:6390");
        if cfg!(feature = "tls-rustls") {
            assert!(matches!(result.unwrap().addr(), ConnectionAddr::TcpTls { .. }));
        } else {
            let error = result.unwrap_err();
            let text = std::error::Error::source(&error).unwrap().to_string();
            assert!(text.contains("`tls-rustls` feature"), "{text}");
        }
    }

    #[test]
    fn a_username_without_a_password_is_refused_not_logged_in_as_default() {
        // redis-rs sends AUTH only with a password: a username alone would log in as `default`, silently.
        let text = |result: Result<ConnectionInfo, StoreError>| {
            let error = result.unwrap_err();
            assert!(matches!(error, StoreError::Backend { .. }), "{error}");
            std::error::Error::source(&error).unwrap().to_string()
        };
        let options = RedisStoreBuilder::default().username("sessions").client;
        let message = text(options.connection_info("redis://127.0.0.1:6390"));
        assert!(message.contains("password"), "{message}");
        let message = text(ClientOptions::default().connection_info("redis://sessions@127.0.0.1:6390"));
        assert!(message.contains("password"), "{message}");
        // A username in the URL, its password from the builder (and the other way round) is fine.
        let options = RedisStoreBuilder::default().password("pw").client;
        assert!(options.connection_info("redis://sessions@127.0.0.1:6390").is_ok());
        let options = RedisStoreBuilder::default().username("sessions").client;
        assert!(options.connection_info("redis://:pw@127.0.0.1:6390").is_ok());
        assert!(ClientOptions::default().connection_info("redis://:pw@127.0.0.1:6390").is_ok());
    }

    #[test]
    fn a_sentinel_master_username_without_a_password_is_refused() {
        let limit = std::time::Duration::from_secs(1);
        let sentinels = ["redis://127.0.0.1:26390"];
        let given = crate::SentinelConfig::new(sentinels, "m").master_username("sessions");
        let inherited = crate::SentinelConfig::new(sentinels, "m").default_credentials(Some("sessions"), None);
        for config in [given, inherited] {
            let error = crate::SentinelConnection::new(&config, limit).unwrap_err();
            assert!(matches!(classify(error.clone()), StoreError::Backend { .. }), "{error}");
            assert!(error.to_string().contains("needs a password"), "{error}");
        }
        let config = crate::SentinelConfig::new(sentinels, "m").default_credentials(Some("sessions"), Some("pw"));
        assert!(crate::SentinelConnection::new(&config, limit).is_ok());
    }

    #[cfg(feature = "tls-rustls")]
    #[test]
    fn an_insecure_url_is_refused_when_the_store_is_built() {
        // `rediss://…/#insecure` turns every certificate check off once any crate of the app enables redis's
        // `tls-rustls-insecure` (the private CA given to the builder included): refused, whatever the features.
        let options = ClientOptions { root_ca_pem: Some(b"x".to_vec()), ..ClientOptions::default() };
        for options in [ClientOptions::default(), options] {
            let error = options.client("rediss://127.0.0.1:6390/#insecure").unwrap_err();
            let text = std::error::Error::source(&error).unwrap().to_string();
            assert!(text.contains("#insecure") && text.contains("tls_root_ca_pem"), "{text}");
            let error = options.cluster_builder(&["rediss://127.0.0.1:6390/#insecure".into()]).unwrap_err();
            assert!(matches!(error, StoreError::Backend { .. }), "{error}");
        }
    }

    #[cfg(feature = "tls-rustls")]
    #[test]
    fn certificates_need_a_tls_url_and_debug_hides_the_key() {
        let options = ClientOptions {
            root_ca_pem: Some(b"-----BEGIN CERTIFICATE-----".to_vec()),
            client_cert: Some(redis::ClientTlsConfig { client_cert: vec![1], client_key: b"KEYBYTES".to_vec() }),
            ..ClientOptions::default()
        };
        let error = options.client("redis://127.0.0.1:6390").unwrap_err();
        let text = std::error::Error::source(&error).unwrap().to_string();
        assert!(text.contains("rediss://"), "{text}");
        assert!(!format!("{options:?}").contains("KEYBYTES"));
        // An invalid PEM is refused when the client is made, not at the first call, as a configuration error.
        let error = options.client("rediss://127.0.0.1:6390").unwrap_err();
        assert!(matches!(error, StoreError::Backend { .. }), "{error}");
        let error = options.cluster_builder(&["rediss://127.0.0.1:6390".into()]).unwrap_err();
        assert!(matches!(error, StoreError::Backend { .. }), "{error}");
        assert!(options.cluster_builder(&["redis://127.0.0.1:6390".into()]).is_err());
    }
}
