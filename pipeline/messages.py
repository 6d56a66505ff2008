"""The bodies of the `video` and `mp3` messages: versioned JSON checked against the schemas in
``pipeline/schemas``, so a malformed message is refused by name instead of crashing a consumer."""
import json
from importlib import resources

import jsonschema

VIDEO_QUEUE = "video"
MP3_QUEUE = "mp3"

SCHEMA_FILES = {
    VIDEO_QUEUE: "video-message.v1.json",
    MP3_QUEUE: "mp3-message.v1.json",
}


class InvalidMessage(ValueError):
    """A message body that is not JSON or does not follow its queue's schema."""


def _load_validator(queue):
    schema_text = resources.files("pipeline").joinpath("schemas", SCHEMA_FILES[queue]).read_text()
    schema = json.loads(schema_text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# Reading two small files at import is cheap and surfaces a broken schema at start-up.
_VALIDATORS = {queue: _load_validator(queue) for queue in SCHEMA_FILES}


def validate(queue, body):
    """Raise InvalidMessage naming the first problem when ``body`` breaks the queue's schema."""
    error = jsonschema.exceptions.best_match(_VALIDATORS[queue].iter_errors(body))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "body"
        raise InvalidMessage(f"{queue} message: {where}: {error.message}")


def encode(queue, body):
    """Validate ``body`` and return it as UTF-8 JSON bytes."""
    validate(queue, body)
    return json.dumps(body, separators=(",", ":")).encode()


def decode(queue, raw):
    """Parse and validate a raw message body."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidMessage(f"{queue} message is not JSON: {error}") from None
    validate(queue, body)
    return body
