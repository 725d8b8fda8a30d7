"""Reading data files safely: one clear error, naming the file and line, for bad input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class DataError(ValueError):
    """Bad input data: the message names the file (and line) and what is wrong."""


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file without their newlines; DataError names the file and line when not.

    A line ends at \n (or \r\n) only: str.splitlines() would also end one at U+2028, U+2029, NEL, \v, \f and
    \x1c-\x1e, characters that occur inside sentences, and shift every pair after them. A BOM is dropped.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{path}: file is empty")
    try:
        text = data.decode("utf-8-sig")
        lines = text.split("\n")
        if lines[-1] == "":  # the newline that ends the last line
            lines.pop()
        return [line[:-1] if line.endswith("\r") else line for line in lines]
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
            if line.count("\t") != 1:
                raise DataError(f"{src}:{i}: expected source<TAB>target, found {line.count(chr(9))} tabs")
            rows.append(tuple(line.split("\t")))
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


def corpus_split(folder: Path, split: str, src: str, tgt: str) -> tuple[list[tuple[str, str]], str] | None:
    """(pairs, where) of one split of a translation corpus folder, or None when the folder has no such split.

    Two layouts: SPLIT.tsv (source<TAB>target per line, as rot90 data build writes), or the plain parallel
    files of most corpora, SPLIT.SRC and SPLIT.TGT by language code (train.en + train.fr), line by line.
    """
    return corpus_files(Path(folder) / split, src, tgt)


def corpus_files(prefix: Path, src: str, tgt: str) -> tuple[list[tuple[str, str]], str] | None:
    """(pairs, where) from PREFIX.tsv, PREFIX itself when it ends in .tsv, or PREFIX.SRC + PREFIX.TGT (the
    prefix convention of fairseq's --trainpref); None when none of them exists."""
    prefix = Path(prefix)
    tsv = prefix if prefix.suffix == ".tsv" else prefix.with_name(prefix.name + ".tsv")
    a, b = prefix.with_name(f"{prefix.name}.{src}"), prefix.with_name(f"{prefix.name}.{tgt}")
    if tsv.exists():
        return read_pairs(tsv)[0], str(tsv)
    if a.exists() or b.exists():
        if not (a.exists() and b.exists()):
            raise DataError(f"{a if not a.exists() else b}: missing, beside {b if not a.exists() else a}")
        return read_pairs(a, b)[0], f"{a} + {b.name}"
    return None
