"""Options shared by several command groups."""
from __future__ import annotations

import argparse
from pathlib import Path

from pixelguard.settings import Settings


def key_file(args: argparse.Namespace) -> Path:
    return (args.key_file or Settings.from_env().key_file).expanduser()


OUTPUT_FORMAT_HELP = ("what the job writes: original (the input's format; DICOM in its transfer syntax), htj2k "
                      "(DICOM as HTJ2K lossless), png or jpeg (DICOM pixels, one 8-bit image per frame in the "
                      "object's own window, else its full range; no metadata). NIfTI, PNG and JPEG inputs stay "
                      "as they are; htj2k/png/jpeg for a NIfTI input is refused")


def add_output_format(parser: argparse.ArgumentParser) -> None:
    from pixelguard.core.export import OutputFormat

    parser.add_argument("--output-format", type=_output_format, default=OutputFormat.ORIGINAL,
                        metavar="|".join(m.value for m in OutputFormat), help=OUTPUT_FORMAT_HELP)


def _output_format(value: str) -> object:
    from pixelguard.core.export import OutputFormat

    try:
        return OutputFormat.parse(value, "--output-format")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--output-format: ")) from None
