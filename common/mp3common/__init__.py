"""The pieces the gateway, converter and notification services share.

Each module wraps one external system (``broker`` for RabbitMQ, ``storage`` for GridFS, ``jobs``
for the jobs collection, ``media`` for ffprobe/ffmpeg) or one contract (``messages``), so that the
services call small named functions and never import pika, gridfs or subprocess themselves.
``environment`` reads the variables each service's ``Settings.from_env()`` is built from, and
``lifecycle`` holds what a worker's entry point does around its consumer (probes, stop signals).
"""
