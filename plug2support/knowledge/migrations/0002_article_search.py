"""Full-text search of help articles (G1): SQLite FTS5 on the embedded default (an
external-content table over title and body, kept in step by triggers), a GIN expression
index on PostgreSQL — the same scheme as the conversations' search (conversations/0008)."""

from django.db import migrations

SQLITE_UP = [
    "CREATE VIRTUAL TABLE knowledge_article_fts USING fts5("
    "title, body, content='knowledge_article', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER knowledge_article_fts_ai AFTER INSERT ON knowledge_article BEGIN "
    "INSERT INTO knowledge_article_fts(rowid, title, body) VALUES (new.id, new.title, new.body);"
    " END",
    "CREATE TRIGGER knowledge_article_fts_ad AFTER DELETE ON knowledge_article BEGIN "
    "INSERT INTO knowledge_article_fts(knowledge_article_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER knowledge_article_fts_au AFTER UPDATE OF title, body ON knowledge_article "
    "BEGIN INSERT INTO knowledge_article_fts(knowledge_article_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO knowledge_article_fts(rowid, title, body) VALUES (new.id, new.title, new.body);"
    " END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS knowledge_article_fts_au",
    "DROP TRIGGER IF EXISTS knowledge_article_fts_ad",
    "DROP TRIGGER IF EXISTS knowledge_article_fts_ai",
    "DROP TABLE IF EXISTS knowledge_article_fts",
]
POSTGRES_UP = [
    "CREATE INDEX knowledge_article_fts ON knowledge_article USING GIN "
    "(to_tsvector('simple'::regconfig, title || ' ' || body))",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS knowledge_article_fts"]


def run(statements: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [
        migrations.RunPython(run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
                             run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN})),
    ]
