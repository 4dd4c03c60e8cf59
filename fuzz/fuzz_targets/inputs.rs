//! Survey inputs from operators' files (`core::inputs`): CSV records, zone-file records
//! (parentheses, quotes, comments, directives) and hosts-file lines. Whatever the bytes, no
//! panic, every name given is a valid domain, every bad line carries a line number that was
//! read, and a hosts line's block counts what it iterates (for small blocks).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::inputs::{self, Column, CsvList, HostLine, ZoneList};
use mxray_core::target::{Domain, Line};

fn check(line: &Line, read: u64) {
    match line {
        Line::Domain(d) | Line::Duplicate(d) => {
            assert_eq!(Domain::parse(d.as_str()).as_ref(), Ok(d));
        }
        Line::Invalid(e) => assert!(e.line >= 1 && e.line <= read, "{} of {read}", e.line),
        Line::Nothing => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = inputs::looks_like_zone(data);
    let mut by_name = CsvList::new(Column::Name("domain".into()));
    let mut by_index = CsvList::new(Column::Index(2));
    let mut zone = ZoneList::new();
    for (i, l) in text.split('\n').enumerate() {
        let n = i as u64 + 1;
        if let Some(fields) = inputs::split_csv(l) {
            assert!(!fields.is_empty());
        }
        if let Ok(line) = by_name.push(l) {
            check(&line, n);
        }
        check(&by_index.push(l).expect("an index column has no header to miss"), n);
        check(&zone.push(l), n);
        if let HostLine::Net(net) = inputs::host_line(n, l)
            && inputs::host_count(&net) <= 4096
        {
            assert_eq!(inputs::hosts(&net).count() as u128, inputs::host_count(&net));
        }
    }
});
