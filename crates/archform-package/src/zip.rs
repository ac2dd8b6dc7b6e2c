//! A minimal, reproducible ZIP writer (deflated entries, fixed timestamps):
//! enough for Lambda deployment packages with a `bootstrap` executable.
//! Deflate roughly halves a Rust binary, which counts against Lambda's
//! upload limit and every cold start's download.
//! The same inputs always give the same bytes, so an unchanged package
//! hashes the same and is not uploaded again.

/// The zip CRC-32 (IEEE) of `data`.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// Raw deflate at a fixed level: the same input always gives the same bytes.
fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// A zip holding `files` (name, bytes, unix mode), in the order given; each
/// entry deflated, or stored when deflate would not make it smaller.
pub fn build(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    // DOS date 1980-01-01 00:00: the earliest a zip can say, and constant.
    const DOS_TIME: u16 = 0;
    const DOS_DATE: u16 = (1 << 5) | 1;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, mode) in files {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let size = data.len() as u32;
        let deflated = deflate(data);
        let (method, body): (u16, &[u8]) = if deflated.len() < data.len() {
            (8, &deflated)
        } else {
            (0, data)
        };
        let packed = body.len() as u32;
        let local = |v: &mut Vec<u8>| {
            v.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&method.to_le_bytes());
            v.extend_from_slice(&DOS_TIME.to_le_bytes());
            v.extend_from_slice(&DOS_DATE.to_le_bytes());
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&packed.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(name.as_bytes());
        };
        local(&mut out);
        out.extend_from_slice(body);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&(3u16 << 8 | 20).to_le_bytes()); // made by unix
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&DOS_TIME.to_le_bytes());
        central.extend_from_slice(&DOS_DATE.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&packed.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes()); // extra
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        central.extend_from_slice(&((0o100000 | mode) << 16).to_le_bytes()); // regular file + mode
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    let cd_size = central.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A placeholder Lambda package: a `bootstrap` shell script that serves
/// nothing. Enough for deploy tests; emulators do not run it.
pub fn placeholder_function() -> Vec<u8> {
    build(&[("bootstrap", b"#!/bin/sh\necho placeholder\n", 0o755)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn zips_are_reproducible_and_readable_by_unzip() {
        let a = placeholder_function();
        assert_eq!(a, placeholder_function());
        let dir = std::env::temp_dir().join(format!("archform-zip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.zip");
        std::fs::write(&path, &a).unwrap();
        // Python's zipfile is on every machine that runs these tests.
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); i=z.getinfo('bootstrap'); print(oct(i.external_attr>>16), z.read('bootstrap').decode().strip().splitlines()[-1]); z.testzip() is None or sys.exit(1)"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "0o100755 echo placeholder"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn binary_entries_round_trip_in_order_with_their_modes() {
        let exe: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let files: &[(&str, &[u8], u32)] = &[
            ("bootstrap", &exe, 0o755),
            ("data/readme.txt", b"hi\n", 0o644),
        ];
        let a = build(files);
        assert_eq!(a, build(files), "same input, same bytes");
        assert_ne!(a, build(&[("bootstrap", &exe[1..], 0o755)]));
        assert!(
            a.len() < exe.len() / 10,
            "the repetitive binary is deflated"
        );
        let dir = std::env::temp_dir().join(format!("archform-zip2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.zip");
        std::fs::write(&path, &a).unwrap();
        let script = "import hashlib,sys,zipfile\n\
            z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None\n\
            for i in z.infolist(): print(i.filename, oct(i.external_attr>>16), i.date_time, hashlib.sha256(z.read(i)).hexdigest()[:12])";
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sha = |b: &[u8]| {
            use sha2::Digest;
            sha2::Sha256::digest(b)
                .iter()
                .take(6)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!(
                "bootstrap 0o100755 (1980, 1, 1, 0, 0, 0) {}\ndata/readme.txt 0o100644 (1980, 1, 1, 0, 0, 0) {}\n",
                sha(&exe),
                sha(b"hi\n")
            )
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
