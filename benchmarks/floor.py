"""The SQL floor of the evaluation figure (`sql_floor.sql`), as statements ready to execute."""

from pathlib import Path

PATH = Path(__file__).resolve().parent / "sql_floor.sql"


def statements(path: Path = PATH) -> list[str]:
    """The statements of an SQL file, comment lines left out; the last one returns the levels."""
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def levels(cursor, day) -> list[tuple[int, int, int, int]]:
    """(organization_id, competency_id, evaluated rank, effective rank) above none, on a DB-API cursor in a
    transaction (the first statements create temporary tables dropped at commit)."""
    for statement in statements():
        cursor.execute(statement, {"day": day} if "%(day)s" in statement else None)
    return cursor.fetchall()
