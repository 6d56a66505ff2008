"""The bodies of the `video` and `mp3` messages: versioned JSON checked against the schemas in
``mp3common/schemas``, so a malformed message is refused by name instead of crashing a consumer.

A message names a job and nothing more (version 2): the job document in MongoDB is the one truth
about the upload, its result and its owner, and a consumer reads it there. Version 1 messages
also carried copies of the job's fields, which no consumer read and which could disagree with
it. Consumers accept both versions, so during a rolling upgrade a new consumer takes what an old
producer still sends; producers send only the current version.
"""
import json
from importlib import resources

import jsonschema

VIDEO_QUEUE = "video"
MP3_QUEUE = "mp3"
VERSION = 2

SCHEMA_FILES = {
    VIDEO_QUEUE: {1: "video-message.v1.json", 2: "video-message.v2.json"},
    MP3_QUEUE: {1: "mp3-message.v1.json", 2: "mp3-message.v2.json"},
}


class InvalidMessage(ValueError):
    """A message body that is not JSON or does not follow its queue's schema."""


def job_message(job_id, correlation_id):
    """The body of a `video` or an `mp3` message about ``job_id``: the same two facts for both queues."""
    return {"version": VERSION, "job_id": job_id, "correlation_id": correlation_id}


def _load_validator(file_name):
    schema = json.loads(resources.files("mp3common").joinpath("schemas", file_name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# Reading four small files at import is cheap and surfaces a broken schema at start-up.
_VALIDATORS = {
    queue: {version: _load_validator(file_name) for version, file_name in versions.items()}
    for queue, versions in SCHEMA_FILES.items()
}


def validate(queue, body):
    """Raise InvalidMessage naming the first problem when ``body`` breaks its version's schema."""
    version = body.get("version") if isinstance(body, dict) else None
    validator = _VALIDATORS[queue].get(version) if isinstance(version, int) else None
    if validator is None:
        known = ", ".join(str(known) for known in _VALIDATORS[queue])
        raise InvalidMessage(f"{queue} message: version: {version!r} is not one of the known versions ({known})")
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "body"
        raise InvalidMessage(f"{queue} message: {where}: {error.message}")


def encode(queue, body):
    """Validate ``body`` and return it as UTF-8 JSON bytes; only the current version is sent."""
    if body.get("version") != VERSION:
        raise InvalidMessage(f"{queue} message: version {body.get('version')!r} is no longer sent; use {VERSION}")
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
