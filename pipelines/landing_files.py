"""Landing files: which files an entity has (never outside the landing folder), their fingerprint, and the DuckDB
table functions that read every value as text."""
from __future__ import annotations

from pathlib import Path

from pipelines.sql import q
from schemas.contract import Entity

EXTENSIONS = (".csv", ".csv.gz", ".parquet", ".jsonl", ".ndjson")
# The row number of a reader that has none of its own (CSV, JSON Lines): counted in reading order.
COUNTED_ROW = "row_number() OVER ()"


class LandingError(RuntimeError):
    """A file-level violation of the landing contract: the refresh stops and nothing is published."""


def inside_landing(landing: Path, path: Path) -> Path:
    """`path`, a file found under the landing folder, when it really lies there; a symlink that leads out of the
    folder (to /etc/passwd, or another team's files) is refused: the landing folder is all a refresh may read."""
    target, root = path.resolve(), landing.resolve()
    if not target.is_relative_to(root):
        raise LandingError(f"{path.relative_to(landing).as_posix()} in the landing folder {landing} is a link to "
                           f"{target}, outside it; landing files must lie in the landing folder itself")
    return path


def text_value(column: str) -> str:
    """SQL: a file column as text without surrounding spaces, NULL when empty. Only values that start or end
    with a space, or are empty, go through trim (trimming every value costs a third of reading the file)."""
    v = f"CAST({column} AS VARCHAR)"
    return f"CASE WHEN {v} LIKE ' %' OR {v} LIKE '% ' OR {v} = '' THEN NULLIF(trim({v}), '') ELSE {v} END"


def text_reader(path: Path, columns: list[str] | None = None) -> tuple[str, str]:
    """The DuckDB table function that reads a file as text, and its 1-based row-number expression.

    CSV is read as VARCHAR with the contract's dialect pinned (no sniffed comment or skip lines: nothing is
    dropped silently). JSON Lines are re-read with every key as VARCHAR once their keys (`columns`) are known.
    """
    name, p = path.name.lower(), q(str(path))
    if name.endswith(".parquet"):
        return f"read_parquet({p}, file_row_number = true)", "file_row_number + 1"
    if name.endswith((".jsonl", ".ndjson")):
        typed = ""
        if columns is not None:
            typed = ", columns = {" + ", ".join(f"{q(c)}: 'VARCHAR'" for c in columns) + "}"
        return (f"read_json({p}, format = 'newline_delimited', records = true, sample_size = -1{typed})",
                COUNTED_ROW)
    return (f"read_csv({p}, header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"', "
            f"skip = 0, comment = '')", COUNTED_ROW)


def first_line(exc: Exception) -> str:
    """The first lines of a DuckDB error, short enough for a message."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:3])[:400]


def entity_files(landing: Path, entity: Entity) -> list[Path]:
    """The entity's files: `<system>/<entity>.<ext>` and every file under `<system>/<entity>/`, sorted by path."""
    base = landing / entity.system
    stem = entity.name.split("/")[1]
    found = [base / f"{stem}{ext}" for ext in EXTENSIONS if (base / f"{stem}{ext}").is_file()]
    folder = base / stem
    if folder.is_dir():
        found += [p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(EXTENSIONS)]
    return sorted((inside_landing(landing, p) for p in found), key=lambda p: p.relative_to(landing).as_posix())


def landing_fingerprint(landing: Path) -> str:
    """A digest of every landing file's path, size and modification time: it changes when files are added,
    removed or rewritten (what the landing sensor watches)."""
    import hashlib

    h = hashlib.sha256()
    if landing.is_dir():
        for p in sorted(landing.rglob("*")):
            if p.is_file() and p.name.lower().endswith(EXTENSIONS):
                st = p.stat()
                h.update(f"{p.relative_to(landing).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]
