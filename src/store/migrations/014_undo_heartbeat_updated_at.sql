-- GPU Mesh indexer schema, version 14: the undo journal of a database indexed before version 13 holds providers as
-- that indexer left them, with an updated_at a sign of life moved (migration 13 merged those versions and set the
-- current rows' updated_at, not the journal's). A reorg into the unfinalized window restores rows from the journal:
-- each provider record now takes the updated_at of the provider's version at the block before its own, as a clean
-- index's journal has it. Records that already agree are left untouched (JSON rewritten only where the value differs).
UPDATE undo_log SET old_row = json_set(old_row, '$.updated_at', (
  SELECT h.updated_at FROM providers_history h
  WHERE h.address = json_extract(undo_log.row_key, '$.address') AND h.valid_from_block < undo_log.block_number
  ORDER BY h.valid_from_block DESC LIMIT 1
))
WHERE table_name = 'providers' AND old_row IS NOT NULL
  AND EXISTS (
    SELECT 1 FROM providers_history h
    WHERE h.address = json_extract(undo_log.row_key, '$.address') AND h.valid_from_block < undo_log.block_number
  )
  AND json_extract(old_row, '$.updated_at') IS NOT (
    SELECT h.updated_at FROM providers_history h
    WHERE h.address = json_extract(undo_log.row_key, '$.address') AND h.valid_from_block < undo_log.block_number
    ORDER BY h.valid_from_block DESC LIMIT 1
  );
