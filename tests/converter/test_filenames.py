"""The MP3's download name is derived from the uploaded file's name, and nothing else gets through."""
import pytest

from converter.worker import mp3_filename


@pytest.mark.parametrize(
    "video_filename, expected",
    [
        ("talk.mp4", "talk.mp3"),
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
        ("..", "audio.mp3"),
        ("", "audio.mp3"),
        ("\x00\x01", "audio.mp3"),
    ],
)
def test_mp3_name_keeps_the_name_and_drops_paths_and_control_characters(video_filename, expected):
    assert mp3_filename(video_filename) == expected


def test_a_decomposed_unicode_name_is_composed():
    assert mp3_filename("cafe\u0301.mp4") == "caf\u00e9.mp3"


def test_a_long_name_is_cut_to_fit_the_message_schema():
    name = mp3_filename("x" * 300 + ".mp4")

    assert len(name) == 255
    assert name.endswith("x.mp3")
