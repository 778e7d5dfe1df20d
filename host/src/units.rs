//! Units: sizes like `16MiB`, durations like `500ms`, times as RFC 3339.

use std::time::Duration;

/// Parse a size: `16MiB`, `512 KiB`, `1GB`, or a number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|_| format!("`{text}` is not a size; write it like 16MiB, 512KiB or 1GB"))
}

/// Seconds since the Unix epoch, from the system clock.
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The time `seconds` after the Unix epoch (the journal's times).
pub fn system_time(seconds: f64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0))
}

/// Seconds since the Unix epoch as RFC 3339 (UTC), rounded to the
/// millisecond shown so that [`parse_rfc3339`] reads back the same time:
/// how the API, `logs --json`, `token list` and the journal show times.
pub fn rfc3339(seconds: f64) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(millis))
        .to_string()
}

/// The seconds since the Unix epoch an RFC 3339 time stands for.
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    let at = humantime::parse_rfc3339(text).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}

/// Parse a duration: `500ms`, `2s`, `5m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|error| {
        format!("`{text}` is not a duration ({error}); write it like 500ms, 2s or 5m")
    })
}

/// Milliseconds for people: `5.6ms`, `1.25s`.
pub fn format_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else {
        format!("{ms:.1}ms")
    }
}

/// Fuel for people: `862`, `229.8k`, `18.1M`, `2.0G`.
pub fn format_fuel(fuel: u64) -> String {
    match fuel {
        0..1_000 => fuel.to_string(),
        1_000..1_000_000 => format!("{:.1}k", fuel as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}M", fuel as f64 / 1e6),
        _ => format!("{:.1}G", fuel as f64 / 1e9),
    }
}

/// Bytes for a table: `1.1 MiB`, `-` for none.
pub fn format_bytes(bytes: u64) -> String {
    if bytes == 0 {
        "-".to_string()
    } else {
        bytesize::ByteSize(bytes).display().iec().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases = [
            ("16MiB", Some(16 << 20)),
            ("16 MiB", Some(16 << 20)),
            ("512KiB", Some(512 << 10)),
            ("1GB", Some(1_000_000_000)),
            ("4096", Some(4096)),
            ("lots", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_size(text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("500ms", Some(Duration::from_millis(500))),
            ("2s", Some(Duration::from_secs(2))),
            ("5m", Some(Duration::from_secs(300))),
            ("soon", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text).ok(), expected, "{text}");
        }
    }
}
