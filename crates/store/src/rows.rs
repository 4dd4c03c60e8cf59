//! A batch's rows written as multi-row `INSERT`s.
//!
//! Every statement is one round trip to the database; SQLite's run on sqlx's worker thread, so
//! each one also costs two thread wake-ups. Written a row at a time, a survey's ~8 rows per
//! domain (the domain, its addresses, its findings) made those wake-ups about a quarter of the
//! scanner's CPU (perf, docs/BENCHMARKS.md, issue 14); written here, a batch of 256 domains is
//! three statements per table chunk.

use mxray_core::finding::{Finding, Subject};
use mxray_core::model::DomainObservation;
use std::collections::HashSet;
use std::net::IpAddr;

/// Rows per statement: a batch's rows go out in pieces of these sizes, largest first, so that
/// a table sees at most five distinct statements, each prepared once and kept in sqlx's
/// statement cache (a statement per row count would prepare a new statement for nearly every
/// batch and fill the cache with large ones). At most 10 parameters a row: 2,560 a statement,
/// within SQLite's 32,766 and PostgreSQL's 65,535.
const SIZES: [usize; 5] = [256, 64, 16, 4, 1];

/// The largest piece size: a batch holding more domains than this writes them out first.
pub(crate) const CHUNK: usize = SIZES[0];

/// `rows` in pieces of [`SIZES`], largest first.
pub(crate) fn pieces<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let n = SIZES.iter().copied().find(|s| *s <= rows.len())?;
        let (piece, rest) = rows.split_at(n);
        rows = rest;
        Some(piece)
    })
}

/// How a statement marks its parameters.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Params {
    /// `$1`, `$2`, … (PostgreSQL's only form through the Any driver).
    Numbered,
    /// `?` each (SQLite). sqlx binds a statement's parameters by asking SQLite each one's
    /// name, which SQLite finds by a linear scan of the names: binding n `$N` parameters is
    /// quadratic (28 % of a survey's CPU with 5,000-parameter statements, issue 14), while a
    /// `?` has no name and is bound in order.
    Anonymous,
}

/// `HEAD VALUES ROW, ROW, … TAIL` for `rows` rows, each `?` of `row` written as `params`
/// says (numbered in order for [`Params::Numbered`]). Only placeholders are generated; every
/// value is bound.
pub(crate) fn values_sql(params: Params, head: &str, row: &str, rows: usize, tail: &str) -> String {
    let mut out = format!("{head} VALUES ");
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        for c in row.chars() {
            if c == '?' && params == Params::Numbered {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
    }
    if !tail.is_empty() {
        out.push(' ');
        out.push_str(tail);
    }
    out
}

/// `n` comma-separated placeholders (`$1, $2, …` or `?, ?, …`), for an `IN (…)` list.
pub(crate) fn placeholders(params: Params, n: usize) -> String {
    let one: Vec<String> = (1..=n)
        .map(|k| match params {
            Params::Numbered => format!("${k}"),
            Params::Anonymous => "?".to_owned(),
        })
        .collect();
    one.join(", ")
}

/// One finding row: what the `findings` table keeps of a finding (its texts by id).
#[derive(Debug)]
pub(crate) struct FindingRow<'a> {
    domain: Option<&'a str>,
    ip: Option<&'a str>,
    finding: &'a Finding,
    texts: [i64; 3],
}

impl<'a> FindingRow<'a> {
    /// The row of `finding` about `domain` or `ip`, its title, evidence and fix stored as `texts`.
    pub(crate) fn new(
        domain: Option<&'a str>,
        ip: Option<&'a str>,
        finding: &'a Finding,
        texts: [i64; 3],
    ) -> Self {
        Self {
            domain,
            ip,
            finding,
            texts,
        }
    }
}

/// A query being bound through the Any driver.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// One multi-row INSERT: what comes before `VALUES`, one row's placeholders (`?`), what
/// comes after the rows.
struct Insert {
    head: &'static str,
    row: &'static str,
    tail: &'static str,
}

/// Inserts `rows`, a [`pieces`] piece per statement, each row's values bound by `bind` in
/// the order of `insert.row`'s placeholders.
async fn insert_pieces<'q, T>(
    conn: &mut sqlx::AnyConnection,
    params: Params,
    insert: &Insert,
    rows: &'q [T],
    bind: impl Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q>,
) -> Result<(), sqlx::Error> {
    for piece in pieces(rows) {
        let sql = values_sql(params, insert.head, insert.row, piece.len(), insert.tail);
        let q = piece
            .iter()
            .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), &bind);
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

// The texts themselves are in `texts`: the inline columns stay empty (0 bytes in SQLite).
const FINDINGS: Insert = Insert {
    head: "INSERT INTO findings (scan_id, domain, ip, subject_kind, subject, check_id, severity, title, evidence, fix, title_id, evidence_id, fix_id)",
    row: "(?, ?, ?, ?, ?, ?, ?, '', '', '', ?, ?, ?)",
    tail: "",
};

const DOMAINS: Insert = Insert {
    head: "INSERT INTO domains (scan_id, domain, status, mx_mode, observation_z)",
    row: "(?, ?, 'scanned', ?, ?)",
    tail: "ON CONFLICT (scan_id, domain) DO UPDATE SET status = excluded.status, mx_mode = excluded.mx_mode, observation = NULL, observation_z = excluded.observation_z",
};

const LINKS: Insert = Insert {
    head: "INSERT INTO domain_hosts (scan_id, domain, ip, roles)",
    row: "(?, ?, ?, ?)",
    tail: "ON CONFLICT DO NOTHING",
};

/// Inserts finding rows.
pub(crate) async fn insert_findings(
    conn: &mut sqlx::AnyConnection,
    params: Params,
    scan: i64,
    rows: &[FindingRow<'_>],
) -> Result<(), sqlx::Error> {
    insert_pieces(conn, params, &FINDINGS, rows, |q, r| {
        let f = r.finding;
        let kind = match f.subject {
            Subject::Domain(_) => "domain",
            Subject::Host(_) => "host",
            Subject::Service(_) => "service",
        };
        let [title, evidence, fix] = r.texts;
        q.bind(scan)
            .bind(r.domain)
            .bind(r.ip)
            .bind(kind)
            .bind(f.subject.name())
            .bind(f.id.as_str())
            .bind(crate::severity_num(f.severity))
            .bind(title)
            .bind(evidence)
            .bind(fix)
    })
    .await
}

/// A domain row, ready to insert.
#[derive(Debug)]
struct DomainRow<'a> {
    domain: &'a str,
    mx_mode: Option<String>,
    observation_z: Vec<u8>,
}

/// Domains of a batch not yet written: their rows, their address links and their findings.
/// A domain appears at most once (a second record of it is written after the first, as a
/// row-at-a-time writer would: see [`DomainRows::holds`]).
#[derive(Debug, Default)]
pub(crate) struct DomainRows<'a> {
    domains: Vec<DomainRow<'a>>,
    links: Vec<(&'a str, String, i64)>,
    findings: Vec<FindingRow<'a>>,
    names: HashSet<&'a str>,
}

impl<'a> DomainRows<'a> {
    /// Whether `domain` is waiting to be written (then write these first).
    pub(crate) fn holds(&self, domain: &str) -> bool {
        self.names.contains(domain)
    }

    /// Domains waiting.
    pub(crate) fn len(&self) -> usize {
        self.domains.len()
    }

    /// Adds a domain: its packed observation, the addresses it was probed at and its findings
    /// with their text ids.
    pub(crate) fn push(
        &mut self,
        obs: &'a DomainObservation,
        observation_z: Vec<u8>,
        ips: &'a [IpAddr],
        findings: &'a [Finding],
        texts: &[[i64; 3]],
    ) {
        let mx_mode = serde_json::to_value(obs.mx_mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        let links = obs.links();
        for ip in ips {
            let roles = links.iter().find(|(i, _)| i == ip).map_or(0, |(_, m)| *m);
            self.links
                .push((obs.domain.as_str(), ip.to_string(), i64::from(roles)));
        }
        for (f, ids) in findings.iter().zip(texts) {
            self.findings
                .push(FindingRow::new(Some(&obs.domain), None, f, *ids));
        }
        self.names.insert(&obs.domain);
        self.domains.push(DomainRow {
            domain: &obs.domain,
            mx_mode,
            observation_z,
        });
    }

    /// Writes every waiting row and forgets them.
    pub(crate) async fn flush(
        &mut self,
        conn: &mut sqlx::AnyConnection,
        params: Params,
        scan: i64,
    ) -> Result<(), sqlx::Error> {
        insert_pieces(conn, params, &DOMAINS, &self.domains, |q, d| {
            q.bind(scan)
                .bind(d.domain)
                .bind(d.mx_mode.as_deref())
                .bind(d.observation_z.as_slice())
        })
        .await?;
        insert_pieces(
            conn,
            params,
            &LINKS,
            &self.links,
            |q, (domain, ip, roles)| q.bind(scan).bind(*domain).bind(ip.as_str()).bind(*roles),
        )
        .await?;
        insert_findings(conn, params, scan, &self.findings).await?;
        self.domains.clear();
        self.links.clear();
        self.findings.clear();
        self.names.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_sql_numbers_every_placeholder_in_order() {
        assert_eq!(
            values_sql(
                Params::Numbered,
                "INSERT INTO t (a, b, c)",
                "(?, 'x', ?)",
                3,
                "ON CONFLICT DO NOTHING"
            ),
            "INSERT INTO t (a, b, c) VALUES ($1, 'x', $2), ($3, 'x', $4), ($5, 'x', $6) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            values_sql(Params::Anonymous, "INSERT INTO t (a, b)", "(?, ?)", 2, ""),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(placeholders(Params::Numbered, 3), "$1, $2, $3");
        assert_eq!(placeholders(Params::Anonymous, 2), "?, ?");
    }

    #[test]
    fn pieces_cover_every_row_once_in_a_few_sizes() {
        let rows: Vec<usize> = (0..600).collect();
        let sizes: Vec<usize> = pieces(&rows).map(<[usize]>::len).collect();
        assert_eq!(sizes, vec![256, 256, 64, 16, 4, 4]);
        let again: Vec<usize> = pieces(&rows).flatten().copied().collect();
        assert_eq!(again, rows);
        assert_eq!(pieces::<u8>(&[]).count(), 0);
    }
}
