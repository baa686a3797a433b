//! Schema migrations: `assets/migrations/<database>/NNNN_name.sql`, embedded in the binary (or read
//! from a folder given with `--migrations-dir` / `SLM_WIZARD_MIGRATIONS_DIR`), applied in order,
//! each in its own transaction, and recorded in `migrations_applied` (name, sha256 checksum,
//! applied_at) of the database they belong to.
//!
//! Before anything is applied the recorded migrations are compared with the files: a changed
//! checksum or a missing file stops the run with nothing applied. Migrations run as the
//! application user of the database URL (the database owner; PostgreSQL 15 gives the owner CREATE
//! on schema `public` through `pg_database_owner`), never as a superuser.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use regex::Regex;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgDatabaseError, PgErrorPosition};
use sqlx::{Connection, PgConnection};

use super::{DbError, DbName};

/// The migrations compiled into the binary: (database, file name, SQL). Every file under
/// `assets/migrations/<database>/` must be listed (a unit test checks it).
pub const EMBEDDED: &[(&str, &str, &str)] = &[
    (
        "slm_users",
        "0001_user_management.sql",
        include_str!("../../assets/migrations/slm_users/0001_user_management.sql"),
    ),
    (
        "autobot_users",
        "0001_user_management.sql",
        include_str!("../../assets/migrations/autobot_users/0001_user_management.sql"),
    ),
];

/// The bookkeeping table, created if missing.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS public.migrations_applied (
    name        text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)";

/// Key of the session-level advisory lock that keeps two runs from migrating one database at once.
const LOCK_KEY: i64 = 0x736c_6d5f_6d69_6772; // "slm_migr"

/// How long to wait for another run's lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);

static NAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]{4})_[a-z0-9_]+\.sql$").expect("valid regex"));

/// Statements that would end the transaction a migration runs in.
static TX_CONTROL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)^\s*(BEGIN|START\s+TRANSACTION|COMMIT|ROLLBACK|ABORT)(\s+(WORK|TRANSACTION))?\s*;",
    )
    .expect("valid regex")
});

/// One migration file.
#[derive(Clone, PartialEq, Eq)]
pub struct Migration {
    /// The file name, e.g. `0001_user_management.sql` (the key in `migrations_applied`).
    pub name: String,
    pub sql: Cow<'static, str>,
    /// sha256 of the file, lowercase hex.
    pub checksum: String,
}

impl Migration {
    pub fn new(name: impl Into<String>, sql: impl Into<Cow<'static, str>>) -> Self {
        let sql = sql.into();
        let checksum = sha256_hex(sql.as_bytes());
        Self {
            name: name.into(),
            sql,
            checksum,
        }
    }
}

impl std::fmt::Debug for Migration {
    // Name and checksum only: targets are logged (e.g. the wizard's options at every start), and
    // the whole SQL would make one huge log line each time.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migration")
            .field("name", &self.name)
            .field("checksum", &self.checksum)
            .field("sql_bytes", &self.sql.len())
            .finish()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where the migration files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Compiled into the binary.
    Embedded,
    /// `DIR/<database>/NNNN_name.sql` (a missing `<database>` folder means no migrations).
    Dir(PathBuf),
}

impl Source {
    /// The migrations of `db`, ordered by number; checked (names, numbers, no transaction control).
    pub fn load(&self, db: DbName) -> Result<Vec<Migration>, DbError> {
        let (location, list) = match self {
            Source::Embedded => {
                let list = EMBEDDED
                    .iter()
                    .filter(|(d, _, _)| *d == db.as_str())
                    .map(|(_, name, sql)| Migration::new(*name, *sql))
                    .collect();
                (format!("embedded migrations of {db}"), list)
            }
            Source::Dir(dir) => {
                if !dir.is_dir() {
                    return Err(DbError::BadMigrations {
                        location: dir.display().to_string(),
                        problem: "not a folder (expected DIR/<database>/NNNN_name.sql)".into(),
                    });
                }
                let sub = dir.join(db.as_str());
                (sub.display().to_string(), read_dir(&sub)?)
            }
        };
        check(&location, list)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<Migration>, DbError> {
    let bad = |problem: String| DbError::BadMigrations {
        location: dir.display().to_string(),
        problem,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(bad(format!("cannot read: {e}"))),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| bad(format!("cannot read: {e}")))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".sql") || path.is_dir() {
            continue;
        }
        let sql = std::fs::read_to_string(&path).map_err(|e| DbError::BadMigrations {
            location: path.display().to_string(),
            problem: format!("cannot read: {e}"),
        })?;
        out.push(Migration::new(name, sql));
    }
    Ok(out)
}

/// Sorts by name and checks names, duplicates and transaction statements.
fn check(location: &str, mut list: Vec<Migration>) -> Result<Vec<Migration>, DbError> {
    list.sort_by(|a, b| a.name.cmp(&b.name));
    let mut prev: Option<(&str, &str)> = None;
    for m in &list {
        let bad = |problem: String| DbError::BadMigrations {
            location: format!("{location}/{}", m.name),
            problem,
        };
        let Some(caps) = NAME_RE.captures(&m.name) else {
            return Err(bad(
                "a migration's name must be NNNN_name.sql (four digits, then lowercase letters, digits, '_')"
                    .into(),
            ));
        };
        let number = caps.get(1).map(|g| g.as_str()).unwrap_or_default();
        if let Some((pn, pname)) = prev
            && pn == number
        {
            return Err(bad(format!("number {number} is also used by {pname}")));
        }
        if let Some(found) = TX_CONTROL_RE.find(&m.sql) {
            let line = m.sql[..found.start()].matches('\n').count() + 1;
            let stmt = found.as_str().trim();
            return Err(bad(format!(
                "line {line}: '{stmt}' — each migration already runs in its own transaction; remove it"
            )));
        }
        prev = Some((number, &m.name));
    }
    Ok(list)
}

/// A row of `migrations_applied`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRow {
    pub name: String,
    pub checksum: String,
    pub applied_at: DateTime<Utc>,
}

/// A migration's state in a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Applied,
    Pending,
    /// Applied, but the file changed since.
    Changed,
    /// Applied, but the file is gone.
    Missing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Changed => "changed",
            State::Missing => "missing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub name: String,
    pub state: State,
    pub applied_at: Option<DateTime<Utc>>,
    /// (recorded, file) checksums of a changed migration.
    pub checksums: Option<(String, String)>,
}

/// Compares the files with the recorded rows; ordered by name.
pub fn compare(migrations: &[Migration], applied: &[AppliedRow]) -> Vec<StatusRow> {
    let mut rows: Vec<StatusRow> = migrations
        .iter()
        .map(|m| match applied.iter().find(|a| a.name == m.name) {
            None => StatusRow {
                name: m.name.clone(),
                state: State::Pending,
                applied_at: None,
                checksums: None,
            },
            Some(a) if a.checksum == m.checksum => StatusRow {
                name: m.name.clone(),
                state: State::Applied,
                applied_at: Some(a.applied_at),
                checksums: None,
            },
            Some(a) => StatusRow {
                name: m.name.clone(),
                state: State::Changed,
                applied_at: Some(a.applied_at),
                checksums: Some((a.checksum.clone(), m.checksum.clone())),
            },
        })
        .collect();
    rows.extend(
        applied
            .iter()
            .filter(|a| !migrations.iter().any(|m| m.name == a.name))
            .map(|a| StatusRow {
                name: a.name.clone(),
                state: State::Missing,
                applied_at: Some(a.applied_at),
                checksums: None,
            }),
    );
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

/// The first reason not to migrate (a changed or missing applied migration).
fn drift_error(db: DbName, rows: &[StatusRow]) -> Option<DbError> {
    rows.iter().find_map(|r| match r.state {
        State::Changed => {
            let (recorded, actual) = r.checksums.clone().unwrap_or_default();
            Some(DbError::ChecksumMismatch {
                database: db.to_string(),
                file: r.name.clone(),
                recorded,
                actual,
            })
        }
        State::Missing => Some(DbError::MissingFile {
            database: db.to_string(),
            file: r.name.clone(),
        }),
        State::Applied | State::Pending => None,
    })
}

fn sql_error(db: DbName, context: &str, e: &sqlx::Error) -> DbError {
    DbError::Sql {
        database: db.to_string(),
        context: context.to_string(),
        message: describe(e),
    }
}

/// A database error as `message (SQLSTATE code)`, with PostgreSQL's detail and hint.
fn describe(e: &sqlx::Error) -> String {
    let Some(de) = e.as_database_error() else {
        return e.to_string();
    };
    let mut s = de.message().to_string();
    if let Some(pg) = de.try_downcast_ref::<PgDatabaseError>() {
        s.push_str(&format!(" (SQLSTATE {})", pg.code()));
        if let Some(d) = pg.detail() {
            s.push_str(&format!("; detail: {d}"));
        }
        if let Some(h) = pg.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        if let Some(w) = pg.r#where() {
            s.push_str(&format!("; context: {}", w.replace('\n', " / ")));
        }
    } else if let Some(code) = de.code() {
        s.push_str(&format!(" (SQLSTATE {code})"));
    }
    s
}

/// The 1-based line of the file where PostgreSQL located the error, if it did.
fn error_line(sql: &str, e: &sqlx::Error) -> Option<usize> {
    let pg = e
        .as_database_error()?
        .try_downcast_ref::<PgDatabaseError>()?;
    match pg.position()? {
        PgErrorPosition::Original(pos) => Some(line_of(sql, pos)),
        PgErrorPosition::Internal { .. } => None,
    }
}

/// The line of the 1-based character position `pos` of `sql`.
fn line_of(sql: &str, pos: usize) -> usize {
    sql.chars()
        .take(pos.saturating_sub(1))
        .filter(|&c| c == '\n')
        .count()
        + 1
}

/// The recorded migrations, or `None` when the database has no `migrations_applied` yet.
pub async fn read_applied(
    conn: &mut PgConnection,
    db: DbName,
) -> Result<Option<Vec<AppliedRow>>, DbError> {
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = 'migrations_applied'",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| sql_error(db, "cannot read information_schema", &e))?;
    if columns.is_empty() {
        return Ok(None);
    }
    if let Some(missing) = ["name", "checksum", "applied_at"]
        .into_iter()
        .find(|c| !columns.iter().any(|have| have == c))
    {
        return Err(DbError::Sql {
            database: db.to_string(),
            context: "table migrations_applied has another layout".into(),
            message: format!(
                "column {missing} is missing (expected name, checksum, applied_at); it was not created by slm-wizard"
            ),
        });
    }
    let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT name, checksum, applied_at FROM public.migrations_applied ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| sql_error(db, "cannot read migrations_applied", &e))?;
    Ok(Some(
        rows.into_iter()
            .map(|(name, checksum, applied_at)| AppliedRow {
                name,
                checksum,
                applied_at,
            })
            .collect(),
    ))
}

/// The state of every migration (read only: nothing is created).
pub async fn status(
    conn: &mut PgConnection,
    db: DbName,
    migrations: &[Migration],
) -> Result<Vec<StatusRow>, DbError> {
    let applied = read_applied(conn, db).await?.unwrap_or_default();
    Ok(compare(migrations, &applied))
}

/// What `apply` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Applied by this run, in order.
    pub applied: Vec<String>,
    /// Applied before.
    pub already: usize,
}

/// Applies the pending migrations in order, each in its own transaction, after checking that no
/// applied migration changed or vanished. `on_applied` is called after each commit.
pub async fn apply(
    conn: &mut PgConnection,
    db: DbName,
    migrations: &[Migration],
    mut on_applied: impl FnMut(&Migration, Duration),
) -> Result<ApplyReport, DbError> {
    lock(conn, db).await?;
    let result = apply_locked(conn, db, migrations, &mut on_applied).await;
    // The lock also ends with the session; unlock explicitly for pooled callers.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await;
    result
}

async fn lock(conn: &mut PgConnection, db: DbName) -> Result<(), DbError> {
    let start = Instant::now();
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| sql_error(db, "cannot take the migration lock", &e))?;
        if got {
            return Ok(());
        }
        if start.elapsed() >= LOCK_WAIT {
            return Err(DbError::Locked {
                database: db.to_string(),
                waited_s: LOCK_WAIT.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn apply_locked(
    conn: &mut PgConnection,
    db: DbName,
    migrations: &[Migration],
    on_applied: &mut impl FnMut(&Migration, Duration),
) -> Result<ApplyReport, DbError> {
    if read_applied(conn, db).await?.is_none() {
        sqlx::raw_sql(CREATE_TABLE)
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                sql_error(
                    db,
                    "cannot create table migrations_applied (the user needs CREATE on schema public: make it the database owner)",
                    &e,
                )
            })?;
    }
    let applied = read_applied(conn, db).await?.unwrap_or_default();
    let rows = compare(migrations, &applied);
    if let Some(e) = drift_error(db, &rows) {
        return Err(e);
    }
    let mut report = ApplyReport {
        applied: Vec::new(),
        already: rows.iter().filter(|r| r.state == State::Applied).count(),
    };
    for m in migrations {
        if rows
            .iter()
            .any(|r| r.name == m.name && r.state == State::Applied)
        {
            continue;
        }
        let start = Instant::now();
        let mut tx = conn
            .begin()
            .await
            .map_err(|e| sql_error(db, "cannot start a transaction", &e))?;
        let run = async {
            sqlx::raw_sql(sqlx::AssertSqlSafe(m.sql.as_ref()))
                .execute(&mut *tx)
                .await
                .map_err(|e| DbError::MigrationSql {
                    database: db.to_string(),
                    file: m.name.clone(),
                    line: error_line(&m.sql, &e),
                    message: describe(&e),
                })?;
            sqlx::query("INSERT INTO public.migrations_applied (name, checksum) VALUES ($1, $2)")
                .bind(&m.name)
                .bind(&m.checksum)
                .execute(&mut *tx)
                .await
                .map_err(|e| DbError::MigrationSql {
                    database: db.to_string(),
                    file: m.name.clone(),
                    line: None,
                    message: format!("cannot record it in migrations_applied: {}", describe(&e)),
                })?;
            Ok::<(), DbError>(())
        }
        .await;
        match run {
            Ok(()) => tx.commit().await.map_err(|e| DbError::MigrationSql {
                database: db.to_string(),
                file: m.name.clone(),
                line: None,
                message: format!("commit failed: {}", describe(&e)),
            })?,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        }
        on_applied(m, start.elapsed());
        report.applied.push(m.name.clone());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Every file under assets/migrations/<database>/ is embedded, with the same text, and
    /// nothing else is.
    #[test]
    fn embedded_list_matches_the_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/migrations");
        let mut on_disk = BTreeMap::new();
        for db in std::fs::read_dir(&root).expect("assets/migrations") {
            let db = db.unwrap();
            if !db.path().is_dir() {
                continue;
            }
            let dbname = db.file_name().to_string_lossy().into_owned();
            assert!(
                DbName::from_name(&dbname).is_some(),
                "assets/migrations/{dbname} is not a database of the spec"
            );
            for f in std::fs::read_dir(db.path()).unwrap() {
                let f = f.unwrap();
                let name = f.file_name().to_string_lossy().into_owned();
                if name.ends_with(".sql") {
                    let text = std::fs::read_to_string(f.path()).unwrap();
                    on_disk.insert((dbname.clone(), name), text);
                }
            }
        }
        let embedded: BTreeMap<(String, String), String> = EMBEDDED
            .iter()
            .map(|(d, n, s)| ((d.to_string(), n.to_string()), s.to_string()))
            .collect();
        assert_eq!(
            embedded.len(),
            EMBEDDED.len(),
            "duplicate entries in EMBEDDED"
        );
        let disk_keys: Vec<_> = on_disk.keys().collect();
        let emb_keys: Vec<_> = embedded.keys().collect();
        assert_eq!(
            emb_keys, disk_keys,
            "EMBEDDED in src/db/migrate.rs must list exactly the files of assets/migrations"
        );
        assert_eq!(embedded, on_disk);
        for db in DbName::ALL {
            Source::Embedded
                .load(db)
                .expect("embedded migrations are valid");
        }
        assert_eq!(Source::Embedded.load(DbName::SlmUsers).unwrap().len(), 1);
        assert!(Source::Embedded.load(DbName::Slm).unwrap().is_empty());
    }

    #[test]
    fn checksum_is_sha256_hex_of_the_file() {
        let m = Migration::new("0001_a.sql", "abc");
        assert_eq!(
            m.checksum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn names_numbers_and_transaction_statements_are_checked() {
        let ok = check(
            "d",
            vec![
                Migration::new("0002_b.sql", "SELECT 2;"),
                Migration::new(
                    "0001_a.sql",
                    "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$;",
                ),
            ],
        )
        .unwrap();
        assert_eq!(ok[0].name, "0001_a.sql");
        for (list, want) in [
            (vec![Migration::new("1_a.sql", "")], "NNNN_name.sql"),
            (vec![Migration::new("0001_Users.sql", "")], "NNNN_name.sql"),
            (
                vec![
                    Migration::new("0001_a.sql", ""),
                    Migration::new("0001_b.sql", ""),
                ],
                "number 0001 is also used by 0001_a.sql",
            ),
            (
                vec![Migration::new("0001_a.sql", "SELECT 1;\ncommit;\n")],
                "d/0001_a.sql: line 2: 'commit;'",
            ),
            (
                vec![Migration::new("0001_a.sql", "BEGIN;\nSELECT 1;\n")],
                "line 1: 'BEGIN;'",
            ),
        ] {
            let e = check("d", list).unwrap_err();
            assert!(e.is_bad_input());
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn compare_finds_pending_changed_and_missing() {
        let t = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let a = Migration::new("0001_a.sql", "a");
        let b = Migration::new("0002_b.sql", "b");
        let c = Migration::new("0003_c.sql", "c");
        let applied = vec![
            AppliedRow {
                name: a.name.clone(),
                checksum: a.checksum.clone(),
                applied_at: t,
            },
            AppliedRow {
                name: b.name.clone(),
                checksum: sha256_hex(b"old"),
                applied_at: t,
            },
            AppliedRow {
                name: "0000_gone.sql".into(),
                checksum: "x".into(),
                applied_at: t,
            },
        ];
        let rows = compare(&[a, b.clone(), c], &applied);
        let states: Vec<_> = rows.iter().map(|r| (r.name.as_str(), r.state)).collect();
        assert_eq!(
            states,
            vec![
                ("0000_gone.sql", State::Missing),
                ("0001_a.sql", State::Applied),
                ("0002_b.sql", State::Changed),
                ("0003_c.sql", State::Pending),
            ]
        );
        let e = drift_error(DbName::SlmUsers, &rows).unwrap();
        assert!(matches!(e, DbError::MissingFile { .. }));
        let e = drift_error(DbName::SlmUsers, &rows[1..]).unwrap();
        let msg = e.to_string();
        assert!(
            msg.starts_with("slm_users: 0002_b.sql was changed"),
            "{msg}"
        );
        assert!(msg.contains(&b.checksum), "{msg}");
        assert!(!e.is_bad_input());
    }

    #[test]
    fn dir_source_reads_database_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("slm_users")).unwrap();
        std::fs::write(dir.path().join("slm_users/0002_b.sql"), "SELECT 2;").unwrap();
        std::fs::write(dir.path().join("slm_users/0001_a.sql"), "SELECT 1;").unwrap();
        std::fs::write(dir.path().join("slm_users/README.md"), "notes").unwrap();
        let src = Source::Dir(dir.path().to_path_buf());
        let names: Vec<_> = src
            .load(DbName::SlmUsers)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, vec!["0001_a.sql", "0002_b.sql"]);
        assert!(src.load(DbName::Slm).unwrap().is_empty());
        let e = Source::Dir(dir.path().join("nope"))
            .load(DbName::Slm)
            .unwrap_err();
        assert!(e.is_bad_input(), "{e}");
    }

    #[test]
    fn line_of_counts_characters_not_bytes() {
        let sql = "-- é\nSELECT 1;\nSELEC 2;";
        let pos = sql.chars().position(|c| c == 'L').unwrap() + 1; // "SELECT" on line 2
        assert_eq!(line_of(sql, pos), 2);
        let pos = sql.chars().count() - 7; // "SELEC 2;" on line 3
        assert_eq!(line_of(sql, pos), 3);
        assert_eq!(line_of(sql, 1), 1);
    }
}
