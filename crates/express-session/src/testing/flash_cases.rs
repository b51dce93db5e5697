//! Flash messages (connect-flash's, [`crate::flash`]) through the HTTP layer under concurrent requests.

use std::sync::{Arc, Mutex};

use serde_json::json;

use super::{cookie_for, harness, id_of, logged_in, must_get};
use crate::flash::FLASH_KEY;
use crate::id::SessionId;
use crate::record::Record;
use crate::store::{CreateOutcome, Store};

/// Through the HTTP layer, two instances on one store: 32 parallel requests of one session each flash a message,
/// and all 32 are kept. Then a request takes them and, while it is still running, a request on the other
/// instance flashes one more and completes: the taker returns the 32, and the message added meanwhile stays for
/// the next reader, who gets it alone.
pub async fn http_flash_messages_survive_concurrent_requests<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let add = |s: crate::engine::Session, path: String| async move { s.flash("info", &path[1..]).await.map(|_| ()) };
    let a = harness::instance(&store, add);
    let b = harness::instance(&store, add);
    harness::all_ok_in_parallel(&a, &b, &cookie, (0..32).map(|i| format!("/m{i}")).collect()).await;
    let stored = must_get(&*store, &id_of(&cookie)).await.record;
    let kept = stored.data()[FLASH_KEY]["info"].as_array().map_or(0, Vec::len);
    assert_eq!(kept, 32, "flash messages lost: {:?}", stored.data()[FLASH_KEY]);

    let (loaded, go) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let shown = Arc::new(Mutex::new(Vec::new()));
    let taker = harness::instance(&store, {
        let (loaded, go, shown) = (Arc::clone(&loaded), Arc::clone(&go), Arc::clone(&shown));
        move |s, _| {
            let (loaded, go, shown) = (Arc::clone(&loaded), Arc::clone(&go), Arc::clone(&shown));
            async move {
                let taken = s.take_flash("info").await?;
                *shown.lock().expect("not poisoned") = taken;
                loaded.notify_one();
                go.notified().await;
                Ok(())
            }
        }
    });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { harness::send(taker, "/show", Some(&cookie)).await }
    });
    loaded.notified().await;
    assert_eq!(harness::send(b.clone(), "/late", Some(&cookie)).await.0, 200);
    go.notify_one();
    assert_eq!(in_flight.await.expect("task").0, 200);
    let mut taken = shown.lock().expect("not poisoned").clone();
    taken.sort();
    let mut expected: Vec<String> = (0..32).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(taken, expected, "the taker shows the 32 messages");
    let stored = must_get(&*store, &id_of(&cookie)).await.record;
    assert_eq!(stored.data()[FLASH_KEY], json!({"info": ["late"]}), "the message added meanwhile stays, alone");

    let next = Arc::new(Mutex::new(Vec::new()));
    let reader = harness::instance(&store, {
        let next = Arc::clone(&next);
        move |s, _| {
            let next = Arc::clone(&next);
            async move {
                let all = s.take_all_flash().await?;
                *next.lock().expect("not poisoned") = all;
                Ok(())
            }
        }
    });
    assert_eq!(harness::send(reader, "/next", Some(&cookie)).await.0, 200);
    assert_eq!(*next.lock().expect("not poisoned"), [("info".to_owned(), vec!["late".to_owned()])]);
    let stored = must_get(&*store, &id_of(&cookie)).await.record;
    assert_eq!(stored.data()[FLASH_KEY], json!({}), "connect-flash leaves an empty object");
    assert_eq!(stored.data()["user"], "alice");
}

/// Flash messages the Node app stored that have no Rust form (connect-flash keeps any string, and JavaScript allows
/// a lone UTF-16 surrogate in one, such as a name cut in the middle of an emoji) do not make the session's flash
/// unusable: taking them answers no messages instead of an error, adding one works, and the rest of the session
/// stays.
pub async fn http_flash_messages_node_stored_without_a_rust_form_do_not_block_the_session<S: Store>(store: S) {
    let store = Arc::new(store);
    let id = SessionId::generate();
    let mut record =
        Record::from_json(r#"{"cookie":{"path":"/"},"user":"alice","flash":{"error":["Unknown user \ud83d"]}}"#)
            .expect("a record Node writes");
    record.cookie_mut().set_max_age_millis(Some(60_000), store.now());
    assert!(matches!(store.create(&id, &record).await.expect("create"), CreateOutcome::Created(_)));
    let cookie = cookie_for(&id);
    let taken = Arc::new(Mutex::new(None));
    let taker = harness::instance(&store, {
        let taken = Arc::clone(&taken);
        move |s, _| {
            let taken = Arc::clone(&taken);
            async move {
                let all = s.take_all_flash().await?;
                *taken.lock().expect("not poisoned") = Some(all);
                Ok(())
            }
        }
    });
    assert_eq!(harness::send(taker, "/show", Some(&cookie)).await.0, 200, "taking the flash failed the request");
    assert_eq!(*taken.lock().expect("not poisoned"), Some(Vec::new()));
    let adder = harness::instance(&store, |s, _| async move { s.flash("info", "Saved.").await.map(|_| ()) });
    assert_eq!(harness::send(adder, "/save", Some(&cookie)).await.0, 200, "adding a flash message failed");
    let stored = must_get(&*store, &id).await.record;
    assert_eq!(stored.data()[FLASH_KEY], json!({"info": ["Saved."]}));
    assert_eq!(stored.data()["user"], "alice");
    let one = harness::instance(&store, |s, _| async move {
        assert_eq!(s.take_flash("info").await?, ["Saved."]);
        Ok(())
    });
    assert_eq!(harness::send(one, "/next", Some(&cookie)).await.0, 200);
}
