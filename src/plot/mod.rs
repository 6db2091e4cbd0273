//! Plots of a run or a sweep, as PNG and SVG (plotters), and the same charts
//! as inline SVG for `report.html`.
//!
//! [`charts`] turns result tables into chart data (latency percentiles and
//! replicas vs arrivals over time, cost vs p99 with the frontier and the SLO,
//! hit ratio per cache tier, per-shard load, p99 by client region, each
//! parameter's effect with CI error bars); [`draw`] draws them on any
//! plotters backend. Text is drawn
//! with a DejaVu Sans subset compiled into the binary, so PNGs look the same
//! on every machine.

pub mod charts;
pub mod draw;

use std::path::Path;

use anyhow::Context;
use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};

pub use charts::Chart;

/// Pixel size of every chart.
pub const SIZE: (u32, u32) = (960, 560);

/// Registers the bundled font under the family name charts use.
pub(crate) fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known to parse; a failure would only
        // mean text is not drawn, which the tests would show.
        let _ = plotters::style::register_font(
            draw::FONT,
            plotters::style::FontStyle::Normal,
            include_bytes!("fonts/DejaVuSans-subset.ttf"),
        );
    });
}

/// `chart` as an SVG document.
pub fn svg(chart: &Chart) -> anyhow::Result<String> {
    register_font();
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        draw::chart(&root, chart)
            .map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", chart.name))?;
        root.present()
            .map_err(|e| anyhow::anyhow!("cannot draw {}: {e:?}", chart.name))?;
    }
    Ok(text)
}

/// Writes `chart` as `<name>.png` and `<name>.svg` into `dir`, each through a
/// temporary file renamed into place. Returns the two file names.
pub fn write(chart: &Chart, dir: &Path) -> anyhow::Result<[String; 2]> {
    register_font();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let png = format!("{}.png", chart.name);
    let staged = crate::output::Staged::new(&dir.join(&png), dir.join(format!(".tmp-{png}")));
    let drawn = (|| {
        let tmp = staged.write_path();
        let root = BitMapBackend::new(tmp, SIZE).into_drawing_area();
        draw::chart(&root, chart)
            .map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", chart.name))?;
        root.present()
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e:?}", tmp.display()))?;
        drop(root);
        staged
            .commit()
            .with_context(|| format!("cannot move {png} into place"))
    })();
    if drawn.is_err() {
        staged.abandon();
    }
    drawn?;
    let svg_name = format!("{}.svg", chart.name);
    crate::output::write_owned(dir, &[(svg_name.clone(), svg(chart)?.into_bytes())])?;
    Ok([png, svg_name])
}
