//! The charts as image files, drawn with plotters: the article's three plots (status codes, the
//! 4xx/5xx codes alone, exception kinds) plus a latency histogram for `report`, and wall time and
//! URLs/s against concurrency for `sweep`. Each chart is data first ([`Chart`]), drawn by one
//! generic function on any plotters backend, so SVG can be rendered to a string in tests and the
//! same drawing makes the PNG.
//!
//! Text needs a font: the system's cannot be relied on (no fontconfig on CI), so DejaVu Sans is
//! compiled in and registered with plotters' `ab_glyph` renderer before the first chart.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::aggregate::{Aggregate, Bin, Percentiles};
use super::sweep::LevelStats;
use crate::error::{Error, Result};

const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const WIDTH: u32 = 900;
const BAR_COLOR: RGBColor = RGBColor(31, 119, 180);
const SECOND_COLOR: RGBColor = RGBColor(255, 127, 14);
const MARK_COLORS: [RGBColor; 3] = [
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];
/// Bars of the latency histogram, at most.
const HISTOGRAM_BINS: u64 = 40;

/// The image format of a chart file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Svg,
    Png,
}

impl ImageFormat {
    fn extension(self) -> &'static str {
        match self {
            ImageFormat::Svg => "svg",
            ImageFormat::Png => "png",
        }
    }
}

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
}

/// The four charts of `report`, and a fifth, days left on certificates, for a `--details` file.
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
            title: "Exception kinds (no HTTP answer)".into(),
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

impl Chart {
    fn size(&self) -> (u32, u32) {
        match &self.kind {
            Kind::Bars { items, .. } => (WIDTH, (130 + 30 * items.len() as u32).max(300)),
            Kind::Histogram { .. } | Kind::Sweep { .. } => (WIDTH, 500),
        }
    }
}

/// The chart as an SVG document.
pub fn svg(chart: &Chart) -> Result<String, String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, chart.size()).into_drawing_area();
        draw(chart, &root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Write `chart` into `dir` as `<name>.svg` or `<name>.png`; the only function here doing I/O.
pub fn save(chart: &Chart, dir: &Path, format: ImageFormat) -> Result<PathBuf> {
    let path = dir.join(format!("{}.{}", chart.name, format.extension()));
    let failed = |message: String| Error::Output {
        path: path.clone(),
        source: std::io::Error::other(message),
    };
    std::fs::create_dir_all(dir).map_err(|source| Error::Output {
        path: dir.to_path_buf(),
        source,
    })?;
    match format {
        ImageFormat::Svg => {
            let text = svg(chart).map_err(failed)?;
            std::fs::write(&path, text).map_err(|source| Error::Output {
                path: path.clone(),
                source,
            })?;
        }
        ImageFormat::Png => {
            register_font();
            let root = BitMapBackend::new(&path, chart.size()).into_drawing_area();
            draw(chart, &root).map_err(|e| failed(e.to_string()))?;
            root.present().map_err(|e| failed(e.to_string()))?;
        }
    }
    Ok(path)
}

fn register_font() {
    static FONT_REGISTERED: Once = Once::new();
    FONT_REGISTERED.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)
            .unwrap_or_else(|_| panic!("the bundled DejaVu Sans is a valid font"));
    });
}

type Drawn<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(chart: &Chart, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
    root.fill(&WHITE)?;
    match &chart.kind {
        Kind::Bars { axis, items } if !items.is_empty() => bars(root, &chart.title, axis, items),
        Kind::Histogram { bins, percentiles } if !bins.is_empty() => {
            histogram(root, &chart.title, bins, percentiles.as_ref())
        }
        Kind::Sweep { levels } if !levels.is_empty() => sweep(root, &chart.title, levels),
        _ => nothing(root, &chart.title),
    }
}

/// A titled chart with nothing to show says so instead of drawing empty axes.
fn nothing<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str) -> Drawn<DB> {
    let area = root.titled(title, (FONT, 26))?;
    let (w, h) = area.dim_in_pixel();
    let style = TextStyle::from((FONT, 20)).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text("none in this file", &style, (w as i32 / 2, h as i32 / 2))
}

/// Categories are `SLOT` units apart on their axis (integers, whose ticks plotters can label
/// with our own formatter); the first one named at the far end.
const SLOT: u32 = 10;

/// The start of category `i` of `n` on a vertical axis, counted from the top.
fn row_of(i: usize, n: usize) -> u32 {
    (n - 1 - i) as u32 * SLOT
}

fn bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    axis: &str,
    items: &[(String, u64)],
) -> Drawn<DB> {
    let n = items.len();
    let largest = items.iter().map(|&(_, c)| c).max().unwrap_or(0);
    let longest = items.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let centers: Vec<u32> = (0..n).map(|i| row_of(i, n) + SLOT / 2).collect();
    let label = |y: &u32| {
        let from_top = n.saturating_sub(1 + (y / SLOT) as usize);
        items.get(from_top).map(|(l, _)| l.clone()).unwrap_or_default()
    };
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 26))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(40 + 9 * longest as u32)
        .build_cartesian_2d(
            0u64..(largest + largest / 6).max(1),
            (0u32..n as u32 * SLOT).with_key_points(centers),
        )?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("URLs")
        .y_desc(axis)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .y_label_formatter(&label)
        .draw()?;
    chart.draw_series(items.iter().enumerate().map(|(i, &(_, count))| {
        let row = row_of(i, n);
        Rectangle::new([(0, row + 2), (count, row + SLOT - 2)], BAR_COLOR.filled())
    }))?;
    let style = TextStyle::from((FONT, 13)).pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series(items.iter().enumerate().map(|(i, &(_, count))| {
        EmptyElement::at((count, row_of(i, n) + SLOT / 2))
            + Text::new(count.to_string(), (4, 0), style.clone())
    }))?;
    Ok(())
}

fn histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    bins: &[Bin],
    percentiles: Option<&Percentiles>,
) -> Drawn<DB> {
    let end = bins.last().map_or(1, |b| b.to_ms);
    let width = bins.first().map_or(1, |b| b.to_ms - b.from_ms);
    let tallest = bins.iter().map(|b| b.count).max().unwrap_or(0);
    let top = (tallest + tallest / 8).max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 26))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0u64..end, 0u64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(format!("elapsed_ms (bars of {width} ms)"))
        .y_desc("URLs")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    chart.draw_series(bins.iter().map(|b| {
        let mut bar = Rectangle::new([(b.from_ms, 0), (b.to_ms, b.count)], BAR_COLOR.filled());
        bar.set_margin(0, 0, 1, 1);
        bar
    }))?;
    if let Some(p) = percentiles {
        for ((name, ms), color) in [("p50", p.p50), ("p90", p.p90), ("p99", p.p99)]
            .into_iter()
            .zip(MARK_COLORS)
        {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(ms, 0), (ms, top)],
                    color.stroke_width(2),
                )))?
                .label(format!("{name} = {ms} ms"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    Ok(())
}

fn sweep<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, levels: &[LevelStats]) -> Drawn<DB> {
    let n = levels.len();
    let x = |i: usize| i as u32 * SLOT + SLOT / 2;
    let centers: Vec<u32> = (0..n).map(x).collect();
    let label = |v: &u32| {
        levels
            .get((v / SLOT) as usize)
            .map(|l| l.level.to_string())
            .unwrap_or_default()
    };
    let wall_top = levels
        .iter()
        .map(|l| l.wall_seconds_max)
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.15;
    let rate_top = levels
        .iter()
        .map(|l| l.urls_per_second)
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.15;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 26))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d(
            (0u32..n as u32 * SLOT).with_key_points(centers.clone()),
            0f64..wall_top,
        )?
        .set_secondary_coord((0u32..n as u32 * SLOT).with_key_points(centers), 0f64..rate_top);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("concurrency (checks in flight)")
        .y_desc("wall time (s)")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_label_formatter(&label)
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("URLs/s")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    let walls: Vec<(u32, f64)> = levels
        .iter()
        .enumerate()
        .map(|(i, l)| (x(i), l.wall_seconds))
        .collect();
    chart
        .draw_series(std::iter::once(PathElement::new(
            walls.clone(),
            BAR_COLOR.stroke_width(2),
        )))?
        .label("wall time (s, median)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BAR_COLOR.stroke_width(2)));
    chart.draw_series(walls.iter().map(|&p| Circle::new(p, 4, BAR_COLOR.filled())))?;
    // The spread of repeated runs: a vertical line from the fastest to the slowest.
    chart.draw_series(
        levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.runs > 1)
            .map(|(i, l)| {
                PathElement::new(
                    vec![(x(i), l.wall_seconds_min), (x(i), l.wall_seconds_max)],
                    BAR_COLOR.stroke_width(1),
                )
            }),
    )?;
    let rates: Vec<(u32, f64)> = levels
        .iter()
        .enumerate()
        .map(|(i, l)| (x(i), l.urls_per_second))
        .collect();
    chart
        .draw_secondary_series(std::iter::once(PathElement::new(
            rates.clone(),
            SECOND_COLOR.stroke_width(2),
        )))?
        .label("URLs/s (median)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], SECOND_COLOR.stroke_width(2)));
    chart.draw_secondary_series(rates.iter().map(|&p| Circle::new(p, 4, SECOND_COLOR.filled())))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperMiddle)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, OwnedRow};
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
        assert!(has_text(&exceptions, "Exception kinds (no HTTP answer)"));
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
}
