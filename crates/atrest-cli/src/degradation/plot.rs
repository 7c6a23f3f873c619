//! `degradation.svg`: each provider's latency distribution as an empirical CDF, one panel per
//! operation, on a logarithmic time axis so that medians and tails both show.

use anyhow::{Result, anyhow};
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
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)
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
