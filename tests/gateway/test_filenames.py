"""Client-supplied file names are kept for display but can never escape a directory or a header."""
import re
from urllib.parse import unquote

import pytest

from gateway import filenames


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("talk.mp4", "talk.mp4"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ann\\Videos\\talk.mp4", "talk.mp4"),
        ("a/b\\c/talk.mp4", "talk.mp4"),
        ("bad\r\nSet-Cookie: x=1.mp4", "badSet-Cookie: x=1.mp4"),
        ("nul\x00byte.mp4", "nulbyte.mp4"),
        ("evil\u202egpj.mp4", "evilgpj.mp4"),
        ("Café – 日本語.mp4", "Café – 日本語.mp4"),
        ('he said "hi".mp4', 'he said "hi".mp4'),
        ("", "upload"),
        (None, "upload"),
        ("..", "upload"),
        ("dir/", "upload"),
        ("  \t ", "upload"),
    ],
)
def test_clean_keeps_only_a_plain_base_name(raw, cleaned):
    assert filenames.clean(raw) == cleaned


def test_clean_shortens_long_names_to_255_characters_keeping_the_extension():
    cleaned = filenames.clean("é" * 400 + ".mp4")

    assert len(cleaned) == 255
    assert cleaned.endswith(".mp4")


@pytest.mark.parametrize(
    "stored, download",
    [("talk.mp3", "talk.mp3"), ("talk.mp4", "talk.mp3"), ("../x/talk", "talk.mp3"),
     ("", "download.mp3"), (None, "download.mp3"), (".mp3", "download.mp3")],
)
def test_the_download_name_is_the_cleaned_stored_name_ending_in_mp3(stored, download):
    assert filenames.mp3_name(stored) == download


DISPOSITION = re.compile(r'^attachment; filename="([\x20-\x7e]*)"; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]+)$')


@pytest.mark.parametrize(
    "name, ascii_fallback",
    [
        ("talk.mp3", "talk.mp3"),
        ('he said "hi".mp3', "he said _hi_.mp3"),
        ("back\\slash.mp3", "back_slash.mp3"),
        ("100%.mp3", "100_.mp3"),
        ("Café Ünïcode.mp3", "Cafe Unicode.mp3"),
        ("日本語.mp3", "download.mp3"),
        ("line\r\nbreak.mp3", "line__break.mp3"),
    ],
)
def test_content_disposition_is_one_safe_line_with_an_exact_utf8_name(name, ascii_fallback):
    header = filenames.content_disposition(name)

    match = DISPOSITION.match(header)
    assert match, header
    assert match.group(1) == ascii_fallback
    assert unquote(match.group(2), encoding="utf-8") == name
