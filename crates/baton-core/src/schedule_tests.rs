use chrono::{DateTime, Utc};
use serde_json::json;

use super::CronSchedule;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn schedule(cron: &str, zone: Option<&str>) -> CronSchedule {
    CronSchedule::new(cron, false, zone).unwrap_or_else(|e| panic!("{cron}: {e}"))
}

/// The next `count` fire dates strictly after `from`, formatted in the schedule's zone.
#[track_caller]
fn check(schedule: &CronSchedule, from: &str, expected: &[&str]) {
    let mut cursor = at(from);
    let mut found = Vec::new();
    for _ in expected {
        cursor = schedule.next_after(cursor).expect("a next fire date");
        found.push(schedule.format(cursor));
    }
    assert_eq!(found, expected);
}

#[test]
fn monthly_schedules_fire_on_the_first_in_their_zone() {
    let green = schedule("0 9 1 * *", Some("America/New_York"));
    check(
        &green,
        "2021-01-15T00:00:00Z",
        &[
            "2021-02-01T09:00:00-05:00",
            "2021-03-01T09:00:00-05:00",
            // Daylight saving time started on March 14th: the offset changes, 09:00 stays.
            "2021-04-01T09:00:00-04:00",
        ],
    );
    let yellow = schedule("0 10 1 * *", None);
    check(
        &yellow,
        "2021-01-01T10:00:00Z",
        &["2021-02-01T10:00:00Z", "2021-03-01T10:00:00Z"],
    );
}

#[test]
fn spring_forward_fires_a_fixed_time_in_the_gap_once_right_after_it() {
    // Europe/Paris skips from 02:00 CET to 03:00 CEST on 2021-03-28.
    let nightly = schedule("30 2 * * *", Some("Europe/Paris"));
    check(
        &nightly,
        "2021-03-26T12:00:00Z",
        &[
            "2021-03-27T02:30:00+01:00",
            "2021-03-28T03:00:00+02:00",
            "2021-03-29T02:30:00+02:00",
        ],
    );
    // Hourly patterns keep firing every real hour; 02:00 does not exist that night.
    let hourly = schedule("0 * * * *", Some("Europe/Paris"));
    check(
        &hourly,
        "2021-03-28T00:30:00+01:00",
        &["2021-03-28T01:00:00+01:00", "2021-03-28T03:00:00+02:00"],
    );
}

#[test]
fn fall_back_fires_a_fixed_time_once_and_hourly_patterns_every_real_hour() {
    // Europe/Paris repeats 02:00–03:00 on 2021-10-31 (CEST, then CET).
    let nightly = schedule("30 2 * * *", Some("Europe/Paris"));
    check(
        &nightly,
        "2021-10-30T12:00:00Z",
        &["2021-10-31T02:30:00+02:00", "2021-11-01T02:30:00+01:00"],
    );
    let hourly = schedule("0 * * * *", Some("Europe/Paris"));
    check(
        &hourly,
        "2021-10-31T01:30:00+02:00",
        &[
            "2021-10-31T02:00:00+02:00",
            "2021-10-31T02:00:00+01:00",
            "2021-10-31T03:00:00+01:00",
        ],
    );
}

#[test]
fn last_day_nearest_weekday_and_nth_weekday() {
    let last_day = schedule("0 9 L * *", None);
    check(
        &last_day,
        "2021-02-10T00:00:00Z",
        &["2021-02-28T09:00:00Z", "2021-03-31T09:00:00Z"],
    );
    check(&last_day, "2024-02-10T00:00:00Z", &["2024-02-29T09:00:00Z"]);
    // The 15th of May 2021 is a Saturday, of August a Sunday.
    let weekday = schedule("0 9 15W * *", None);
    check(&weekday, "2021-05-01T00:00:00Z", &["2021-05-14T09:00:00Z"]);
    check(&weekday, "2021-08-01T00:00:00Z", &["2021-08-16T09:00:00Z"]);
    let second_monday = schedule("0 9 * * 1#2", None);
    check(
        &second_monday,
        "2021-03-01T10:00:00Z",
        &["2021-03-08T09:00:00Z", "2021-04-12T09:00:00Z"],
    );
    let last_friday = schedule("0 9 * * 5#L", None);
    check(
        &last_friday,
        "2021-03-01T00:00:00Z",
        &["2021-03-26T09:00:00Z"],
    );
}

#[test]
fn nicknames_and_seconds() {
    check(
        &schedule("@hourly", None),
        "2021-01-01T00:30:00Z",
        &["2021-01-01T01:00:00Z"],
    );
    check(
        &schedule("@weekly", None),
        "2021-01-01T00:00:00Z",
        &["2021-01-03T00:00:00Z"],
    );
    check(
        &schedule("@yearly", None),
        "2021-06-01T00:00:00Z",
        &["2022-01-01T00:00:00Z"],
    );
    check(
        &schedule("@midnight", Some("Asia/Tokyo")),
        "2021-06-01T00:00:00Z",
        &["2021-06-02T00:00:00+09:00"],
    );
    let every_ten_seconds = CronSchedule::new("*/10 * * * * *", true, None).unwrap();
    check(
        &every_ten_seconds,
        "2021-01-01T00:00:05.5Z",
        &["2021-01-01T00:00:10Z", "2021-01-01T00:00:20Z"],
    );
}

#[test]
fn bounds_are_exact_around_fire_dates_and_fractions() {
    let minutely = schedule("* * * * *", None);
    let nine = at("2021-01-01T09:00:00Z");
    assert_eq!(minutely.next_from(nine), Some(nine));
    assert_eq!(minutely.next_after(nine), Some(at("2021-01-01T09:01:00Z")));
    assert_eq!(
        minutely.next_from(at("2021-01-01T09:00:00.001Z")),
        Some(at("2021-01-01T09:01:00Z"))
    );
    assert_eq!(
        minutely.previous_before(nine),
        Some(at("2021-01-01T08:59:00Z"))
    );
    assert_eq!(
        minutely.previous_before(at("2021-01-01T09:00:00.001Z")),
        Some(nine)
    );
    assert_eq!(minutely.previous_at_or_before(nine), Some(nine));
}

#[test]
fn variables_name_the_fire_date_and_its_neighbours_in_the_zone() {
    let paris = schedule("0 9 1 * *", Some("Europe/Paris"));
    assert_eq!(
        paris.variables(at("2021-03-01T08:00:00Z")),
        json!({
            "date": "2021-03-01T09:00:00+01:00",
            "next": "2021-04-01T09:00:00+02:00",
            "previous": "2021-02-01T09:00:00+01:00",
        })
    );
}

#[test]
fn dates_between_is_inclusive_and_bounded() {
    let monthly = schedule("0 9 1 * *", None);
    let dates = monthly
        .dates_between(at("2021-01-01T00:00:00Z"), at("2021-07-31T23:59:59Z"), 100)
        .unwrap();
    assert_eq!(dates.len(), 7);
    assert_eq!(dates[0], at("2021-01-01T09:00:00Z"));
    assert_eq!(dates[6], at("2021-07-01T09:00:00Z"));
    let exact = monthly
        .dates_between(at("2021-01-01T09:00:00Z"), at("2021-02-01T09:00:00Z"), 100)
        .unwrap();
    assert_eq!(exact.len(), 2);
    assert_eq!(
        schedule("* * * * *", None).dates_between(
            at("2021-01-01T00:00:00Z"),
            at("2021-01-02T00:00:00Z"),
            100
        ),
        Err(100)
    );
}

#[test]
fn bad_zones_and_expressions_say_why() {
    let zone = CronSchedule::new("0 9 * * *", false, Some("Mars/Olympus")).unwrap_err();
    assert!(zone.contains("unknown time zone 'Mars/Olympus'"), "{zone}");
    let cron = CronSchedule::new("0 9 *", false, None).unwrap_err();
    assert!(cron.contains("expected 5 fields"), "{cron}");
}
