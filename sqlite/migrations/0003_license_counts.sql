-- Each customer's number of licenses, kept by triggers in the transaction
-- that inserts or deletes one, so that an unfiltered license list and
-- stats need not count a customer's index entries for their totals (80 ms
-- among a million licenses; docs/storage.md). Every insert and delete of a
-- license, whoever makes it, goes through the triggers; a license's
-- customer never changes.
CREATE TABLE license_counts (
	customer_id TEXT PRIMARY KEY REFERENCES customers (id),
	total       INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO license_counts (customer_id, total)
	SELECT customer_id, count(*) FROM licenses GROUP BY customer_id;

CREATE TRIGGER licenses_counted AFTER INSERT ON licenses BEGIN
	INSERT INTO license_counts (customer_id, total) VALUES (NEW.customer_id, 1)
		ON CONFLICT (customer_id) DO UPDATE SET total = total + 1;
END;

CREATE TRIGGER licenses_uncounted AFTER DELETE ON licenses BEGIN
	UPDATE license_counts SET total = total - 1 WHERE customer_id = OLD.customer_id;
END;
