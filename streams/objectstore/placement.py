"""Where stores may live relative to each other: the crosswalk never shares a bucket (or folder) with outputs.

Outputs are what consumers are given read access to; the crosswalk (and the key that opens it) maps them
back to patients. A bucket policy is per bucket, so sharing one would let whoever reads the outputs read
the way back too. A worker checks this at start (``agents.wiring.build_context``), before any object moves.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse


def _place(location: str) -> tuple[str, str]:
    """``s3://bucket/...`` -> ("s3", bucket); a ``file://`` URI or a folder -> ("file", its absolute path)."""
    parsed = urlparse(location)
    if parsed.scheme == "s3":
        return "s3", parsed.netloc
    path = unquote(parsed.path) if parsed.scheme == "file" else location
    return "file", str(Path(path).expanduser().resolve())


def shares(outputs: str, secret: str) -> bool:
    """``secret`` is in the outputs' bucket, or in their folder (a folder above the outputs is fine: whoever
    reads the outputs is given the output folder, not its parents)."""
    (kind_o, where_o), (kind_s, where_s) = _place(outputs), _place(secret)
    if kind_o != kind_s:
        return False
    if kind_o == "s3":
        return where_o == where_s
    po, ps = Path(where_o), Path(where_s)
    return po == ps or po in ps.parents


def refuse_shared(outputs: str, crosswalk: str, what: str) -> None:
    """ValueError naming the settings to change when ``crosswalk`` (``what`` it is) shares ``outputs``' place."""
    if shares(outputs, crosswalk):
        raise ValueError(f"the {what} must never share a bucket or folder with the outputs: set "
                         "PIXELGUARD_OUTPUT_STORE (or PIXELGUARD_STORE) to another bucket or folder, or move "
                         "the crosswalk; nothing was started")
