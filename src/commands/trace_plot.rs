//! SVG plots for the trace tools (plotters, SVG backend, text measured with
//! the bundled font of `crate::plot`): the miss-ratio curve of `trace cache --plot`, and the
//! arrival rate over time and the key popularity curve of
//! `trace inspect --plot`.

use std::path::Path;

use plotters::prelude::*;

const COLORS: [RGBColor; 5] = [BLUE, RED, GREEN, MAGENTA, BLACK];

/// Draws into an SVG written atomically to `path` (a `--plot` output).
fn render(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // The text metrics come from the bundled font (plotters' `ab_glyph`
    // feature has no system fonts).
    crate::plot::register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        draw(&root)?;
        root.present().map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    }
    crate::output::write_output("--plot", path, svg.as_bytes())
}

fn e<E: std::fmt::Display>(err: E) -> anyhow::Error {
    anyhow::anyhow!("plot: {err}")
}

/// Miss ratio against cache size, one line per eviction algorithm.
/// `series`: (eviction, [(size, miss ratio)]) with sizes in `unit`.
pub fn miss_ratio_curve(
    path: &Path,
    unit: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> anyhow::Result<()> {
    let max_x = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    render(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Miss ratio curve", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..max_x * 1.02, 0f64..1f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .x_desc(format!("cache size ({unit})"))
            .y_desc("miss ratio")
            .draw()
            .map_err(e)?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(e)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(e)?;
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()
            .map_err(e)?;
        Ok(())
    })
}

/// Requests per second over time (`points`: (hours since start, rate)).
pub fn rate_over_time(path: &Path, points: &[(f64, f64)], bucket: &str) -> anyhow::Result<()> {
    let max_x = points.last().map_or(1.0, |p| p.0.max(1e-9));
    let max_y = points.iter().map(|p| p.1).fold(1e-9, f64::max);
    render(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Arrival rate (mean per {bucket})"),
                ("sans-serif", 24),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..max_x, 0f64..max_y * 1.05)
            .map_err(e)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .x_desc("hours since the first request")
            .y_desc("requests per second")
            .draw()
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(points.iter().copied(), BLUE))
            .map_err(e)?;
        Ok(())
    })
}

/// Request count against popularity rank, log-log (`counts` sorted, most
/// popular first).
pub fn popularity(path: &Path, counts: &[u64]) -> anyhow::Result<()> {
    let n = counts.len().max(2) as f64;
    let max_y = counts.first().copied().unwrap_or(1).max(2) as f64;
    // At most ~2000 log-spaced ranks.
    let mut pts = Vec::new();
    let mut r = 1.0f64;
    while r <= counts.len() as f64 {
        let i = r as usize;
        pts.push((i as f64, counts[i - 1].max(1) as f64));
        r = (r * 1.005).max(r + 1.0);
    }
    render(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Key popularity", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((1f64..n).log_scale(), (1f64..max_y * 1.5).log_scale())
            .map_err(e)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .x_desc("key rank")
            .y_desc("requests")
            .draw()
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(pts, RED.stroke_width(2)))
            .map_err(e)?;
        Ok(())
    })
}
