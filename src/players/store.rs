//! Player storage over sqlx, on SQLite (the embedded default) or PostgreSQL (several
//! instances sharing one database). The SQL is portable (placeholders `$n`, TEXT ids and
//! dates, a named UNIQUE constraint), so each statement is written once and run on
//! whichever pool the URL selected; only the migrations differ (`migrations/sqlite`,
//! `migrations/postgres`: BIGINT squad numbers on PostgreSQL).

use std::{str::FromStr, time::Duration};

use chrono::NaiveDate;
use sqlx::{
    FromRow, PgPool, SqlitePool,
    postgres::{PgConnectOptions, PgDatabaseError, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use uuid::Uuid;

use super::model::{NewPlayer, Player};
use crate::{
    config::{DatabaseConfig, Synchronous},
    error::Error,
};

/// The detail of a 409: the squad number is another player's.
pub const SQUAD_NUMBER_TAKEN: &str = "A player with this squad number already exists";

#[derive(Debug, FromRow)]
struct PlayerRow {
    id: String,
    first_name: String,
    middle_name: Option<String>,
    last_name: String,
    date_of_birth: Option<String>,
    squad_number: i64,
    position: String,
    abbr_position: Option<String>,
    team: Option<String>,
    league: Option<String>,
    starting11: bool,
}

impl TryFrom<PlayerRow> for Player {
    type Error = Error;

    fn try_from(row: PlayerRow) -> Result<Self, Error> {
        let id = Uuid::parse_str(&row.id)
            .map_err(|e| Error::internal("stored player id is not a UUID", e))?;
        let date_of_birth = row
            .date_of_birth
            .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
            .transpose()
            .map_err(|e| Error::internal("stored date of birth is not a date", e))?;
        Ok(Player {
            id,
            first_name: row.first_name,
            middle_name: row.middle_name,
            last_name: row.last_name,
            date_of_birth,
            squad_number: row.squad_number,
            position: row.position,
            abbr_position: row.abbr_position,
            team: row.team,
            league: row.league,
            starting11: row.starting11,
        })
    }
}

/// The players table, on one of the supported databases.
#[derive(Clone)]
pub struct PlayerStore {
    pool: Pool,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A SELECT of every player column, followed by `$rest` (the WHERE or ORDER BY clause).
macro_rules! select_players {
    ($rest:literal) => {
        concat!(
            "SELECT id, first_name, middle_name, last_name, date_of_birth, squad_number, ",
            "position, abbr_position, team, league, starting11 FROM players ",
            $rest
        )
    };
}

/// Runs `$body` with `$pool` bound to whichever pool the store has: one statement, type
/// checked against each driver.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Binds a player's fields as `$first..` in INSERT's column order (after the id there).
macro_rules! bind_player {
    ($query:expr, $new:expr) => {
        $query
            .bind(&$new.first_name)
            .bind(&$new.middle_name)
            .bind(&$new.last_name)
            .bind($new.date_of_birth.map(|d| d.format("%Y-%m-%d").to_string()))
            .bind($new.squad_number.get())
            .bind(&$new.position)
            .bind(&$new.abbr_position)
            .bind(&$new.team)
            .bind(&$new.league)
            .bind($new.starting11)
    };
}

/// A database failure as the client sees it: 503 when the database is unreachable, busy,
/// read-only, out of space or shutting down (it may recover; the process stays up), 500
/// otherwise.
fn db_error(e: sqlx::Error) -> Error {
    let unavailable = match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => match db.try_downcast_ref::<PgDatabaseError>() {
            // SQLSTATE classes 08 (connection), 53 (insufficient resources), 57
            // (operator intervention, e.g. shutdown); 25006 read-only transaction.
            Some(pg) => {
                let code = pg.code();
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57")
                    || code == "25006"
            }
            // SQLite primary result codes (the low byte of extended codes): BUSY 5,
            // LOCKED 6, NOMEM 7, READONLY 8, IOERR 10, FULL 13, CANTOPEN 14.
            None => db.code().is_some_and(|code| {
                code.parse::<i32>()
                    .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 7 | 8 | 10 | 13 | 14))
            }),
        },
        _ => false,
    };
    if unavailable {
        tracing::error!(cause = %e, "database unavailable");
        Error::Unavailable
    } else {
        Error::internal("database error", e)
    }
}

impl PlayerStore {
    /// Whether `url` names a PostgreSQL database; any other is SQLite.
    pub fn is_postgres(url: &str) -> bool {
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// The directory a SQLite `url` names that does not exist, if any, made absolute
    /// (a relative one is relative to the working directory): SQLite creates a missing
    /// file but not its directory, and then says only "unable to open database file".
    pub fn missing_sqlite_directory(url: &str) -> Option<std::path::PathBuf> {
        if Self::is_postgres(url) {
            return None;
        }
        let in_memory = url.contains(":memory:")
            || url.split_once('?').is_some_and(|(_, query)| {
                form_urlencoded::parse(query.as_bytes())
                    .any(|(name, value)| name == "mode" && value == "memory")
            });
        if in_memory {
            return None;
        }
        let options = SqliteConnectOptions::from_str(url).ok()?;
        let directory = options.get_filename().parent()?;
        if directory.as_os_str().is_empty() || directory.is_dir() {
            return None;
        }
        Some(std::path::absolute(directory).unwrap_or_else(|_| directory.to_owned()))
    }

    /// Opens the database at `url` — `sqlite://...` (created if needed) or
    /// `postgres://...` — and applies its migrations, which also seed the squad on first
    /// start. On PostgreSQL the migrator holds an advisory lock, so instances starting
    /// together migrate and seed once.
    pub async fn connect(url: &str, settings: &DatabaseConfig) -> Result<Self, sqlx::Error> {
        let timeout = Duration::from_millis(settings.busy_timeout_ms);
        let pool = if Self::is_postgres(url) {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(timeout)
                .connect_with(options)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Pool::Postgres(pool)
        } else {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                // WAL + NORMAL: a commit survives a crash of this process, not of the OS;
                // FULL syncs every commit to the disk before it is acknowledged.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match settings.synchronous {
                    Synchronous::Normal => SqliteSynchronous::Normal,
                    Synchronous::Full => SqliteSynchronous::Full,
                })
                .busy_timeout(timeout)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(timeout)
                .connect_with(options)
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Pool::Sqlite(pool)
        };
        Ok(Self { pool })
    }

    pub async fn all(&self) -> Result<Vec<Player>, Error> {
        const SQL: &str = select_players!("ORDER BY squad_number");
        let rows: Vec<PlayerRow> =
            with_pool!(self, pool => sqlx::query_as(SQL).fetch_all(pool).await)
                .map_err(db_error)?;
        rows.into_iter().map(Player::try_from).collect()
    }

    pub async fn by_id(&self, id: Uuid) -> Result<Option<Player>, Error> {
        const SQL: &str = select_players!("WHERE id = $1");
        let id = id.to_string();
        let row: Option<PlayerRow> =
            with_pool!(self, pool => sqlx::query_as(SQL).bind(&id).fetch_optional(pool).await)
                .map_err(db_error)?;
        row.map(Player::try_from).transpose()
    }

    pub async fn by_squad_number(&self, squad_number: i64) -> Result<Option<Player>, Error> {
        const SQL: &str = select_players!("WHERE squad_number = $1");
        let row: Option<PlayerRow> =
            with_pool!(self, pool => sqlx::query_as(SQL).bind(squad_number).fetch_optional(pool).await)
                .map_err(db_error)?;
        row.map(Player::try_from).transpose()
    }

    /// Inserts a new player with a fresh id; a taken squad number is a conflict.
    pub async fn create(&self, new: NewPlayer) -> Result<Player, Error> {
        const SQL: &str = concat!(
            "INSERT INTO players (id, first_name, middle_name, last_name, date_of_birth, ",
            "squad_number, position, abbr_position, team, league, starting11) ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        let id = Uuid::new_v4();
        let id_text = id.to_string();
        let result = with_pool!(self, pool => {
            bind_player!(sqlx::query(SQL).bind(&id_text), new).execute(pool).await.map(|_| ())
        });
        match result {
            Ok(()) => Ok(player(id, new)),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(Error::Conflict(SQUAD_NUMBER_TAKEN))
            }
            Err(e) => Err(db_error(e)),
        }
    }

    /// Replaces every field of the player holding `new.squad_number`, keeping its id.
    /// Returns `false` when there is no such player.
    pub async fn replace(&self, new: NewPlayer) -> Result<bool, Error> {
        // Same binding order as INSERT ($1 is the id there); the squad number ($5) selects the row.
        const SQL: &str = concat!(
            "UPDATE players SET first_name = $1, middle_name = $2, last_name = $3, ",
            "date_of_birth = $4, position = $6, abbr_position = $7, team = $8, league = $9, ",
            "starting11 = $10 WHERE squad_number = $5"
        );
        let affected = with_pool!(self, pool => {
            bind_player!(sqlx::query(SQL), new).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(db_error)?;
        Ok(affected > 0)
    }

    /// Deletes the player holding `squad_number`. Returns `false` when there is none.
    pub async fn delete(&self, squad_number: i64) -> Result<bool, Error> {
        const SQL: &str = "DELETE FROM players WHERE squad_number = $1";
        let affected = with_pool!(self, pool => {
            sqlx::query(SQL).bind(squad_number).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(db_error)?;
        Ok(affected > 0)
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), Error> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())).map_err(
            |e| match db_error(e) {
                Error::Internal => Error::Unavailable,
                other => other,
            },
        )
    }

    /// The PostgreSQL pool, when the database is PostgreSQL: other shared state (the
    /// used client assertion `jti`s) lives there too.
    pub fn postgres_pool(&self) -> Option<PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool.clone()),
            Pool::Sqlite(_) => None,
        }
    }

    /// The SQLite pool, when the database is SQLite.
    pub fn sqlite_pool(&self) -> Option<SqlitePool> {
        match &self.pool {
            Pool::Sqlite(pool) => Some(pool.clone()),
            Pool::Postgres(_) => None,
        }
    }

    /// Closes the pool, waiting for connections to finish (used at shutdown).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

fn player(id: Uuid, new: NewPlayer) -> Player {
    Player {
        id,
        first_name: new.first_name,
        middle_name: new.middle_name,
        last_name: new.last_name,
        date_of_birth: new.date_of_birth,
        squad_number: new.squad_number.get(),
        position: new.position,
        abbr_position: new.abbr_position,
        team: new.team,
        league: new.league,
        starting11: new.starting11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_sqlite_directory_is_named_absolute_and_memory_is_never_one() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        for url in [
            format!("sqlite://{}/p.db", missing.display()),
            format!("sqlite:{}/p.db", missing.display()),
            format!("sqlite://{}/p.db?mode=rwc", missing.display()),
        ] {
            assert_eq!(
                PlayerStore::missing_sqlite_directory(&url).as_deref(),
                Some(missing.as_path()),
                "{url}"
            );
        }
        let relative = PlayerStore::missing_sqlite_directory("sqlite://no-such-dir-here/p.db")
            .expect("a missing relative directory");
        assert!(relative.is_absolute(), "{relative:?}");
        assert!(relative.ends_with("no-such-dir-here"));
        for fine in [
            "sqlite::memory:".to_owned(),
            "sqlite://nope/x.db?mode=memory".to_owned(),
            "sqlite://players.db".to_owned(),
            format!("sqlite://{}/p.db", dir.path().display()),
            "postgres://u@h/db".to_owned(),
        ] {
            assert_eq!(PlayerStore::missing_sqlite_directory(&fine), None, "{fine}");
        }
    }
}
