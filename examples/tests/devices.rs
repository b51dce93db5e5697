//! The devices example on MemoryStore: devices (cookie jars) of one user list and end each other's sessions,
//! and nothing reaches another user's.

use axum::Router;
use axum::body::Body;
use express_session::MemoryStore;
use express_session_examples::devices;
use http::header::{COOKIE, LOCATION, SET_COOKIE};
use http::{Request, StatusCode};
use tower::ServiceExt;

fn app() -> Router {
    devices::app(devices::options().store(MemoryStore::builder().owner_key("user").build())).unwrap()
}

/// One browser: a cookie jar holding `connect.sid`.
struct Device {
    app: Router,
    cookie: Option<String>,
}

struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

/// A row of the sessions table: its handle and whether it is marked "this device".
#[derive(Debug, Clone, PartialEq)]
struct Row {
    handle: String,
    current: bool,
}

impl Device {
    fn new(app: &Router) -> Self {
        Self { app: app.clone(), cookie: None }
    }

    async fn send(&mut self, method: &str, path: &str, form: Option<&str>) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        let body = match form {
            Some(form) => {
                request = request.header("content-type", "application/x-www-form-urlencoded");
                Body::from(form.to_owned())
            }
            None => Body::empty(),
        };
        let response = self.app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            // A destroyed session's cookie is cleared: `connect.sid=` with an expiry in the past.
            self.cookie = (pair != "connect.sid=").then_some(pair);
        }
        let location = response.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned());
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Reply { status, location, body: String::from_utf8(body.to_vec()).unwrap() }
    }

    /// A form POST that redirects to `/`, then the page it redirects to.
    async fn post(&mut self, path: &str, form: &str) -> String {
        let reply = self.send("POST", path, Some(form)).await;
        assert_eq!((reply.status, reply.location.as_deref()), (StatusCode::FOUND, Some("/")), "{}", reply.body);
        self.home().await
    }

    async fn home(&mut self) -> String {
        let reply = self.send("GET", "/", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }

    async fn log_in(&mut self, user: &str) -> String {
        let page = self.post("/login", &format!("user={user}")).await;
        assert!(page.contains("<table id=\"sessions\">"), "logged in: {page}");
        page
    }

    async fn rows(&mut self) -> Vec<Row> {
        rows(&self.home().await)
    }

    async fn logged_in(&mut self) -> bool {
        let page = self.home().await;
        let form = page.contains("<form action=\"/login\" method=\"post\">");
        assert_ne!(form, page.contains("<table id=\"sessions\">"), "either the form or the table: {page}");
        !form
    }
}

/// The rows of a sessions page, in order.
fn rows(page: &str) -> Vec<Row> {
    page.split("<tr")
        .skip(2)
        .map(|row| Row {
            handle: row.split("data-handle=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned(),
            current: row.starts_with(" class=\"current\"") && row.contains("<td class=\"device\">this device</td>"),
        })
        .collect()
}

/// The handle of the row marked "this device".
fn own(rows: &[Row]) -> String {
    let current: Vec<_> = rows.iter().filter(|r| r.current).collect();
    assert_eq!(current.len(), 1, "exactly one row is this device: {rows:?}");
    current[0].handle.clone()
}

#[tokio::test]
async fn two_devices_of_one_user_end_each_other_and_leave_another_user_alone() {
    let app = app();
    let (mut a, mut b, mut carol) = (Device::new(&app), Device::new(&app), Device::new(&app));
    carol.log_in("carol").await;
    a.log_in("alice").await;
    b.log_in("alice").await;

    // Each device sees both sessions, its own marked, and they agree on the handles.
    let (rows_a, rows_b) = (a.rows().await, b.rows().await);
    assert_eq!(rows_a.len(), 2);
    assert_eq!(rows_b.len(), 2);
    let (handle_a, handle_b) = (own(&rows_a), own(&rows_b));
    assert_ne!(handle_a, handle_b);
    let sorted = |rows: &[Row]| {
        let mut handles: Vec<_> = rows.iter().map(|r| r.handle.clone()).collect();
        handles.sort();
        handles
    };
    assert_eq!(sorted(&rows_a), sorted(&rows_b));
    let cookie_a = a.cookie.clone().unwrap();
    assert!(!rows_a.iter().any(|r| cookie_a.contains(&r.handle)), "a handle is not the session id");

    // A ends B's row: B is logged out, A is not.
    let page = a.post("/end", &format!("handle={handle_b}")).await;
    assert!(page.contains("That session is ended"), "{page}");
    assert_eq!(rows(&page), [Row { handle: handle_a.clone(), current: true }]);
    assert!(!b.logged_in().await, "B's session is ended");
    assert!(a.logged_in().await);

    // B logs in again; A logs out the other devices: B out, A in.
    b.log_in("alice").await;
    assert_eq!(a.rows().await.len(), 2);
    let page = a.post("/logout-others", "").await;
    assert!(page.contains("Logged out 1 other device."), "{page}");
    assert_eq!(rows(&page), [Row { handle: handle_a.clone(), current: true }]);
    assert!(!b.logged_in().await);

    // B logs in again; A logs out everywhere: both out.
    b.log_in("alice").await;
    let reply = a.send("POST", "/logout-everywhere", Some("")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("Logged out everywhere: 2 sessions ended."), "{}", reply.body);
    assert_eq!(a.cookie, None, "A's cookie is cleared");
    assert!(!a.logged_in().await);
    assert!(!b.logged_in().await);

    // Carol was never affected.
    assert!(carol.logged_in().await);
    assert_eq!(carol.rows().await.len(), 1);
}

#[tokio::test]
async fn a_handle_that_is_not_valid_or_not_yours_ends_nothing_and_says_so() {
    let app = app();
    let (mut alice, mut bob, mut nobody) = (Device::new(&app), Device::new(&app), Device::new(&app));
    let alice_handle = own(&rows(&alice.log_in("alice").await));
    bob.log_in("bob").await;

    // Bob posts Alice's handle, then things that are not handles: nothing ends.
    for form in [format!("handle={alice_handle}"), "handle=not-a-handle".into(), "handle=".into()] {
        let page = bob.post("/end", &form).await;
        assert!(page.contains(devices::NOTHING_ENDED), "{form}: {page}");
        assert_eq!(rows(&page).len(), 1, "Bob still has his session");
    }
    assert_eq!(own(&alice.rows().await), alice_handle, "Alice is still logged in");
    // A form without the field is refused before the handler.
    assert_eq!(bob.send("POST", "/end", Some("")).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Without being logged in, nothing ends either, whatever is posted.
    for (path, form) in [("/end", format!("handle={alice_handle}")), ("/logout-others", String::new())] {
        let page = nobody.post(path, &form).await;
        assert!(page.contains(devices::NOT_LOGGED_IN), "{path}: {page}");
    }
    let page = nobody.post("/logout-everywhere", "").await;
    assert!(page.contains(devices::NOT_LOGGED_IN), "{page}");
    assert!(alice.logged_in().await);
    assert!(bob.logged_in().await);
}

#[tokio::test]
async fn this_devices_row_and_log_out_end_only_this_session() {
    let app = app();
    let (mut a, mut b) = (Device::new(&app), Device::new(&app));
    let first = a.log_in("alice").await;
    let handle_a = own(&rows(&first));
    b.log_in("alice").await;

    // A ends its own row: A is logged out (its cookie cleared), B is not.
    let reply = a.send("POST", "/end", Some(&format!("handle={handle_a}"))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains(devices::LOGGED_OUT_HERE), "{}", reply.body);
    assert_eq!(a.cookie, None);
    assert!(!a.logged_in().await);
    assert_eq!(b.rows().await.len(), 1);

    // B logs out: the form, with the message once, and B's session is gone from the index.
    let page = b.post("/logout", "").await;
    assert!(page.contains(devices::LOGGED_OUT), "{page}");
    assert!(!b.home().await.contains(devices::LOGGED_OUT), "a message is shown once");
    a.log_in("alice").await;
    assert_eq!(a.rows().await.len(), 1, "B's logged-out session is not listed");
}

#[tokio::test]
async fn the_page_escapes_the_name_shows_times_and_refuses_empty_names() {
    let app = app();
    let mut device = Device::new(&app);
    let page = device.log_in("%3Cb%3Em%26m%3C%2Fb%3E%22").await;
    assert!(page.contains("<h1>hello, &lt;b&gt;m&amp;m&lt;/b&gt;&quot;!</h1>"), "{page}");
    assert!(!page.contains("<b>"));
    // Created, last seen and expires (a week later) are shown.
    let row = page.split("<tr class=\"current\"").nth(1).unwrap();
    let times: Vec<&str> = row.split("<time datetime=\"").skip(1).map(|t| &t[..24]).collect();
    assert_eq!(times.len(), 3, "{row}");
    let millis = |t: &str| express_session::Timestamp::parse_json(t).unwrap().as_millis();
    assert!(millis(times[0]) <= millis(times[1]), "created before last seen: {times:?}");
    assert_eq!(millis(times[2]) - millis(times[1]), 7 * 24 * 3600 * 1000, "{times:?}");

    let mut other = Device::new(&app);
    for name in ["", "%20%20", &"x".repeat(256)] {
        let page = other.post("/login", &format!("user={name}")).await;
        assert!(page.contains("A name is 1 to 255 bytes"), "{name}: {page}");
        assert!(!other.logged_in().await);
    }
}
