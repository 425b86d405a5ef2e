//! RFC 3339 timestamps without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats a time as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (UTC, microseconds).
pub fn format_rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let micros = since_epoch.subsec_micros();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let second_of_day = seconds % 86_400;
    if !(0..=9999).contains(&year) {
        return format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60
        );
    }
    // The tracer stamps every event, so the common case fills fixed
    // positions instead of going through the formatting machinery.
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    write_digits(&mut text[0..4], year as u64);
    write_digits(&mut text[5..7], u64::from(month));
    write_digits(&mut text[8..10], u64::from(day));
    write_digits(&mut text[11..13], second_of_day / 3600);
    write_digits(&mut text[14..16], second_of_day / 60 % 60);
    write_digits(&mut text[17..19], second_of_day % 60);
    write_digits(&mut text[20..26], u64::from(micros));
    std::str::from_utf8(&text).unwrap_or_default().to_string()
}

/// Writes the low `digits.len()` decimal digits of `value`, zero-padded.
fn write_digits(digits: &mut [u8], mut value: u64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Returns the current time in RFC 3339 form.
pub fn now_rfc3339() -> String {
    format_rfc3339(SystemTime::now())
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day),
/// using Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn epoch_formats() {
        assert_eq!(format_rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn leap_day_formats() {
        // 2024-02-29T12:34:56.789012Z
        let time = UNIX_EPOCH + Duration::from_micros(1_709_210_096_789_012);
        assert_eq!(format_rfc3339(time), "2024-02-29T12:34:56.789012Z");
    }

    #[test]
    fn year_past_9999_keeps_every_digit() {
        // 10000-01-01T00:00:00.000001Z
        let time = UNIX_EPOCH + Duration::from_micros(253_402_300_800_000_001);
        assert_eq!(format_rfc3339(time), "10000-01-01T00:00:00.000001Z");
    }

    #[test]
    fn last_microsecond_of_a_day_formats() {
        // 2026-12-31T23:59:59.999999Z
        let time = UNIX_EPOCH + Duration::from_micros(1_798_761_599_999_999);
        assert_eq!(format_rfc3339(time), "2026-12-31T23:59:59.999999Z");
    }
}
