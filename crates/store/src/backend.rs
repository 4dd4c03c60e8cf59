//! The two backends behind one store: SQLite (a file, the default) and PostgreSQL (a server
//! several workers share). Both are reached through sqlx's `Any` driver, so every query in
//! this crate is written once, in the SQL both accept (`$1` placeholders, `ON CONFLICT`
//! upserts, `CAST(SUM(…) AS BIGINT)`); the few places where they differ ask [`Backend`].

use crate::StoreError;
use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{ConnectOptions, SqlSafeStr};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (WAL mode).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a `--db` value names: a `postgres://` or `postgresql://` URL, or a file.
    pub fn of(spec: &str) -> Self {
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    /// The clause that makes a claiming sub-select skip rows other workers hold. SQLite has
    /// one writer at a time, so a plain sub-select is already exclusive there.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// A `--db` value as it may be shown: a PostgreSQL URL loses its password.
pub fn redact(spec: &str) -> String {
    if Backend::of(spec) == Backend::Sqlite {
        return spec.to_owned();
    }
    match url_password_span(spec) {
        Some((a, b)) => format!("{}***{}", &spec[..a], &spec[b..]),
        None => spec.to_owned(),
    }
}

/// Byte range of the password in `scheme://user:password@host…`, if there is one.
fn url_password_span(spec: &str) -> Option<(usize, usize)> {
    let start = spec.find("://")? + 3;
    let authority_end = spec[start..]
        .find(['/', '?'])
        .map_or(spec.len(), |i| start + i);
    let at = spec[start..authority_end].rfind('@')? + start;
    let colon = spec[start..at].find(':')? + start;
    Some((colon + 1, at))
}

fn migration(version: i64, name: &'static str, sql: &'static str) -> Migration {
    Migration::new(
        version,
        name.into(),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )
}

/// The schema's migrations for a backend: the same versions and tables on both.
fn migrator(backend: Backend) -> Migrator {
    let m = match backend {
        Backend::Sqlite => vec![
            migration(
                1,
                "init",
                include_str!("../migrations/sqlite/0001_init.sql"),
            ),
            migration(
                2,
                "software",
                include_str!("../migrations/sqlite/0002_software.sql"),
            ),
            migration(
                3,
                "survey",
                include_str!("../migrations/common/0003_survey.sql"),
            ),
            migration(
                4,
                "roles",
                include_str!("../migrations/common/0004_roles.sql"),
            ),
        ],
        Backend::Postgres => vec![
            migration(
                1,
                "init",
                include_str!("../migrations/postgres/0001_init.sql"),
            ),
            migration(
                2,
                "software",
                include_str!("../migrations/postgres/0002_software.sql"),
            ),
            migration(
                3,
                "survey",
                include_str!("../migrations/common/0003_survey.sql"),
            ),
            migration(
                4,
                "roles",
                include_str!("../migrations/common/0004_roles.sql"),
            ),
        ],
    };
    Migrator::with_migrations(m)
}

/// Connects and brings the schema up to date.
pub(crate) async fn connect(spec: &str) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(spec);
    let shown = redact(spec);
    let open_err = |e: sqlx::Error| match StoreError::from_sqlx(e, &shown) {
        StoreError::Backend(reason) => StoreError::Open {
            path: shown.clone(),
            reason,
        },
        other => other,
    };
    let pool = match backend {
        Backend::Sqlite => {
            // An absolute path keeps a relative file name from being read as a URL's host.
            let path = std::path::absolute(Path::new(spec)).map_err(|e| StoreError::Open {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            let url = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .to_url_lossy();
            let opts = AnyConnectOptions::from_url(&url).map_err(open_err)?;
            AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL: readers never block the one writer; NORMAL sync is safe in
                        // WAL mode (a power cut loses at most the last commits, never
                        // consistency); the busy timeout waits out another process's commit.
                        sqlx::raw_sql(
                            "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON;",
                        )
                        .execute(&mut *conn)
                        .await?;
                        // Switching to WAL takes a lock that the busy timeout does not wait
                        // for: only switch a new file, never one another process has open.
                        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                            .fetch_one(&mut *conn)
                            .await?;
                        if !mode.eq_ignore_ascii_case("wal") {
                            sqlx::raw_sql("PRAGMA journal_mode = WAL")
                                .execute(&mut *conn)
                                .await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await
                .map_err(open_err)?
        }
        Backend::Postgres => {
            let opts = AnyConnectOptions::from_str(spec).map_err(open_err)?;
            AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await
                .map_err(open_err)?
        }
    };
    migrator(backend).run(&pool).await.map_err(|e| {
        let msg = e.to_string();
        if msg.to_ascii_lowercase().contains("locked") {
            StoreError::Locked {
                path: shown.clone(),
            }
        } else {
            StoreError::Migration(msg)
        }
    })?;
    Ok((pool, backend))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_and_redaction() {
        assert_eq!(Backend::of("scan.db"), Backend::Sqlite);
        assert_eq!(Backend::of("postgresql://h/db"), Backend::Postgres);
        assert_eq!(
            redact("postgres://mx:s3cr:et@db.example:5432/survey?sslmode=require"),
            "postgres://mx:***@db.example:5432/survey?sslmode=require"
        );
        assert_eq!(redact("postgres://mx@db/survey"), "postgres://mx@db/survey");
        assert_eq!(redact("/tmp/a:b@c.db"), "/tmp/a:b@c.db");
    }
}
