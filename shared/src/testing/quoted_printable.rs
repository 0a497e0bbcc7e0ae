//! Quoted-printable decoding (RFC 2045 §6.7), enough for tests to read the emails they receive.

/// Undoes quoted-printable in the MIME parts that use it: `=\r\n` soft breaks and `=XX` escapes.
pub fn decode(raw: &str) -> String {
    let mut decoded = String::with_capacity(raw.len());
    let mut quoted = false;
    let mut part = String::new();
    for line in raw.split_inclusive('\n') {
        let lower = line.to_ascii_lowercase();
        if line.starts_with("--") {
            decoded.push_str(&decode_part(&std::mem::take(&mut part), quoted));
            quoted = false;
        } else if lower.starts_with("content-transfer-encoding:") {
            quoted = lower.contains("quoted-printable");
        }
        part.push_str(line);
    }
    decoded.push_str(&decode_part(&part, quoted));
    decoded
}

fn decode_part(part: &str, quoted: bool) -> String {
    if !quoted {
        return part.to_owned();
    }
    let joined = part.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Some(value) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
