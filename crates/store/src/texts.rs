//! Finding texts stored once, by content (`texts` table): a title, a fix or an evidence list
//! that thousands of findings share is one row, and each finding refers to it by id.
//!
//! Texts are stored as templates: every occurrence of the finding's subject (its domain, address
//! or `address:port`) becomes a marker, so "Publish a TXT record at _dmarc.<domain>" is one text
//! for every domain, whatever the check (no list of finding ids). [`template`] and [`fill`] are
//! exact inverses for any text, control characters included.
//!
//! An id is the first 8 bytes of the body's SHA-256, as a signed integer: any writer (several
//! survey workers at once) gives the same text the same id without asking anyone. The rare
//! collision (another body already holds that id) moves to the id of `SHA-256(body ‖ n)`, and
//! every id is checked against the stored body before use, so a finding never points at the
//! wrong text. Texts are written outside the batch's transaction, in ascending id order (two
//! workers inserting the same texts never wait on each other in a cycle); a batch that then
//! fails leaves unreferenced texts, which are harmless.

use crate::{Store, StoreError};
use ring::digest::{SHA256, digest};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Starts every escape in a template: followed by [`LITERAL`] it stands for itself, followed by
/// [`SUBJECT`] for the subject's name.
const ESC: char = '\u{1}';
const LITERAL: char = '\u{2}';
const SUBJECT: char = '\u{3}';

/// The template of `text` for a finding about `subject` (see [`fill`]).
pub(crate) fn template(text: &str, subject: &str) -> String {
    let escaped = if text.contains(ESC) {
        text.replace(ESC, "\u{1}\u{2}")
    } else {
        text.to_owned()
    };
    // A name never contains ESC, so no escape is split by the replacement.
    if subject.is_empty() || subject.contains(ESC) || !escaped.contains(subject) {
        return escaped;
    }
    escaped.replace(subject, "\u{1}\u{3}")
}

/// The text a template stands for, for a finding about `subject`.
pub(crate) fn fill(template: &str, subject: &str) -> String {
    if !template.contains(ESC) {
        return template.to_owned();
    }
    let mut out = String::with_capacity(template.len() + subject.len());
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != ESC {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(LITERAL) => out.push(ESC),
            Some(SUBJECT) => out.push_str(subject),
            // Not written by `template`: keep what is there.
            Some(other) => {
                out.push(ESC);
                out.push(other);
            }
            None => out.push(ESC),
        }
    }
    out
}

/// Known texts of this process: digest → id whose stored body was checked. Bounded: cleared
/// when full (the database still dedupes; a text seen again is only checked again).
#[derive(Debug, Default)]
pub(crate) struct TextCache {
    ids: HashMap<[u8; 32], i64>,
}

/// Texts the cache holds at most (~80 bytes each).
const CACHE_MAX: usize = 200_000;
/// Alternative ids tried for one text before giving up (a second collision on 64 bits is
/// already beyond any survey's size).
const PROBES: u32 = 8;

pub(crate) type SharedCache = Arc<Mutex<TextCache>>;

/// A text's digest.
pub(crate) fn digest_of(body: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, body.as_bytes()).as_ref());
    out
}

/// The id to try for a text at probe `n` (0: its own digest).
fn id_at(body: &str, d: &[u8; 32], n: u32) -> i64 {
    let bytes: [u8; 32] = if n == 0 {
        *d
    } else {
        let mut v = body.as_bytes().to_vec();
        v.extend_from_slice(&n.to_be_bytes());
        digest_of_bytes(&v)
    };
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    i64::from_be_bytes(first)
}

fn digest_of_bytes(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, b).as_ref());
    out
}

impl Store {
    /// The ids of `bodies` (same order), each stored in `texts` and checked.
    /// With `tx`, inside that transaction (`recheck`'s, which holds SQLite's write lock, so
    /// that writing through another connection would wait for itself); texts found this way
    /// are not cached: the transaction may still roll back.
    pub(crate) async fn text_ids(
        &self,
        bodies: &[&str],
        mut tx: Option<&mut sqlx::AnyConnection>,
    ) -> Result<Vec<i64>, StoreError> {
        let digests: Vec<[u8; 32]> = bodies.iter().map(|b| digest_of(b)).collect();
        // Distinct texts the cache does not know, with their next probe.
        let mut todo: Vec<(usize, u32)> = Vec::new();
        // Ids known for this call: from the cache, then as found.
        let mut known: HashMap<[u8; 32], i64> = HashMap::new();
        {
            let cache = self.texts.lock().unwrap_or_else(|p| p.into_inner());
            let mut pending = std::collections::HashSet::new();
            for (i, d) in digests.iter().enumerate() {
                if known.contains_key(d) || !pending.insert(d) {
                    continue;
                }
                match cache.ids.get(d) {
                    Some(id) => {
                        known.insert(*d, *id);
                    }
                    None => todo.push((i, 0)),
                }
            }
        }
        let mut found: Vec<([u8; 32], i64)> = Vec::new();
        let no_id = |i: usize| {
            StoreError::Backend(format!(
                "no free text id for a {}-byte text after {PROBES} tries",
                bodies[i].len()
            ))
        };
        while !todo.is_empty() {
            let mut next = Vec::new();
            let mut cand: Vec<(i64, usize, u32)> = todo
                .iter()
                .map(|&(i, n)| (id_at(bodies[i], &digests[i], n), i, n))
                .collect();
            // Ascending ids: concurrent writers take the index entries in the same order.
            cand.sort_unstable();
            let groups: Vec<_> = cand.chunk_by(|a, b| a.0 == b.0).collect();
            for chunk in crate::rows::pieces(&groups) {
                // One row per id: two texts landing on one id in the same round are rare,
                // and the second then tries its next id.
                let mut insert = sqlx::query(sqlx::AssertSqlSafe(crate::rows::values_sql(
                    self.params(),
                    "INSERT INTO texts (id, body)",
                    "(?, ?)",
                    chunk.len(),
                    "ON CONFLICT (id) DO NOTHING",
                )));
                for same in chunk {
                    insert = insert.bind(same[0].0).bind(bodies[same[0].1]);
                }
                match tx.as_deref_mut() {
                    Some(c) => insert.execute(c).await,
                    None => insert.execute(&self.pool).await,
                }
                .map_err(|e| self.err(e))?;
                // Inserted or already there: read back what each id holds.
                let mut select = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT id, body FROM texts WHERE id IN ({})",
                    crate::rows::placeholders(self.params(), chunk.len())
                )));
                for same in chunk {
                    select = select.bind(same[0].0);
                }
                let stored: HashMap<i64, String> = match tx.as_deref_mut() {
                    Some(c) => select.fetch_all(c).await,
                    None => select.fetch_all(&self.pool).await,
                }
                .map_err(|e| self.err(e))?
                .iter()
                .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1)))
                .collect();
                for &(id, i, n) in chunk.iter().flat_map(|same| same.iter()) {
                    match stored.get(&id) {
                        Some(body) if body == bodies[i] => found.push((digests[i], id)),
                        _ if n + 1 < PROBES => next.push((i, n + 1)),
                        _ => return Err(no_id(i)),
                    }
                }
            }
            todo = next;
        }
        if tx.is_none() {
            let mut cache = self.texts.lock().unwrap_or_else(|p| p.into_inner());
            if cache.ids.len() + found.len() > CACHE_MAX {
                cache.ids.clear();
            }
            cache.ids.extend(found.iter().copied());
        }
        known.extend(found);
        digests
            .iter()
            .map(|d| {
                known
                    .get(d)
                    .copied()
                    .ok_or_else(|| StoreError::Backend("text id lost".into()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_shared_and_exact() {
        let a = template(
            "Publish at _dmarc.d1.example: \"rua=mailto:x@d1.example\"",
            "d1.example",
        );
        let b = template(
            "Publish at _dmarc.d2.example: \"rua=mailto:x@d2.example\"",
            "d2.example",
        );
        assert_eq!(a, b, "one text for every domain");
        assert_eq!(
            fill(&a, "d1.example"),
            "Publish at _dmarc.d1.example: \"rua=mailto:x@d1.example\""
        );
        for (text, subject) in [
            ("plain", "example.org"),
            (
                "\u{1}\u{3} hostile \u{1}\u{2}\u{1} banner \u{1}",
                "192.0.2.1",
            ),
            ("192.0.2.1:25 and 192.0.2.10", "192.0.2.1"),
            ("sub.d1.example d10.example d1.example", "d1.example"),
            ("", "d1.example"),
            ("no subject", ""),
            ("日本 d1.example 語", "d1.example"),
        ] {
            assert_eq!(fill(&template(text, subject), subject), text, "{text:?}");
        }
    }

    #[test]
    fn ids_are_stable_and_probes_differ() {
        let d = digest_of("Open relay");
        assert_eq!(id_at("Open relay", &d, 0), id_at("Open relay", &d, 0));
        assert_ne!(id_at("Open relay", &d, 0), id_at("Open relay", &d, 1));
        assert_ne!(
            id_at("Open relay", &d, 0),
            id_at("Closed", &digest_of("Closed"), 0)
        );
    }

    /// A collision (another body already holding a text's id) moves the text to its next
    /// id; both read back intact.
    #[tokio::test]
    async fn a_colliding_id_moves_to_the_next_probe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).await.expect("open");
        let body = "Relaying denied";
        let squatted = id_at(body, &digest_of(body), 0);
        sqlx::query("INSERT INTO texts (id, body) VALUES ($1, 'someone else')")
            .bind(squatted)
            .execute(&store.pool)
            .await
            .expect("squat");
        let ids = store
            .text_ids(&[body, "other", body], None)
            .await
            .expect("text ids");
        assert_eq!(ids[0], ids[2]);
        assert_ne!(ids[0], squatted);
        assert_eq!(ids[0], id_at(body, &digest_of(body), 1));
        let stored: String = sqlx::query_scalar("SELECT body FROM texts WHERE id = $1")
            .bind(ids[0])
            .fetch_one(&store.pool)
            .await
            .expect("read");
        assert_eq!(stored, body);
        // A new process (empty cache) finds the same ids.
        let again = Store::open(&dir.path().join("t.db")).await.expect("reopen");
        assert_eq!(
            again.text_ids(&[body], None).await.expect("ids"),
            vec![ids[0]]
        );
    }
}
