-- Spent nonces and call counts are written on every signed API call and live a few minutes. Each
-- row is written through a read of its key in the same statement, and keys are never deleted, so
-- the foreign keys guarded nothing; their check share-locked the key's row on every call.
ALTER TABLE api_nonces DROP CONSTRAINT api_nonces_api_key_id_fkey;
ALTER TABLE api_rate DROP CONSTRAINT api_rate_api_key_id_fkey;
