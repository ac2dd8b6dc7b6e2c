//! How a function's zip reaches Lambda: inline with CreateFunction /
//! UpdateFunctionCode, or, over the direct-upload quota, through an S3
//! artifact bucket that Lambda reads it from.

use crate::error::{Error, Result};
use std::path::Path;

/// Lambda's quota for a deployment package sent inline with CreateFunction
/// or UpdateFunctionCode: "50 MB (zipped, when uploaded through the Lambda
/// API or SDKs). Upload larger files with Amazon S3." (Lambda quotas,
/// "Deployment package (.zip file archive) size"). Lambda counts MB as MiB:
/// 50 x 1024 x 1024 bytes. Packages sent through S3 may be larger, up to
/// 250 MB unzipped.
pub const DIRECT_UPLOAD_LIMIT: u64 = 52_428_800;

/// The route a zip takes to Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// Inline (`ZipFile`): at most [`DIRECT_UPLOAD_LIMIT`] bytes.
    Direct,
    /// Uploaded to this S3 bucket first, then passed as `S3Bucket`/`S3Key`.
    ArtifactBucket(String),
}

/// Picks the route for `function`'s zip at `path` of `size` bytes: inline
/// when it fits, else through `artifact_bucket`. A zip over the limit with
/// no bucket is [`Error::TooLarge`], naming the ways out.
pub fn upload_route(
    function: &str,
    path: &Path,
    size: u64,
    artifact_bucket: Option<&str>,
) -> Result<Upload> {
    if size <= DIRECT_UPLOAD_LIMIT {
        return Ok(Upload::Direct);
    }
    match artifact_bucket.filter(|b| !b.is_empty()) {
        Some(bucket) => Ok(Upload::ArtifactBucket(bucket.to_string())),
        None => Err(Error::TooLarge {
            function: function.to_string(),
            path: path.to_path_buf(),
            size,
            limit: DIRECT_UPLOAD_LIMIT,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zips_up_to_the_limit_go_inline_even_with_a_bucket() {
        let p = Path::new("f.zip");
        assert_eq!(upload_route("f", p, 1, None).unwrap(), Upload::Direct);
        assert_eq!(
            upload_route("f", p, DIRECT_UPLOAD_LIMIT, Some("b")).unwrap(),
            Upload::Direct
        );
    }

    #[test]
    fn larger_zips_go_through_the_bucket() {
        let p = Path::new("f.zip");
        assert_eq!(
            upload_route("f", p, DIRECT_UPLOAD_LIMIT + 1, Some("artifacts")).unwrap(),
            Upload::ArtifactBucket("artifacts".into())
        );
    }

    #[test]
    fn larger_zips_without_a_bucket_name_the_function_size_limit_and_fixes() {
        let p = Path::new("/tmp/big.zip");
        for bucket in [None, Some("")] {
            let e = upload_route("api", p, 53_000_000, bucket).unwrap_err();
            let m = e.to_string();
            for want in [
                "`api`",
                "/tmp/big.zip",
                "53000000 bytes",
                "52428800 bytes",
                "ARCHFORM_ARTIFACT_BUCKET",
                "--artifact-bucket",
                "same region",
                "smaller",
            ] {
                assert!(m.contains(want), "{want:?} missing from: {m}");
            }
        }
    }
}
