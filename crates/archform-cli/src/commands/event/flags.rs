//! Reading the event flags. Each failure is a [`UsageError`] that names the
//! flag, says what is wrong and shows how to write it instead.

use http::{HeaderName, HeaderValue, Method, Uri};
use std::fmt;

/// Invalid input on the command line: reported with exit code 2.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage<T>(message: String) -> Result<T, UsageError> {
    Err(UsageError(message))
}

/// The methods an ALB or a function URL accepts. `http` would take any
/// token (`GTE` is a valid extension method), so a typo would go unnoticed.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// `--method`, in any case.
pub fn method(arg: &str) -> Result<Method, UsageError> {
    let upper = arg.trim().to_ascii_uppercase();
    match METHODS.contains(&upper.as_str()) {
        true => Method::from_bytes(upper.as_bytes()).map_err(|e| UsageError(e.to_string())),
        false => usage(format!(
            "--method {arg:?} is not an HTTP method; use one of {}",
            METHODS.join(", ")
        )),
    }
}

/// `--path`: an absolute path with an optional query, as it appears in the
/// request line (percent-encoded, not decoded).
pub fn path(arg: &str) -> Result<Uri, UsageError> {
    if !arg.starts_with('/') {
        return usage(format!(
            "--path {arg:?} must start with `/`, like --path /orders?id=42"
        ));
    }
    match arg.parse::<Uri>() {
        Ok(uri) => Ok(uri),
        Err(e) => usage(format!(
            "--path {arg:?} is not a request path ({e}); percent-encode spaces and \
             other special characters, like --path /a%20b?q=x%26y"
        )),
    }
}

/// `--header NAME:VALUE` (spaces after the colon are dropped, as in HTTP).
pub fn header(arg: &str) -> Result<(HeaderName, HeaderValue), UsageError> {
    let Some((name, value)) = arg.split_once(':') else {
        return usage(format!(
            "--header {arg:?} has no `:`; write NAME:VALUE, like --header content-type:application/json"
        ));
    };
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
        UsageError(format!(
            "--header {arg:?}: {:?} is not a header name; names are letters, digits and \
             !#$%&'*+-.^_`|~, like --header x-request-id:abc",
            name.trim()
        ))
    })?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| {
        UsageError(format!(
            "--header {arg:?}: the value has a control character or a line break, which HTTP headers cannot carry"
        ))
    })?;
    Ok((name, value))
}

/// `--attribute NAME=VALUE`.
pub fn attribute(arg: &str) -> Result<(String, String), UsageError> {
    match arg.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        Some(_) => usage(format!(
            "--attribute {arg:?} has no name before `=`; write NAME=VALUE, like --attribute kind=order"
        )),
        None => usage(format!(
            "--attribute {arg:?} has no `=`; write NAME=VALUE, like --attribute kind=order"
        )),
    }
}

/// Every `--attribute`, refusing a name given twice (which value was meant?).
pub fn attributes(args: &[String]) -> Result<Vec<(String, String)>, UsageError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for arg in args {
        let (name, value) = attribute(arg)?;
        if out.iter().any(|(n, _)| *n == name) {
            return usage(format!(
                "--attribute {name} is given twice; give each attribute once"
            ));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// A body flag: the text itself, or `@FILE` for a file's bytes (as curl's
/// `--data @FILE`).
pub fn body(flag: &str, arg: &str) -> Result<Vec<u8>, UsageError> {
    let Some(file) = arg.strip_prefix('@') else {
        return Ok(arg.as_bytes().to_vec());
    };
    if file.is_empty() {
        return usage(format!(
            "{flag} @ names no file; write {flag} @FILE for a file's contents, or the text itself"
        ));
    }
    std::fs::read(file).map_err(|e| {
        UsageError(format!(
            "{flag} @{file}: cannot read {file} ({e}); give a readable file after `@`, or the text itself"
        ))
    })
}

/// A body flag whose event field is a JSON string (SQS, SNS, WebSocket
/// messages), so it must be UTF-8 text.
pub fn text(flag: &str, arg: &str) -> Result<String, UsageError> {
    String::from_utf8(body(flag, arg)?).map_err(|_| {
        UsageError(format!(
            "{flag} {arg}: the contents are not UTF-8 text, which this event's body must be"
        ))
    })
}

/// `--queue-arn`, `--topic-arn`, `--target-group-arn`:
/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`. Returns the region.
pub fn arn<'a>(
    flag: &str,
    arg: &'a str,
    service: &str,
    example: &str,
) -> Result<&'a str, UsageError> {
    let parts: Vec<&str> = arg.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, s, region, account, resource]
            if *s == service
                && !region.is_empty()
                && !account.is_empty()
                && !resource.is_empty() =>
        {
            Ok(region)
        }
        _ => usage(format!(
            "{flag} {arg:?} is not an {service} ARN; write it like {flag} {example}"
        )),
    }
}

/// `--region`: lower-case letters, digits and dashes, like us-east-1.
pub fn region(arg: &str) -> Result<&str, UsageError> {
    let ok = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    match ok {
        true => Ok(arg),
        false => usage(format!(
            "--region {arg:?} is not an AWS region name; write it like --region eu-west-1"
        )),
    }
}

/// A flag that must not be empty (`--route`, `--stage`, `--connection-id`).
pub fn non_empty<'a>(flag: &str, arg: &'a str, example: &str) -> Result<&'a str, UsageError> {
    match arg.trim().is_empty() {
        true => usage(format!(
            "{flag} is empty; give a value, like {flag} {example}"
        )),
        false => Ok(arg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<T: fmt::Debug>(r: Result<T, UsageError>) -> String {
        r.expect_err("expected a usage error").0
    }

    #[test]
    fn methods_are_checked_and_upper_cased() {
        assert_eq!(method("get").unwrap(), Method::GET);
        assert_eq!(method("PATCH").unwrap(), Method::PATCH);
        let m = message(method("GTE"));
        assert!(
            m.contains("\"GTE\" is not an HTTP method") && m.contains("GET, HEAD"),
            "{m}"
        );
        assert!(method("").is_err());
    }

    #[test]
    fn paths_are_absolute_and_encoded() {
        let uri = path("/x?a=1&b=%20").unwrap();
        assert_eq!(uri.path(), "/x");
        assert_eq!(uri.query(), Some("a=1&b=%20"));
        assert!(message(path("x")).contains("must start with `/`"));
        assert!(message(path("/a b")).contains("percent-encode"));
    }

    #[test]
    fn headers_are_name_colon_value() {
        let (n, v) = header("Content-Type: application/json").unwrap();
        assert_eq!(n, "content-type");
        assert_eq!(v, "application/json");
        // Only the first colon splits: values may contain more.
        assert_eq!(header("x-when:12:30").unwrap().1, "12:30");
        assert_eq!(header("x-empty:").unwrap().1, "");
        let m = message(header("content-type=text/plain"));
        assert!(m.contains("has no `:`") && m.contains("NAME:VALUE"), "{m}");
        assert!(message(header("bad name:x")).contains("is not a header name"));
        assert!(message(header(":x")).contains("is not a header name"));
        assert!(message(header("x:a\u{7}b")).contains("control character"));
    }

    #[test]
    fn attributes_are_name_equals_value() {
        assert_eq!(
            attribute("kind=a=b").unwrap(),
            ("kind".to_string(), "a=b".to_string())
        );
        assert!(message(attribute("kind")).contains("has no `=`"));
        assert!(message(attribute("=x")).contains("no name"));
        let twice = ["a=1".to_string(), "a=2".to_string()];
        assert!(message(attributes(&twice)).contains("given twice"));
    }

    #[test]
    fn bodies_are_text_or_a_file() {
        assert_eq!(body("--body", "hi").unwrap(), b"hi");
        let file = std::env::temp_dir().join(format!("archform-event-body-{}", std::process::id()));
        std::fs::write(&file, b"{\"from\":\"file\"}").unwrap();
        let arg = format!("@{}", file.display());
        assert_eq!(text("--body", &arg).unwrap(), "{\"from\":\"file\"}");
        std::fs::write(&file, [0xff, 0xfe]).unwrap();
        assert_eq!(body("--body", &arg).unwrap(), [0xff, 0xfe]);
        assert!(message(text("--message", &arg)).contains("not UTF-8"));
        std::fs::remove_file(&file).unwrap();
        let m = message(body("--body", &arg));
        assert!(
            m.contains("cannot read") && m.contains("readable file"),
            "{m}"
        );
        assert!(message(body("--body", "@")).contains("names no file"));
    }

    #[test]
    fn arns_regions_and_required_values() {
        let q = "arn:aws:sqs:eu-west-1:123456789012:orders";
        assert_eq!(arn("--queue-arn", q, "sqs", "x").unwrap(), "eu-west-1");
        let m = message(arn(
            "--queue-arn",
            "orders",
            "sqs",
            "arn:aws:sqs:us-east-1:000000000000:q",
        ));
        assert!(
            m.contains("not an sqs ARN") && m.contains("arn:aws:sqs:us-east-1"),
            "{m}"
        );
        assert!(arn("--topic-arn", q, "sns", "x").is_err());
        assert_eq!(region("ap-south-2").unwrap(), "ap-south-2");
        assert!(message(region("EU West")).contains("not an AWS region"));
        assert!(message(non_empty("--route", " ", "sendmessage")).contains("--route is empty"));
    }
}
