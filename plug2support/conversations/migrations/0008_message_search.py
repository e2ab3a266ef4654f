"""Full-text search over message bodies (D10): SQLite FTS5 on the embedded default (an
external-content table kept in step by triggers), a GIN expression index on PostgreSQL."""

from django.db import migrations

SQLITE_UP = [
    "CREATE VIRTUAL TABLE conversations_event_fts USING fts5("
    "body, content='conversations_event', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER conversations_event_fts_ai AFTER INSERT ON conversations_event BEGIN "
    "INSERT INTO conversations_event_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER conversations_event_fts_ad AFTER DELETE ON conversations_event BEGIN "
    "INSERT INTO conversations_event_fts(conversations_event_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER conversations_event_fts_au AFTER UPDATE OF body ON conversations_event BEGIN "
    "INSERT INTO conversations_event_fts(conversations_event_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); "
    "INSERT INTO conversations_event_fts(rowid, body) VALUES (new.id, new.body); END",
    "INSERT INTO conversations_event_fts(conversations_event_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS conversations_event_fts_au",
    "DROP TRIGGER IF EXISTS conversations_event_fts_ad",
    "DROP TRIGGER IF EXISTS conversations_event_fts_ai",
    "DROP TABLE IF EXISTS conversations_event_fts",
]
POSTGRES_UP = [
    "CREATE INDEX conversations_event_body_fts ON conversations_event "
    "USING GIN (to_tsvector('simple'::regconfig, body))",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS conversations_event_body_fts"]


def run(statements: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("conversations", "0007_priority_and_waiting")]

    operations = [
        migrations.RunPython(run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
                             run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN})),
    ]
