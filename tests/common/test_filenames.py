"""Client-supplied file names are kept for display but can never escape a directory or a header,
and the MP3 is named after the upload by one rule."""
import re
from urllib.parse import unquote

import pytest

from mp3common import filenames


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
    "video_name, expected",
    [
        ("talk.mp4", "talk.mp3"),
        ("talk.mp3", "talk.mp3"),
        ("Lecture 3 - Part 1.final.mov", "Lecture 3 - Part 1.final.mp3"),
        ("song.MP3", "song.mp3"),
        ("no_extension", "no_extension.mp3"),
        ("../../etc/passwd.mp4", "passwd.mp3"),
        ("C:\\Users\\ana\\Videos\\clip.mkv", "clip.mp3"),
        ("/var/tmp/", "audio.mp3"),
        ("vidéo d'été 😀.webm", "vidéo d'été 😀.mp3"),
        ("会议记录.mp4", "会议记录.mp3"),
        ("bad\x00na\nme\r\t.mp4", "badname.mp3"),
        ("\x1b[31mred\x1b[0m.mp4", "[31mred[0m.mp3"),
        ("invoice\u202egnp.exe", "invoicegnp.mp3"),
        ("  spaced out .avi", "spaced out.mp3"),
        (".hidden", "audio.mp3"),
        ("...mp4", "audio.mp3"),
        (".mp3", "audio.mp3"),
        ("..", "audio.mp3"),
        ("", "audio.mp3"),
        (None, "audio.mp3"),
        ("\x00\x01", "audio.mp3"),
    ],
)
def test_the_mp3_is_named_after_the_upload_without_paths_or_control_characters(video_name, expected):
    assert filenames.mp3_name(video_name) == expected


def test_a_decomposed_unicode_name_is_composed():
    assert filenames.mp3_name("cafe\u0301.mp4") == "caf\u00e9.mp3"


def test_a_long_name_is_cut_to_255_characters_ending_in_mp3():
    name = filenames.mp3_name("x" * 300 + ".mp4")

    assert len(name) == 255
    assert name.endswith("x.mp3")


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
