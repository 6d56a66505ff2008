"""The notification service: emails each job's owner when the MP3 is ready or the job failed (see README.md)."""
