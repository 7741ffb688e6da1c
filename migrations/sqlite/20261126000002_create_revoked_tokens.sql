-- Revoked access tokens (RFC 7009), by `jti`: every instance sharing the database loads
-- them at start-up and polls for new ones (`revoked_at_ms`, the database's clock, so the
-- instances' clocks do not matter). A row is deleted once its token is expired anyway
-- (`expires_at`, Unix seconds: the token's `exp` plus the leeway writes allow).
-- `client_id` is NULL for an operator's `revoke --jti`. Portable SQL.
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    client_id TEXT,
    expires_at BIGINT NOT NULL,
    revoked_at_ms BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_revoked_at_ms ON revoked_tokens (revoked_at_ms);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
