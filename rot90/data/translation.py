"""English→French / English→German corpora from the translation catalogs inside Debian packages.

The way the OPUS corpora GNOME, KDE4 and Ubuntu were made: software messages and their
translations, here read straight from Debian's binary packages (fetched with `apt-get
download`, never installed), plus LibreOffice's help pages aligned paragraph by paragraph,
which are real prose.

    rot90 data build translation --lang fr --out DIR

Pipeline: resolve package names (apt-cache, so a release change such as gcc-12 → gcc-14
is followed) → download (cached) → stream each package's files out of `dpkg-deb
--fsys-tarfile` → (English, target) pairs from .mo/.po catalogs and help pages → clean →
one target per English string → split by source package (a package's messages never cross
splits; an English string is kept only in the highest of test > dev > train) → TSV files and
a manifest, each written to a temporary name and renamed; the manifest last, so a corpus
without one is incomplete.
"""

from __future__ import annotations

import gettext
import io
import json
import logging
import re
import subprocess
import tarfile
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from ..extras import need
from ..files import atomic_write, cache_dir
from .io import DataError

INFO = logging.getLogger("rot90").info  # where progress goes unless a caller says otherwise

# Package names; `*` is resolved by apt-cache to the newest match; {lang} is the target language.
PACKAGES = [
    "libreoffice-l10n-{lang}", "libreoffice-help-{lang}", "gcc-*-locales", "util-linux-locales", "blender-data",
    "freeciv-data", "calibre", "inkscape", "gimp-data", "digikam-data", "kicad", "gnucash-common",
    "evolution-common", "vlc-l10n", "darktable", "gnumeric-common", "audacity-data", "libgtk-3-common",
    "wesnoth-*-data", "wesnoth-*-{campaigns}",
]
WESNOTH_CAMPAIGNS = "did|dm|dw|ei|httt|l|low|nr|sof|sota|sotbe|thot|trow|tsg|ttb|utbs"
DEFAULT_TEST = ("gnucash-common", "darktable")
DEFAULT_DEV = ("audacity-data",)
HELP_SOURCE = "libreoffice-help-en-us"  # the English side of libreoffice-help-{lang}


@dataclass
class BuildConfig:
    """What `rot90 data build translation` builds."""

    lang: str = "fr"
    out: Path = Path("data/translation-fr")
    cache: Path = field(default_factory=lambda: cache_dir("debs"))
    packages: list[str] | None = None  # None: PACKAGES
    test: tuple[str, ...] = DEFAULT_TEST
    dev: tuple[str, ...] = DEFAULT_DEV
    min_words: int = 3
    max_words: int = 50


# -- cleaning -------------------------------------------------------------------------------

PLACEHOLDER = re.compile(
    r"%(\(\w+\))?[-+#0]*(\d+|\*)?(\.\d+)?(hh|h|ll|l|z|j|t|L|q)?[a-zA-Z%]"  # printf, %(name)s, strftime
    r"|%\d+(\$\w)?"  # Qt %1, %1$s
    r"|\{[\w.:!\[\]-]*\}"  # {}, {0}, {name}, {name:>3}
    r"|\$[({]?\w+[)}]?"  # $var, ${var}, $(VAR)
    r"|@\w+@"  # @VAR@
)
MARKUP = re.compile(r"<[^>]+>|&[a-zA-Z]+;|&#\d+;")
SPACE = re.compile(r"\s+")


def strip_accelerator(text: str) -> str:
    """`_File`, `&File`, `~File`, `Fi_le` → `File`: the mnemonic markers of menus."""
    text = text.replace("&&", "\0")  # a doubled ampersand is a literal one
    text = re.sub(r"(?<![\w])[_&~](?=\w)", "", text, count=1)
    text = re.sub(r"(?<=\w)[&~](?=\w)", "", text, count=1)
    return text.replace("\0", "&")


def clean_pair(en: str, tgt: str, min_words: int = 3, max_words: int = 50) -> tuple[str, str] | None:
    """The cleaned pair, or None when it is dropped (placeholders, markup, length, untranslated)."""
    if not en or not tgt:
        return None
    if PLACEHOLDER.search(en) or PLACEHOLDER.search(tgt) or MARKUP.search(en) or MARKUP.search(tgt):
        return None
    en, tgt = (SPACE.sub(" ", strip_accelerator(s)).strip() for s in (en, tgt))
    if not (min_words <= len(en.split()) <= max_words) or en == tgt or not tgt:
        return None
    if not re.search(r"[A-Za-z]", en) or "\\" in en:  # no words, or escapes such as \n: not prose
        return None
    return en, tgt


# -- reading catalogs and help pages -----------------------------------------------------------


def read_mo(data: bytes) -> list[tuple[str, str]]:
    """Singular (msgid, msgstr) pairs of a compiled catalog (msgfmt drops fuzzy entries)."""
    try:
        catalog = gettext.GNUTranslations(io.BytesIO(data))._catalog  # noqa: SLF001 - the parsed table
    except (OSError, UnicodeDecodeError, gettext.error) as e:
        raise DataError(f"unreadable .mo catalog: {e}") from e
    pairs = []
    for key, msgstr in catalog.items():
        if isinstance(key, tuple):  # plural: (msgid, n); keep the singular form
            key, n = key
            if n != 0:
                continue
        if not key:  # the header entry
            continue
        pairs.append((key.split("\x04", 1)[-1], msgstr))  # drop a msgctxt prefix
    return pairs


def read_po(data: bytes) -> list[tuple[str, str]]:
    """(msgid, msgstr) of a source catalog, fuzzy and obsolete entries skipped, singular only."""
    polib = need("polib", "nmt")

    po = polib.pofile(data.decode("utf-8", errors="strict"))
    return [(e.msgid, e.msgstr_plural.get(0, "") if e.msgid_plural else e.msgstr)
            for e in po if not e.obsolete and "fuzzy" not in e.flags and e.msgid]


class _Paragraphs(HTMLParser):
    """Text of every element whose id starts par_id / hd_id: LibreOffice's paragraph ids."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text: dict[str, list[str]] = {}
        self.stack: list[tuple[str, str | None]] = []  # (tag, id of the paragraph it opened)

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "input", "meta", "link", "hr"):
            return
        pid = dict(attrs).get("id")
        opened = pid if pid and re.match(r"(par|hd)_id", pid) and not self._open() else None
        if opened:
            self.text[opened] = []
        self.stack.append((tag, opened))

    def handle_endtag(self, tag):
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag:
                break

    def handle_data(self, data):
        if (pid := self._open()) is not None:
            self.text[pid].append(data)

    def _open(self) -> str | None:
        return next((p for _, p in reversed(self.stack) if p), None)


def read_help(html: bytes) -> dict[str, str]:
    parser = _Paragraphs()
    parser.feed(html.decode("utf-8", errors="replace"))
    return {k: "".join(v) for k, v in parser.text.items()}


# -- apt ---------------------------------------------------------------------------------------


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, **kw)
    except FileNotFoundError as e:
        raise DataError(f"{cmd[0]} not found: this builder needs Debian's apt-get, apt-cache and dpkg-deb") from e


def resolve(patterns: list[str], lang: str) -> tuple[list[str], list[str]]:
    """Concrete package names for patterns (newest match of a `*`), and the patterns matching none."""
    names, missing = [], []
    for pattern in patterns:
        pattern = pattern.format(lang=lang, campaigns=f"({WESNOTH_CAMPAIGNS})")
        if "*" not in pattern:
            found = _run(["apt-cache", "show", "--no-all-versions", pattern]).returncode == 0
            (names if found else missing).append(pattern)
            continue
        regex = "^" + pattern.replace(".", r"\.").replace("*", r"([0-9.]+)") + "$"
        out = _run(["apt-cache", "search", "--names-only", regex]).stdout.split("\n")
        matches = sorted({line.split(" ")[0] for line in out if line.strip()})
        if not matches:
            missing.append(pattern)
            continue
        version = lambda name: [int(v) for v in re.findall(r"\d+", name)]  # noqa: E731
        newest = max(version(re.match(regex, m).group(1)) for m in matches)  # newest release branch
        names += [m for m in matches if version(re.match(regex, m).group(1)) == newest]
    return list(dict.fromkeys(names)), missing


def download(names: list[str], cache: Path, log=INFO) -> dict[str, Path]:
    """name -> .deb in the cache, downloading what is not there; names apt cannot fetch are left out."""
    cache.mkdir(parents=True, exist_ok=True)
    debs = {}
    for name in names:
        have = sorted(cache.glob(f"{name}_*.deb"))
        if not have:
            r = _run(["apt-get", "download", "-q", name], cwd=cache)
            have = sorted(cache.glob(f"{name}_*.deb"))
            if r.returncode != 0 or not have:
                log(f"warning: apt-get download {name} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
                continue
        debs[name] = have[-1]
    return debs


def iter_deb(deb: Path):
    """(path, file object) of every regular file in a .deb, streamed from dpkg-deb --fsys-tarfile."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.isfile():
                    yield member.name, tar.extractfile(member)
    finally:
        proc.stdout.close()
        proc.wait()


@dataclass
class Package:
    name: str
    version: str = ""
    licence: str = "no copyright file in the package"
    pairs: list[tuple[str, str]] = field(default_factory=list)  # raw (English, target)
    help: dict[str, str] = field(default_factory=dict)  # paragraph key -> text (help packages)


def read_deb(name: str, deb: Path, lang: str) -> Package:
    """Stream the package's files: catalogs for `lang`, help pages, and its copyright."""
    pkg = Package(name, version=_run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip())
    lang_dir = re.compile(rf"/({re.escape(lang)}|{re.escape(lang)}_{lang.upper()})/")
    help_dir = re.compile(r"/help/([A-Za-z-]+)/(text/.+\.html)$")
    for path, f in iter_deb(deb):
        if path.endswith(f"/doc/{name}/copyright"):
            pkg.licence = _licence(f.read().decode("utf-8", "replace"))
        elif path.endswith(".mo") and lang_dir.search(path):
            pkg.pairs += read_mo(f.read())
        elif path.endswith(".po") and lang_dir.search(path):
            pkg.pairs += read_po(f.read())
        elif path.endswith("locales.zip"):  # calibre keeps its catalogs zipped
            with zipfile.ZipFile(io.BytesIO(f.read())) as z:
                for zname in z.namelist():
                    if zname.endswith(".mo") and lang_dir.search("/" + zname):
                        pkg.pairs += read_mo(z.read(zname))
        elif m := help_dir.search(path):
            for pid, text in read_help(f.read()).items():
                pkg.help[f"{m.group(2)}#{pid}"] = text
    return pkg


LICENCES = re.compile(r"\b(L?GPL[- ]?v?\d(\.\d)?\+?|MPL-?\d\.\d|Apache-?\d\.\d|CC-BY(-SA)?-\d\.\d"
                      r"|Expat|MIT|BSD-\d-clause)\b", re.IGNORECASE)


def _licence(copyright_text: str) -> str:
    """The first DEP-5 License field that names a licence, else the first licence named anywhere."""
    for m in re.finditer(r"^License:\s*(.+)$", copyright_text, re.MULTILINE):
        if LICENCES.search(m.group(1)):
            return m.group(1).strip()
    m = LICENCES.search(copyright_text)
    return m.group(0) if m else "see the package's copyright file"


# -- the corpus --------------------------------------------------------------------------------


def build(cfg: BuildConfig, log=INFO) -> dict:
    """Build the corpus in cfg.out; returns the manifest."""
    names, missing = resolve(cfg.packages or PACKAGES, cfg.lang)
    for pattern in missing:
        log(f"warning: no Debian package matches {pattern!r}; continuing without it")
    help_pair = f"libreoffice-help-{cfg.lang}"
    debs = download(names + ([HELP_SOURCE] if help_pair in names else []), cfg.cache, log)
    english_help = read_deb(HELP_SOURCE, debs[HELP_SOURCE], cfg.lang).help if HELP_SOURCE in debs else {}
    packages = []
    for name in names:
        if name in debs:
            pkg = read_deb(name, debs[name], cfg.lang)
            pkg.pairs += [(english_help[k], v) for k, v in pkg.help.items() if k in english_help]
            packages.append(pkg)
    splits, manifest = assemble(packages, cfg)
    for split, rows in splits.items():
        atomic_write(cfg.out / f"{split}.tsv", "".join(f"{en}\t{tgt}\n" for en, tgt in rows))
    atomic_write(cfg.out / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
    return manifest


def assemble(packages: list[Package], cfg: BuildConfig) -> tuple[dict[str, list[tuple[str, str]]], dict]:
    """Clean, pick one target per English string, split by package; the splits and the manifest."""
    split_of = {p.name: "test" if p.name in cfg.test else "dev" if p.name in cfg.dev else "train" for p in packages}
    by_split: dict[str, dict[str, Counter]] = {s: defaultdict(Counter) for s in ("test", "dev", "train")}
    manifest = {"lang": cfg.lang, "packages": {}, "splits": {}}
    for pkg in packages:
        clean = [c for en, tgt in pkg.pairs if (c := clean_pair(en, tgt, cfg.min_words, cfg.max_words))]
        for en, tgt in clean:
            by_split[split_of[pkg.name]][en][tgt] += 1
        manifest["packages"][pkg.name] = {"version": pkg.version, "licence": pkg.licence,
                                          "split": split_of[pkg.name], "raw_pairs": len(pkg.pairs),
                                          "clean_pairs": len(clean)}
    if not any(by_split.values()):
        raise DataError(f"no {cfg.lang} pairs could be read from {len(packages)} packages: the corpus would be empty")
    seen: set[str] = set()
    splits = {}
    for split in ("test", "dev", "train"):  # an English string lives in one split only, the highest
        rows = []
        for en in sorted(by_split[split]):
            if en not in seen:
                seen.add(en)
                targets = by_split[split][en]
                rows.append((en, max(sorted(targets), key=targets.get)))  # the most common target
        splits[split] = rows
        manifest["splits"][split] = {"pairs": len(rows),
                                     "packages": sorted(n for n, s in split_of.items() if s == split)}
    return splits, manifest
