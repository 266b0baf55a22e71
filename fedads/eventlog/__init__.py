"""The site's event log: one row per impression, read with ids as strings, checked against the catalogue."""
from fedads.eventlog.reader import EventLogError, read_events, read_user_features

__all__ = ["EventLogError", "read_events", "read_user_features"]
