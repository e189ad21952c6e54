//! The numbers of a sweep: one run of the same check per concurrency level (R runs each with
//! `--repeat`), folded into one line per level with the median wall time and its spread, the
//! speed-up over the slowest level, which is the article's point: 1,000 threads took 3 min 36 s
//! where 100 took 11 min 27 s, and only measuring tells where the gain stops; and the median of
//! each phase of the answered URLs, which tells why. Pure: the table and `sweep.csv` are strings;
//! the command prints and writes them.

use serde::Serialize;

use super::terminal::table;
use crate::check::summary::Summary;
use crate::record::ErrorKind;

/// One run of the check at one level.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    /// The concurrency the run had: `asked_level`, or less when the open-files limit could not
    /// fit that. Rows and charts show this one, so a lowered level is never plotted as asked.
    pub level: u64,
    pub asked_level: u64,
    pub wall_seconds: f64,
    pub urls_per_second: f64,
    pub successful: u64,
    pub failed: u64,
    pub timeouts: u64,
    pub peak_in_flight: u64,
    /// The median of each phase over the run's answered URLs (`Phase::ALL` order), in ms.
    pub phases: Option<[u64; 4]>,
}

impl RunStats {
    pub fn new(asked_level: u64, summary: &Summary) -> Self {
        RunStats {
            level: summary.concurrency as u64,
            asked_level,
            wall_seconds: summary.wall_seconds,
            urls_per_second: summary.urls_per_second,
            successful: summary.successful,
            failed: summary.failed,
            timeouts: summary
                .by_exception
                .get(&ErrorKind::Timeout)
                .copied()
                .unwrap_or(0),
            peak_in_flight: summary.peak_in_flight,
            phases: summary.timings.map(|t| t.ms()),
        }
    }
}

/// One level, over its runs: a line of the table and of `sweep.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelStats {
    pub level: u64,
    pub runs: usize,
    /// The median wall time over the runs (the mean of the middle two for an even count).
    pub wall_seconds: f64,
    pub wall_seconds_min: f64,
    pub wall_seconds_max: f64,
    /// The median throughput over the runs.
    pub urls_per_second: f64,
    /// The counts are those of the median run (by wall time; the lower middle for an even count).
    pub successful: u64,
    pub failed: u64,
    pub timeouts: u64,
    pub peak_in_flight: u64,
    /// The slowest level's median wall time over this level's.
    pub speed_up: f64,
    /// The level the sweep asked for; `level` is what ran (the median run's).
    pub asked_level: u64,
    /// The median over the runs of each run's median phase of answered URLs, in ms; empty
    /// when no run had an answer.
    pub dns_ms: Option<f64>,
    pub connect_ms: Option<f64>,
    pub tls_ms: Option<f64>,
    pub ttfb_ms: Option<f64>,
}

impl LevelStats {
    /// The median phases, in `Phase::ALL` order.
    pub fn phases(&self) -> Option<[f64; 4]> {
        Some([self.dns_ms?, self.connect_ms?, self.tls_ms?, self.ttfb_ms?])
    }
}

/// Group runs by the level asked (ascending) and summarise each.
pub fn by_level(runs: &[RunStats]) -> Vec<LevelStats> {
    let mut levels: Vec<u64> = runs.iter().map(|r| r.asked_level).collect();
    levels.sort_unstable();
    levels.dedup();
    let mut out: Vec<LevelStats> = levels
        .into_iter()
        .map(|asked_level| {
            let mut these: Vec<&RunStats> = runs.iter().filter(|r| r.asked_level == asked_level).collect();
            these.sort_by(|a, b| a.wall_seconds.total_cmp(&b.wall_seconds));
            let walls: Vec<f64> = these.iter().map(|r| r.wall_seconds).collect();
            let rates: Vec<f64> = these.iter().map(|r| r.urls_per_second).collect();
            let typical = these[(these.len() - 1) / 2];
            let timed: Vec<[u64; 4]> = these.iter().filter_map(|r| r.phases).collect();
            let phase = |i: usize| {
                let values: Vec<f64> = timed.iter().map(|p| p[i] as f64).collect();
                (!values.is_empty()).then(|| median(&values))
            };
            LevelStats {
                level: typical.level,
                asked_level,
                runs: these.len(),
                wall_seconds: median(&walls),
                wall_seconds_min: walls[0],
                wall_seconds_max: walls[walls.len() - 1],
                urls_per_second: median(&rates),
                successful: typical.successful,
                failed: typical.failed,
                timeouts: typical.timeouts,
                peak_in_flight: typical.peak_in_flight,
                speed_up: 1.0,
                dns_ms: phase(0),
                connect_ms: phase(1),
                tls_ms: phase(2),
                ttfb_ms: phase(3),
            }
        })
        .collect();
    let slowest = out.iter().map(|l| l.wall_seconds).fold(0.0, f64::max);
    for level in &mut out {
        if level.wall_seconds > 0.0 {
            level.speed_up = slowest / level.wall_seconds;
        }
    }
    out
}

/// The median of a non-empty list of values.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// The table `sweep` prints: one line per level, columns right-aligned.
pub fn render_table(levels: &[LevelStats]) -> String {
    let repeated = levels.iter().any(|l| l.runs > 1);
    let wall_header = if repeated {
        "wall time (median, min-max)"
    } else {
        "wall time"
    };
    let mut rows: Vec<Vec<String>> = vec![[
        "level",
        wall_header,
        "URLs/s",
        "successful",
        "failed",
        "timeouts",
        "peak in-flight",
        "speed-up",
        "dns ms",
        "connect ms",
        "tls ms",
        "ttfb ms",
    ]
    .map(String::from)
    .to_vec()];
    for l in levels {
        let wall = if repeated {
            format!(
                "{:.2} s ({:.2}-{:.2})",
                l.wall_seconds, l.wall_seconds_min, l.wall_seconds_max
            )
        } else {
            format!("{:.2} s", l.wall_seconds)
        };
        let level = match l.level {
            ran if ran != l.asked_level => format!("{ran} (asked {})", l.asked_level),
            ran => ran.to_string(),
        };
        rows.push(vec![
            level,
            wall,
            format!("{:.1}", l.urls_per_second),
            l.successful.to_string(),
            l.failed.to_string(),
            l.timeouts.to_string(),
            l.peak_in_flight.to_string(),
            format!("{:.2}x", l.speed_up),
        ]);
        let phases = l.phases();
        rows.last_mut()
            .expect("just pushed")
            .extend((0..4).map(|i| phases.map_or("-".into(), |p| format!("{:.0}", p[i]))));
    }
    table(&rows, "", |_| false)
}

/// `sweep.csv`: the fields of [`LevelStats`] with a header, one line per level.
pub fn to_csv(levels: &[LevelStats]) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for level in levels {
        writer.serialize(level)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8(bytes).expect("csv of numbers is UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(level: u64, wall_seconds: f64, successful: u64) -> RunStats {
        RunStats {
            level,
            asked_level: level,
            wall_seconds,
            urls_per_second: 40.0 / wall_seconds,
            successful,
            failed: 40 - successful,
            timeouts: 40 - successful,
            peak_in_flight: level,
            phases: Some([0, 1, 4, 150]),
        }
    }

    #[test]
    fn levels_get_the_median_spread_and_speed_up() {
        let runs = [
            run(20, 0.5, 40),
            run(1, 8.0, 40),
            run(20, 0.4, 39),
            run(20, 1.0, 38),
            run(1, 10.0, 40),
        ];
        let levels = by_level(&runs);
        assert_eq!(levels.len(), 2);
        let (one, twenty) = (&levels[0], &levels[1]);
        assert_eq!((one.level, one.runs, one.wall_seconds), (1, 2, 9.0));
        assert_eq!(
            (one.wall_seconds_min, one.wall_seconds_max, one.speed_up),
            (8.0, 10.0, 1.0)
        );
        assert_eq!((one.urls_per_second, one.successful), (4.5, 40));
        assert_eq!((twenty.level, twenty.runs, twenty.wall_seconds), (20, 3, 0.5));
        assert_eq!((twenty.wall_seconds_min, twenty.wall_seconds_max), (0.4, 1.0));
        assert_eq!((twenty.successful, twenty.timeouts), (40, 0)); // the 0.5 s run's
        assert_eq!(twenty.speed_up, 18.0);
        assert_eq!(twenty.urls_per_second, 80.0);
    }

    #[test]
    fn the_table_aligns_columns_and_shows_the_spread_only_when_repeated() {
        let once = by_level(&[run(1, 8.0, 40), run(20, 0.5, 40)]);
        assert_eq!(
            render_table(&once),
            "\
level  wall time  URLs/s  successful  failed  timeouts  peak in-flight  speed-up  dns ms  connect ms  tls ms  ttfb ms
    1     8.00 s     5.0          40       0         0               1     1.00x       0           1       4      150
   20     0.50 s    80.0          40       0         0              20    16.00x       0           1       4      150
"
        );
        let twice = by_level(&[run(1, 8.0, 40), run(1, 9.0, 40)]);
        assert_eq!(
            render_table(&twice),
            "\
level  wall time (median, min-max)  URLs/s  successful  failed  timeouts  peak in-flight  speed-up  dns ms  connect ms  tls ms  ttfb ms
    1           8.50 s (8.00-9.00)     4.7          40       0         0               1     1.00x       0           1       4      150
"
        );
    }

    #[test]
    fn the_csv_has_a_header_and_one_line_per_level() {
        let csv = to_csv(&by_level(&[run(1, 8.0, 40), run(20, 0.5, 40)])).unwrap();
        assert_eq!(
            csv,
            "\
level,runs,wall_seconds,wall_seconds_min,wall_seconds_max,urls_per_second,successful,failed,timeouts,peak_in_flight,speed_up,asked_level,dns_ms,connect_ms,tls_ms,ttfb_ms
1,1,8.0,8.0,8.0,5.0,40,0,0,1,1.0,1,0.0,1.0,4.0,150.0
20,1,0.5,0.5,0.5,80.0,40,0,0,20,16.0,20,0.0,1.0,4.0,150.0
"
        );
    }

    #[test]
    fn a_lowered_level_is_labelled_with_what_ran() {
        let lowered = RunStats {
            level: 76,
            asked_level: 5000,
            ..run(5000, 2.0, 40)
        };
        let levels = by_level(&[run(10, 4.0, 40), lowered]);
        assert_eq!((levels[1].level, levels[1].asked_level), (76, 5000));
        let table = render_table(&levels);
        assert!(table.contains("76 (asked 5000)"), "{table}");
        assert!(to_csv(&levels).unwrap().contains("\n76,1,2.0,"));
    }

    #[test]
    fn each_phase_is_the_median_of_the_runs_medians() {
        let with = |wall, phases| RunStats {
            phases,
            ..run(100, wall, 40)
        };
        let levels = by_level(&[
            with(1.0, Some([10, 2, 30, 400])),
            with(2.0, Some([20, 4, 10, 200])),
            with(3.0, None),
            run(10, 5.0, 40),
            with(4.0, Some([60, 0, 20, 300])),
        ]);
        assert_eq!(levels[1].phases(), Some([20.0, 2.0, 20.0, 300.0]));
        let untimed = by_level(&[RunStats {
            phases: None,
            ..run(5, 1.0, 0)
        }]);
        assert_eq!(untimed[0].phases(), None);
        let table = render_table(&untimed);
        let last: Vec<&str> = table
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .rev()
            .take(4)
            .collect();
        assert_eq!(last, ["-"; 4], "{table}");
        assert!(to_csv(&untimed).unwrap().ends_with(",5,,,,\n"));
    }
}
