//! Cron schedules: an expression (croner: five fields, or six with seconds
//! first; `@daily` and friends) read in an IANA time zone (chrono-tz).
//! Ticks follow the expression's grid in that zone: a local time that a
//! daylight-saving change skips fires once at the first valid time after
//! the gap; a local time that happens twice fires once, at the first.

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A parsed cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    zone: Tz,
    /// As written, and the zone's name: what identifies the schedule.
    expression: String,
}

impl Schedule {
    /// Parse `expression` in `zone` (an IANA name; `None` is UTC).
    pub fn parse(expression: &str, zone: Option<&str>) -> Result<Self, ScheduleError> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expression.trim())
            .map_err(|error| ScheduleError::Cron(error.to_string()))?;
        let zone = match zone {
            None => Tz::UTC,
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| ScheduleError::Zone(name.to_string()))?,
        };
        Ok(Self {
            cron,
            zone,
            expression: expression.trim().to_string(),
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first tick strictly after `after` (ticks fall on whole seconds).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let after = after.trunc_subsecs(0).with_timezone(&self.zone);
        self.cron
            .find_next_occurrence(&after, false)
            .ok()
            .map(|tick| tick.with_timezone(&Utc))
    }

    /// Ticks in `(after, until]`, oldest first, at most `limit` of the
    /// newest (`more` tells whether older ones were left out).
    pub fn ticks_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> (Vec<DateTime<Utc>>, usize) {
        let mut ticks = std::collections::VecDeque::new();
        let mut left_out = 0;
        let mut cursor = after;
        while let Some(tick) = self.next_after(cursor).filter(|tick| *tick <= until) {
            if ticks.len() == limit {
                ticks.pop_front();
                left_out += 1;
            }
            ticks.push_back(tick);
            cursor = tick;
        }
        (ticks.into(), left_out)
    }
}

/// Why an expression or a zone was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("not a cron expression: {0}")]
    Cron(String),
    #[error("`{0}` is not an IANA time zone name")]
    Zone(String),
}

/// Every time zone name chrono-tz knows, for "did you mean".
pub fn zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("RFC 3339")
            .with_timezone(&Utc)
    }

    fn ticks(expression: &str, zone: &str, after: &str, until: &str) -> Vec<String> {
        let schedule = Schedule::parse(expression, Some(zone)).expect("parses");
        let (ticks, _) = schedule.ticks_between(utc(after), utc(until), 100);
        ticks
            .iter()
            .map(|t| t.with_timezone(&schedule.zone()).to_rfc3339())
            .collect()
    }

    #[test]
    fn a_local_time_skipped_by_spring_forward_fires_once_after_the_gap() {
        // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT; 02:30 never happens.
        assert_eq!(
            ticks(
                "30 2 * * *",
                "America/New_York",
                "2026-03-07T00:00:00Z",
                "2026-03-10T00:00:00Z"
            ),
            [
                "2026-03-07T02:30:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-09T02:30:00-04:00"
            ]
        );
    }

    #[test]
    fn a_local_time_repeated_by_fall_back_fires_once() {
        // New York, 2026-11-01: 01:00–02:00 happens twice (EDT, then EST).
        assert_eq!(
            ticks(
                "30 1 * * *",
                "America/New_York",
                "2026-10-31T12:00:00Z",
                "2026-11-02T12:00:00Z"
            ),
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
        );
    }

    #[test]
    fn ticks_follow_the_grid_in_the_zone() {
        // Weekdays at 03:00 Berlin time, across a weekend.
        assert_eq!(
            ticks(
                "0 3 * * 1-5",
                "Europe/Berlin",
                "2026-11-27T00:00:00Z",
                "2026-12-01T12:00:00Z"
            ),
            [
                "2026-11-27T03:00:00+01:00",
                "2026-11-30T03:00:00+01:00",
                "2026-12-01T03:00:00+01:00"
            ]
        );
        // Aliases.
        let hourly = Schedule::parse("@hourly", None).expect("parses");
        assert_eq!(
            hourly.next_after(utc("2026-01-01T00:10:00Z")),
            Some(utc("2026-01-01T01:00:00Z"))
        );
        // Six fields: seconds first.
        let every_ten = Schedule::parse("*/10 * * * * *", None).expect("parses");
        let from = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 3)
            .single()
            .expect("time");
        assert_eq!(
            every_ten.next_after(from),
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 10).single()
        );
    }

    #[test]
    fn only_the_newest_ticks_are_kept_past_the_limit() {
        let hourly = Schedule::parse("0 * * * *", None).expect("parses");
        let (kept, left_out) =
            hourly.ticks_between(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T05:00:00Z"), 2);
        assert_eq!(
            kept,
            [utc("2026-01-01T04:00:00Z"), utc("2026-01-01T05:00:00Z")]
        );
        assert_eq!(left_out, 3);
    }

    #[test]
    fn bad_expressions_and_zones_are_refused() {
        assert!(matches!(
            Schedule::parse("61 * * * *", None),
            Err(ScheduleError::Cron(_))
        ));
        assert!(matches!(
            Schedule::parse("* * *", None),
            Err(ScheduleError::Cron(_))
        ));
        assert_eq!(
            Schedule::parse("0 3 * * *", Some("Europe/Berlni")).map(|_| ()),
            Err(ScheduleError::Zone("Europe/Berlni".into()))
        );
    }
}
