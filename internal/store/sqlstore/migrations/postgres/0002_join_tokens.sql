-- Join tokens: one-time credentials a new worker exchanges for its own token.
ALTER TABLE tokens DROP CONSTRAINT tokens_kind_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_kind_check CHECK (kind IN ('user', 'worker', 'job', 'join'));
