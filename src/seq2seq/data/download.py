"""Fetch the pairs archive (network, `file://`, local path or offline mirror), verify and extract it."""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from seq2seq.errors import UserError
from seq2seq.fileio import atomic_path
from seq2seq.runner import interactive

log = logging.getLogger("seq2seq.download")

# manythings.org answers Python's default User-Agent with 403.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36"
PAIR_FILES = ("fra.txt", "eng-fra.txt")  # manythings' archive, the PyTorch tutorial's data.zip
MIRROR_ENV = "SEQ2SEQ_DATA_DIR"


def archive_name(url: str) -> str:
    """The file name at the end of `url` (what the offline mirror must hold)."""
    return Path(urllib.parse.urlparse(url).path).name or "archive.zip"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _http_fetch(url: str, dest: Path, timeout: float, retries: int) -> None:
    """Download `url` to `dest`, with a progress bar on a terminal (else a line before and after),
    retrying transient failures."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    for attempt in range(1, retries + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp, open(dest, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) or None
                log.info("downloading %s (%s bytes)", url, f"{total:,}" if total else "size unknown")
                start = time.perf_counter()
                with tqdm(total=total, unit="B", unit_scale=True, desc=archive_name(url),
                          disable=not interactive()) as bar:
                    for block in iter(lambda: resp.read(1 << 16), b""):
                        out.write(block)
                        bar.update(len(block))
                log.info("downloaded %s bytes in %.1f s", f"{bar.n:,}", time.perf_counter() - start)
            return
        except urllib.error.HTTPError as err:
            if err.code < 500 or attempt == retries:
                raise UserError(f"downloading {url} failed with HTTP {err.code} {err.reason}. Check "
                                f"download.url, or put {archive_name(url)} in a folder and set "
                                f"{MIRROR_ENV} to it.") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
            if attempt == retries:
                reason = getattr(err, "reason", err)
                raise UserError(f"cannot download {url} ({reason}) after {retries} tries. Without "
                                f"network access, put {archive_name(url)} in a folder and set "
                                f"{MIRROR_ENV} to it (e.g. SEQ2SEQ_DATA_DIR=../shared/data).") from None
        log.warning("download attempt %d of %d failed; retrying", attempt, retries)
        time.sleep(2 ** attempt)


def fetch(url: str, dest: Path, mirror_dir: Path | None, timeout: float = 30.0, retries: int = 3) -> str:
    """Put the archive named by `url` at `dest`; return where it came from.

    Order: the offline mirror `mirror_dir` if it holds the URL's file name; a local path or `file://`
    URL; otherwise HTTP(S).
    """
    name = archive_name(url)
    parsed = urllib.parse.urlparse(url)
    mirrored = Path(mirror_dir) / name if mirror_dir is not None else None
    if mirrored is not None and not mirrored.is_file():
        log.warning("%s=%s holds no %s: using download.url instead", MIRROR_ENV, mirror_dir, name)
        mirrored = None
    if mirrored is not None:
        source = mirrored
    elif parsed.scheme in ("", "file"):
        source = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme else Path(url)
        if not source.is_file():
            raise UserError(f"download.url names {source}, which is not a file. Fix download.url or "
                            f"set {MIRROR_ENV} to a folder holding {name}.")
    elif parsed.scheme in ("http", "https"):
        _http_fetch(url, dest, timeout, retries)
        return url
    else:
        raise UserError(f"download.url {url!r} has an unsupported scheme: use http(s)://, file:// or a path.")
    shutil.copyfile(source, dest)
    return str(source)


def extract_pairs(archive: Path, dest: Path) -> str:
    """Extract the pairs file (fra.txt or eng-fra.txt, at any depth) from the zip to `dest`."""
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise UserError(f"the archive is corrupt (member {bad} fails its CRC): delete it from "
                                f"the mirror or download it again.")
            members = [m for m in zf.namelist() if Path(m).name in PAIR_FILES]
            if not members:
                raise UserError(f"the archive holds no pairs file ({' or '.join(PAIR_FILES)}); it has "
                                f"{', '.join(zf.namelist()[:5]) or 'nothing'}. Check download.url.")
            with zf.open(members[0]) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
            return members[0]
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as err:
        raise UserError(f"the archive is not a valid zip file ({err}): it may be truncated or an "
                        "HTML error page. Delete it and download again, or check download.url.") from None


def check_pairs_file(path: Path) -> None:
    """Fail unless the first non-empty line has two or three tab-separated columns."""
    with open(path, "rb") as handle:
        for raw in handle:
            if raw.strip():
                if raw.count(b"\t") not in (1, 2):
                    raise UserError(f"the pairs file does not look like 'English<TAB>French' lines "
                                    f"(first line: {raw[:60]!r}). Check download.url.")
                return
    raise UserError("the pairs file in the archive is empty. Check download.url.")


def download(url: str, sha256: str, out: Path, mirror_dir: Path | None, timeout: float = 30.0,
             retries: int = 3) -> None:
    """Fetch, verify (checksum when `sha256` is set, zip integrity) and extract the pairs to `out`.

    `timeout` (seconds without data) and `retries` apply to HTTP(S) downloads.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The archive is scratch in a temporary folder; only the complete pairs file is renamed onto `out`.
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".download-") as tmp, atomic_path(out) as pairs:
        archive = Path(tmp) / archive_name(url)
        source = fetch(url, archive, mirror_dir, timeout, retries)
        log.info("archive from %s", source)
        if sha256:
            actual = sha256_of(archive)
            if actual.lower() != sha256.lower():
                raise UserError(f"checksum mismatch for {source}: expected sha256 {sha256}, got {actual}. "
                                "The file is corrupt or a different version: replace it, or set "
                                "download.sha256 to the new checksum (or '' to skip the check).")
        member = extract_pairs(archive, pairs)
        check_pairs_file(pairs)
        log.info("extracted %s to %s", member, out)
