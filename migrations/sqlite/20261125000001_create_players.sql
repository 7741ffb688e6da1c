-- The players table. Portable SQL: runs unchanged on SQLite and PostgreSQL.
-- Ids are UUIDs and dates are ISO 8601 (YYYY-MM-DD), both stored as TEXT.
CREATE TABLE players (
    id            TEXT PRIMARY KEY NOT NULL,
    first_name    TEXT NOT NULL,
    middle_name   TEXT,
    last_name     TEXT NOT NULL,
    date_of_birth TEXT,
    squad_number  INTEGER NOT NULL,
    position      TEXT NOT NULL,
    abbr_position TEXT,
    team          TEXT,
    league        TEXT,
    starting11    BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT players_squad_number_key UNIQUE (squad_number)
);
