"""Client-supplied file names: kept for display and download naming, but made harmless first.

One rule for the whole system: the gateway cleans the upload's name once, and the MP3's name is
derived from that by ``mp3_name`` wherever it is needed (the stored MP3, the email, the download).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_LENGTH = 255
# Long enough for ".webm" or ".mpeg"; anything longer is not an extension worth keeping.
MAX_EXTENSION_LENGTH = 16
FALLBACK_STEM = "upload"
FALLBACK_MP3_NAME = "audio.mp3"
DOWNLOAD_FALLBACK_STEM = "download"
# Unicode categories dropped from names: controls (CR, LF, NUL ...), format characters (such as
# U+202E RIGHT-TO-LEFT OVERRIDE, which makes "evil\u202egpj.exe" display as "evilexe.jpg") and
# lone surrogates, which cannot even be encoded.
DROPPED_CATEGORIES = {"Cc", "Cf", "Cs"}
PATH_SEPARATORS = re.compile(r"[/\\]")


def clean(raw_name: str | None, fallback_stem: str = FALLBACK_STEM) -> str:
    """Return the last path component of ``raw_name``, without control characters, at most 255 long."""
    # Browsers send either a bare name or a full path, with either kind of separator. NFC, so that
    # "é" typed on a Mac and on Windows is one name.
    name = unicodedata.normalize("NFC", PATH_SEPARATORS.split(raw_name or "")[-1])
    name = "".join(char for char in name if unicodedata.category(char) not in DROPPED_CATEGORIES)
    name = name.strip()
    if name in ("", ".", ".."):
        return fallback_stem
    if len(name) > MAX_LENGTH:
        stem, extension = split_extension(name)
        if len(extension) > MAX_EXTENSION_LENGTH:
            extension = ""
        name = stem[: MAX_LENGTH - len(extension)] + extension
    return name


def mp3_name(video_name: str | None) -> str:
    """The MP3's name for an upload's: `talk.mp4` -> `talk.mp3`, whatever the name held."""
    stem, _ = split_extension(clean(video_name, fallback_stem=""))
    # Leading dots would make a hidden file; trailing dots and spaces are dropped by Windows.
    stem = stem[: MAX_LENGTH - len(".mp3")].strip(" .")
    return f"{stem}.mp3" if stem else FALLBACK_MP3_NAME


def split_extension(name: str) -> tuple[str, str]:
    """Split "talk.mp4" into ("talk", ".mp4"); unlike os.path.splitext, ".mp3" is all extension."""
    stem, dot, extension = name.rpartition(".")
    return (stem, dot + extension) if dot else (name, "")


def content_disposition(filename: str) -> str:
    """An `attachment` Content-Disposition naming ``filename``, safe for any characters in it.

    ``filename`` is an ASCII approximation for old clients; ``filename*`` (RFC 6266 / RFC 5987)
    carries the exact name, percent-encoded as UTF-8, and wins wherever it is understood.
    """
    return f"attachment; filename=\"{_ascii_fallback(filename)}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _ascii_fallback(filename: str) -> str:
    # NFKD splits "é" into "e" and a combining accent; dropping what is not ASCII keeps the "e".
    approximation = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    # Inside the quoted string, `"` and `\` would need escaping that clients handle unevenly, and
    # some clients percent-decode it; replace them instead, along with anything unprintable.
    approximation = "".join(
        char if char.isprintable() and char not in '"\\%' else "_" for char in approximation
    )
    stem, extension = split_extension(approximation)
    if not stem.strip(" ._"):
        stem = DOWNLOAD_FALLBACK_STEM
    return stem + extension
