//! Cron expressions as Kestra's Schedule trigger reads them: five Unix fields (six with
//! `withSeconds: true`), nicknames such as `@daily`, and `L`, `W` and `#`.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Parses a schedule's cron expression.
pub fn parse(expression: &str, with_seconds: bool) -> Result<Cron, String> {
    // Kestra (cron-utils) knows `@midnight`; croner does not, and it means `@daily`.
    let nickname = expression.trim();
    let expression = if nickname.eq_ignore_ascii_case("@midnight") {
        "@daily"
    } else {
        expression
    };
    let seconds = if with_seconds {
        Seconds::Required
    } else {
        Seconds::Disallowed
    };
    let fields = expression.split_whitespace().count();
    let expected = if with_seconds { 6 } else { 5 };
    if !expression.trim_start().starts_with('@') && fields != expected {
        let hint = if fields == 6 && !with_seconds {
            " (set withSeconds: true for a seconds field)"
        } else {
            ""
        };
        return Err(format!(
            "invalid cron expression '{expression}': expected {expected} fields, found {fields}{hint}"
        ));
    }
    CronParser::builder()
        .seconds(seconds)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
        .map_err(|e| format!("invalid cron expression '{expression}': {e}"))
}

pub fn check(expression: &str, with_seconds: bool) -> Result<(), String> {
    parse(expression, with_seconds).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_kestra_flows_use() {
        for ok in [
            "0 9 1 * *",
            "30 2 * * *",
            "@daily",
            "@hourly",
            "@monthly",
            "@weekly",
            "@yearly",
            "@annually",
            "@midnight",
            "0 9 L * *",
            "0 9 * * 1#2",
            "0 9 15W * *",
            "*/5 * * * MON-FRI",
        ] {
            assert!(check(ok, false).is_ok(), "{ok}: {:?}", check(ok, false));
        }
        assert!(check("0 0 9 1 * *", true).is_ok());
    }

    #[test]
    fn rejects_bad_expressions_with_reasons() {
        assert!(
            check("0 9 1 *", false)
                .unwrap_err()
                .contains("expected 5 fields, found 4")
        );
        assert!(
            check("0 0 9 1 * *", false)
                .unwrap_err()
                .contains("withSeconds")
        );
        assert!(check("61 * * * *", false).is_err());
        assert!(check("* * 32 * *", false).is_err());
        assert!(check("@sometimes", false).is_err());
    }
}
