//! Deterministic physical names.
//!
//! A name is a pure function of the stack name and logical id, so a create
//! that crashed before its state was saved is found again by name instead of
//! being duplicated. Names longer than a kind allows are shortened with a
//! hash of the full name, which keeps them unique and stable.

use crate::kinds::{Charset, Naming};
use sha2::{Digest, Sha256};

/// Room reserved in globally unique names for `-<account id>-<region>`.
pub const GLOBAL_SUFFIX_RESERVE: usize = 1 + 12 + 1 + 14;

pub fn derive(stack: &str, id: &str, rule: &Naming) -> String {
    let mut base = format!("{stack}-{id}");
    if !allows(rule.charset, '_') {
        base = base.replace('_', "-");
    }
    if rule.lowercase {
        base = base.to_lowercase();
    }
    let budget = budget(rule);
    let name = if base.chars().count() > budget {
        let hash = hex8(&base);
        let keep = budget.saturating_sub(hash.len() + 1);
        let head: String = base.chars().take(keep).collect();
        format!("{}-{hash}", head.trim_end_matches(['-', '_', '.']))
    } else {
        base
    };
    format!("{}{name}", rule.prefix)
}

/// How many characters of the name archform controls.
pub fn budget(rule: &Naming) -> usize {
    let reserve = if rule.global {
        GLOBAL_SUFFIX_RESERVE
    } else {
        0
    };
    rule.max_len.saturating_sub(rule.prefix.len() + reserve)
}

fn hex8(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

pub fn allows(charset: Charset, c: char) -> bool {
    match charset {
        Charset::AlnumHyphen => c.is_ascii_alphanumeric() || c == '-',
        Charset::AlnumHyphenUnderscore => c.is_ascii_alphanumeric() || c == '-' || c == '_',
        Charset::Iam => c.is_ascii_alphanumeric() || "+=,.@_-".contains(c),
        Charset::Dynamo => c.is_ascii_alphanumeric() || "_-.".contains(c),
        Charset::S3 => c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.',
        Charset::Rds => c.is_ascii_alphanumeric() || c == '-',
        Charset::LogGroup => c.is_ascii_alphanumeric() || "_-./#".contains(c),
        Charset::Printable => !c.is_control(),
    }
}

/// Checks a full physical name against a kind's rules; `Err` says what is wrong.
pub fn check(name: &str, rule: &Naming) -> Result<(), String> {
    let len = name.chars().count();
    let max = rule.max_len
        - if rule.global {
            GLOBAL_SUFFIX_RESERVE
        } else {
            0
        };
    if len < rule.min_len {
        return Err(format!(
            "is {len} characters, at least {} are needed",
            rule.min_len
        ));
    }
    if len > max {
        return Err(format!("is {len} characters, the limit is {max}"));
    }
    if let Some(c) = name.chars().find(|c| !allows(rule.charset, *c)) {
        return Err(format!(
            "contains `{c}`, which this kind of name does not allow"
        ));
    }
    match rule.charset {
        Charset::AlnumHyphen => {
            if name.starts_with('-') || name.ends_with('-') {
                return Err("must not start or end with a hyphen".into());
            }
            if name.starts_with("internal-") {
                return Err("must not start with `internal-`".into());
            }
        }
        Charset::S3 => {
            if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
                || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
            {
                return Err("must start and end with a letter or digit".into());
            }
            if name.contains("..") || name.starts_with("xn--") {
                return Err("must not contain `..` or start with `xn--`".into());
            }
        }
        Charset::Rds => {
            if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return Err("must start with a letter".into());
            }
            if name.contains("--") || name.ends_with('-') {
                return Err("must not contain `--` or end with a hyphen".into());
            }
        }
        Charset::Printable if name.starts_with("sg-") => {
            return Err("must not start with `sg-`".into());
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::naming;

    #[test]
    fn short_names_are_stack_dash_id() {
        let r = naming(64, Charset::AlnumHyphenUnderscore, "X");
        assert_eq!(derive("demo", "click_agg", &r), "demo-click_agg");
        let alb = naming(32, Charset::AlnumHyphen, "Name");
        assert_eq!(derive("demo", "public_alb", &alb), "demo-public-alb");
    }

    #[test]
    fn long_names_are_hashed_within_limits_and_stable() {
        let alb = naming(32, Charset::AlnumHyphen, "Name");
        let a = derive("a-rather-long-stack-name", "internal_alb_target", &alb);
        assert!(a.len() <= 32, "{a}");
        assert_eq!(
            a,
            derive("a-rather-long-stack-name", "internal_alb_target", &alb)
        );
        assert_ne!(
            a,
            derive("a-rather-long-stack-name", "internal_alb_target2", &alb)
        );
        assert!(check(&a, &alb).is_ok(), "{a}");
    }

    #[test]
    fn checks_rules() {
        let alb = naming(32, Charset::AlnumHyphen, "Name");
        assert!(check("bad_name", &alb).unwrap_err().contains('_'));
        assert!(check("-x", &alb).is_err());
        let rds = naming(63, Charset::Rds, "Id");
        assert!(check("1db", &rds).is_err());
        assert!(check("db--x", &rds).is_err());
    }
}
