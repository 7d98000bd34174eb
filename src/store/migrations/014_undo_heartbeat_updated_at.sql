-- GPU Mesh indexer schema, version 14: the undo journal of a database indexed before version 13 holds providers as
-- that indexer left them, with an updated_at a sign of life moved (migration 13 merged those versions and set the
-- current rows' updated_at, not the journal's). A reorg into the unfinalized window restores rows from the journal:
-- each provider record now takes the updated_at of the provider's version at the block before its own, as a clean
-- index's journal has it. Records that already agree are left untouched (JSON rewritten only where the value differs).
UPDATE undo_log SET old_row = json_set(old_row, '$.updated_at', before.updated_at)
FROM (
  SELECT u.seq, h.updated_at
  FROM undo_log u JOIN providers_history h ON h.address = json_extract(u.row_key, '$.address')
  WHERE u.table_name = 'providers' AND u.old_row IS NOT NULL
    AND h.valid_from_block = (
      SELECT max(valid_from_block) FROM providers_history
      WHERE address = h.address AND valid_from_block < u.block_number
    )
) before
WHERE undo_log.seq = before.seq AND json_extract(undo_log.old_row, '$.updated_at') IS NOT before.updated_at;
