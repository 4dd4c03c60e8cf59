//! Horizontal bar charts as geometry; the template draws them as inline SVG (so labels, which
//! may be server text, are escaped like everything else).

/// One bar.
#[derive(Debug)]
pub(crate) struct Bar {
    /// The label as drawn: cut to fit left of the bar.
    pub(crate) label: String,
    /// The whole label (the chart's data table and the drawn label's tooltip).
    pub(crate) full: String,
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
/// Room left of the labels (they are right-aligned at `label_x`).
const LABEL_MARGIN: u32 = 6;
/// Estimated advance at the charts' 12 px font: a wide (CJK, kana, full-width) character is a
/// full em, anything else at a generous 8 px (capitals and digits of the CJK fonts' Latin
/// glyphs are about that wide).
const WIDE_PX: u32 = 12;
const NARROW_PX: u32 = 8;

/// Whether `c` is drawn a full em wide (East Asian Wide or Fullwidth, the ranges that occur in
/// labels: CJK ideographs and punctuation, kana, Hangul, full-width forms).
fn is_wide(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD)
}

fn advance(c: char) -> u32 {
    if is_wide(c) { WIDE_PX } else { NARROW_PX }
}

/// `label` cut with an ellipsis so that it fits `max_px` at the charts' font: a label is
/// right-aligned against its bar, so one too long would run off the chart's left edge (a
/// Japanese label of 32 characters is twice as wide as a Latin one).
fn fit(label: String, max_px: u32) -> String {
    let width: u32 = label.chars().map(advance).sum();
    if width <= max_px {
        return label;
    }
    let budget = max_px - advance('…');
    let mut used = 0;
    let mut out: String = label
        .chars()
        .take_while(|&c| {
            used += advance(c);
            used <= budget
        })
        .collect();
    out.push('…');
    out
}

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
                let full = label.clone();
                let label = fit(label, LABEL_W - 8 - LABEL_MARGIN);
                Bar {
                    label,
                    full,
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
        let cut = &long.bars[0].label;
        assert!(cut.ends_with('…') && cut.chars().count() < 50, "{cut}");
        let short = Chart::new("x", "t", "n", vec![("example.jp".into(), 1, "#000")]);
        assert_eq!(short.bars[0].label, "example.jp");
    }

    #[test]
    fn labels_fit_their_room_in_any_script() {
        let room = LABEL_W - 8 - LABEL_MARGIN;
        for label in [
            "x".repeat(80),
            "送信者認証（ＳＰＦ）の設定がありません".repeat(3),
            format!("{}mail.example.jp", "日本語".repeat(5)),
        ] {
            let c = Chart::new("x", "t", "n", vec![(label.clone(), 1, "#000")]);
            let cut = &c.bars[0].label;
            let width: u32 = cut.chars().map(advance).sum();
            assert!(width <= room, "{cut}: {width} px > {room}");
            assert!(cut.ends_with('…'), "{cut}");
            assert!(label.starts_with(cut.trim_end_matches('…')), "{cut}");
            assert_eq!(c.bars[0].full, label, "the table keeps the whole label");
        }
        // A Japanese label is cut at about half the characters of a Latin one.
        let ja = Chart::new("x", "t", "n", vec![("あ".repeat(40), 1, "#000")]);
        let en = Chart::new("x", "t", "n", vec![("a".repeat(40), 1, "#000")]);
        assert!(ja.bars[0].label.chars().count() * 4 < en.bars[0].label.chars().count() * 3);
    }
}
