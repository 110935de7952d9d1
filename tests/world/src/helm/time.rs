//! The time formats Helm prints: RFC 3339 with trimmed nanoseconds (release
//! JSON, history), Go's `Time.String()` (list), and ANSI C (table output).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now as Go's RFC3339Nano: `2025-03-04T10:00:00.5Z`.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    let weekday = ((days + 4).rem_euclid(7)) as u32; // 1970-01-01 was a Thursday
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
        weekday,
    )
}

fn fraction(nanos: u32) -> String {
    if nanos == 0 {
        return String::new();
    }
    format!(".{nanos:09}").trim_end_matches('0').to_owned()
}

fn rfc3339(secs: i64, nanos: u32) -> String {
    let (y, m, d, h, min, s, _) = civil(secs);
    format!(
        "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}{}Z",
        fraction(nanos)
    )
}

fn parse(text: &str) -> Option<(i64, u32)> {
    let (date, rest) = text.split_once('T')?;
    let mut ymd = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let rest = rest.trim_end_matches('Z');
    let (clock, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let mut hms = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (hms.next()??, hms.next()??, hms.next()??);
    let nanos = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}")[..9].parse().ok()?
    };
    let (yy, mm) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60 + s, nanos))
}

/// Go's `Time.String()` of an RFC 3339 time: `2025-03-04 10:11:12.5 +0000 UTC`.
pub fn go_string(rfc: &str) -> String {
    match parse(rfc) {
        Some((secs, nanos)) => {
            let (y, m, d, h, min, s, _) = civil(secs);
            format!(
                "{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}{} +0000 UTC",
                fraction(nanos)
            )
        }
        None => "-".to_owned(),
    }
}

/// ANSI C form of an RFC 3339 time: `Tue Mar  4 10:11:12 2025`.
pub fn ansic(rfc: &str) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    match parse(rfc) {
        Some((secs, _)) => {
            let (y, m, d, h, min, s, wd) = civil(secs);
            format!(
                "{} {} {d:>2} {h:02}:{min:02}:{s:02} {y}",
                DAYS[wd as usize],
                MONTHS[m as usize - 1]
            )
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_go_does() {
        assert_eq!(
            go_string("2025-03-04T10:11:12.123456789Z"),
            "2025-03-04 10:11:12.123456789 +0000 UTC"
        );
        assert_eq!(
            go_string("2025-03-04T10:00:00.5Z"),
            "2025-03-04 10:00:00.5 +0000 UTC"
        );
        assert_eq!(ansic("2025-03-04T10:11:12Z"), "Tue Mar  4 10:11:12 2025");
        assert_eq!(rfc3339(0, 500_000_000), "1970-01-01T00:00:00.5Z");
    }
}
