//! Byte sizes typed by people: `4096`, `4KiB`, `16MiB`, `1GB`, `0.5 GiB`.
//!
//! Binary prefixes (`KiB`, `MiB`, `GiB`…) are powers of 1024 and decimal ones (`KB`, `MB`,
//! `GB`…) powers of 1000, as the parse-size crate reads them; the unit is case-insensitive and
//! the trailing `B` optional. Fractions round to the nearest byte.

/// Parses a size into bytes, for clap's `value_parser`.
///
/// # Errors
/// A message naming the input and showing valid examples.
pub fn parse(s: &str) -> Result<u64, String> {
    parse_size::parse_size(s.trim())
        .map_err(|e| format!("invalid size {s:?}: {e} (e.g. 4096, 4KiB, 16MiB, 1GB)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_are_bytes() {
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("4096"), Ok(4096));
    }

    #[test]
    fn binary_units_are_powers_of_1024() {
        assert_eq!(parse("4KiB"), Ok(4 * 1024));
        assert_eq!(parse("16MiB"), Ok(16 * 1024 * 1024));
        assert_eq!(parse("1GiB"), Ok(1 << 30));
        assert_eq!(parse("2 mib"), Ok(2 << 20));
    }

    #[test]
    fn decimal_units_are_powers_of_1000() {
        assert_eq!(parse("1GB"), Ok(1_000_000_000));
        assert_eq!(parse("4KB"), Ok(4_000));
        assert_eq!(parse("3m"), Ok(3_000_000));
    }

    #[test]
    fn fractions_round_to_bytes() {
        assert_eq!(parse("0.5KiB"), Ok(512));
        assert_eq!(parse("1.5 MiB"), Ok(3 << 19));
    }

    #[test]
    fn garbage_is_refused_with_examples() {
        let err = parse("lots").unwrap_err();
        assert!(err.contains("\"lots\""), "{err}");
        assert!(err.contains("16MiB"), "{err}");
        assert!(parse("").is_err());
        assert!(parse("-1").is_err());
    }
}
