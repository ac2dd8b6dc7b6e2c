//! Zips over Lambda's direct-upload limit reach Lambda through an S3
//! artifact bucket: uploaded once under the content-addressed key
//! `archform/<stack>/<function-id>/<sha256>.zip`, then named as
//! S3Bucket/S3Key in CreateFunction / UpdateFunctionCode.
//!
//! The bucket is the user's: it must exist, in the stack's region (Lambda
//! reads the object from its own region only). Objects are never deleted
//! here, on destroy neither: a key names exact bytes, so it may serve other
//! deploys; a lifecycle rule on the bucket expires old ones.

use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{ProviderError, ProviderResult, Resolved};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use std::path::Path;

/// The object key of a zip: one per stack, function and content, so an
/// upload is skipped when the key exists and never overwrites other bytes.
pub(super) fn key(stack: &str, function: &str, sha256: &str) -> String {
    format!("archform/{stack}/{function}/{sha256}.zip")
}

/// Uploads `zip` (whose SHA-256 is `sha256`, lowercase hex) for function
/// `r` to `bucket` unless its key is already there; returns the key.
pub(super) async fn upload(
    c: &Clients,
    r: &Resolved,
    bucket: &str,
    zip: &Path,
    sha256: &str,
) -> ProviderResult<String> {
    let digest = hex_digest(sha256).ok_or_else(|| {
        ProviderError::Invalid(format!(
            "{}: code.sha256 must be the zip's SHA-256 (64 hex digits) to upload it to the artifact \
             bucket, got {sha256:?}",
            r.id
        ))
    })?;
    check_region(c, &r.id, bucket).await?;
    let key = key(&r.stack, &r.id, &sha256.to_ascii_lowercase());
    if exists(c, bucket, &key).await? {
        return Ok(key);
    }
    let body = ByteStream::from_path(zip).await.map_err(|e| {
        ProviderError::Invalid(format!(
            "{}: cannot read the function code zip {}: {e}",
            r.id,
            zip.display()
        ))
    })?;
    c.s3.put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/zip")
        // S3 checks the bytes against the hash the key is named after, so a
        // zip rewritten since it was hashed cannot sit under the wrong key.
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(base64(&digest))
        .body(body)
        .send()
        .await
        .map_err(|e| {
            let hint = match e.code() {
                Some("BadDigest") | Some("XAmzContentSHA256Mismatch") => {
                    " (the zip changed after its hash was taken: run the deploy again)"
                }
                Some("AccessDenied") => {
                    " (the deploying identity needs s3:PutObject on the bucket)"
                }
                _ => "",
            };
            prefixed(&r.id, bucket, error::aws("s3:PutObject", e), hint)
        })?;
    Ok(key)
}

/// Fails unless `bucket` exists in the clients' region.
async fn check_region(c: &Clients, function: &str, bucket: &str) -> ProviderResult<()> {
    let Some(want) = c.region.as_deref() else {
        return Ok(());
    };
    let found = match c.s3.get_bucket_location().bucket(bucket).send().await {
        Ok(o) => location_region(o.location_constraint().map(|l| l.as_str())).to_string(),
        Err(e) if error::code(&e) == Some("NoSuchBucket") => {
            return Err(ProviderError::Invalid(format!(
                "{function}: the artifact bucket `{bucket}` does not exist; create it in {want} \
                 (archform does not create it) or name another with ARCHFORM_ARTIFACT_BUCKET / \
                 --artifact-bucket"
            )));
        }
        // S3 names the bucket's region in this header on redirects and
        // refusals too: enough to tell a bucket in another region.
        Err(e) => match header_region(&e) {
            Some(region) => region,
            None => {
                let hint = match e.code() {
                    Some("AccessDenied") => {
                        " (the deploying identity needs s3:GetBucketLocation on the bucket)"
                    }
                    _ => "",
                };
                return Err(prefixed(
                    function,
                    bucket,
                    error::aws("s3:GetBucketLocation", e),
                    hint,
                ));
            }
        },
    };
    if found == want {
        return Ok(());
    }
    Err(ProviderError::Invalid(format!(
        "{function}: the artifact bucket `{bucket}` is in {found}, but the stack deploys to {want}: \
         Lambda reads function code only from a bucket in its own region; name a bucket in {want} \
         with ARCHFORM_ARTIFACT_BUCKET / --artifact-bucket"
    )))
}

/// GetBucketLocation's answer as a region: empty means us-east-1 and the
/// legacy `EU` means eu-west-1.
fn location_region(constraint: Option<&str>) -> &str {
    match constraint {
        None | Some("") => "us-east-1",
        Some("EU") => "eu-west-1",
        Some(region) => region,
    }
}

/// The bucket's region as S3 names it in the `x-amz-bucket-region` header.
fn header_region<E>(e: &SdkError<E, HttpResponse>) -> Option<String> {
    e.raw_response()
        .and_then(|r| r.headers().get("x-amz-bucket-region"))
        .map(str::to_string)
}

/// Whether `key` is already in `bucket`.
async fn exists(c: &Clients, bucket: &str, key: &str) -> ProviderResult<bool> {
    match c.s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        // Without s3:ListBucket, S3 answers 403 for a missing key: upload
        // then, which at worst writes the same bytes again.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => Ok(false),
        Err(e) => Err(error::aws("s3:HeadObject", e)),
    }
}

fn prefixed(function: &str, bucket: &str, e: ProviderError, hint: &str) -> ProviderError {
    ProviderError::failed(format!("{function}: artifact bucket `{bucket}`: {e}{hint}"))
}

/// The 32 bytes of a lowercase or uppercase hex SHA-256.
fn hex_digest(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// Standard base64 with padding (what `x-amz-checksum-sha256` takes).
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The lowercase hex of standard base64 (what Lambda's CodeSha256 is);
/// `None` for text that is not base64.
pub(super) fn hex_of_base64(text: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_per_stack_function_and_content() {
        assert_eq!(
            key("demo", "api", &"ab".repeat(32)),
            format!("archform/demo/api/{}.zip", "ab".repeat(32))
        );
    }

    #[test]
    fn base64_matches_the_reference_vectors() {
        // RFC 4648, section 10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn the_sha256_of_nothing_becomes_its_s3_checksum() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            base64(&hex_digest(hex).unwrap()),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(
            hex_of_base64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").as_deref(),
            Some(hex)
        );
        assert_eq!(hex_of_base64("Zm9vYg==").as_deref(), Some("666f6f62"));
        assert_eq!(hex_of_base64("not base64!"), None);
        assert_eq!(hex_digest("abc"), None);
        assert_eq!(hex_digest(&"zz".repeat(32)), None);
    }

    #[test]
    fn bucket_locations_read_as_regions() {
        assert_eq!(location_region(None), "us-east-1");
        assert_eq!(location_region(Some("")), "us-east-1");
        assert_eq!(location_region(Some("EU")), "eu-west-1");
        assert_eq!(location_region(Some("ap-south-1")), "ap-south-1");
    }
}
