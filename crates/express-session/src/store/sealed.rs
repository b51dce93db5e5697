//! Sealed records (feature `sealed`): see [`SealedStore`].

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde_json::{Map, Value};

use super::owners::{OwnerPage, SessionHandle, owner_of};
use super::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
use crate::id::SessionId;
use crate::record::Record;
use crate::time::Timestamp;

/// The data key under which a sealed record holds its sealed data.
pub const SEALED_KEY: &str = "__sealed";

/// The version tag of the sealed value's format: `v1.` then base64url (no padding) of the nonce and the ciphertext.
const FORMAT: &str = "v1.";
const NONCE_LEN: usize = 24;

/// One 256-bit key of a [`SealedStore`]. Its `Debug` does not show it.
#[derive(Clone)]
pub struct SealingKey(Key);

impl SealingKey {
    /// A key from exactly 32 bytes (from a secret manager, or 32 random bytes generated once).
    ///
    /// ```
    /// use express_session::store::SealingKey;
    ///
    /// assert!(SealingKey::from_bytes(&[1u8; 32]).is_ok());
    /// assert!(SealingKey::from_bytes(b"too short").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`SealingKeyError::Length`] when `bytes` is not 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealingKeyError> {
        if bytes.len() != 32 {
            return Err(SealingKeyError::Length(bytes.len()));
        }
        Ok(Self(*Key::from_slice(bytes)))
    }

    /// A key from its base64 text (standard or URL-safe alphabet, padded or not), as configuration holds it:
    /// `openssl rand -base64 32` makes one.
    ///
    /// ```
    /// use express_session::store::SealingKey;
    ///
    /// assert!(SealingKey::from_base64("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=").is_ok());
    /// assert!(SealingKey::from_base64("not base64!").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`SealingKeyError::Base64`] for text that is not base64, [`SealingKeyError::Length`] when it does not hold
    /// 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, SealingKeyError> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
        let text = text.trim();
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or(SealingKeyError::Base64)?;
        Self::from_bytes(&bytes)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

/// Why a [`SealingKey`] or a [`SealedStore`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealingKeyError {
    /// A key must be exactly 32 bytes (256 bits); the number is the length given.
    #[error("a sealing key must be 32 bytes, this one has {0}: generate one with `openssl rand -base64 32`")]
    Length(usize),
    /// The key's text is not base64.
    #[error("a sealing key's text must be base64 (`openssl rand -base64 32` makes one)")]
    Base64,
    /// [`SealedStore::new`] was given no key.
    #[error("a sealed store needs at least one key (the first seals, every one opens)")]
    NoKey,
}

/// Any [`Store`] with the session data encrypted at rest (feature `sealed`).
///
/// [`SealedStore`] wraps a store. Every record it writes keeps its `cookie` object in the clear (the stores read
/// the expiry from it) and holds the data as one sealed value under [`SEALED_KEY`]:
///
/// ```text
/// {"cookie":{"originalMaxAge":86400000,"expires":"…","httpOnly":true,"path":"/"},"__sealed":"v1.<base64url>"}
/// ```
///
/// The data is sealed with XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) under the first key given, with a
/// fresh random 24-byte nonce per write and the session id as associated data, so a sealed value copied under
/// another id does not open. Every key given opens: rotate by putting a new key first, and drop the old one only
/// once no live session can still hold its seal. A session is resealed only when it is written: one that is only
/// read keeps its old seal while `touch` moves its expiry, so keep the old key listed for the longest time a
/// session can live unwritten (its `maxAge` with `rolling`, or the
/// [`absolute_timeout`](crate::SessionOptions::absolute_timeout)); dropping it earlier logs those users out.
///
/// What sealing does not do: it keeps each record confidential and unforgeable, not fresh. Someone who can write
/// the store (but has no key) can put back an older sealed copy of the same id, for example the record from before
/// a logout, and can move the clear expiry; the [`absolute_timeout`](crate::SessionOptions::absolute_timeout)
/// still ends the session, since its stamp is inside the seal.
///
/// The cookie's lifetime (`expires`, `originalMaxAge`) is read from the clear cookie, which the stores move on
/// `touch`; its other attributes are read from the sealed copy, so a change to them in the store is ignored.
///
/// A record that does not open (a key no longer listed, a value moved to another id or tampered with, a record
/// written in the clear) is no session: `get` answers `None` (and `refresh` `Gone`) and logs why at `warn`, never
/// what the record holds. [`open_unsealed`](Self::open_unsealed) accepts records written in the clear, for a
/// deployment that starts sealing sessions that already exist: each is sealed at its next write.
///
/// **The Node app cannot read sealed records**: express-session would see a session with one unknown key
/// (`__sealed`) and none of the user's. Seal only sessions that Rust alone serves. The stored text is longer:
/// about 4/3 of the data's JSON plus 60 bytes.
///
/// ```
/// use express_session::store::{SealedStore, SealingKey};
/// use express_session::{MemoryStore, SessionOptions};
///
/// // 32 random bytes per key, from your configuration (never from the source).
/// let current = SealingKey::from_bytes(&[7u8; 32]).unwrap();
/// let previous = SealingKey::from_bytes(&[9u8; 32]).unwrap();
/// let store = SealedStore::new(MemoryStore::new(), [current, previous]).unwrap();
/// let options = SessionOptions::new().secret("a long random secret, from your configuration").store(store);
/// # let _ = options;
/// ```
pub struct SealedStore<S> {
    inner: S,
    ciphers: Vec<XChaCha20Poly1305>,
    open_unsealed: bool,
}

impl<S: fmt::Debug> fmt::Debug for SealedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedStore")
            .field("inner", &self.inner)
            .field("keys", &self.ciphers.len())
            .field("open_unsealed", &self.open_unsealed)
            .finish()
    }
}

impl<S: Store> SealedStore<S> {
    /// Wraps `inner`: the first of `keys` seals, every one opens.
    ///
    /// # Errors
    ///
    /// [`SealingKeyError::NoKey`] when `keys` is empty.
    pub fn new(inner: S, keys: impl IntoIterator<Item = SealingKey>) -> Result<Self, SealingKeyError> {
        let ciphers: Vec<_> = keys.into_iter().map(|key| XChaCha20Poly1305::new(&key.0)).collect();
        if ciphers.is_empty() {
            return Err(SealingKeyError::NoKey);
        }
        Ok(Self { inner, ciphers, open_unsealed: false })
    }

    /// Whether a record written in the clear (before sealing was turned on, or by the Node app) is read as it
    /// is, to be sealed at its next write. Off by default: such a record is no session.
    ///
    /// ```
    /// # use express_session::store::{SealedStore, SealingKey};
    /// # use express_session::MemoryStore;
    /// let store = SealedStore::new(MemoryStore::new(), [SealingKey::from_bytes(&[7u8; 32]).unwrap()])
    ///     .unwrap()
    ///     .open_unsealed(true);
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn open_unsealed(mut self, accept: bool) -> Self {
        self.open_unsealed = accept;
        self
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Whether the stored record holds an owner in the clear (beside the sealed data).
    fn clear_owner(&self, stored: &Record) -> bool {
        self.inner.owner_key().is_some_and(|key| stored.data().contains_key(key))
    }

    /// Whether the owner kept in the clear (unauthenticated; the owner index reads it) is the one the sealed
    /// record names: a record whose clear owner was changed would be listed, and ended, under another owner. A
    /// record without one (sealed before the store had an owner key) opens: it is indexed at its next write.
    fn clear_owner_matches(&self, stored: &Record, opened: &Record) -> bool {
        let Some(key) = self.inner.owner_key() else { return true };
        match stored.data().get(key) {
            None => true,
            Some(clear) => owner_of(opened, key).is_some_and(|owner| *clear == Value::String(owner)),
        }
    }

    /// The record as stored: the cookie in the clear, the record's JSON sealed under [`SEALED_KEY`].
    fn seal(&self, id: &SessionId, record: &Record) -> Result<Record, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::backend("sealed", e.to_string()))?;
        let plaintext = record.to_json();
        let sealed = self.ciphers[0]
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: id.as_str().as_bytes() })
            .map_err(|_| StoreError::backend("sealed", "the record could not be sealed"))?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        let mut data = Map::new();
        data.insert(SEALED_KEY.to_owned(), Value::String(format!("{FORMAT}{}", URL_SAFE_NO_PAD.encode(bytes))));
        // The owner index of the wrapped store reads the owner: it is kept in the clear too.
        if let Some(key) = self.inner.owner_key()
            && let Some(owner) = owner_of(record, key)
        {
            data.insert(key.to_owned(), Value::String(owner));
        }
        Ok(Record::from_parts(record.cookie().clone(), data))
    }

    /// The record a stored one seals, with the stored (clear) cookie; `None`, logged, when it does not open.
    fn open(&self, id: &SessionId, stored: Record) -> Option<Record> {
        let sealed = match stored.data().get(SEALED_KEY) {
            Some(Value::String(text)) if stored.data().len() == 1 + usize::from(self.clear_owner(&stored)) => text,
            _ if self.open_unsealed => return Some(stored),
            _ => {
                tracing::warn!(
                    target: "express_session::store::sealed",
                    "a session record is not sealed; treated as no session (SealedStore::open_unsealed reads it)"
                );
                return None;
            }
        };
        let opened = sealed
            .strip_prefix(FORMAT)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .filter(|bytes| bytes.len() > NONCE_LEN)
            .and_then(|bytes| {
                let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
                let payload = || Payload { msg: ciphertext, aad: id.as_str().as_bytes() };
                self.ciphers.iter().find_map(|cipher| cipher.decrypt(XNonce::from_slice(nonce), payload()).ok())
            })
            .and_then(|plaintext| String::from_utf8(plaintext).ok())
            .and_then(|text| Record::from_json(&text).ok());
        match opened {
            Some(record) if !self.clear_owner_matches(&stored, &record) => {
                tracing::warn!(
                    target: "express_session::store::sealed",
                    "a sealed session record's clear owner is not the owner it seals (tampered with); treated as no \
                     session"
                );
                None
            }
            Some(mut record) => {
                // The stored cookie's lifetime rules: a store may move the expiry of the record without rewriting
                // its data. Its attributes (HttpOnly, Secure, Domain, Path, SameSite, ...) come from the sealed
                // cookie: the clear ones are not authenticated, and whoever can write the store must not weaken
                // the Set-Cookie sent back to the browser.
                let cookie = record.cookie_mut();
                cookie.expires = stored.cookie().expires;
                cookie.original_max_age = stored.cookie().original_max_age;
                Some(record)
            }
            None => {
                tracing::warn!(
                    target: "express_session::store::sealed",
                    "a sealed session record does not open (a key no longer listed, a record moved from another \
                     id, or tampered with); treated as no session"
                );
                None
            }
        }
    }

    /// What `touch` passes on: the cookie alone (a touch never changes the stored data).
    fn cookie_only(record: &Record) -> Record {
        Record::new(record.cookie().clone())
    }
}

impl<S: Store> Store for SealedStore<S> {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        let Some(Versioned { record, version }) = self.inner.get(id).await? else {
            return Ok(None);
        };
        Ok(self.open(id, record).map(|record| Versioned { record, version }))
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        let sealed = self.seal(id, record)?;
        self.inner.create(id, &sealed).await
    }

    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        let sealed = self.seal(id, record)?;
        self.inner.set(id, &sealed).await
    }

    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        let sealed = self.seal(id, record)?;
        self.inner.save_if(id, &sealed, expected).await
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        self.inner.touch(id, &Self::cookie_only(record)).await
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.inner.destroy(id).await
    }

    fn now(&self) -> Timestamp {
        self.inner.now()
    }

    /// Opens the record first (one more read than the wrapped store's `refresh`): a record that does not open is
    /// no session, so it is `Gone`, not kept alive (the layer then starts a new session, as for any cookie
    /// without one).
    async fn refresh(&self, id: &SessionId) -> Result<TouchOutcome, StoreError> {
        if self.get(id).await?.is_none() {
            return Ok(TouchOutcome::Gone);
        }
        self.inner.refresh(id).await
    }

    /// Opens the record first, as [`refresh`](Store::refresh) does.
    async fn refresh_after(&self, id: &SessionId, interval: std::time::Duration) -> Result<TouchOutcome, StoreError> {
        if self.get(id).await?.is_none() {
            return Ok(TouchOutcome::Gone);
        }
        self.inner.refresh_after(id, interval).await
    }

    async fn all(&self) -> Result<Vec<(SessionId, Record)>, StoreError> {
        let all = self.inner.all().await?;
        Ok(all.into_iter().filter_map(|(id, record)| Some((id.clone(), self.open(&id, record)?))).collect())
    }

    async fn len(&self) -> Result<usize, StoreError> {
        self.inner.len().await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.inner.clear().await
    }

    fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    /// The wrapped store's owner index. The owner of a sealed record is stored in the clear beside the sealed
    /// data (the index reads it); its creation time is sealed, so its entry has no `created`.
    fn owner_key(&self) -> Option<&str> {
        self.inner.owner_key()
    }

    async fn sessions_of(&self, owner: &str, limit: usize) -> Result<OwnerPage, StoreError> {
        self.inner.sessions_of(owner, limit).await
    }

    async fn end_session_of(&self, owner: &str, handle: &SessionHandle) -> Result<bool, StoreError> {
        self.inner.end_session_of(owner, handle).await
    }

    async fn end_sessions_of(&self, owner: &str, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        self.inner.end_sessions_of(owner, keep).await
    }

    async fn reindex(&self) -> Result<u64, StoreError> {
        self.inner.reindex().await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cookie::SessionCookie;
    use crate::store::MemoryStore;

    fn key(byte: u8) -> SealingKey {
        SealingKey::from_bytes(&[byte; 32]).unwrap()
    }

    fn record(store: &impl Store, data: Value) -> Record {
        let mut cookie = SessionCookie::default();
        cookie.set_max_age_millis(Some(60_000), store.now());
        let Value::Object(data) = data else { unreachable!("an object") };
        Record::from_parts(cookie, data)
    }

    #[tokio::test]
    async fn the_data_is_stored_sealed_and_read_back() {
        let store = SealedStore::new(MemoryStore::new(), [key(1)]).unwrap();
        let id = SessionId::generate();
        let written = record(&store, json!({"user": "alice", "n": 1}));
        assert!(matches!(store.create(&id, &written).await.unwrap(), CreateOutcome::Created(_)));
        let raw = store.inner().get(&id).await.unwrap().unwrap().record;
        let text = raw.to_json();
        assert!(!text.contains("alice"), "the data is in the clear: {text}");
        assert_eq!(raw.data().keys().collect::<Vec<_>>(), [SEALED_KEY]);
        assert_eq!(raw.cookie(), written.cookie(), "the cookie stays in the clear");
        let read = store.get(&id).await.unwrap().unwrap();
        assert_eq!(read.record.to_json(), written.to_json());
        // Sealing twice gives two texts (a fresh nonce each time).
        assert_ne!(store.seal(&id, &written).unwrap().to_json(), store.seal(&id, &written).unwrap().to_json());
    }

    #[tokio::test]
    async fn a_tampered_clear_owner_is_no_session() {
        let inner = MemoryStore::builder().owner_key("user").build();
        let store = SealedStore::new(inner.clone(), [key(1)]).unwrap();
        let (id, unowned) = (SessionId::generate(), SessionId::generate());
        store.create(&id, &record(&store, json!({"user": "alice", "n": 1}))).await.unwrap();
        store.create(&unowned, &record(&store, json!({"n": 1}))).await.unwrap();
        assert_eq!(store.sessions_of("alice", 10).await.unwrap().sessions.len(), 1);
        let stored = inner.get(&id).await.unwrap().unwrap().record;
        assert_eq!(stored.data().get("user"), Some(&json!("alice")), "the owner is kept in the clear");

        // Moved to another owner's list, or given one it does not seal: no session.
        for (target, owner) in [(&id, json!("mallory")), (&id, json!(42)), (&unowned, json!("alice"))] {
            let mut tampered = inner.get(target).await.unwrap().unwrap().record;
            let original = tampered.clone();
            tampered.data_mut().insert("user".into(), owner.clone());
            inner.set(target, &tampered).await.unwrap();
            assert!(store.get(target).await.unwrap().is_none(), "a clear owner {owner} opened");
            inner.set(target, &original).await.unwrap();
            assert!(store.get(target).await.unwrap().is_some());
        }
        // A foreign clear key beside the sealed data does not open either.
        let mut foreign = inner.get(&unowned).await.unwrap().unwrap().record;
        foreign.data_mut().insert("admin".into(), json!(true));
        inner.set(&unowned, &foreign).await.unwrap();
        assert!(store.get(&unowned).await.unwrap().is_none());
        // A record sealed before the store had an owner key (no clear owner) still opens.
        let mut old = inner.get(&id).await.unwrap().unwrap().record;
        old.data_mut().remove("user");
        inner.set(&id, &old).await.unwrap();
        assert!(store.get(&id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_sealed_value_moved_to_another_id_or_tampered_with_is_no_session() {
        let store = SealedStore::new(MemoryStore::new(), [key(1)]).unwrap();
        let (id, other) = (SessionId::generate(), SessionId::generate());
        store.create(&id, &record(&store, json!({"user": "alice"}))).await.unwrap();
        let raw = store.inner().get(&id).await.unwrap().unwrap().record;
        store.inner().set(&other, &raw).await.unwrap();
        assert!(store.get(&other).await.unwrap().is_none(), "a record moved to another id opened");
        let mut tampered = raw.clone();
        let Some(Value::String(text)) = tampered.data_mut().get_mut(SEALED_KEY) else { unreachable!() };
        let last = text.pop().unwrap();
        text.push(if last == 'A' { 'B' } else { 'A' });
        store.inner().set(&id, &tampered).await.unwrap();
        assert!(store.get(&id).await.unwrap().is_none(), "a tampered record opened");
        for junk in [
            json!({SEALED_KEY: "v2.abc"}),
            json!({SEALED_KEY: 7}),
            json!({SEALED_KEY: "v1.!!"}),
            json!({SEALED_KEY: "v1."}),
        ] {
            store.inner().set(&id, &record(&store, junk)).await.unwrap();
            assert!(store.get(&id).await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn the_cookie_attributes_in_the_clear_cannot_be_changed() {
        // Someone who can write the store, but has no key, rewrites the clear cookie of a sealed record to weaken
        // the Set-Cookie the app sends back: no HttpOnly, no Secure, a parent domain, another path and SameSite.
        let store = SealedStore::new(MemoryStore::new(), [key(1)]).unwrap();
        let id = SessionId::generate();
        let mut written = record(&store, json!({"user": "alice"}));
        written.cookie_mut().secure = Some(true);
        written.cookie_mut().same_site = SessionCookie::from_json(&json!({"sameSite": "strict"})).unwrap().same_site;
        store.create(&id, &written).await.unwrap();
        let mut raw = store.inner().get(&id).await.unwrap().unwrap().record;
        let same_site_none = SessionCookie::from_json(&json!({"sameSite": "none"})).unwrap().same_site;
        let mut tampered = raw.cookie().clone();
        tampered.http_only = Some(false);
        tampered.secure = Some(false);
        tampered.domain = Some("example.com".into());
        tampered.path = Some("/other".into());
        tampered.same_site = same_site_none;
        *raw.cookie_mut() = tampered;
        store.inner().set(&id, &raw).await.unwrap();
        if let Some(read) = store.get(&id).await.unwrap() {
            let cookie = read.record.cookie();
            assert_eq!(cookie.http_only, written.cookie().http_only, "HttpOnly came from the clear cookie");
            assert_eq!(cookie.secure, written.cookie().secure, "Secure came from the clear cookie");
            assert_eq!(cookie.domain, written.cookie().domain, "Domain came from the clear cookie");
            assert_eq!(cookie.path, written.cookie().path, "Path came from the clear cookie");
            assert_eq!(cookie.same_site, written.cookie().same_site, "SameSite came from the clear cookie");
        }
    }

    #[tokio::test]
    async fn a_record_that_does_not_open_is_not_refreshed() {
        // A request that never reads its session refreshes it: a record that is no session (here one in the
        // clear, or sealed under a dropped key) must answer Gone, not be kept alive with a renewed cookie.
        let inner = MemoryStore::new();
        let (clear, dropped, live) = (SessionId::generate(), SessionId::generate(), SessionId::generate());
        inner.set(&clear, &record(&inner, json!({"user": "mallory"}))).await.unwrap();
        let old = SealedStore::new(inner.clone(), [key(9)]).unwrap();
        old.set(&dropped, &record(&old, json!({"user": "bob"}))).await.unwrap();
        let store = SealedStore::new(inner, [key(1)]).unwrap();
        store.set(&live, &record(&store, json!({"user": "alice"}))).await.unwrap();
        for id in [&clear, &dropped] {
            assert!(store.get(id).await.unwrap().is_none());
            assert!(matches!(store.refresh(id).await.unwrap(), TouchOutcome::Gone), "a non-session was refreshed");
        }
        assert!(matches!(store.refresh(&live).await.unwrap(), TouchOutcome::Touched));
        assert!(matches!(store.refresh(&SessionId::generate()).await.unwrap(), TouchOutcome::Gone));
    }

    #[tokio::test]
    async fn every_key_opens_and_the_first_seals() {
        let old = SealedStore::new(MemoryStore::new(), [key(1)]).unwrap();
        let id = SessionId::generate();
        old.create(&id, &record(&old, json!({"user": "alice"}))).await.unwrap();
        let raw = old.inner().get(&id).await.unwrap().unwrap().record;
        let rotated = SealedStore::new(MemoryStore::new(), [key(2), key(1)]).unwrap();
        rotated.inner().set(&id, &raw).await.unwrap();
        let read = rotated.get(&id).await.unwrap().unwrap();
        assert_eq!(read.record.data()["user"], "alice", "the old key still opens");
        rotated.save_if(&id, &read.record, &read.version).await.unwrap();
        let resealed = rotated.inner().get(&id).await.unwrap().unwrap().record;
        let only_new = SealedStore::new(MemoryStore::new(), [key(2)]).unwrap();
        only_new.inner().set(&id, &resealed).await.unwrap();
        assert!(only_new.get(&id).await.unwrap().is_some(), "the write was sealed with the first key");
        let dropped = SealedStore::new(MemoryStore::new(), [key(2)]).unwrap();
        dropped.inner().set(&id, &raw).await.unwrap();
        assert!(dropped.get(&id).await.unwrap().is_none(), "a dropped key still opens");
    }

    #[tokio::test]
    async fn records_in_the_clear_are_refused_unless_asked() {
        let inner = MemoryStore::new();
        let id = SessionId::generate();
        inner.set(&id, &record(&inner, json!({"user": "alice"}))).await.unwrap();
        let strict = SealedStore::new(inner.clone(), [key(1)]).unwrap();
        assert!(strict.get(&id).await.unwrap().is_none());
        let migrating = SealedStore::new(inner, [key(1)]).unwrap().open_unsealed(true);
        assert_eq!(migrating.get(&id).await.unwrap().unwrap().record.data()["user"], "alice");
    }

    #[test]
    fn keys_are_checked_and_never_shown() {
        assert_eq!(SealingKey::from_bytes(&[0; 31]).unwrap_err(), SealingKeyError::Length(31));
        assert_eq!(SealingKey::from_base64("%%%").unwrap_err(), SealingKeyError::Base64);
        assert_eq!(SealingKey::from_base64("AAAA").unwrap_err(), SealingKeyError::Length(3));
        assert!(SealingKey::from_base64("_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-8").is_ok());
        assert_eq!(format!("{:?}", key(0x41)), "SealingKey(..)");
        assert_eq!(SealedStore::new(MemoryStore::new(), []).unwrap_err(), SealingKeyError::NoKey);
        let store = SealedStore::new(MemoryStore::new(), [key(1)]).unwrap();
        assert!(!format!("{store:?}").contains("[1, 1"));
    }
}
