-- Attempts of a signed-in user confirming a change with their password or a code count against
-- that user's budget only: the per-address limit is for sign-in, where the address is all that
-- ties guesses at many accounts together. (From here on both folders share their numbers; the
-- SQLite folder has one migration more before this one, 0011, which moved signed API calls to
-- their own file.)
ALTER TABLE sign_in_attempts ADD COLUMN reauthentication BOOLEAN NOT NULL DEFAULT FALSE;
