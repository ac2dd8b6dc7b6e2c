//! CIDR arithmetic shared by the template helpers and the validators.

use ipnet::Ipv4Net;
use std::str::FromStr;

/// Parses an IPv4 CIDR and checks it is the network address itself
/// (10.0.0.0/16, not 10.0.0.1/16), as AWS requires.
pub fn parse(text: &str) -> Result<Ipv4Net, String> {
    let net = Ipv4Net::from_str(text.trim()).map_err(|_| {
        format!("`{text}` is not an IPv4 CIDR block (expected something like 10.0.0.0/16)")
    })?;
    if net.network() != net.addr() {
        return Err(format!(
            "`{text}` has host bits set; the network address is {}",
            net.trunc()
        ));
    }
    Ok(net)
}

/// Terraform's cidrsubnet: the `netnum`-th subnet of `base` with `newbits`
/// more prefix bits. Every input is checked: a prefix past /32 or a subnet
/// number past the last one is an error, never a wrapped value.
pub fn subnet(base: &str, newbits: u64, netnum: u64) -> Result<String, String> {
    let net = parse(base)?;
    let prefix = u64::from(net.prefix_len()).saturating_add(newbits);
    if prefix > 32 {
        return Err(format!(
            "cidr_subnet: {base} plus {newbits} new bits is longer than /32"
        ));
    }
    // newbits <= 32 here, so the count fits in a u64.
    let count = 1u64 << newbits;
    if netnum >= count {
        return Err(format!(
            "cidr_subnet: {base} has only {count} subnets of /{prefix}, asked for number {netnum}"
        ));
    }
    let base_bits = u64::from(u32::from(net.network()));
    let shifted = netnum << (32 - prefix);
    let addr = std::net::Ipv4Addr::from((base_bits | shifted) as u32);
    Ok(format!("{addr}/{prefix}"))
}

pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrsubnet_matches_terraform() {
        assert_eq!(subnet("10.0.0.0/16", 8, 0).unwrap(), "10.0.0.0/24");
        assert_eq!(subnet("10.0.0.0/16", 8, 2).unwrap(), "10.0.2.0/24");
        assert_eq!(subnet("10.0.0.0/16", 4, 15).unwrap(), "10.0.240.0/20");
        assert!(subnet("10.0.0.0/16", 2, 4).is_err());
        assert!(subnet("10.0.0.0/30", 4, 0).is_err());
        assert_eq!(subnet("0.0.0.0/0", 32, 5).unwrap(), "0.0.0.5/32");
    }

    /// Found by trying: 250 new bits overflowed the prefix arithmetic
    /// (a panic), and 264 wrapped to 8 and gave a /24.
    #[test]
    fn huge_new_bits_are_refused_not_wrapped() {
        assert!(
            subnet("10.0.0.0/16", 250, 1)
                .unwrap_err()
                .contains("longer than /32")
        );
        assert!(
            subnet("10.0.0.0/16", 264, 1)
                .unwrap_err()
                .contains("longer than /32")
        );
        assert!(subnet("10.0.0.0/16", u64::MAX, 0).is_err());
        assert!(subnet("10.0.0.0/16", 16, u64::MAX).is_err());
    }

    #[test]
    fn parse_rejects_host_bits_and_garbage() {
        assert!(parse("10.0.0.0/16").is_ok());
        assert!(parse("10.0.0.1/16").unwrap_err().contains("10.0.0.0/16"));
        assert!(parse("10.0.0.0").is_err());
        assert!(parse("300.0.0.0/8").is_err());
    }

    #[test]
    fn overlap() {
        let a = parse("10.0.0.0/16").unwrap();
        let b = parse("10.0.1.0/24").unwrap();
        let c = parse("10.1.0.0/16").unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a));
        assert!(!overlaps(&a, &c));
    }
}
