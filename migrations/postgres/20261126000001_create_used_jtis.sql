-- Client assertion `jti`s already used (RFC 7523 §3 item 7), shared by every instance so
-- an assertion replayed at another instance is refused too. A row stops counting when
-- `expires_at` (Unix seconds) has passed; old rows are deleted as new ones arrive.
CREATE TABLE used_jtis (
    scope TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (scope, jti)
);
CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);
