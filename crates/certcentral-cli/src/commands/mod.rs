//! The subcommands. Each has an `Args` struct (clap) and an async `run` returning a
//! [`Report`](crate::Report) or a [`CliError`](crate::CliError).

use std::time::Duration;

pub mod after_issuance;
pub mod lifecycle;
pub mod order;

/// Parses a duration flag, the one parser every `DURATION` flag uses: humantime's grammar
/// (`500ms`, `90s`, `15m`, `1h 30m`, `30d`), a decimal number with one unit (`1.5s`, `1.5m`,
/// `0.5h`, `1.5d`), or a bare number of seconds (`90`, `2.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const HINT: &str = "use e.g. 500ms, 90s, 1.5m, 1h 30m";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("an empty value is not a duration; {HINT}"));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let decimal = |scale: f64| -> Result<Duration, String> {
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a duration; {HINT}"))?;
        Duration::try_from_secs_f64(value * scale)
            .map_err(|_| format!("{text:?} is out of range; {HINT}"))
    };
    if unit.is_empty() {
        return decimal(1.0);
    }
    if number.contains('.') {
        return match unit.trim() {
            "ms" => decimal(0.001),
            "s" | "sec" => decimal(1.0),
            "m" | "min" => decimal(60.0),
            "h" => decimal(3600.0),
            "d" => decimal(86_400.0),
            other => Err(format!(
                "unknown unit {other:?} in {text:?}; with a decimal number use ms, s, m, h or d"
            )),
        };
    }
    humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration ({e}); {HINT}"))
}

/// A duration for people: `1.5s`, `10m`, `1h 5m`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        let ms = d.as_millis();
        if ms.is_multiple_of(1000) {
            format!("{secs}s")
        } else {
            format!("{:.1}s", d.as_secs_f64())
        }
    } else if secs < 3600 {
        if secs.is_multiple_of(60) {
            format!("{}m", secs / 60)
        } else {
            format!("{}m {}s", secs / 60, secs % 60)
        }
    } else if secs >= 86_400 && secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else {
        format!("{}h {}m", secs / 3600, (secs % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            parse_duration("1.5d").unwrap(),
            Duration::from_secs(129_600)
        );
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "soon", "5 fortnights", "1.5 weeks", "-1s", "1..5s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("e.g.") || err.contains("unit"), "{bad}: {err}");
        }
        assert_eq!(human_duration(Duration::from_secs(600)), "10m");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_secs(3900)), "1h 5m");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn durations_round_trip(ms in 0u64..10_000_000, tenths in 0u64..100_000) {
            proptest::prop_assert_eq!(parse_duration(&format!("{ms}ms")), Ok(Duration::from_millis(ms)));
            proptest::prop_assert_eq!(parse_duration(&format!("{ms}")), Ok(Duration::from_secs(ms)));
            let text = format!("{}.{}m", tenths / 10, tenths % 10);
            proptest::prop_assert_eq!(parse_duration(&text), Ok(Duration::from_secs(tenths * 6)));
        }

        #[test]
        fn the_parser_never_panics(text in "\\PC{0,24}") {
            let _ = parse_duration(&text);
        }
    }
}
