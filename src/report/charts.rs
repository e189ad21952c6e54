//! The charts, as data: the article's three plots (status codes, the 4xx/5xx codes alone,
//! exception kinds) plus a latency histogram for `report` (and the median phases by outcome for
//! a `--timings` file), and wall time and URLs/s against concurrency for `sweep`, with the median
//! phases by level. Each chart is data first ([`Chart`]); `draw` draws it on any plotters
//! backend, so SVG can be rendered to a string in tests and the same drawing makes the PNG.

use super::aggregate::Aggregate;
use super::latency::{Bin, Percentiles};
use super::sweep::LevelStats;
use crate::record::PhaseStats;

/// Bars of the latency histogram, at most.
const HISTOGRAM_BINS: u64 = 40;

/// One chart: its file name (without extension) and what it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub name: &'static str,
    pub title: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Horizontal bars, largest first; `axis` names what the labels are.
    Bars {
        axis: &'static str,
        items: Vec<(String, u64)>,
    },
    Histogram {
        bins: Vec<Bin>,
        percentiles: Option<Percentiles>,
    },
    Sweep {
        levels: Vec<LevelStats>,
    },
    /// Vertical bars, each a stack of the four phases (`Phase::ALL` order) in milliseconds;
    /// `axis` names what the bars are.
    Stacked {
        axis: &'static str,
        bars: Vec<(String, [f64; 4])>,
    },
}

/// The four charts of `report`; the median phases by outcome for a `--timings` file, and days
/// left on certificates for a `--details` file.
pub fn report_charts(agg: &Aggregate) -> Vec<Chart> {
    let codes = |items: Vec<(u16, u64)>| items.into_iter().map(|(c, n)| (c.to_string(), n)).collect();
    let kinds = agg
        .exceptions_by_count()
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    let mut charts = vec![
        Chart {
            name: "status-codes",
            title: format!("Status codes of {} URLs", agg.total),
            kind: Kind::Bars {
                axis: "HTTP status code",
                items: codes(agg.statuses_by_count()),
            },
        },
        Chart {
            name: "error-status-codes",
            title: "4xx/5xx status codes".into(),
            kind: Kind::Bars {
                axis: "HTTP status code",
                items: codes(agg.error_statuses_by_count()),
            },
        },
        Chart {
            name: "exceptions",
            title: "Exception kinds (no HTTP answer, or content: a broken expectation)".into(),
            kind: Kind::Bars {
                axis: "exception",
                items: kinds,
            },
        },
        Chart {
            name: "latency",
            title: "Latency of answered URLs".into(),
            kind: Kind::Histogram {
                bins: agg.answered_ms.histogram(HISTOGRAM_BINS),
                percentiles: agg.answered_ms.percentiles(),
            },
        },
    ];
    if agg.has_timings() {
        let groups = agg.outcome_phases.iter().map(|(g, stats)| (g.label(), stats));
        let bars = std::iter::once(("answered", &agg.answered_phases))
            .chain(groups)
            .filter_map(|(label, stats)| Some((label.to_string(), medians(stats)?)))
            .collect();
        charts.push(Chart {
            name: "phases",
            title: "Where the time went: median phases by outcome".into(),
            kind: Kind::Stacked {
                axis: "outcome",
                bars,
            },
        });
    }
    if agg.certs.detailed_rows > 0 {
        // Buckets of uneven width, soonest first: the first month matters, not the next year.
        charts.push(Chart {
            name: "cert-days-left",
            title: format!("Days left on {} certificates", agg.certs.certificates),
            kind: Kind::Bars {
                axis: "days left",
                items: agg.certs.days_left_bars(),
            },
        });
    }
    charts
}

/// The chart of `sweep`: wall time and URLs/s against the concurrency levels.
pub fn sweep_chart(levels: &[LevelStats]) -> Chart {
    Chart {
        name: "sweep",
        title: "Wall time and throughput by concurrency".into(),
        kind: Kind::Sweep {
            levels: levels.to_vec(),
        },
    }
}

/// The chart of a sweep's median phases: one stacked bar per level.
pub fn sweep_phases_chart(levels: &[LevelStats]) -> Chart {
    Chart {
        name: "sweep-phases",
        title: "Where the time went: median phases of answered URLs by concurrency".into(),
        kind: Kind::Stacked {
            axis: "concurrency (checks in flight)",
            bars: levels
                .iter()
                .filter_map(|l| Some((l.level.to_string(), l.phases()?)))
                .collect(),
        },
    }
}

fn medians(stats: &PhaseStats) -> Option<[f64; 4]> {
    Some(stats.medians()?.map(|ms| ms as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, OwnedRow};
    use crate::report::draw::svg;
    use crate::report::sweep::{by_level, RunStats};

    fn aggregate() -> Aggregate {
        let mut agg = Aggregate::default();
        for (status, exception, ms) in [
            (Some(200), None, 120),
            (Some(200), None, 80),
            (Some(404), None, 30),
            (Some(999), None, 10),
            (None, Some(ErrorKind::TooManyRedirects), 400),
        ] {
            agg.add(&OwnedRow::sample(status, exception, ms));
        }
        agg
    }

    /// plotters writes each text on a line of its own inside its `<text>` element.
    fn has_text(svg: &str, text: &str) -> bool {
        svg.contains(&format!(">\n{text}\n</text>"))
    }

    #[test]
    fn report_charts_are_titled_svg_with_their_labels() {
        let charts = report_charts(&aggregate());
        let names: Vec<&str> = charts.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            ["status-codes", "error-status-codes", "exceptions", "latency"]
        );
        let text: Vec<String> = charts.iter().map(|c| svg(c).unwrap()).collect();
        for svg in &text {
            assert!(
                svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
                "{svg}"
            );
        }
        assert!(has_text(&text[0], "Status codes of 5 URLs") && has_text(&text[0], "999"));
        assert!(has_text(&text[0], "HTTP status code") && has_text(&text[0], "URLs"));
        assert!(has_text(&text[1], "4xx/5xx status codes") && has_text(&text[1], "404"));
        assert!(!has_text(&text[1], "200"));
        assert!(has_text(&text[2], "too_many_redirects"));
        assert!(has_text(&text[3], "elapsed_ms (bars of 5 ms)") && has_text(&text[3], "p50 = 30 ms"));
    }

    #[test]
    fn a_details_file_adds_the_days_left_histogram() {
        let mut agg = aggregate();
        agg.add(&OwnedRow::with_cert("a.com", 3, Some("R1")));
        agg.add(&OwnedRow::with_cert("b.com", -40, Some("R1")));
        let charts = report_charts(&agg);
        assert_eq!(charts.len(), 5);
        assert_eq!(charts[4].name, "cert-days-left");
        let text = svg(&charts[4]).unwrap();
        assert!(has_text(&text, "Days left on 2 certificates"), "{text}");
        for label in ["days left", "expired", "0-6", "365+"] {
            assert!(has_text(&text, label), "{label}");
        }
    }

    #[test]
    fn an_empty_chart_says_so() {
        let charts = report_charts(&Aggregate::default());
        let exceptions = svg(&charts[2]).unwrap();
        assert!(has_text(
            &exceptions,
            "Exception kinds (no HTTP answer, or content: a broken expectation)"
        ));
        assert!(has_text(&exceptions, "none in this file"));
        assert!(has_text(&svg(&charts[3]).unwrap(), "none in this file"));
    }

    #[test]
    fn the_sweep_chart_names_both_axes_and_every_level() {
        let run = |level, wall_seconds: f64| RunStats {
            level,
            asked_level: level,
            wall_seconds,
            urls_per_second: 40.0 / wall_seconds,
            successful: 40,
            failed: 0,
            timeouts: 0,
            peak_in_flight: level,
            phases: Some([0, 1, 2, 30]),
        };
        let levels = by_level(&[run(1, 8.0), run(20, 0.5), run(20, 0.6), run(100, 0.3)]);
        let svg = svg(&sweep_chart(&levels)).unwrap();
        for label in [
            "wall time (s)",
            "URLs/s",
            "concurrency (checks in flight)",
            "1",
            "20",
            "100",
        ] {
            assert!(has_text(&svg, label), "{label} in {svg}");
        }
    }

    #[test]
    fn a_timings_file_adds_the_stacked_phases_by_outcome() {
        let mut agg = aggregate();
        agg.add(&OwnedRow::timed("https://a.com", [5, 1, 8, 100], 1));
        agg.add(&OwnedRow::timed("https://b.com", [7, 2, 9, 300], 1));
        let charts = report_charts(&agg);
        assert_eq!(charts.len(), 5);
        assert_eq!(charts[4].name, "phases");
        let Kind::Stacked { bars, .. } = &charts[4].kind else {
            panic!("{:?}", charts[4])
        };
        assert_eq!(bars[0], ("answered".to_string(), [5.0, 1.0, 8.0, 100.0]));
        assert_eq!(bars[1].0, "successful");
        let text = svg(&charts[4]).unwrap();
        for label in [
            "outcome",
            "answered",
            "successful",
            "dns",
            "connect",
            "tls",
            "ttfb",
            "milliseconds (median)",
        ] {
            assert!(has_text(&text, label), "{label} in {text}");
        }
    }

    #[test]
    fn the_sweep_phases_chart_has_a_bar_per_level() {
        let run = |level| RunStats {
            level,
            asked_level: level,
            wall_seconds: 1.0,
            urls_per_second: 40.0,
            successful: 40,
            failed: 0,
            timeouts: 0,
            peak_in_flight: level,
            phases: Some([level, 1, 2, 30]),
        };
        let chart = sweep_phases_chart(&by_level(&[run(10), run(100)]));
        let Kind::Stacked { bars, axis } = &chart.kind else {
            panic!("{chart:?}")
        };
        assert_eq!(*axis, "concurrency (checks in flight)");
        assert_eq!(bars[1], ("100".to_string(), [100.0, 1.0, 2.0, 30.0]));
        let text = svg(&chart).unwrap();
        assert!(has_text(&text, "10") && has_text(&text, "ttfb"), "{text}");
        let none = sweep_phases_chart(&[]);
        assert!(has_text(&svg(&none).unwrap(), "none in this file"));
    }
}
