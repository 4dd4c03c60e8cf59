//! `mxray scans`: the scans in a database, with the ids `diff`, `report --scan`,
//! `export --scan` and `recheck --scan` take.

use crate::args::CheckFormat;
use crate::cmd::report::open;
use mxray_core::sanitize::for_terminal as clean;
use std::path::PathBuf;

pub async fn run(db: PathBuf, format: CheckFormat) -> anyhow::Result<u8> {
    let store = open(&db).await?;
    let mut rows = Vec::new();
    for s in store.scans().await? {
        let (domains, excluded, hosts) = store.counts(s.id).await?;
        rows.push((s, domains, excluded, hosts));
    }
    match format {
        CheckFormat::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|(s, d, e, h)| {
                    serde_json::json!({
                        "id": s.id, "started_at": s.started_at, "finished_at": s.finished_at,
                        "status": s.status, "domains": d, "excluded": e, "hosts": h,
                        "options": s.params,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        CheckFormat::Text => {
            if rows.is_empty() {
                println!("no scans in {}", clean(&db.display().to_string()));
            } else {
                println!(
                    "{:>5}  {:<20}  {:<20}  {:<11}  {:>8}  {:>6}  options",
                    "id", "started (UTC)", "finished (UTC)", "status", "domains", "hosts"
                );
            }
            for (s, d, _, h) in &rows {
                let finished = s
                    .finished_at
                    .map_or_else(|| "-".to_owned(), mxray_core::checks::unix_datetime);
                println!(
                    "{:>5}  {:<20}  {:<20}  {:<11}  {:>8}  {:>6}  {}",
                    s.id,
                    mxray_core::checks::unix_datetime(s.started_at),
                    finished,
                    clean(&s.status),
                    d,
                    h,
                    clean(&options_line(&s.params))
                );
            }
        }
    }
    store.close().await;
    Ok(0)
}

/// The options of a scan in one line: `key=value` for each stored option that is set.
fn options_line(params: &serde_json::Value) -> String {
    let Some(map) = params.as_object() else {
        return String::new();
    };
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn options_in_one_line() {
        let p = serde_json::json!({"resolver": "127.0.0.1:53", "relay_test": false, "x": null});
        assert_eq!(
            super::options_line(&p),
            "relay_test=false resolver=127.0.0.1:53"
        );
    }
}
