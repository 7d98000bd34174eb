-- GPU Mesh indexer schema, version 12: history retention (README "Time travel"). An indexer run with
-- --history-blocks N prunes the row versions that only blocks before its checkpoint - N needed and moves
-- history_start up to that block; history_blocks is the N it pruned with, so that an answer asked before the history
-- can say why there is none. NULL: history_start is where a database indexed before time travel was upgraded.
ALTER TABLE history_start ADD COLUMN history_blocks INTEGER;
