//! The pictures: the training loss and validation Dice per epoch, and validation samples
//! (image | ground truth | prediction). Text is drawn with a system TrueType font where one is
//! found (DejaVu or Liberation Sans); without one the charts are drawn without text.

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

use crate::data::CLASSES;

/// Font files tried, in order.
const FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers the first font found as "sans-serif"; whether text can be drawn.
pub fn load_font() -> bool {
    for path in FONTS {
        if let Ok(bytes) = std::fs::read(path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}

/// Class colours, background first.
const PALETTE: [RGBColor; CLASSES] = [
    RGBColor(20, 20, 28),
    RGBColor(230, 85, 60),
    RGBColor(70, 160, 230),
    RGBColor(250, 200, 60),
    RGBColor(120, 210, 110),
];

/// `loss_curve.png`: training loss and validation mean Dice per epoch.
pub fn loss_curve(
    path: &Path,
    train_loss: &[f64],
    val_dice: &[f64],
    text: bool,
) -> Result<(), Box<dyn Error>> {
    let root = BitMapBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let epochs = train_loss.len().max(1) as f64;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(16);
    if text {
        builder
            .caption(
                "softdice-burn: U-Net on synthetic shapes",
                ("sans-serif", 22),
            )
            .x_label_area_size(40)
            .y_label_area_size(50);
    }
    let mut chart = builder.build_cartesian_2d(0.5..epochs + 0.5, 0.0..1.0)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("epoch").y_desc("loss / Dice");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    let series = |values: &[f64]| -> Vec<(f64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(e, &v)| ((e + 1) as f64, v))
            .collect()
    };
    let loss = chart.draw_series(LineSeries::new(series(train_loss), RED.stroke_width(2)))?;
    if text {
        loss.label("training loss (mean of the epoch)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    }
    let dice = chart.draw_series(LineSeries::new(series(val_dice), BLUE.stroke_width(2)))?;
    if text {
        dice.label("validation mean Dice (foreground)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    }
    chart.draw_series(
        series(val_dice)
            .into_iter()
            .map(|p| Circle::new(p, 3, BLUE.filled())),
    )?;
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::MiddleRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// `predictions.png`: one row per sample, image | ground truth | prediction.
pub fn predictions(
    path: &Path,
    rows: &[(Vec<f32>, Vec<i32>, Vec<i32>)],
    size: usize,
    text: bool,
) -> Result<(), Box<dyn Error>> {
    const SCALE: usize = 3;
    const GAP: usize = 6;
    let header = if text { 28 } else { 0 };
    let cell = size * SCALE;
    let width = 3 * cell + 4 * GAP;
    let height = header + rows.len() * (cell + GAP) + GAP;
    let root = BitMapBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    if text {
        for (k, title) in ["image", "ground truth", "prediction"].iter().enumerate() {
            let x = GAP + k * (cell + GAP) + cell / 2 - title.len() * 4;
            root.draw(&Text::new(*title, (x as i32, 6), ("sans-serif", 18)))?;
        }
    }
    let (lo, hi) = rows
        .iter()
        .flat_map(|(image, _, _)| image.iter())
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    for (r, (image, truth, pred)) in rows.iter().enumerate() {
        let top = header + GAP + r * (cell + GAP);
        for i in 0..size * size {
            let (x, y) = (i % size, i / size);
            let gray = (((image[i] - lo) / (hi - lo).max(1e-6)) * 255.0) as u8;
            let colours = [
                RGBColor(gray, gray, gray),
                PALETTE[truth[i].clamp(0, CLASSES as i32 - 1) as usize],
                PALETTE[pred[i].clamp(0, CLASSES as i32 - 1) as usize],
            ];
            for (k, colour) in colours.iter().enumerate() {
                let left = GAP + k * (cell + GAP) + x * SCALE;
                let (x0, y0) = (left as i32, (top + y * SCALE) as i32);
                let (x1, y1) = (x0 + SCALE as i32, y0 + SCALE as i32);
                root.draw(&Rectangle::new([(x0, y0), (x1, y1)], colour.filled()))?;
            }
        }
    }
    root.present()?;
    Ok(())
}
