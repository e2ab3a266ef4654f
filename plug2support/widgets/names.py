"""Readable generated names for visitors who gave none (M8): "Amber Otter" reads and is
remembered better than "Visitor #12". Deterministic from the visitor's id — the same
visitor is the same name everywhere and on every reload, with nothing stored — and written
both in Python and in SQL (the inbox list builds summaries in the database on PostgreSQL).

The id is spread over the 32 × 32 = 1024 pairs by multiplying by an odd number modulo 1024
(a permutation, so neighbouring ids do not share a word); from id 1024 on, a number follows
the pair ("Amber Otter 2") so no two visitors of one installation ever share a name."""

from __future__ import annotations

ADJECTIVES = (
    "Amber", "Azure", "Brave", "Bright", "Calm", "Clever", "Coral", "Crimson",
    "Daring", "Eager", "Gentle", "Golden", "Happy", "Hazel", "Indigo", "Jolly",
    "Kind", "Lively", "Lucky", "Mellow", "Misty", "Noble", "Olive", "Proud",
    "Quiet", "Rosy", "Silver", "Sunny", "Swift", "Teal", "Witty", "Young",
)
ANIMALS = (
    "Badger", "Beaver", "Bison", "Crane", "Dolphin", "Falcon", "Ferret", "Finch",
    "Fox", "Gecko", "Heron", "Ibis", "Koala", "Lark", "Lemur", "Lynx",
    "Marten", "Moose", "Newt", "Otter", "Owl", "Panda", "Puffin", "Quail",
    "Raven", "Robin", "Seal", "Sparrow", "Tapir", "Tiger", "Walrus", "Wren",
)
PAIRS = len(ADJECTIVES) * len(ANIMALS)  # 1024
SPREAD = 677  # odd: `x * SPREAD % PAIRS` is a permutation of 0..1023


def generated_name(pk: int) -> str:
    index = (pk % PAIRS) * SPREAD % PAIRS
    name = f"{ADJECTIVES[index % 32]} {ANIMALS[index // 32]}"
    return name if pk < PAIRS else f"{name} {pk // PAIRS + 1}"


def generated_name_sql(column: str) -> str:
    """The same name in PostgreSQL, over an integer column (our own column name only)."""
    # MOD(), not %: the statement goes through psycopg, where % starts a placeholder.
    index = f"MOD(MOD({column}, {PAIRS}) * {SPREAD}, {PAIRS})"
    adjective = " ".join(f"WHEN {i} THEN '{word}'" for i, word in enumerate(ADJECTIVES))
    animal = " ".join(f"WHEN {i} THEN '{word}'" for i, word in enumerate(ANIMALS))
    return (f"(CASE MOD({index}, 32) {adjective} END || ' ' || CASE ({index} / 32) {animal} END"
            f" || CASE WHEN ({column}) >= {PAIRS} THEN ' ' || CAST(({column}) / {PAIRS} + 1"
            f" AS text) ELSE '' END)")
