"""PixelGuard: streaming de-identification of medical images.

``pixelguard.core`` holds the pure stage functions (parse -> scrub -> redact -> route) shared by the
embedded runner (``pixelguard deid``) and the streaming agents; everything that talks to a server lives
in an adapter package (``inference``, ``streams``, ``agents``, ``pixelguard.services``).
"""

__version__ = "0.1.0"
