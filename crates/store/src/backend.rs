//! The two backends behind one store: SQLite (a file, the default) and PostgreSQL (a server
//! several workers share). Both are reached through sqlx's `Any` driver, so every query in
//! this crate is written once, in the SQL both accept (`$1` placeholders, `ON CONFLICT`
//! upserts, `CAST(SUM(…) AS BIGINT)`); the few places where they differ ask [`Backend`].

use crate::StoreError;
use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{ConnectOptions, Connection, SqlSafeStr};
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
                "advisories",
                include_str!("../migrations/sqlite/0004_advisories.sql"),
            ),
            migration(
                5,
                "scan_lock",
                include_str!("../migrations/sqlite/0005_scan_lock.sql"),
            ),
            migration(
                6,
                "compact",
                include_str!("../migrations/sqlite/0006_compact.sql"),
            ),
            migration(
                7,
                "roles",
                include_str!("../migrations/common/0007_roles.sql"),
            ),
            migration(
                8,
                "views",
                include_str!("../migrations/common/0008_views.sql"),
            ),
            migration(
                9,
                "watch",
                include_str!("../migrations/sqlite/0009_watch.sql"),
            ),
            migration(
                10,
                "seconds",
                include_str!("../migrations/common/0010_seconds.sql"),
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
                "advisories",
                include_str!("../migrations/postgres/0004_advisories.sql"),
            ),
            migration(
                5,
                "scan_lock",
                include_str!("../migrations/postgres/0005_scan_lock.sql"),
            ),
            migration(
                6,
                "compact",
                include_str!("../migrations/postgres/0006_compact.sql"),
            ),
            migration(
                7,
                "roles",
                include_str!("../migrations/common/0007_roles.sql"),
            ),
            migration(
                8,
                "views",
                include_str!("../migrations/common/0008_views.sql"),
            ),
            migration(
                9,
                "watch",
                include_str!("../migrations/postgres/0009_watch.sql"),
            ),
            migration(
                10,
                "seconds",
                include_str!("../migrations/common/0010_seconds.sql"),
            ),
        ],
    };
    Migrator::with_migrations(m)
}

/// How a store is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Created if missing, schema brought up to date (scans, imports).
    ReadWrite,
    /// Never written: no file created, no migration, SQLite opened `mode=ro` (and, in a
    /// directory the reader cannot write, as an immutable file), so `report`, `export` and
    /// `stats` read a survey another user owns.
    ReadOnly,
}

/// How long a first connection may take (a PostgreSQL server that drops packets, a SQLite
/// file another process holds) before the open fails with a clear reason.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a SQLite statement waits for another process's write lock. Every write
/// transaction starts with `BEGIN IMMEDIATE` (see `Store::begin_write`), so a writer waits
/// here instead of failing; another process holds the lock for one batch, and the former 5 s
/// left little margin on a loaded machine (several scans and readers on two cores).
const BUSY_TIMEOUT: Duration = Duration::from_secs(20);

/// SQLite's primary result codes (<https://sqlite.org/rescode.html>) that name a cause the
/// operator can act on.
mod sqlite_code {
    pub const BUSY: &str = "5";
    pub const LOCKED: &str = "6";
    pub const READONLY: &str = "8";
    pub const CANTOPEN: &str = "14";
    pub const CORRUPT: &str = "11";
    pub const NOTADB: &str = "26";
    pub const PERM: &str = "3";
    pub const AUTH: &str = "23";
}

/// The typed reason a first SQLite connection failed, from the result code (the extended
/// code's low byte is the primary code) and the file's own metadata.
fn sqlite_open_error(e: &sqlx::Error, path: &Path, shown: &str, mode: OpenMode) -> StoreError {
    let code = match e {
        sqlx::Error::Database(d) => d.code().map(|c| {
            c.parse::<i64>()
                .map_or_else(|_| c.into_owned(), |n| (n & 0xff).to_string())
        }),
        _ => None,
    };
    let permission = |write: bool| {
        let path = shown.to_owned();
        if write {
            StoreError::WriteDenied { path }
        } else {
            StoreError::ReadDenied { path }
        }
    };
    match code.as_deref() {
        Some(sqlite_code::NOTADB | sqlite_code::CORRUPT) => StoreError::NotADatabase {
            path: shown.to_owned(),
        },
        Some(sqlite_code::BUSY | sqlite_code::LOCKED) => StoreError::Locked {
            path: shown.to_owned(),
        },
        Some(sqlite_code::READONLY) => permission(true),
        Some(sqlite_code::PERM | sqlite_code::AUTH) => permission(mode == OpenMode::ReadWrite),
        Some(sqlite_code::CANTOPEN) | None => {
            let dir = path.parent().unwrap_or(Path::new("."));
            if !dir.is_dir() {
                return StoreError::Open {
                    path: shown.to_owned(),
                    reason: format!("directory {} does not exist", dir.display()),
                };
            }
            match std::fs::File::open(path) {
                Err(io) if io.kind() == std::io::ErrorKind::PermissionDenied => permission(false),
                // Readable (or absent) but not openable read-write: the file or its
                // directory (journal, WAL) is not writable.
                Ok(_) if mode == OpenMode::ReadWrite => permission(true),
                Err(io)
                    if mode == OpenMode::ReadWrite && io.kind() == std::io::ErrorKind::NotFound =>
                {
                    permission(true)
                }
                _ => StoreError::Open {
                    path: shown.to_owned(),
                    reason: e.to_string(),
                },
            }
        }
        Some(_) => StoreError::Open {
            path: shown.to_owned(),
            reason: e.to_string(),
        },
    }
}

/// Where a PostgreSQL URL points, `host:port`, for messages.
fn pg_server(opts: &sqlx::postgres::PgConnectOptions) -> String {
    format!("{}:{}", opts.get_host(), opts.get_port())
}

/// The newest schema version this build knows.
pub(crate) fn latest_version(backend: Backend) -> i64 {
    migrator(backend)
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Connects and brings the schema up to date (read-write), or only connects (read-only).
pub(crate) async fn connect(spec: &str, mode: OpenMode) -> Result<(AnyPool, Backend), StoreError> {
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
    // Held until the schema is up to date (SQLite, read-write): see `migration_lock`.
    let mut migrating: Option<std::fs::File> = None;
    let pool = match backend {
        Backend::Sqlite => {
            // An absolute path keeps a relative file name from being read as a URL's host.
            let path = std::path::absolute(Path::new(spec)).map_err(|e| StoreError::Open {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            if mode == OpenMode::ReadOnly {
                return Ok((open_sqlite_read_only(&path, &shown).await?, backend));
            }
            writable(&path).map_err(|()| StoreError::WriteDenied {
                path: shown.clone(),
            })?;
            // Held until the schema is up to date: sqlx takes no lock around SQLite
            // migrations, so two scans started together on a new file both ran them ("table
            // scans already exists", "database is locked" from the WAL switch).
            migrating = Some(migration_lock(&path, &shown).await?);
            let sqlite = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .busy_timeout(BUSY_TIMEOUT);
            // One plain connection first: the pool would retry a failing connection until
            // its acquire timeout (30 s) and then report only "timed out".
            first_sqlite_connection(&sqlite)
                .await
                .map_err(|e| sqlite_open_error(&e, &path, &shown, mode))?;
            let url = sqlite.to_url_lossy();
            let opts = AnyConnectOptions::from_url(&url).map_err(open_err)?;
            AnyPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(CONNECT_TIMEOUT)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL: readers never block the one writer; NORMAL sync is safe in
                        // WAL mode (a power cut loses at most the last commits, never
                        // consistency); the busy timeout waits out another process's commit.
                        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "PRAGMA busy_timeout = {}; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON;",
                            BUSY_TIMEOUT.as_millis()
                        )))
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
            let pg = sqlx::postgres::PgConnectOptions::from_str(spec).map_err(open_err)?;
            let server = pg_server(&pg);
            // One plain connection first, bounded: a refused or silent server is named at
            // once, not after the pool's retries.
            let unreachable = |reason: String| StoreError::Unreachable {
                server: server.clone(),
                reason,
            };
            match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect_with(&pg)).await
            {
                Err(_) => {
                    return Err(unreachable(format!(
                        "no answer in {} s",
                        CONNECT_TIMEOUT.as_secs()
                    )));
                }
                Ok(Err(sqlx::Error::Io(io))) => return Err(unreachable(io.to_string())),
                Ok(Err(sqlx::Error::Tls(t))) => return Err(unreachable(format!("TLS: {t}"))),
                Ok(Err(e)) => return Err(open_err(e)),
                Ok(Ok(c)) => {
                    let _ = c.close().await;
                }
            }
            let opts = AnyConnectOptions::from_str(spec).map_err(open_err)?;
            let pool = AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await
                .map_err(open_err)?;
            if mode == OpenMode::ReadOnly {
                return Ok((pool, backend));
            }
            pool
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
    drop(migrating);
    Ok((pool, backend))
}

/// An exclusive `flock` on the database file itself, waited for on a blocking thread (a
/// holder that dies releases it). On Linux `flock` locks are independent of the `fcntl`
/// locks SQLite takes, so readers and SQLite's own locking are unaffected; other processes
/// opening the file read-write wait here until the schema is up to date. Creates the file
/// when missing (an empty file is an empty SQLite database).
async fn migration_lock(path: &Path, shown: &str) -> Result<std::fs::File, StoreError> {
    let open_err = |e: std::io::Error| StoreError::Open {
        path: shown.to_owned(),
        reason: e.to_string(),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => StoreError::WriteDenied {
                path: shown.to_owned(),
            },
            _ => open_err(e),
        })?;
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| StoreError::Open {
            path: shown.to_owned(),
            reason: e.to_string(),
        })?
        .map_err(open_err)
}

/// Whether this user may write the database file and create its journal next to it (SQLite
/// would otherwise open it read-only without a word, and fail at the first write). Checked
/// without taking SQLite's write lock, which the workers of a survey share.
fn writable(path: &Path) -> Result<(), ()> {
    use std::io::ErrorKind::PermissionDenied;
    let denied =
        |r: std::io::Result<std::fs::File>| matches!(r, Err(e) if e.kind() == PermissionDenied);
    if path.exists() && denied(std::fs::OpenOptions::new().append(true).open(path)) {
        return Err(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let probe = dir.join(format!(".mxray-write-probe-{}", std::process::id()));
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    if made.is_ok() {
        let _ = std::fs::remove_file(&probe);
    }
    if denied(made) { Err(()) } else { Ok(()) }
}

/// Opens and checks one SQLite connection (the file header is read by the first query), so
/// a file that is not a database fails here with its result code.
async fn first_sqlite_connection(
    opts: &sqlx::sqlite::SqliteConnectOptions,
) -> Result<(), sqlx::Error> {
    let mut c = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::SqliteConnection::connect_with(opts))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    sqlx::query("SELECT COUNT(*) FROM sqlite_master")
        .execute(&mut c)
        .await?;
    c.close().await
}

/// A read-only SQLite pool: `mode=ro`; when even that cannot open (a WAL database in a
/// directory the reader cannot write has no `-shm` file to create), the file is opened as
/// immutable, which is what a survey copied or shared read-only is.
async fn open_sqlite_read_only(path: &Path, shown: &str) -> Result<AnyPool, StoreError> {
    if !path.exists() {
        return Err(StoreError::Open {
            path: shown.to_owned(),
            reason: "no such file".into(),
        });
    }
    let ro = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(BUSY_TIMEOUT);
    let opts = match first_sqlite_connection(&ro).await {
        Ok(()) => ro,
        Err(first) => {
            let immutable = ro.clone().immutable(true);
            match first_sqlite_connection(&immutable).await {
                Ok(()) => immutable,
                // The first error names the cause (not a database, permission).
                Err(_) => return Err(sqlite_open_error(&first, path, shown, OpenMode::ReadOnly)),
            }
        }
    };
    let any = AnyConnectOptions::from_url(&opts.to_url_lossy()).map_err(|e| StoreError::Open {
        path: shown.to_owned(),
        reason: e.to_string(),
    })?;
    AnyPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(any)
        .await
        .map_err(|e| StoreError::Open {
            path: shown.to_owned(),
            reason: e.to_string(),
        })
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
