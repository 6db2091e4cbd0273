//! Draws a [`Chart`] on any plotters backend (SVG text or a PNG bitmap).

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::element::{DashedPathElement, ErrorBarOrientV};
use plotters::prelude::*;

use crate::plot::charts::{Chart, Kind, Marker, Panel, Series};

/// Font family the bundled font is registered under.
pub const FONT: &str = "sans-serif";

/// Line colours, in legend order (colour-blind-safe Okabe–Ito palette).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];
const GREY: RGBColor = RGBColor(190, 190, 190);
const DARK: RGBColor = RGBColor(40, 40, 40);
const RED: RGBColor = RGBColor(200, 30, 30);

type Result<T> = std::result::Result<T, String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Draws `chart` filling `root`.
pub fn chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let titled = root
        .titled(&chart.title, (FONT, 20).into_font().color(&DARK))
        .map_err(err)?;
    match &chart.kind {
        Kind::Lines {
            x_label,
            y_label,
            series,
            faint,
            spans,
            log_y,
        } => lines(&titled, x_label, y_label, series, faint, spans, *log_y),
        Kind::Boundary {
            x_label,
            y_label,
            xs,
            ys,
            panels,
        } => {
            let areas = titled.split_evenly((1, panels.len().max(1)));
            for (area, (label, cells)) in areas.iter().zip(panels) {
                boundary_panel(area, x_label, y_label, xs, ys, label, cells)?;
            }
            Ok(())
        }
        Kind::TwinLines {
            x_label,
            left,
            right,
        } => twin(&titled, x_label, left, right),
        Kind::Scatter {
            x_label,
            y_label,
            markers,
            frontier,
            limit,
            highlight,
        } => scatter(
            &titled,
            x_label,
            y_label,
            markers,
            frontier,
            limit.as_ref(),
            *highlight,
        ),
        Kind::Bars {
            y_label,
            bars,
            reference,
        } => bars_chart(&titled, y_label, bars, reference.as_ref()),
        Kind::Effect {
            x_label,
            categories,
            panels,
        } => {
            let areas = titled.split_evenly((panels.len().max(1), 1));
            for (area, panel) in areas.iter().zip(panels) {
                effect_panel(area, x_label, categories.as_deref(), panel)?;
            }
            Ok(())
        }
    }
}

/// `[lo, hi]` of `xs` (finite values only), padded by `pad` of the span and
/// never empty; `from_zero` starts it at 0 when all values are positive.
fn range(xs: impl Iterator<Item = f64>, pad: f64, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = xs
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
            (l.min(x), h.max(x))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero && lo > 0.0 {
        lo = 0.0;
    }
    if hi - lo < 1e-12 {
        let w = if hi.abs() > 1e-12 {
            hi.abs() * 0.1
        } else {
            1.0
        };
        return (lo - w, hi + w);
    }
    let p = (hi - lo) * pad;
    hi += p;
    if !(from_zero && lo == 0.0) {
        lo -= p;
    }
    (lo, hi)
}

fn legend_box<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .label_font((FONT, 14))
        .draw()
        .map_err(err)
}

fn lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    faint: &[Vec<(f64, f64)>],
    spans: &[(f64, f64)],
    log_y: bool,
) -> Result<()> {
    let all = series
        .iter()
        .flat_map(|s| s.points.iter())
        .chain(faint.iter().flatten());
    // The x range covers the shaded triggers too: intervals with no
    // answers have no latency point, but the trigger still shows.
    let xs = all
        .clone()
        .map(|p| p.0)
        .chain(spans.iter().flat_map(|&(a, b)| [a, b]));
    let (x0, x1) = range(xs, 0.0, false);
    let builder = |area| {
        let mut b = ChartBuilder::on(area);
        b.margin(16).x_label_area_size(46).y_label_area_size(70);
        b
    };
    let lines = Lines {
        x_label,
        y_label,
        series,
        faint,
        spans,
    };
    if log_y {
        // A factor of 1.25 either side, as the linear axis pads by 8 %.
        let (y0, y1) = range(all.map(|p| p.1).filter(|y| *y > 0.0), 0.0, false);
        let (y0, y1) = (y0 / 1.25, y1 * 1.25);
        let chart = builder(root)
            .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
            .map_err(err)?;
        lines.draw(chart, y0, y1, true)
    } else {
        let (y0, y1) = range(all.map(|p| p.1), 0.08, true);
        let chart = builder(root)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        lines.draw(chart, y0, y1, false)
    }
}

/// What a line chart draws, on either y axis.
struct Lines<'a> {
    x_label: &'a str,
    y_label: &'a str,
    series: &'a [Series],
    faint: &'a [Vec<(f64, f64)>],
    spans: &'a [(f64, f64)],
}

impl Lines<'_> {
    /// Draws on `chart`, whose y axis spans `y0..y1` (logarithmic with
    /// `log`).
    fn draw<'c, DB, Y>(
        &self,
        mut chart: ChartContext<'c, DB, Cartesian2d<RangedCoordf64, Y>>,
        y0: f64,
        y1: f64,
        log: bool,
    ) -> Result<()>
    where
        DB: DrawingBackend + 'c,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let decade = |v: &f64| format!("{v}");
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.x_label)
            .y_desc(self.y_label)
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .light_line_style(WHITE.mix(0.0));
        if log {
            // The decades, as 100 and 1000 (not 100.0).
            mesh.y_label_formatter(&decade);
        }
        mesh.draw().map_err(err)?;
        let shade = RED.mix(0.12);
        for (i, &(a, b)) in self.spans.iter().enumerate() {
            let drawn = chart
                .draw_series([Rectangle::new([(a, y0), (b, y1)], shade.filled())])
                .map_err(err)?;
            if i == 0 {
                drawn
                    .label("trigger (fault or surge)")
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 24, y + 5)], shade.filled())
                    });
            }
        }
        for line in self.faint {
            chart
                .draw_series(LineSeries::new(line.iter().copied(), GREY.stroke_width(1)))
                .map_err(err)?;
        }
        for (i, s) in self.series.iter().enumerate() {
            let colour = PALETTE[s.colour.unwrap_or(i) % PALETTE.len()];
            let points = s.points.iter().copied();
            let drawn = if s.dashed {
                let style = colour.stroke_width(3);
                chart
                    .draw_series(DashedLineSeries::new(points, 9, 6, style))
                    .map_err(err)?
                    .legend(move |(x, y)| {
                        DashedPathElement::new([(x, y), (x + 24, y)], 6, 4, style)
                    })
            } else {
                chart
                    .draw_series(LineSeries::new(points, colour.stroke_width(3)))
                    .map_err(err)?
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(3))
                    })
            };
            drawn.label(&s.label);
        }
        if !self.faint.is_empty() {
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
                .map_err(err)?
                .label("each replication (last percentile)")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], GREY.stroke_width(1)));
        }
        legend_box(&mut chart)
    }
}

fn twin<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x_label: &str,
    left: &Series,
    right: &Series,
) -> Result<()> {
    let (x0, x1) = range(
        left.points.iter().chain(&right.points).map(|p| p.0),
        0.0,
        false,
    );
    let (l0, l1) = range(left.points.iter().map(|p| p.1), 0.1, true);
    let (r0, r1) = range(right.points.iter().map(|p| p.1), 0.1, true);
    let mut chart = ChartBuilder::on(root)
        .margin(16)
        .x_label_area_size(46)
        .y_label_area_size(80)
        .right_y_label_area_size(70)
        .build_cartesian_2d(x0..x1, l0..l1)
        .map_err(err)?
        .set_secondary_coord(x0..x1, r0..r1);
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(&left.label)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    chart
        .configure_secondary_axes()
        .y_desc(&right.label)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let (lc, rc) = (PALETTE[0], PALETTE[1]);
    chart
        .draw_series(LineSeries::new(
            left.points.iter().copied(),
            lc.stroke_width(3),
        ))
        .map_err(err)?
        .label(format!("{} (left axis)", left.label))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], lc.stroke_width(3)));
    chart
        .draw_secondary_series(LineSeries::new(
            right.points.iter().copied(),
            rc.stroke_width(3),
        ))
        .map_err(err)?
        .label(format!("{} (right axis)", right.label))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], rc.stroke_width(3)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .label_font((FONT, 14))
        .draw()
        .map_err(err)
}

fn error_bars<'a>(
    markers: impl Iterator<Item = &'a Marker> + 'a,
    colour: RGBColor,
) -> impl Iterator<Item = ErrorBar<f64, f64, ErrorBarOrientV<f64, f64>>> + 'a {
    markers
        .filter(|m| m.x.is_finite() && m.y.is_finite() && m.err.is_finite())
        .map(move |m| {
            ErrorBar::new_vertical(
                m.x,
                m.y - m.err,
                m.y,
                m.y + m.err,
                colour.stroke_width(1),
                8,
            )
        })
}

fn scatter<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x_label: &str,
    y_label: &str,
    markers: &[Marker],
    frontier: &[(f64, f64)],
    limit: Option<&(f64, String)>,
    highlight: Option<usize>,
) -> Result<()> {
    let finite: Vec<&Marker> = markers
        .iter()
        .filter(|m| m.x.is_finite() && m.y.is_finite())
        .collect();
    let (x0, x1) = range(finite.iter().map(|m| m.x), 0.08, false);
    let ys = finite
        .iter()
        .flat_map(|m| [m.y, m.y + if m.err.is_finite() { m.err } else { 0.0 }])
        .chain(limit.map(|l| l.0));
    let (y0, y1) = range(ys, 0.08, true);
    let mut chart = ChartBuilder::on(root)
        .margin(16)
        .x_label_area_size(46)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    let c = PALETTE[0];
    chart
        .draw_series(error_bars(finite.iter().copied(), c))
        .map_err(err)?;
    chart
        .draw_series(
            finite
                .iter()
                .map(|m| Circle::new((m.x, m.y), 4, c.filled())),
        )
        .map_err(err)?
        .label("sweep point")
        .legend(move |(x, y)| Circle::new((x + 12, y), 4, c.filled()));
    if !frontier.is_empty() {
        let f = PALETTE[2];
        chart
            .draw_series(LineSeries::new(frontier.iter().copied(), f.stroke_width(2)))
            .map_err(err)?
            .label("Pareto frontier")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], f.stroke_width(2)));
    }
    if let Some((v, label)) = limit {
        chart
            .draw_series(DashedLineSeries::new(
                [(x0, *v), (x1, *v)],
                8,
                6,
                RED.stroke_width(2),
            ))
            .map_err(err)?
            .label(label.as_str())
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], RED.stroke_width(2)));
    }
    if let Some(m) = highlight
        .and_then(|i| markers.get(i))
        .filter(|m| m.x.is_finite() && m.y.is_finite())
    {
        let h = PALETTE[1];
        chart
            .draw_series([Circle::new((m.x, m.y), 9, h.stroke_width(3))])
            .map_err(err)?
            .label(format!("recommended ({})", m.label))
            .legend(move |(x, y)| Circle::new((x + 12, y), 6, h.stroke_width(2)));
    }
    legend_box(&mut chart)
}

fn bars_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    y_label: &str,
    bars: &[Marker],
    reference: Option<&(f64, String)>,
) -> Result<()> {
    let n = bars.len().max(1);
    let tops = bars
        .iter()
        .map(|b| b.y + if b.err.is_finite() { b.err } else { 0.0 })
        .chain(reference.map(|r| r.0));
    let (_, y1) = range(tops.chain([0.0]), 0.1, true);
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let mut chart = ChartBuilder::on(root)
        .margin(16)
        .x_label_area_size(46)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc(y_label)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    let c = PALETTE[0];
    chart
        .draw_series(
            bars.iter()
                .enumerate()
                .filter(|(_, b)| b.y.is_finite())
                .map(|(i, b)| {
                    let x = i as f64;
                    Rectangle::new([(x - 0.35, 0.0), (x + 0.35, b.y)], c.mix(0.8).filled())
                }),
        )
        .map_err(err)?;
    let whiskers: Vec<Marker> = bars
        .iter()
        .enumerate()
        .map(|(i, b)| Marker {
            x: i as f64,
            ..b.clone()
        })
        .collect();
    chart
        .draw_series(error_bars(whiskers.iter(), DARK))
        .map_err(err)?;
    if let Some((v, label)) = reference {
        chart
            .draw_series(DashedLineSeries::new(
                [(-0.5, *v), (n as f64 - 0.5, *v)],
                8,
                6,
                RED.stroke_width(2),
            ))
            .map_err(err)?
            .label(label.as_str())
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], RED.stroke_width(2)));
        legend_box(&mut chart)?;
    }
    Ok(())
}

fn effect_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x_label: &str,
    categories: Option<&[String]>,
    panel: &Panel,
) -> Result<()> {
    let finite: Vec<&Marker> = panel
        .markers
        .iter()
        .filter(|m| m.x.is_finite() && m.y.is_finite())
        .collect();
    let (x0, x1) = match categories {
        Some(c) => (-0.5, c.len() as f64 - 0.5),
        None => range(finite.iter().map(|m| m.x), 0.06, false),
    };
    let ys = finite.iter().flat_map(|m| {
        [m.y - m.err.max(0.0), m.y + m.err.max(0.0)]
            .into_iter()
            .filter(|y| y.is_finite())
            .chain([m.y])
    });
    let (y0, y1) = range(ys, 0.08, true);
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_label)
        .y_desc(&panel.y_label)
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 12))
        .light_line_style(WHITE.mix(0.0));
    let names: Vec<String> = categories.map(<[String]>::to_vec).unwrap_or_default();
    let formatter = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    if categories.is_some() {
        mesh.x_labels(names.len().max(1))
            .x_label_formatter(&formatter);
    }
    mesh.draw().map_err(err)?;
    let c = PALETTE[0];
    chart
        .draw_series(error_bars(finite.iter().copied(), c))
        .map_err(err)?;
    chart
        .draw_series(
            finite
                .iter()
                .map(|m| Circle::new((m.x, m.y), 3, c.filled())),
        )
        .map_err(err)?;
    let l = PALETTE[1];
    chart
        .draw_series(LineSeries::new(
            panel.level_means.iter().copied(),
            l.stroke_width(2),
        ))
        .map_err(err)?;
    Ok(())
}

/// Colour of a boundary cell: green when every replication recovered, red
/// when none did, orange in between, grey when unmeasurable.
fn recovered_colour(fraction: f64) -> RGBColor {
    if fraction.is_nan() {
        GREY
    } else if fraction >= 1.0 {
        PALETTE[2]
    } else if fraction <= 0.0 {
        RED
    } else {
        PALETTE[4]
    }
}

fn boundary_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x_label: &str,
    y_label: &str,
    xs: &[String],
    ys: &[String],
    title: &str,
    cells: &[(usize, usize, f64)],
) -> Result<()> {
    let area = root
        .titled(title, (FONT, 13).into_font().color(&DARK))
        .map_err(err)?;
    let mut chart = ChartBuilder::on(&area)
        .margin(10)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5..xs.len() as f64 - 0.5, -0.5..ys.len() as f64 - 0.5)
        .map_err(err)?;
    let name = |names: &[String], v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let fx = |v: &f64| name(xs, v);
    let fy = |v: &f64| name(ys, v);
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style((FONT, 14))
        .label_style((FONT, 11))
        .x_labels(xs.len().max(1))
        .y_labels(ys.len().max(1))
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .disable_mesh()
        .draw()
        .map_err(err)?;
    chart
        .draw_series(cells.iter().map(|&(x, y, f)| {
            let (x, y) = (x as f64, y as f64);
            Rectangle::new(
                [(x - 0.47, y - 0.47), (x + 0.47, y + 0.47)],
                recovered_colour(f).filled(),
            )
        }))
        .map_err(err)?;
    Ok(())
}
