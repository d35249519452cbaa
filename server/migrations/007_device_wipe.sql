-- A lost device's wipe (issue #6): an admin asks for it; the device keeps syncing until every
-- change it holds is confirmed stored, then deletes its local data and reports back, which
-- revokes it. Unlike a plain revocation, no unsynced note is lost.
ALTER TABLE devices ADD COLUMN wipe_requested_at INTEGER;
ALTER TABLE devices ADD COLUMN wiped_at INTEGER;
