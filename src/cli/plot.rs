//! `bench --plot FILE.svg`: the hash rate of each measured row over time, one series per
//! device (row), drawn with `plotters` into an SVG.

use plotters::prelude::*;

/// One row's samples: (seconds since the row started, hash rate so far in H/s).
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Writes the chart to `path`.
/// A chart that could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct PlotError {
    pub path: String,
    pub reason: String,
}

/// Writes the chart to `path`: each row's running rate over its (last) round, the baseline's
/// rate as a horizontal line, the legend beside the plot (never over the data), the scale set
/// by the rates after each row's warm-up (its first fifth; higher warm-up values are drawn at
/// the top), and `note` (machine, date, commit, rounds) under it.
pub fn write_svg(
    path: &std::path::Path,
    series: &[Series],
    baseline: Option<(&str, f64)>,
    note: &str,
) -> Result<(), PlotError> {
    let fail = |e: &dyn std::fmt::Display| PlotError {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let max_t = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(0.1, f64::max);
    // The scale leaves each row's warm-up (its first fifth) out.
    let settled = |s: &Series| {
        let end = s.points.last().map_or(0.0, |p| p.0);
        s.points
            .iter()
            .filter(move |p| p.0 >= end * 0.2)
            .map(|p| p.1)
            .collect::<Vec<f64>>()
    };
    let max_r = series
        .iter()
        .flat_map(settled)
        .chain(baseline.map(|b| b.1))
        .fold(1.0, f64::max);
    let (unit, scale) = [(1e12, "TH/s"), (1e9, "GH/s"), (1e6, "MH/s"), (1e3, "kH/s")]
        .into_iter()
        .find(|(f, _)| max_r >= *f)
        .map(|(f, u)| (u, f))
        .unwrap_or(("H/s", 1.0));
    let top = max_r / scale * 1.1;
    let root = SVGBackend::new(path, (1000, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (body, foot) = root.split_vertically(470);
    let (plot, legend) = body.split_horizontally(730);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            "hashrig bench: hash rate (running average) per row",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_t * 1.02, 0.0..top)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("seconds into the row's last round")
        .y_desc(unit)
        .draw()
        .map_err(|e| fail(&e))?;
    let mut labels: Vec<(String, RGBAColor)> = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points.iter().map(|(t, r)| (*t, (r / scale).min(top))),
                color.stroke_width(2),
            ))
            .map_err(|e| fail(&e))?;
        labels.push((s.label.clone(), color));
    }
    if let Some((name, rate)) = baseline {
        let color = BLACK.to_rgba();
        chart
            .draw_series(LineSeries::new(
                [(0.0, rate / scale), (max_t * 1.02, rate / scale)],
                color.stroke_width(2),
            ))
            .map_err(|e| fail(&e))?;
        labels.push((format!("{name} (baseline)"), color));
    }
    // The legend, beside the plot.
    for (i, (label, color)) in labels.iter().enumerate() {
        let y = 50 + 22 * i as i32;
        legend
            .draw(&PathElement::new(
                vec![(4, y), (24, y)],
                color.stroke_width(3),
            ))
            .map_err(|e| fail(&e))?;
        legend
            .draw(&Text::new(
                label.clone(),
                (30, y - 7),
                ("sans-serif", 13).into_font(),
            ))
            .map_err(|e| fail(&e))?;
    }
    foot.draw(&Text::new(
        note.to_string(),
        (12, 8),
        ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90)),
    ))
    .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
