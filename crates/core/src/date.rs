//! Dates for humans, from Unix seconds, without a date library.

/// `YYYY-MM-DD` from Unix seconds (proleptic Gregorian, UTC), without a date library.
pub fn unix_date(secs: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM` (UTC) from Unix seconds.
pub fn unix_datetime(secs: i64) -> String {
    let s = secs.rem_euclid(86_400);
    format!("{} {:02}:{:02}", unix_date(secs), s / 3600, (s % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(unix_date(0), "1970-01-01");
        assert_eq!(unix_date(951_782_400), "2000-02-29");
        assert_eq!(unix_date(1_800_000_000), "2027-01-15");
        assert_eq!(unix_date(-86_400), "1969-12-31");
    }

    #[test]
    fn datetimes() {
        assert_eq!(unix_datetime(1_800_000_000), "2027-01-15 08:00");
    }
}
