//! Horizontal bar charts as geometry; the template draws them as inline SVG (so labels, which
//! may be server text, are escaped like everything else).

/// One bar.
#[derive(Debug)]
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) value: u64,
    /// Top of the bar.
    pub(crate) y: u32,
    /// Baseline of its texts.
    pub(crate) ty: u32,
    /// Bar width in px.
    pub(crate) w: u32,
    /// Where the value is written.
    pub(crate) vx: u32,
    pub(crate) color: &'static str,
}

/// A chart: title, note, bars, total height.
#[derive(Debug)]
pub(crate) struct Chart {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) note: String,
    pub(crate) bars: Vec<Bar>,
    pub(crate) height: u32,
}

const LABEL_W: u32 = 230;
const BAR_MAX: u32 = 330;
const ROW: u32 = 24;

impl Chart {
    pub(crate) fn new(
        id: impl Into<String>,
        title: impl Into<String>,
        note: impl Into<String>,
        items: Vec<(String, u64, &'static str)>,
    ) -> Self {
        let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
        let bars = items
            .into_iter()
            .enumerate()
            .map(|(n, (label, value, color))| {
                let y = n as u32 * ROW + 4;
                let w = ((value as f64 / max as f64) * f64::from(BAR_MAX)).round() as u32;
                let label = if label.chars().count() > 32 {
                    format!("{}…", label.chars().take(31).collect::<String>())
                } else {
                    label
                };
                Bar {
                    label,
                    value,
                    y,
                    ty: y + 14,
                    w: w.max(u32::from(value > 0)),
                    vx: LABEL_W + w + 6,
                    color,
                }
            })
            .collect::<Vec<_>>();
        let height = bars.len() as u32 * ROW + 8;
        Self {
            id: id.into(),
            title: title.into(),
            note: note.into(),
            bars,
            height,
        }
    }

    pub(crate) fn label_x(&self) -> u32 {
        LABEL_W - 8
    }

    pub(crate) fn bar_x(&self) -> u32 {
        LABEL_W
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest() {
        let c = Chart::new(
            "x",
            "t",
            "n",
            vec![
                ("a".into(), 10, "#000"),
                ("b".into(), 5, "#000"),
                ("c".into(), 0, "#000"),
            ],
        );
        assert_eq!(c.bars[0].w, BAR_MAX);
        assert_eq!(c.bars[1].w, BAR_MAX / 2);
        assert_eq!(c.bars[2].w, 0);
        assert_eq!(c.height, 3 * ROW + 8);
        let long = Chart::new("x", "t", "n", vec![("x".repeat(50), 1, "#000")]);
        assert_eq!(long.bars[0].label.chars().count(), 32);
    }
}
