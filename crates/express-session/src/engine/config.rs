//! The runtime configuration the engine runs on, built from [`SessionOptions`] when the layer is built; the
//! per-session write locks; new ids and new cookies.

use std::sync::Arc;

use crate::cookie::{SameSite, SessionCookie, Spelled, Spelling};
use crate::engine::guard::{GuardOptions, Guarded};
use crate::id::SessionId;
use crate::options::{
    ConfigError, CookieOptions, Lifetime, SameSiteSetting, Secret, Secure, SessionOptions, StoreNotReady, Unset,
};
use crate::options::{GenIdFn, Hardening, RequestHead};
use crate::signature::Signer;
use crate::store::{ErasedStore, MemoryStore};
use crate::time::Clock;

impl SessionOptions {
    /// Validates the options and builds the configuration the engine runs on (the default store, the guarded
    /// store, the signer).
    pub(crate) fn build(self) -> Result<Config, ConfigError> {
        self.validate()?;
        let signer = Signer::new(self.secrets.iter().map(Secret::as_bytes));
        let store: Arc<dyn ErasedStore> = match self.store {
            Some(store) => store,
            None => Arc::new(MemoryStore::builder().clock(self.clock.clone()).build()),
        };
        if let Some(key) = store.owner_key() {
            crate::store::check_owner_key(key).map_err(ConfigError::OwnerKey)?;
        }
        let store = Guarded::new(
            store,
            GuardOptions {
                timeout: self.hardening.store_timeout,
                hash_ids: self.hardening.hash_ids_at_rest,
                breaker: self.hardening.breaker,
            },
        );
        let mut hardening = self.hardening;
        hardening.accept_any_id |= self.genid.is_some();
        Ok(Config {
            cookie: self.cookie,
            genid: self.genid,
            name: self.name,
            proxy: self.proxy,
            resave: self.resave,
            rolling: self.rolling,
            save_uninitialized: self.save_uninitialized,
            signer,
            store,
            unset: self.unset,
            clock: self.clock,
            store_not_ready: self.store_not_ready,
            max_save_retries: self.max_save_retries,
            hardening,
            header: self.header.map(Arc::from),
            touch_after: self.touch_after,
            write_locks: Default::default(),
            warned_insecure: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// The validated options the engine runs on.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) cookie: CookieOptions,
    pub(crate) genid: Option<GenIdFn>,
    pub(crate) name: String,
    pub(crate) proxy: Option<bool>,
    pub(crate) resave: bool,
    pub(crate) rolling: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) signer: Signer,
    pub(crate) store: Guarded,
    pub(crate) unset: Unset,
    pub(crate) clock: Clock,
    pub(crate) store_not_ready: StoreNotReady,
    pub(crate) max_save_retries: u32,
    pub(crate) hardening: Hardening,
    /// The session header's name (lower case), when sessions may travel in a header.
    pub(crate) header: Option<Arc<str>>,
    /// Refresh an unmodified session's expiry only this long after its last refresh.
    pub(crate) touch_after: Option<std::time::Duration>,
    pub(crate) write_locks: std::sync::Mutex<std::collections::HashMap<SessionId, Arc<tokio::sync::Mutex<()>>>>,
    /// Whether the layer built on this configuration already warned that a `Secure` cookie was held back on an
    /// insecure request (logged once per layer).
    pub(crate) warned_insecure: std::sync::atomic::AtomicBool,
}

/// A session's save lock, removed from the table when the last holder is done with it.
pub(crate) struct WriteLock<'a> {
    config: &'a Config,
    id: SessionId,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl WriteLock<'_> {
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }
}

impl Drop for WriteLock<'_> {
    fn drop(&mut self) {
        let mut table = self.config.write_locks.lock().unwrap_or_else(|e| e.into_inner());
        // Two references: the table's and ours. Nobody else waits for this session's lock.
        if Arc::strong_count(&self.lock) == 2 {
            table.remove(&self.id);
        }
    }
}

impl Config {
    /// The lock that orders the saves of one session within this layer. Entries are dropped when no save
    /// holds them, so the table only ever holds the sessions being saved right now.
    pub(crate) fn write_lock(&self, id: &SessionId) -> WriteLock<'_> {
        let mut table = self.write_locks.lock().unwrap_or_else(|e| e.into_inner());
        let lock = Arc::clone(table.entry(id.clone()).or_default());
        WriteLock { config: self, id: id.clone(), lock }
    }

    /// A new session id from `genid` or the default generator.
    pub(crate) fn generate_id(&self, head: Option<&RequestHead>) -> Result<SessionId, crate::error::SessionError> {
        match (&self.genid, head) {
            (Some(genid), Some(head)) => {
                SessionId::new((genid.0)(head)).ok_or(crate::error::SessionError::InvalidGeneratedId)
            }
            _ => Ok(SessionId::generate()),
        }
    }

    /// The cookie of a new session: express's `new Cookie(options)` with `'auto'` resolved for this request.
    pub(crate) fn new_cookie(&self, secure_request: bool) -> SessionCookie {
        let now = self.clock.now();
        let opts = &self.cookie;
        let mut cookie = SessionCookie {
            http_only: Some(opts.http_only),
            path: Some(opts.path.as_str().into()),
            domain: opts.domain.as_deref().map(Into::into),
            partitioned: opts.partitioned,
            priority: opts.priority.clone(),
            ..Default::default()
        };
        match opts.lifetime {
            Some(Lifetime::MaxAge(ms)) => cookie.set_max_age_millis(Some(ms), now),
            Some(Lifetime::Expires(t)) => cookie.set_expires(Some(t), now),
            None => {}
        }
        cookie.secure = opts.secure.map(|s| match s {
            Secure::Always => true,
            Secure::Never => false,
            Secure::Auto => secure_request,
        });
        cookie.same_site = opts.same_site.as_ref().map(|s| match s {
            SameSiteSetting::Fixed(spelled) => spelled.clone(),
            SameSiteSetting::Auto => Spelled {
                value: Some(if secure_request { SameSite::None } else { SameSite::Lax }),
                spelling: Spelling::Lower,
            },
        });
        cookie
    }
}
