//! Size caps on what kindform reads: a file or a child's output is taken
//! whole only up to its cap, so a runaway or hostile input fails with an
//! error naming the cap instead of filling memory. The caller opens the
//! reader; this crate performs no I/O of its own.

use std::io::{self, Read};

/// The largest spec file (TOML) read.
pub const MAX_SPEC_BYTES: usize = 4 << 20;

/// The largest output of one tool read (`helm template`, `helm get`,
/// `kind get`, `docker` reads): a rendered chart of many CRDs fits.
pub const MAX_TOOL_OUTPUT_BYTES: usize = 64 << 20;

/// Reads `reader` to its end, or fails once more than `cap` bytes came.
pub fn read_capped(reader: impl Read, cap: usize) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(cap as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > cap {
        return Err(io::Error::new(io::ErrorKind::InvalidData, TooLarge(cap)));
    }
    Ok(bytes)
}

/// Reads `reader` as UTF-8 text, capped as [`read_capped`].
pub fn read_string_capped(reader: impl Read, cap: usize) -> io::Result<String> {
    String::from_utf8(read_capped(reader, cap)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The error of an input past its cap.
#[derive(Debug, thiserror::Error)]
#[error("larger than the {} limit", human(*.0))]
pub struct TooLarge(pub usize);

/// A cap as a person reads it.
pub fn human(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_cap_and_refuses_past_it() {
        assert_eq!(read_capped(&b"abcd"[..], 4).unwrap(), b"abcd");
        let error = read_capped(&b"abcde"[..], 4).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(error.to_string(), "larger than the 4 bytes limit");
        assert_eq!(
            TooLarge(16 << 20).to_string(),
            "larger than the 16 MiB limit"
        );
    }
}
