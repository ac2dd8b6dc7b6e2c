//! The HTML the service serves: the shortening form at `/`, and the pages
//! for unknown links and outages. Everything is inline (no external
//! assets) and nothing from a request is ever echoed into the HTML.
//!
//! The form's elements have stable ids for browser tests: `url`, `alias`,
//! `expires`, `shorten` (the button), `result` (a link whose text is exactly
//! the short URL), `copy` and `error` (whose text is exactly the API's
//! error message).

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// Inline script and style only; the script may only talk to this origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

pub const INDEX_HTML: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shorten a link</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; color: #1d1d1f; }
  h1 { font-size: 1.5rem; }
  label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
  input, select { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }
  .hint { font-weight: normal; color: #666; }
  button { margin-top: 1rem; padding: .5rem 1rem; font-size: 1rem; cursor: pointer; }
  #result-box { margin-top: 1.5rem; padding: 1rem; background: #eef7ee; border-radius: .25rem; }
  #result { font-size: 1.1rem; word-break: break-all; }
  #copy { margin: 0 0 0 .75rem; }
  #error { margin-top: 1.5rem; padding: 1rem; background: #fbeaea; color: #8a1f1f; border-radius: .25rem; }
</style>
</head>
<body>
<h1>Shorten a link</h1>
<form id="form" novalidate>
  <label for="url">Long URL</label>
  <input id="url" name="url" type="url" placeholder="https://example.com/a/long/path" required autofocus>
  <label for="alias">Alias <span class="hint">(optional: 3-32 letters, digits, - or _)</span></label>
  <input id="alias" name="alias" type="text" maxlength="32" autocomplete="off">
  <label for="expires">Expires</label>
  <select id="expires" name="expires">
    <option value="">never</option>
    <option value="3600">in 1 hour</option>
    <option value="86400">in 1 day</option>
    <option value="604800">in 7 days</option>
    <option value="2592000">in 30 days</option>
  </select>
  <button id="shorten" type="submit">Shorten</button>
</form>
<div id="result-box" hidden>
  <a id="result" href="#"></a><button id="copy" type="button">Copy</button>
</div>
<div id="error" role="alert" hidden></div>
<script>
(function () {
  "use strict";
  var form = document.getElementById("form");
  var urlInput = document.getElementById("url");
  var aliasInput = document.getElementById("alias");
  var expires = document.getElementById("expires");
  var button = document.getElementById("shorten");
  var resultBox = document.getElementById("result-box");
  var result = document.getElementById("result");
  var copy = document.getElementById("copy");
  var error = document.getElementById("error");

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    resultBox.hidden = true;
    var body = { url: urlInput.value.trim() };
    var alias = aliasInput.value.trim();
    if (alias) { body.alias = alias; }
    if (expires.value) { body.expires_in_seconds = Number(expires.value); }
    button.disabled = true;
    // Relative, so the page also works when the service is mounted under a prefix.
    fetch("api/links", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok) {
          showError((data && data.error) || ("request failed: HTTP " + response.status));
          return;
        }
        result.textContent = data.short_url;
        result.href = data.short_url;
        copy.textContent = "Copy";
        resultBox.hidden = false;
      });
    }).catch(function (err) {
      showError("could not reach the service: " + err.message);
    }).then(function () {
      button.disabled = false;
    });
  });

  // For browsers without the async clipboard (plain http, older engines).
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  function copied(ok) {
    copy.textContent = ok ? "Copied" : "Press Ctrl+C to copy";
    if (!ok) {
      var range = document.createRange();
      range.selectNodeContents(result);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
  }

  copy.addEventListener("click", function () {
    var text = result.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(true); },
        function () { copied(fallbackCopy(text)); });
    } else {
      copied(fallbackCopy(text));
    }
  });
})();
</script>
</body>
</html>
"##;

pub const NOT_FOUND_HTML: &str = r##"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Link not found</title>
<style>body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; }</style>
</head>
<body>
<h1>Link not found</h1>
<p>This short link does not exist or has expired.</p>
<p><a href="/">Shorten a link</a></p>
</body>
</html>
"##;

pub const UNAVAILABLE_HTML: &str = r##"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Temporarily unavailable</title>
<style>body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; }</style>
</head>
<body>
<h1>Temporarily unavailable</h1>
<p>The link could not be looked up just now. Please try again in a moment.</p>
</body>
</html>
"##;

/// An HTML page with the headers every page gets.
pub fn html(status: StatusCode, body: &'static str) -> Response {
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_has_the_stable_ids_and_no_external_assets() {
        for id in ["url", "alias", "shorten", "result", "copy", "error"] {
            assert!(
                INDEX_HTML.contains(&format!("id=\"{id}\"")),
                "missing #{id}"
            );
        }
        for external in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "@import",
        ] {
            assert!(!INDEX_HTML.contains(external), "external asset: {external}");
        }
        assert!(INDEX_HTML.contains("navigator.clipboard"));
        assert!(INDEX_HTML.contains("execCommand(\"copy\")"));
    }
}
