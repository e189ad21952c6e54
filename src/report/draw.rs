//! How a [`Chart`] is drawn with plotters, on any backend: bars, a histogram with its
//! percentiles marked, the sweep's two-axis plot, and stacked bars of phases; a chart with no
//! data says so. `svg` renders one to a string, `save` writes the files.
//!
//! Text needs a font: the system's cannot be relied on (no fontconfig on CI), so DejaVu Sans is
//! compiled in and registered with plotters' `ab_glyph` renderer before the first chart.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::charts::{Chart, Kind};
use super::latency::{Bin, Percentiles};
use super::sweep::LevelStats;
use crate::error::{Error, Result};
use crate::record::Phase;

const WIDTH: u32 = 900;
const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const BAR_COLOR: RGBColor = RGBColor(31, 119, 180);
const SECOND_COLOR: RGBColor = RGBColor(255, 127, 14);
const MARK_COLORS: [RGBColor; 3] = [
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];
/// dns, connect, tls, ttfb: each phase its own colour, the same in every stacked chart.
const PHASE_COLORS: [RGBColor; 4] = [
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(31, 119, 180),
];

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

/// The size of a chart's image, in pixels.
fn size(chart: &Chart) -> (u32, u32) {
    match &chart.kind {
        Kind::Bars { items, .. } => (WIDTH, (130 + 30 * items.len() as u32).max(300)),
        Kind::Histogram { .. } | Kind::Sweep { .. } | Kind::Stacked { .. } => (WIDTH, 500),
    }
}

/// The chart as an SVG document.
pub fn svg(chart: &Chart) -> Result<String, String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size(chart)).into_drawing_area();
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
            let root = BitMapBackend::new(&path, size(chart)).into_drawing_area();
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
        Kind::Stacked { axis, bars } if !bars.is_empty() => stacked(root, &chart.title, axis, bars),
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

fn stacked<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    axis: &str,
    bars: &[(String, [f64; 4])],
) -> Drawn<DB> {
    let n = bars.len();
    let centers: Vec<u32> = (0..n).map(|i| i as u32 * SLOT + SLOT / 2).collect();
    let label = |v: &u32| {
        bars.get((v / SLOT) as usize)
            .map(|(l, _)| l.clone())
            .unwrap_or_default()
    };
    let tallest = bars
        .iter()
        .map(|(_, phases)| phases.iter().sum::<f64>())
        .fold(0.0, f64::max);
    // Room above the tallest bar for the legend.
    let top = (tallest * 1.35).max(1.0);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((0u32..n as u32 * SLOT).with_key_points(centers), 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(axis)
        .y_desc("milliseconds (median)")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_label_formatter(&label)
        .y_label_formatter(&|ms| format!("{ms:.0}"))
        .draw()?;
    for (p, (phase, color)) in Phase::ALL.into_iter().zip(PHASE_COLORS).enumerate() {
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, phases))| {
                let below: f64 = phases[..p].iter().sum();
                let x = i as u32 * SLOT;
                Rectangle::new(
                    [(x + 2, below), (x + SLOT - 2, below + phases[p])],
                    color.filled(),
                )
            }))?
            .label(phase.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    let style = TextStyle::from((FONT, 13)).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, phases))| {
        let total: f64 = phases.iter().sum();
        EmptyElement::at((i as u32 * SLOT + SLOT / 2, total))
            + Text::new(format!("{total:.0}"), (0, -4), style.clone())
    }))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
