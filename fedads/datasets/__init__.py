"""Converters: each dataset in ../shared/data (or its full official files) → a catalogue + site event logs."""
