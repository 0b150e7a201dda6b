"""Placeholder package: filled by the streaming issue (topics, events, Faust agents)."""
