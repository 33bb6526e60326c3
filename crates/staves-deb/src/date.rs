//! The dates of release files (`Date:`, `Valid-Until:`): RFC 2822 as Debian writes them,
//! `Sat, 21 Nov 2026 00:53:02 UTC`, read (numeric zones too) and written.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses a release file's date into seconds since the epoch.
pub fn parse_rfc2822(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not an RFC 2822 date");
    let body = text.split_once(',').map_or(text, |(_, rest)| rest).trim();
    let parts: Vec<&str> = body.split_whitespace().collect();
    let [day, month, year, time, zone] = parts[..] else {
        return Err(bad());
    };
    let month = MONTHS
        .iter()
        .position(|m| month.eq_ignore_ascii_case(m))
        .ok_or_else(bad)? as i64
        + 1;
    let day: i64 = day.parse().map_err(|_| bad())?;
    let year: i64 = year.parse().map_err(|_| bad())?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [h, m, s] = hms[..] else {
        return Err(bad());
    };
    let offset = match zone {
        "UTC" | "GMT" | "Z" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let hours: i64 = z[1..3].parse().map_err(|_| bad())?;
            let mins: i64 = z[3..5].parse().map_err(|_| bad())?;
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (hours * 3600 + mins * 60)
        }
        _ => return Err(bad()),
    };
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset)
}

/// Writes seconds since the epoch as a release file's date, in UTC.
pub fn format_rfc2822(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} UTC",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Writes seconds since the epoch in ISO 8601's basic form, UTC (`20261206T045531Z`): how a
/// lock records when a repository was read, and how snapshot archives name a moment.
pub fn format_basic(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Reads [`format_basic`]'s form back, checking it.
pub fn parse_basic(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, s) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) of a day number since 1970-01-01: [`days_from_civil`]
/// inverted.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {

    #[test]
    fn basic_form_round_trips() {
        let secs = parse_rfc2822("Sun, 06 Dec 2026 04:55:31 UTC").expect("date");
        assert_eq!(format_basic(secs), "20261206T045531Z");
        assert_eq!(parse_basic("20261206T045531Z"), Some(secs));
        assert_eq!(parse_basic("20261306T045531Z"), None);
        assert_eq!(parse_basic("2026-12-06"), None);
    }

    use super::*;

    #[test]
    fn parses_dates() {
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00:00 UTC"), Ok(0));
        assert_eq!(
            parse_rfc2822("Sat, 21 Nov 2026 00:53:02 UTC"),
            Ok(1_795_222_382)
        );
        assert_eq!(
            parse_rfc2822("Sat, 21 Nov 2026 01:53:02 +0100"),
            Ok(1_795_222_382)
        );
        assert!(parse_rfc2822("yesterday").is_err());
    }

    #[test]
    fn dates_are_written_as_release_files_write_them_and_read_back() {
        assert_eq!(
            format_rfc2822(1_795_559_618),
            "Tue, 24 Nov 2026 22:33:38 UTC"
        );
        assert_eq!(format_rfc2822(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        for secs in [0, 951_782_400, 1_795_559_618, 4_107_542_399] {
            assert_eq!(parse_rfc2822(&format_rfc2822(secs)), Ok(secs as i64));
        }
    }
}
