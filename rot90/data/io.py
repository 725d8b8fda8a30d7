"""Reading and writing data files safely: one clear error for bad input, atomic writes."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


class DataError(ValueError):
    """Bad input data: the message names the file (and line) and what is wrong."""


def atomic_write_text(path: Path, text: str):
    """Write to a temporary name in the same folder, fsync, and rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as tmp:
        tmp.write(text)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file without their newlines; DataError names the file and line when not."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{path}: file is empty")
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x})") from None


@dataclass
class PairStats:
    pairs: int = 0
    blank: int = 0  # lines where either side is blank: skipped
    too_long: int = 0  # pairs over the length limit: skipped


def read_pairs(src: Path, tgt: Path | None = None,
               max_words: int | None = None) -> tuple[list[tuple[str, str]], PairStats]:
    """Parallel text: a TSV file (source<TAB>target per line), or two files line by line."""
    stats, pairs = PairStats(), []
    if tgt is None:
        rows = []
        for i, line in enumerate(read_lines(src), 1):
            if not line.strip():
                rows.append(("", ""))
                continue
            if "\t" not in line:
                raise DataError(f"{src}:{i}: expected source<TAB>target, found no tab")
            rows.append(tuple(line.split("\t", 1)))
    else:
        a, b = read_lines(src), read_lines(tgt)
        if len(a) != len(b):
            raise DataError(f"misaligned parallel files: {src} has {len(a)} lines, {tgt} has {len(b)}")
        rows = list(zip(a, b))
    for s, t in rows:
        if not s.strip() or not t.strip():
            stats.blank += 1
        elif max_words is not None and max(len(s.split()), len(t.split())) > max_words:
            stats.too_long += 1
        else:
            pairs.append((s.strip(), t.strip()))
    stats.pairs = len(pairs)
    return pairs, stats
