"""Hostile import files: each must be refused with one line naming the file and the line,
without a traceback, leaving the store as it was.

The corpus is ``hostile/`` beside this module (``MANIFEST.json`` gives the line each
file's error must name, or null for an error about the whole file) plus a few files too
large to keep in the repository, written at run time (``GENERATED``). Grow it whenever a
new one is found: add the file and its line to the manifest.

    python benchmarks/reliability/hostile_imports.py              # SQLite
    python benchmarks/reliability/hostile_imports.py --url postgresql://...   # an empty store

``run(store_url)`` is what the reliability benchmark calls.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CORPUS = Path(__file__).parent / "hostile"
LABELS = ("card_arrival", "lost_or_stolen_card", "refund")
GOOD = '{"id": "ok1", "text": "Where is my card?", "label": "card_arrival"}\n'


def _deep_jsonl(path: Path) -> None:
    n = 100_000
    path.write_text(GOOD + '{"id": "h1", "text": "t", "meta": ' + "[" * n + "]" * n + "}\n")


def _long_id(path: Path) -> None:
    path.write_text(GOOD + json.dumps({"id": "i" * 1_000_000, "text": "t"}) + "\n")


def _wide_csv(path: Path) -> None:
    header = ",".join(["id", "text", *(f"c{i}" for i in range(100_000))])
    path.write_text(header + "\nh1,a text\n")


def _long_text(path: Path) -> None:
    path.write_text(GOOD + json.dumps({"id": "h1", "text": "x" * 100_001}) + "\n")


def _parquet_nan(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = {"id": ["p1", "h1"], "text": ["a text", "t"], "score": [0.5, float("nan")]}
    pq.write_table(pa.table(rows), path)


def _parquet_empty(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}), path
    )


def _parquet_wide(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"id": ["h1"], "text": ["t"], **{f"c{i}": [i] for i in range(1001)}}), path
    )


#: file name -> (writer, the line the error must name; None: the whole file)
GENERATED: dict[str, tuple[Callable[[Path], None], int | None]] = {
    "nested_100000_levels.jsonl": (_deep_jsonl, 2),
    "id_1_mb.jsonl": (_long_id, 2),
    "csv_100000_columns.csv": (_wide_csv, 1),
    "text_over_max_item_chars.jsonl": (_long_text, 2),
    "parquet_nan.parquet": (_parquet_nan, 2),
    "parquet_without_rows.parquet": (_parquet_empty, None),
    "parquet_1003_columns.parquet": (_parquet_wide, None),
}


def corpus(folder: Path) -> dict[Path, int | None]:
    """Every hostile file (the generated ones written into ``folder``) and its line."""
    manifest = json.loads((CORPUS / "MANIFEST.json").read_text(encoding="utf-8"))
    files = {CORPUS / name: line for name, line in manifest.items()}
    for name, (write, line) in GENERATED.items():
        write(folder / name)
        files[folder / name] = line
    return files


def run(store_url: str | None = None) -> dict:
    """Import every hostile file into the store at ``store_url`` (None: a fresh SQLite
    file); how many were refused as they must be, tracebacks, and files that changed it."""
    from labelloop.store import Store

    with tempfile.TemporaryDirectory(prefix="labelloop-hostile-") as tmp:
        store = Store.open(store_url or f"sqlite:///{tmp}/hostile.db")
        try:
            return _run(store, Path(tmp))
        finally:
            store.close()


def _run(store, tmp: Path) -> dict:
    from labelloop.ingest.importer import import_file

    seed = tmp / "seed.jsonl"
    seed.write_text(GOOD + '{"id": "ok2", "text": "Money back, please.", "label": "refund"}\n')
    import_file(store, _guideline(), seed)
    out = {"files": 0, "refused": 0, "tracebacks": 0, "store_changed": 0, "accepted": 0}
    out |= {"wrong_message": 0, "seconds": 0.0, "slowest": None, "findings": []}
    slowest = 0.0
    for path, line in sorted(corpus(tmp).items(), key=lambda p: p[0].name):
        before = _state(store)
        t0 = time.perf_counter()
        verdict, message = _import(import_file, store, path, line)
        took = time.perf_counter() - t0
        out["files"] += 1
        out[verdict] += 1
        if _state(store) != before:
            out["store_changed"] += 1
            verdict = "store_changed"
        if verdict != "refused":
            out["findings"].append({"file": path.name, "what": verdict, "message": message[:500]})
        if took > slowest:
            slowest, out["slowest"] = took, f"{path.name} ({took:.2f} s)"
        out["seconds"] += took
    out["seconds"] = round(out["seconds"], 2)
    return out


def _import(import_file, store, path: Path, line: int | None) -> tuple[str, str]:
    """(verdict, what was said): refused as it must be, refused with another message,
    accepted, or a traceback."""
    from labelloop.core.errors import ImportFileError

    try:
        import_file(store, _guideline(), path, reviewer="hostile", max_item_chars=100_000)
    except ImportFileError as exc:
        message = str(exc)
        where = f"{path}:{line}: " if line is not None else f"{path}: "
        one_line = "\n" not in message and "\r" not in message
        if message.startswith(where) and one_line and ";" in message:
            return "refused", message
        return "wrong_message", message
    except Exception:  # noqa: BLE001 - what this run looks for
        return "tracebacks", traceback.format_exc()
    return "accepted", ""


def _state(store) -> tuple:
    imports = store.imports()
    return (store.count_items(), store.count_reviews(), len(imports), imports[-1].id)


def _guideline():
    from labelloop.core.types import Guideline, LabelDef

    labels = tuple(LabelDef(name=n) for n in LABELS)
    return Guideline(task="hostile", labels=labels, version="hostile")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="an empty store (default: a SQLite file in a temp folder)")
    args = ap.parse_args()
    print(json.dumps(run(args.url), indent=2))


if __name__ == "__main__":
    main()
