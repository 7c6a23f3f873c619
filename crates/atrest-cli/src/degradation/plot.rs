//! `degradation.svg`: each provider's latency distribution as an empirical CDF, one panel per
//! operation, on a logarithmic time axis so that medians and tails both show.

use anyhow::{Result, anyhow};
use plotters::coord::combinators::BindKeyPoints as _;
use plotters::prelude::*;

/// One provider's samples, in milliseconds.
pub(crate) struct Series<'a> {
    /// Provider name (the legend).
    pub(crate) name: &'a str,
    /// Line colour.
    pub(crate) color: RGBColor,
    /// Create latencies.
    pub(crate) create: &'a [f64],
    /// Get latencies.
    pub(crate) get: &'a [f64],
}

const SIZE: (u32, u32) = (1200, 560);

/// Renders the plot as an SVG document.
pub(crate) fn render(title: &str, series: &[Series<'_>]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(plot_error)?;
        // The legend gets its own strip: inside a panel it would hide some curve's tail.
        let (legend, body) = root.split_vertically(30);
        for (i, s) in series.iter().enumerate() {
            let x = 80 + 160 * i as i32;
            let style = s.color.stroke_width(3);
            legend
                .draw(&PathElement::new(vec![(x, 15), (x + 24, 15)], style))
                .map_err(plot_error)?;
            legend
                .draw(&Text::new(s.name, (x + 30, 8), ("sans-serif", 14).into_font()))
                .map_err(plot_error)?;
        }
        let panels = body.split_evenly((1, 2));
        for (panel, (op, create)) in
            panels.iter().zip([("create (POST)", true), ("get (GET)", false)])
        {
            panel_cdf(panel, op, series, create)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn panel_cdf<'a>(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    op: &str,
    series: &[Series<'a>],
    create: bool,
) -> Result<()> {
    let pick = |s: &Series<'a>| if create { s.create } else { s.get };
    let values = series.iter().flat_map(|s| pick(s).iter().copied()).filter(|v| *v > 0.0);
    let (lo, hi) = values.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // A log axis needs a positive, non-empty range.
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo * 0.9, hi * 1.1) } else { (0.001, 1.0) };
    let mut chart = ChartBuilder::on(area)
        .caption(op, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        // plotters' log axis labels powers of ten only: a range inside one decade (creates at
        // 2–8 ms) got no label at all. Our own ticks label every panel.
        .build_cartesian_2d((lo..hi).log_scale().with_key_points(log_ticks(lo, hi)), 0.0..1.0)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_labels(12)
        .x_label_formatter(&|v| tick(*v))
        .light_line_style(BLACK.mix(0.04))
        .x_desc("latency (ms, log scale)")
        .y_desc("fraction of requests at or below")
        .draw()
        .map_err(plot_error)?;
    // The median line: where each curve crosses it is that provider's p50.
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(lo, 0.5), (hi, 0.5)],
            BLACK.mix(0.3).stroke_width(1),
        )))
        .map_err(plot_error)?;
    for s in series {
        let mut sorted: Vec<f64> = pick(s).iter().copied().filter(|v| *v > 0.0).collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mut points = Vec::with_capacity(2 * sorted.len());
        for (i, &x) in sorted.iter().enumerate() {
            points.push((x, i as f64 / n));
            points.push((x, (i + 1) as f64 / n));
        }
        chart
            .draw_series(std::iter::once(PathElement::new(points, s.color.stroke_width(2))))
            .map_err(plot_error)?;
    }
    Ok(())
}

/// Tick values for a log axis over `[lo, hi]`: 1-2-5 per decade, or every 1..9 multiple when
/// that gives fewer than three (a range inside one decade).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let within = |steps: &[f64]| -> Vec<f64> {
        let mut ticks = Vec::new();
        let mut decade = 10f64.powf(lo.log10().floor());
        while decade <= hi {
            for m in steps {
                let v = m * decade;
                if v >= lo && v <= hi {
                    ticks.push(v);
                }
            }
            decade *= 10.0;
        }
        ticks
    };
    let ticks = within(&[1.0, 2.0, 5.0]);
    if ticks.len() >= 3 { ticks } else { within(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]) }
}

/// A tick label with as many decimals as its magnitude needs (no `0.30000000000000004`).
fn tick(v: f64) -> String {
    let decimals = if v >= 10.0 {
        0
    } else if v >= 1.0 {
        1
    } else if v >= 0.1 {
        2
    } else {
        3
    };
    format!("{v:.decimals$}")
}

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing degradation.svg: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The x-axis labels of `svg`: numeric `<text>` contents.
    fn labels(svg: &str) -> Vec<String> {
        svg.split("<text")
            .filter_map(|t| t.split_once('>').and_then(|(_, rest)| rest.split_once("</text>")))
            .map(|(text, _)| text.trim().to_owned())
            .filter(|t| !t.is_empty() && t.parse::<f64>().is_ok())
            .collect()
    }

    #[test]
    fn both_panels_get_tick_labels_even_inside_one_decade() {
        // Creates between 2 and 8 ms (no power of ten inside), gets below 1 ms.
        let create: Vec<f64> = (0..50).map(|i| 2.1 + f64::from(i) * 0.12).collect();
        let get: Vec<f64> = (0..50).map(|i| 0.31 + f64::from(i) * 0.012).collect();
        let series = [Series { name: "identity", color: BLUE, create: &create, get: &get }];
        let svg = render("t", &series).unwrap();
        let labels = labels(&svg);
        for want in ["3.0", "5.0", "7.0", "0.40", "0.60"] {
            assert!(labels.iter().any(|l| l == want), "no {want} in {labels:?}");
        }
    }

    #[test]
    fn ticks_are_1_2_5_across_decades_and_finer_inside_one() {
        assert_eq!(log_ticks(0.15, 30.0), [0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]);
        let inside = log_ticks(2.1, 7.9);
        assert_eq!(inside.len(), 5, "{inside:?}");
        assert!((inside[0] - 3.0).abs() < 1e-9 && (inside[4] - 7.0).abs() < 1e-9, "{inside:?}");
    }
}
