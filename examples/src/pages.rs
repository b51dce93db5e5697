//! The login example's pages, as text: the same for every framework's twin of the example (axum's `login`, actix's
//! `actix-login`), so that the twins answer byte for byte alike.

/// Escapes text for HTML, as the `escape-html` package the Node example uses.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page of a logged-in user.
pub fn greeting(user: &str) -> String {
    format!("hello, {}! <a href=\"/logout\">Logout</a>", escape_html(user))
}

/// The login form, after the flash messages waiting for it (the one a logout leaves), each in a `<p>`.
pub fn login_form(messages: &[String]) -> String {
    let mut page = String::new();
    for message in messages {
        page.push_str(&format!("<p class=\"flash\">{}</p>", escape_html(message)));
    }
    page.push_str(
        "<form action=\"/login\" method=\"post\">\
         Username: <input name=\"user\"><br>\
         Password: <input name=\"pass\" type=\"password\"><br>\
         <input type=\"submit\" text=\"Login\"></form>",
    );
    page
}

/// The flash message the logout leaves for the next page (`Session::flash`, connect-flash's `req.flash`).
pub const LOGGED_OUT: &str = "You are logged out.";
