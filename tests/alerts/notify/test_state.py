"""The notifier's tables: a database from before them (schema 6) gains them on start, keeping its data."""

from __future__ import annotations

from pathlib import Path

from spyglass.storage import SCHEMA_VERSION, Database
from spyglass.storage._schema import MIGRATIONS


def test_schema_6_database_gains_the_notifier_tables(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    con = db.write_connection()
    for table in ("am_notifications", "am_nflog", "am_silences", "am_groups", "am_alerts"):
        con.execute(f"DROP TABLE {table}")
    con.execute("DROP SEQUENCE am_notifications_id_seq")
    con.execute("DELETE FROM spyglass_schema")
    con.execute("INSERT INTO spyglass_schema VALUES (6)")
    con.execute("INSERT INTO logs_data (body) VALUES ('kept')")
    db.close()
    db = Database.open(tmp_path)
    try:
        assert db.read("SELECT max(version) FROM spyglass_schema") == [(SCHEMA_VERSION,)]
        tables = {r[0] for r in db.read("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'am_%'")}
        assert tables == {"am_alerts", "am_groups", "am_silences", "am_nflog", "am_notifications"}
        assert db.read("SELECT body FROM logs") == [("kept",)]
        db.write_connection().execute("INSERT INTO am_notifications (receiver) VALUES ('r')")
        assert db.read("SELECT id, receiver FROM am_notifications") == [(1, "r")]
    finally:
        db.close()
    assert MIGRATIONS[7][-1].startswith("CREATE TABLE IF NOT EXISTS am_notifications")
