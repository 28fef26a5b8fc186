-- A counter that every change to an API key or a customer moves on, in the
-- transaction that makes the change, whoever makes it: the server, the
-- CLI in another process, or an operator's own SQL. The server's
-- authentication cache keeps an answer while the counter stands still, so
-- that the commits of licenses, keys and nonces, which do not touch
-- either table, no longer end every cached answer (docs/storage.md).
CREATE TABLE auth_epoch (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL
);

INSERT INTO auth_epoch (id, n) VALUES (1, 0);

CREATE TRIGGER api_keys_inserted_epoch AFTER INSERT ON api_keys BEGIN
	UPDATE auth_epoch SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER api_keys_updated_epoch AFTER UPDATE ON api_keys BEGIN
	UPDATE auth_epoch SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER api_keys_deleted_epoch AFTER DELETE ON api_keys BEGIN
	UPDATE auth_epoch SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER customers_inserted_epoch AFTER INSERT ON customers BEGIN
	UPDATE auth_epoch SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER customers_updated_epoch AFTER UPDATE ON customers BEGIN
	UPDATE auth_epoch SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER customers_deleted_epoch AFTER DELETE ON customers BEGIN
	UPDATE auth_epoch SET n = n + 1 WHERE id = 1;
END;
