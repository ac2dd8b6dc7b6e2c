//! Providers of the compute kinds: CloudWatch log groups and Lambda.

mod event_source_mapping;
mod function;
mod function_url;
mod log_group;
mod permission;

use super::Handler;

pub(super) static LOG_GROUP: Handler = provider!(log_group);
pub(super) static FUNCTION: Handler = provider!(function);
pub(super) static PERMISSION: Handler = provider!(permission);
pub(super) static EVENT_SOURCE_MAPPING: Handler = provider!(event_source_mapping);
pub(super) static FUNCTION_URL: Handler = provider!(function_url);

/// The blueprint's form of the function Lambda names by its ARN (a
/// mapping's, a URL's or a permission's function): `given` (what was
/// applied, a name or an ARN) when it names the same function, else the
/// function's name, with its qualifier if any. Lambda takes the name wherever
/// it takes the ARN, and these live in the function's own account and
/// region.
fn function_ref(arn: &str, given: Option<&str>) -> String {
    if let Some(g) = given
        && (g == arn || arn.ends_with(&format!(":function:{g}")))
    {
        return g.to_string();
    }
    match arn.split_once(":function:") {
        Some((_, name)) => name.to_string(),
        None => arn.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::function_ref;

    #[test]
    fn functions_read_back_in_the_applied_form() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:worker";
        assert_eq!(function_ref(arn, Some("worker")), "worker");
        assert_eq!(function_ref(arn, Some(arn)), arn);
        assert_eq!(function_ref(arn, None), "worker");
        // Another function than the one applied: what AWS has.
        assert_eq!(function_ref(arn, Some("other")), "worker");
        assert_eq!(function_ref(&format!("{arn}:live"), None), "worker:live");
    }
}
