"""The converter service: turns uploaded videos into MP3s (see README.md)."""
