"""The gateway's request class: uploaded files go to named temporary files on disk, not to memory."""

from __future__ import annotations

import tempfile
from typing import IO

import flask


class SpoolingRequest(flask.Request):
    """A request that writes each uploaded file to a named temporary file in UPLOAD_DIR.

    werkzeug keeps uploads under 500 KB in memory and larger ones in anonymous temporary files.
    Here every upload goes to a file with a path, because ffprobe reads it by path, and a 2 GB
    upload must never be held in RAM. The files are removed when the request ends, whatever the
    outcome, including a body cut off half-way.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._spooled_files: list[IO[bytes]] = []

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None) -> IO[bytes]:
        upload_dir = flask.current_app.config["SETTINGS"].upload_dir
        # delete=True: closing the file (at the end of the request) also removes it from disk.
        spooled = tempfile.NamedTemporaryFile(prefix="upload-", dir=upload_dir)
        self._spooled_files.append(spooled)
        return spooled

    def close(self) -> None:
        # werkzeug closes the files it finished parsing; a part cut off mid-way is only known here.
        try:
            super().close()
        finally:
            for spooled in self._spooled_files:
                spooled.close()
