//! Dates as JavaScript writes them: the handshake's `time` that Node's servers read, and the
//! msgpack timestamps notepack.io decodes into `Date`s.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `secs` since the Unix epoch as JavaScript's `Date.prototype.toString` writes it in UTC.
///
/// # Examples
/// ```
/// assert_eq!(
///     sockeye_core::time::js_date_string(0),
///     "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"
/// );
/// ```
pub fn js_date_string(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{} {} {:02} {:04} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `millis` since the Unix epoch as `2026-12-04T20:25:28.123Z` (JavaScript's
/// `Date.prototype.toISOString`, which is also how `JSON.stringify` writes a `Date`): the
/// dates the admin UI reads.
///
/// # Examples
/// ```
/// assert_eq!(
///     sockeye_core::time::to_iso_string(1_000),
///     "1970-01-01T00:00:01.000Z"
/// );
/// ```
pub fn to_iso_string(millis: u64) -> String {
    let secs = millis / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        millis % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_javascript() {
        // new Date(0).toString() with TZ=UTC, and two later dates checked in Node.
        assert_eq!(
            js_date_string(0),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(
            js_date_string(1_796_415_928),
            "Fri Dec 04 2026 20:25:28 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(
            js_date_string(951_782_400),
            "Tue Feb 29 2000 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
    }

    #[test]
    fn iso_strings_match_javascript() {
        // new Date(ms).toISOString() in Node.
        assert_eq!(to_iso_string(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(to_iso_string(1_796_415_928_007), "2026-12-04T20:25:28.007Z");
        assert_eq!(to_iso_string(951_782_399_999), "2000-02-28T23:59:59.999Z");
    }
}
