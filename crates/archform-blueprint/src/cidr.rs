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

/// Terraform's cidrsubnet.
pub fn subnet(base: &str, newbits: u8, netnum: u64) -> Result<String, String> {
    let net = parse(base)?;
    let prefix = net.prefix_len() + newbits;
    if prefix > 32 {
        return Err(format!(
            "cidr_subnet: {base} plus {newbits} bits is longer than /32"
        ));
    }
    if newbits < 64 && netnum >= (1u64 << newbits) {
        return Err(format!(
            "cidr_subnet: {base} has only {} subnets of /{prefix}, asked for number {netnum}",
            1u64 << newbits
        ));
    }
    let base_bits = u32::from(net.network()) as u64;
    let shifted = netnum << (32 - prefix as u32);
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
