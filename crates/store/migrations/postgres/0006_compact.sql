-- A store that grows with the work, not with repetition (issue 14).

-- Finding titles, evidence lists (JSON arrays) and fixes, each distinct text once. The id is
-- the first 8 bytes of the body's SHA-256 as a signed integer (see src/texts.rs); findings
-- written from now on refer to their texts by id and leave the inline columns empty. Rows
-- written before keep their texts inline, with NULL ids; readers take whichever is set.
CREATE TABLE texts (
    id   BIGINT PRIMARY KEY,
    body TEXT    NOT NULL
);
ALTER TABLE findings ADD COLUMN title_id BIGINT;
ALTER TABLE findings ADD COLUMN evidence_id BIGINT;
ALTER TABLE findings ADD COLUMN fix_id BIGINT;

-- A domain's observation, compressed (src/codec.rs: a format byte, then the JSON deflated
-- against a fixed dictionary). Rows written before keep the JSON in `observation` and NULL
-- here; new rows the other way round. Decompressed, it is byte for byte the JSON that was
-- written, so exports do not change.
ALTER TABLE domains ADD COLUMN observation_z BYTEA;
