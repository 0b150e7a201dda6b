"""Streaming plumbing: the topic catalogue, versioned events, the object store and the run configuration."""
