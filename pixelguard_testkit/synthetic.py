"""Synthetic ground truth for burned-in text: real pixel data with known text burned into the stored values.

Every object is a deterministic function of ``(seed, index)``: real pixels from pydicom's test files and
pydicom-data (CT, MR, US, CR; XA built from real X-ray pixels, as neither package ships an XA object),
with one to three lines of fake patient text (Latin, CJK, Arabic, Cyrillic, Devanagari, Hebrew, Greek,
Thai, Korean; Noto fonts from Debian) at
8-40 px, at 0/90/180/270 degrees or a small skew (within 5 degrees of horizontal), light-on-dark or
dark-on-light (on a light plate), on one frame or several, burned into the stored values at the object's
own bit depth. A few objects are PNG or JPEG (8-bit renderings of the same sources).

Ground truth per text line and frame: the frame index, the axis-aligned box tight around the burned
stroke pixels (those the burn changed: a stroke drawn in the value already under it is not in the data),
the rotated text rectangle (polygon), the text, script, font size, angle, polarity, and the exact stroke
mask (kept cropped to the box). :func:`score_object` is the one definition of "strokes gone"
and "redacted area" shared by the tests and ``bench/pixels.py``.

``python -m pixelguard_testkit.synthetic OUT --count 40 --seed 0`` writes a corpus and its ``manifest.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SCRIPTS = ("latin", "cjk", "arabic", "cyrillic", "devanagari", "hebrew", "greek", "thai", "korean")
SCRIPT_WEIGHTS = (0.28, 0.09, 0.09, 0.09, 0.09, 0.09, 0.09, 0.09, 0.09)
SIZE_BUCKETS = ((8, 9), (10, 15), (16, 23), (24, 40))
ANGLES = ("0", "skew", "90", "180", "270")
POLARITIES = ("light", "dark")
MANIFEST_VERSION = 3  # 2: nine scripts (Devanagari, Hebrew, Greek, Thai and Korean added); 3: strokes the burn changed

# Debian packages fonts-noto-core and fonts-noto-cjk (deploy/local/apt-packages.txt).
_FONT_FILES: dict[str, tuple[tuple[str, int], ...]] = {
    "latin": (("truetype/noto/NotoSans-Regular.ttf", 0), ("truetype/noto/NotoSans-Bold.ttf", 0),
              ("truetype/noto/NotoSansMono-Regular.ttf", 0), ("truetype/noto/NotoSerif-Regular.ttf", 0)),
    "cyrillic": (("truetype/noto/NotoSans-Regular.ttf", 0), ("truetype/noto/NotoSans-Bold.ttf", 0),
                 ("truetype/noto/NotoSansMono-Regular.ttf", 0)),
    "cjk": (("opentype/noto/NotoSansCJK-Regular.ttc", 0), ("opentype/noto/NotoSansCJK-Regular.ttc", 2),
            ("opentype/noto/NotoSansCJK-Bold.ttc", 1)),
    "arabic": (("truetype/noto/NotoSansArabic-Regular.ttf", 0), ("truetype/noto/NotoNaskhArabic-Regular.ttf", 0)),
    "devanagari": (("truetype/noto/NotoSansDevanagari-Regular.ttf", 0),
                   ("truetype/noto/NotoSansDevanagari-Bold.ttf", 0),
                   ("truetype/noto/NotoSerifDevanagari-Regular.ttf", 0)),
    "hebrew": (("truetype/noto/NotoSansHebrew-Regular.ttf", 0), ("truetype/noto/NotoSansHebrew-Bold.ttf", 0),
               ("truetype/noto/NotoSerifHebrew-Regular.ttf", 0)),
    "greek": (("truetype/noto/NotoSans-Regular.ttf", 0), ("truetype/noto/NotoSans-Bold.ttf", 0),
              ("truetype/noto/NotoSansMono-Regular.ttf", 0), ("truetype/noto/NotoSerif-Regular.ttf", 0)),
    "thai": (("truetype/noto/NotoSansThai-Regular.ttf", 0), ("truetype/noto/NotoSansThai-Bold.ttf", 0),
             ("truetype/noto/NotoSerifThai-Regular.ttf", 0), ("truetype/noto/NotoLoopedThai-Regular.ttf", 0)),
    "korean": (("opentype/noto/NotoSansCJK-Regular.ttc", 1), ("opentype/noto/NotoSansCJK-Bold.ttc", 1),
               ("opentype/noto/NotoSerifCJK-Regular.ttc", 1)),
}
_FC_FAMILY = {"latin": "Noto Sans", "cyrillic": "Noto Sans", "cjk": "Noto Sans CJK JP", "arabic": "Noto Sans Arabic",
              "devanagari": "Noto Sans Devanagari", "hebrew": "Noto Sans Hebrew", "greek": "Noto Sans",
              "thai": "Noto Sans Thai", "korean": "Noto Sans CJK KR"}
# Right-to-left and complex scripts are shaped by libraqm (Pillow's layout engine): direction and language.
_LAYOUT = {"arabic": {"direction": "rtl", "language": "ar"}, "hebrew": {"direction": "rtl", "language": "he"},
           "devanagari": {"language": "hi"}, "thai": {"language": "th"}, "korean": {"language": "ko"}}
FONT_ROOT = Path("/usr/share/fonts")


class FontsMissing(RuntimeError):
    """The Noto fonts the generator renders with are not installed."""


@cache
def fonts(script: str) -> tuple[tuple[Path, int], ...]:
    """(font file, face index) pairs for a script; raises FontsMissing with the package to install."""
    found = tuple((FONT_ROOT / rel, index) for rel, index in _FONT_FILES[script] if (FONT_ROOT / rel).exists())
    if found:
        return found
    try:  # another layout: ask fontconfig
        path = subprocess.run(["fc-match", "-f", "%{file}", _FC_FAMILY[script]], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        path = ""
    if path and "noto" in path.lower() and Path(path).exists():
        return ((Path(path), 0),)
    raise FontsMissing(f"no Noto font for {script} text under {FONT_ROOT} (fc-match found {path or 'nothing'}): "
                       "install the Debian packages fonts-noto-core and fonts-noto-cjk "
                       "(bash deploy/local/bootstrap.sh does)")


@lru_cache(maxsize=256)
def _font(path: Path, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size=size, index=index)


# -- fake patient text ----------------------------------------------------------------------------------
_LATIN_NAMES = ("DOE^JANE", "SMITH^JOHN", "MULLER^ANNA", "GARCIA^LUIS", "NGUYEN^MAI", "OKAFOR^CHIDI",
                "ROSSI^MARCO", "JOHANSSON^ELSA", "KOWALSKI^PIOTR", "DUBOIS^CLAIRE")
_CYRILLIC_NAMES = ("Иванов Иван", "Петрова Анна", "Смирнов Олег", "Кузнецова Мария", "Попов Сергей",
                   "Соколова Елена", "Волков Дмитрий", "Морозова Ольга")
_CJK_NAMES = ("山田太郎", "佐藤花子", "李小明", "王芳", "張偉", "김민준", "이서연", "鈴木一郎", "陈静")
_ARABIC_NAMES = ("محمد أحمد", "فاطمة علي", "يوسف حسن", "مريم خالد", "عمر سعيد", "ليلى حسين")
_HINDI_NAMES = ("राहुल शर्मा", "प्रिया पटेल", "अमित कुमार", "सुनीता देवी", "विजय सिंह", "अंजलि गुप्ता", "रवि वर्मा")
_HEBREW_NAMES = ("דוד כהן", "שרה לוי", "יוסף מזרחי", "רחל פרץ", "משה ביטון", "מרים אברהם")
_GREEK_NAMES = ("Γεώργιος Παπαδόπουλος", "Μαρία Ιωάννου", "Νίκος Γεωργίου", "Ελένη Κωνσταντίνου",
                "Δημήτρης Νικολάου", "Σοφία Αλεξίου")
_THAI_NAMES = ("สมชาย ใจดี", "สมหญิง รักไทย", "ประเสริฐ ศรีสุข", "วิไล แสงทอง", "อนุชา บุญมา", "มาลี สุขใจ")
_KOREAN_NAMES = ("김민준", "이서연", "박지훈", "최수아", "정우진", "강하은", "윤도윤")
# Per script: (prefix for a name, prefix for an ID, prefix for a birth date, date separator); the name lists above.
_LOCAL_TEXT = {
    "devanagari": (_HINDI_NAMES, "रोगी", "पंजीकरण सं.", "जन्म तिथि", "-"),
    "hebrew": (_HEBREW_NAMES, "מטופל", "מס׳ תיק", "תאריך לידה", "."),
    "greek": (_GREEK_NAMES, "Ασθενής", "Αρ. φακέλου", "Ημ. γέννησης", "/"),
    "thai": (_THAI_NAMES, "ผู้ป่วย", "เลขที่", "วันเกิด", "/"),
    "korean": (_KOREAN_NAMES, "환자", "등록번호", "생년월일", "."),
}


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, n))


def _date(rng: np.random.Generator, sep: str = "-") -> str:
    return f"{rng.integers(1935, 2020)}{sep}{rng.integers(1, 13):02d}{sep}{rng.integers(1, 29):02d}"


@dataclass(frozen=True)
class FakePatient:
    """The object's fake patient: in its DICOM header, and (Latin name, ID, birth date) burned in its pixels."""

    name: str  # DICOM PN, e.g. DOE^JANE
    patient_id: str  # digits
    birth_date: str  # YYYYMMDD

    def dob(self, sep: str) -> str:
        return sep.join((self.birth_date[:4], self.birth_date[4:6], self.birth_date[6:]))


def fake_patient(seed: int, index: int) -> FakePatient:
    rng = np.random.default_rng([seed, index, 13])
    return FakePatient(str(rng.choice(_LATIN_NAMES)), _digits(rng, 7), _date(rng, ""))


def fake_text(script: str, rng: np.random.Generator, patient: FakePatient) -> str:
    """One line of fake patient text in a script: the patient's name, ID or birth date, or a mix.

    Latin lines carry the header's own values (as real burned-in text does), so a redactor that matches
    header values (presidio's use_metadata) has its chance; other scripts carry a local-script name with the
    header's ID or birth date.
    """
    kind = int(rng.integers(0, 4))
    pid, name = patient.patient_id, patient.name
    if script == "latin":
        return (name, f"MRN {pid}", f"DOB {patient.dob('-')}", f"{name.replace('^', ' ')} {rng.integers(18, 95)}Y")[
            kind
        ]
    if script == "cyrillic":
        local = str(rng.choice(_CYRILLIC_NAMES))
        return (f"Пациент {local}", f"ИД {pid}", f"{local} {patient.dob('.')}", f"Дата рожд. {patient.dob('.')}")[kind]
    if script == "cjk":
        local = str(rng.choice(_CJK_NAMES))
        return (f"患者 {local}", f"{local} {pid}", f"病历号 {pid}", f"{patient.dob('/')} {local}")[kind]
    if script in _LOCAL_TEXT:
        names, patient_word, id_word, dob_word, sep = _LOCAL_TEXT[script]
        local = str(rng.choice(names))
        return (f"{patient_word} {local}", f"{local} {pid}", f"{id_word} {pid}", f"{dob_word} {patient.dob(sep)}")[kind]
    local = str(rng.choice(_ARABIC_NAMES))  # Noto's Arabic faces have no '/': dates use '.'
    return (f"المريض {local}", f"{local} {pid}", f"رقم الملف {pid}", f"تاريخ الميلاد {patient.dob('.')}")[kind]


# -- sources of real pixel data -------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    key: str
    file: str  # pydicom.data.get_testdata_file name (pydicom wheel or pydicom-data)
    modality: str
    size: tuple[int, int]  # output (rows, columns), resampled from the source
    multiframe: bool = False  # cine-like objects may carry several frames
    to_8bit: bool = False  # XA built from 16-bit X-ray pixels: stored as 8-bit like real XA cines
    # Text the source already carries (output coordinates x0, y0, x1, y1, and whether to fill with the darkest
    # or the brightest stored value around it): erased before use, because it is not ground truth and a
    # redactor that found it would be charged with redacting outside the boxes.
    erase: tuple[tuple[int, int, int, int, str], ...] = ()


SOURCES: tuple[Source, ...] = (
    Source("ct", "693_UNCI.dcm", "CT", (512, 512)),
    Source("ct2", "eCT_Supplemental.dcm", "CT", (448, 448)),
    Source("mr", "MR2_UNCR.dcm", "MR", (512, 512)),
    Source("mr2", "MR-SIEMENS-DICOM-WithOverlays.dcm", "MR", (484, 484)),
    Source("us", "US1_UNCR.dcm", "US", (480, 640), multiframe=True,
           erase=((0, 0, 640, 106, "min"), (0, 128, 50, 245, "min"), (590, 128, 640, 245, "min"),
                  (235, 350, 380, 385, "min"), (385, 448, 640, 480, "min"))),
    Source("us8", "JPGLosslessP14SV1_1s_1f_8b.dcm", "US", (480, 640), multiframe=True,
           erase=((0, 0, 216, 157, "min"), (500, 0, 640, 63, "min"), (0, 250, 72, 316, "min"),
                  (494, 175, 538, 213, "min"), (562, 447, 640, 480, "min"))),
    Source("cr", "RG3_UNCR.dcm", "CR", (512, 512), erase=((327, 394, 357, 433, "max"),)),
    Source("cr2", "RG1_UNCR.dcm", "CR", (544, 512)),
    Source("xa", "RG1_UNCR.dcm", "XA", (512, 512), multiframe=True, to_8bit=True),
)
_SOURCE_BY_KEY = {s.key: s for s in SOURCES}
XA_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.12.1"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"


@lru_cache(maxsize=16)
def _source_pixels(key: str) -> tuple[object, np.ndarray]:
    """(header without pixels, first frame resampled to the source's output size in its own dtype)."""
    import pydicom
    from pydicom.data import get_testdata_file

    src = _SOURCE_BY_KEY[key]
    path = get_testdata_file(src.file)
    if path is None:
        raise FileNotFoundError(f"{src.file} not found: install pydicom and pydicom-data (pip install -e .[test])")
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        arr = arr[0]
    rows, cols = src.size
    # Crop to the output aspect, then resample (area averaging keeps real noise and texture).
    h, w = arr.shape[:2]
    aspect = cols / rows
    if w / h > aspect:
        cw = int(h * aspect)
        arr = arr[:, (w - cw) // 2:(w - cw) // 2 + cw]
    else:
        ch = int(w / aspect)
        arr = arr[(h - ch) // 2:(h - ch) // 2 + ch]
    dtype = arr.dtype
    resized = cv2.resize(arr.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA)
    arr = np.rint(resized).astype(dtype)
    for x0, y0, x1, y1, end in src.erase:
        ring = np.concatenate([arr[max(0, y0 - 2):y0].reshape(-1, *arr.shape[2:]),
                               arr[y1:y1 + 2, x0:x1].reshape(-1, *arr.shape[2:]),
                               arr[y0:y1, max(0, x0 - 2):x0].reshape(-1, *arr.shape[2:]),
                               arr[y0:y1, x1:x1 + 2].reshape(-1, *arr.shape[2:])])
        pick = ring.min(axis=0) if end == "min" else ring.max(axis=0)
        arr[y0:y1, x0:x1] = pick.astype(dtype)
    del ds.PixelData
    return ds, arr


# -- specification of one object ------------------------------------------------------------------------
@dataclass(frozen=True)
class TextSpec:
    text: str
    size: int  # font size in pixels (the em: Latin capitals are about 0.7 of it)
    angle: float  # counter-clockwise degrees of the baseline: 0, 90, 180, 270 or a skew within +-5
    font: int  # index into fonts(script)


@dataclass(frozen=True)
class ObjectSpec:
    index: int
    source: str
    fmt: str  # dicom | png | jpeg
    script: str
    size_bucket: str
    angle: str  # one of ANGLES
    polarity: str  # light (light text on the image) | dark (dark text on a light plate)
    frames: int
    texts: tuple[TextSpec, ...]
    transfer_syntax: str = "1.2.840.10008.1.2.1"  # Explicit VR Little Endian; some RLE Lossless
    colour: tuple[int, int, int] = (255, 255, 255)  # light text colour on RGB objects


def _pick(rng: np.random.Generator, options: tuple, weights: tuple[float, ...]) -> object:
    p = np.asarray(weights, dtype=float)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def plan(index: int, seed: int = 0, **fixed: object) -> ObjectSpec:
    """The specification of object ``index``; keyword arguments fix fields (script, angle, size_bucket, ...,
    and ``texts``: the lines to burn, instead of fake patient text).

    Deterministic: the same (seed, index, fixed) always gives the same spec, whatever else was generated.
    """
    rng = np.random.default_rng([seed, index, 7])
    script = fixed.get("script") or _pick(rng, SCRIPTS, SCRIPT_WEIGHTS)
    if "size" in fixed:
        fixed["size_bucket"] = next(f"{a}-{b}" for a, b in SIZE_BUCKETS if a <= int(fixed["size"]) <= b)  # type: ignore[arg-type]
    bucket = fixed.get("size_bucket") or _pick(rng, tuple(f"{a}-{b}" for a, b in SIZE_BUCKETS), (0.15, 0.35, 0.3, 0.2))
    angle = fixed.get("angle") or _pick(rng, ANGLES, (0.5, 0.15, 0.15, 0.08, 0.12))
    polarity = fixed.get("polarity") or _pick(rng, POLARITIES, (0.65, 0.35))
    fmt = fixed.get("fmt") or _pick(rng, ("dicom", "png", "jpeg"), (0.88, 0.07, 0.05))
    source = fixed.get("source") or SOURCES[int(rng.integers(0, len(SOURCES)))].key
    src = _SOURCE_BY_KEY[str(source)]
    frames = int(fixed.get("frames") or (int(rng.integers(2, 4)) if src.multiframe and fmt == "dicom"
                                         and rng.random() < 0.5 else 1))
    lo, hi = (int(v) for v in str(bucket).split("-"))
    if "size" in fixed:
        lo = hi = int(fixed["size"])  # type: ignore[arg-type]
    given: tuple[str, ...] = tuple(fixed.get("texts") or ())  # type: ignore[arg-type]  # lines to burn, as given
    n_texts = len(given) or int(fixed.get("lines") or rng.integers(1, 4))
    patient = fake_patient(seed, index)
    texts = []
    for k in range(n_texts):
        base = {"0": 0.0, "90": 90.0, "180": 180.0, "270": 270.0}.get(str(angle))
        skew = float(rng.choice([-1, 1]) * rng.uniform(1.0, 5.0)) if base is None else 0.0
        words = given[k] if given else fake_text(str(script), rng, patient)
        texts.append(TextSpec(words, int(rng.integers(lo, hi + 1)),
                              round((base or 0.0) + skew, 2), int(rng.integers(0, len(fonts(str(script)))))))
    ts = "1.2.840.10008.1.2.5" if fmt == "dicom" and rng.random() < 0.15 else "1.2.840.10008.1.2.1"
    colour = ((255, 255, 255), (255, 255, 96), (110, 230, 255), (255, 255, 255))[int(rng.integers(0, 4))]
    return ObjectSpec(index, str(source), str(fmt), str(script), str(bucket), str(angle), str(polarity), frames,
                      tuple(texts), str(fixed.get("transfer_syntax") or ts), colour)


# -- rendering --------------------------------------------------------------------------------------------
@dataclass
class Line:
    """One burned text line: where it is and exactly which pixels are its strokes."""

    spec: TextSpec
    frames: tuple[int, ...]
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), tight around the stroke pixels
    polygon: tuple[tuple[float, float], ...]  # the rotated text rectangle, 4 corners
    mask: np.ndarray  # bool, shape (y1 - y0, x1 - x0): stroke pixels inside the box
    plate: np.ndarray | None = None  # bool full-frame mask of the light plate under dark text


@dataclass
class Sample:
    spec: ObjectSpec
    data: bytes  # the encoded object (DICOM, PNG or JPEG)
    extension: str
    lines: list[Line]
    clean: np.ndarray = field(repr=False)  # (F, H, W[, 3]) stored values before text, for tests
    modality: str = ""

    def ground_truth(self) -> list[dict]:
        """One entry per (line, frame): what the manifest records."""
        out = []
        for number, line in enumerate(self.lines):
            for frame in line.frames:
                out.append({"line": number, "frame": frame, "box": list(line.box),
                            "polygon": [[round(x, 2), round(y, 2)] for x, y in line.polygon],
                            "text": line.spec.text, "script": self.spec.script, "size": line.spec.size,
                            "size_bucket": self.spec.size_bucket, "angle": line.spec.angle,
                            "angle_bucket": self.spec.angle, "polarity": self.spec.polarity,
                            "stroke_pixels": int(line.mask.sum()), "mask": f"line{number}"})
        return out


# Noto's Hebrew and Thai faces have no Latin digits or punctuation: those characters come from Noto Sans.
_FALLBACK_FONT = "truetype/noto/NotoSans-Regular.ttf"


@lru_cache(maxsize=8192)
def _has_glyph(path: Path, index: int, char: str) -> bool:
    """Whether the face draws ``char`` itself (not its .notdef box)."""
    if char.isspace():
        return True
    font = _font(path, index, 24)

    def drawn(c: str) -> bytes:
        image = Image.new("L", (64, 64), 0)
        ImageDraw.Draw(image).text((8, 8), c, font=font, fill=255)
        return image.tobytes()
    return drawn(char) != drawn("\U0010fffd")


def _runs(text: str, path: Path, index: int) -> list[tuple[str, bool]]:
    """The text cut into runs of (characters, drawn by the script's own face); spaces go with the run before."""
    runs: list[tuple[str, bool]] = []
    for char in text:
        own = _has_glyph(path, index, char) if not char.isspace() or not runs else runs[-1][1]
        if runs and runs[-1][1] == own:
            runs[-1] = (runs[-1][0] + char, own)
        else:
            runs.append((char, own))
    return runs


def _render_runs(runs: list[tuple[str, bool]], font: ImageFont.FreeTypeFont, fallback: ImageFont.FreeTypeFont,
                 kwargs: dict, pad: int) -> Image.Image:
    """Runs from two faces on one baseline; right-to-left text lays its runs out from the right."""
    if kwargs.get("direction") == "rtl":
        runs = runs[::-1]  # each run keeps its own direction (digits stay left-to-right)
    pieces = []
    for text, own in runs:
        face, extra = (font, kwargs) if own else (fallback, {})
        pieces.append((text, face, extra, face.getlength(text, **extra)))
    width = int(math.ceil(sum(p[3] for p in pieces)))
    ascent = max(p[1].getmetrics()[0] for p in pieces)
    descent = max(p[1].getmetrics()[1] for p in pieces)
    canvas = Image.new("L", (width + 2 * pad, ascent + descent + 2 * pad), 0)
    draw, x = ImageDraw.Draw(canvas), float(pad)
    for text, face, extra, advance in pieces:
        draw.text((x, pad + ascent), text, font=face, fill=255, anchor="ls", **extra)
        x += advance
    return canvas


def _render_line(spec: TextSpec, script: str, with_plate: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(stroke mask, plate mask or None, polygon) for the line drawn upright then rotated, in its own canvas."""
    path, face = fonts(script)[spec.font]
    font = _font(path, face, spec.size)
    kwargs = _LAYOUT.get(script, {})
    pad = max(3, spec.size // 3)
    runs = _runs(spec.text, path, face)
    if len(runs) == 1:
        x0, y0, x1, y1 = font.getbbox(spec.text, **kwargs)
        canvas = Image.new("L", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), 0)
        ImageDraw.Draw(canvas).text((pad - x0, pad - y0), spec.text, font=font, fill=255, **kwargs)
    else:
        canvas = _render_runs(runs, font, _font(FONT_ROOT / _FALLBACK_FONT, 0, spec.size), kwargs, pad)
    cover = np.asarray(canvas, dtype=np.float32)
    ys, xs = np.nonzero(cover >= 128)
    if len(xs) == 0:
        raise ValueError(f"text rendered no stroke at {spec.size} px")
    # The text rectangle: ink extent, with ascender/descender room as a reader would box it.
    rect = np.array([[xs.min(), ys.min()], [xs.max() + 1, ys.min()], [xs.max() + 1, ys.max() + 1],
                     [xs.min(), ys.max() + 1]], dtype=np.float64)
    plate = None
    if with_plate:
        ppad = max(2, spec.size // 4)
        plate = np.zeros(cover.shape, np.float32)
        plate[max(0, ys.min() - ppad):ys.max() + 1 + ppad, max(0, xs.min() - ppad):xs.max() + 1 + ppad] = 255
    nearest = round(spec.angle / 90) * 90
    quarter, skew = (int(nearest // 90) % 4, 0.0) if abs(spec.angle - nearest) < 1e-6 else (0, spec.angle)
    if skew:
        h, w = cover.shape
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), skew, 1.0)
        cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
        nw, nh = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
        matrix[0, 2] += nw / 2 - w / 2
        matrix[1, 2] += nh / 2 - h / 2
        cover = cv2.warpAffine(cover, matrix, (nw, nh), flags=cv2.INTER_LINEAR)
        if plate is not None:
            plate = cv2.warpAffine(plate, matrix, (nw, nh), flags=cv2.INTER_LINEAR)
        rect = np.hstack([rect, np.ones((4, 1))]) @ matrix.T
    for _ in range(quarter):  # np.rot90 turns counter-clockwise: (x, y) -> (y, W - x)
        width = cover.shape[1]
        cover = np.rot90(cover)
        plate = None if plate is None else np.rot90(plate)
        rect = np.stack([rect[:, 1], width - rect[:, 0]], axis=1)
    strokes = np.ascontiguousarray(cover >= 128)
    return strokes, (None if plate is None else np.ascontiguousarray(plate >= 128)), rect


def _display_values(ds: object, frame: np.ndarray, photometric: str, bits: tuple[int, int, int]) -> tuple[int, int]:
    """(dark, light) stored values: the ends of what the object displays, within its bit depth."""
    allocated, stored, signed = bits
    lo, hi = (-(1 << (stored - 1)), (1 << (stored - 1)) - 1) if signed else (0, (1 << stored) - 1)
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    low, high = int(frame.min()), int(frame.max())
    center, width = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if center is not None and width is not None:
        c = float(center[0] if hasattr(center, "__len__") and not isinstance(center, str) else center)
        w = float(width[0] if hasattr(width, "__len__") and not isinstance(width, str) else width)
        low = min(low, int(math.floor((c - w / 2 - intercept) / slope)))
        high = max(high, int(math.ceil((c + w / 2 - intercept) / slope)))
    low, high = max(lo, low), min(hi, high)
    return (high, low) if photometric == "MONOCHROME1" else (low, high)


def _place(rng: np.random.Generator, display: np.ndarray, strokes: np.ndarray,
           taken: list[tuple[int, int, int, int]], gap: int, light: bool) -> tuple[int, int] | None:
    """A free spot for the line; light text goes where the display is dark under its strokes.

    Devices put light annotations on dark background; text laid over saturated bone would have no contrast
    in the rendering and would not be the readable text the ground truth claims. Dark text brings its plate.
    """
    rows, cols = display.shape
    h, w = strokes.shape
    edge = 4
    if h > rows - 2 * edge or w > cols - 2 * edge:
        return None
    best: tuple[float, tuple[int, int]] | None = None
    for _ in range(120):
        y = int(rng.integers(edge, rows - h - edge + 1))
        x = int(rng.integers(edge, cols - w - edge + 1))
        if not all(x + w + gap <= a or a2 + gap <= x or y + h + gap <= b or b2 + gap <= y for a, b, a2, b2 in taken):
            continue
        bright = float((display[y:y + h, x:x + w][strokes] >= 150).mean()) if light else 0.0
        if bright <= 0.02:
            return y, x
        if best is None or bright < best[0]:
            best = (bright, (y, x))  # mostly bright frames (CR): the darkest free spot found
    return None if best is None else best[1]


def generate(index: int, seed: int = 0, **fixed: object) -> Sample:
    """Build object ``index`` of the corpus for ``seed`` (see :func:`plan` for ``fixed``)."""
    spec = plan(index, seed, **fixed)
    rng = np.random.default_rng([seed, index, 11])
    src = _SOURCE_BY_KEY[spec.source]
    header, base = _source_pixels(spec.source)
    if src.to_8bit:
        base = _to_8bit(base)
    frames = _cine(base, spec.frames, rng)
    colour = frames.ndim == 4
    photometric = "RGB" if colour else ("MONOCHROME1" if str(header.get("PhotometricInterpretation", "")).strip()
                                        == "MONOCHROME1" and not src.to_8bit else "MONOCHROME2")
    if spec.fmt != "dicom":  # an 8-bit rendering of the source, as a screenshot or export would be
        frames = np.stack([_render8(header, f, photometric) for f in frames]) if not colour else frames
        photometric = "RGB" if colour else "MONOCHROME2"
    clean = frames.copy()
    if colour:
        dark, light = (0, 0, 0), spec.colour
    elif spec.fmt != "dicom" or src.to_8bit:
        dark, light = 8, 250
    else:
        bits = (int(header.BitsAllocated), int(header.BitsStored), int(header.PixelRepresentation))
        dark, light = _display_values(header, frames[0], photometric, bits)
    text_value, plate_value = (light, None) if spec.polarity == "light" else (dark, light)
    if colour:
        display = frames[0].mean(axis=2)
    elif spec.fmt != "dicom" or src.to_8bit:
        display = frames[0]
    else:
        display = _render8(header, frames[0], photometric)
    lines: list[Line] = []
    taken: list[tuple[int, int, int, int]] = []
    rows, cols = frames.shape[1:3]
    for text in spec.texts:
        candidate = text
        placed = None
        while placed is None:
            strokes, plate, rect = _render_line(candidate, spec.script, spec.polarity == "dark")
            gap = max(8, candidate.size)
            placed = _place(rng, display, strokes, taken, gap, spec.polarity == "light")
            if placed is None:
                words = candidate.text.split(" ")
                if len(words) > 1:
                    candidate = replace(candidate, text=" ".join(words[:-1]))
                elif len(candidate.text) > 2:
                    candidate = replace(candidate, text=candidate.text[: len(candidate.text) * 2 // 3])
                else:
                    break
        if placed is None:
            continue
        y, x = placed
        h, w = strokes.shape
        on = _frames_for(spec.frames, rng)
        full_plate = None
        if plate is not None:
            full_plate = np.zeros((rows, cols), bool)
            full_plate[y:y + h, x:x + w] = plate
        full = np.zeros((rows, cols), bool)
        full[y:y + h, x:x + w] = strokes
        # A stroke pixel whose stored value already was the text's (dark type running onto a black border)
        # is not in the data: nothing, under any window, tells it from the frame without the text. The
        # ground truth holds only the strokes the burn changed on at least one of the line's frames.
        changed = np.zeros((rows, cols), bool)
        for f in on:
            if full_plate is not None:
                frames[f][full_plate] = plate_value
            under = frames[f][full] != np.asarray(text_value, dtype=frames.dtype)
            changed[full] |= under.any(axis=-1) if under.ndim == 2 else under
            frames[f][full] = text_value
        full &= changed
        if not full.any():
            continue  # every stroke fell on its own colour: no line in the data
        ys, xs = np.nonzero(full)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        polygon = tuple((float(px + x), float(py + y)) for px, py in rect)
        lines.append(Line(candidate, on, box, polygon, full[box[1]:box[3], box[0]:box[2]].copy(), full_plate))
        taken.append((x, y, x + w, y + h))
    if not lines:
        raise ValueError(f"object {index}: no text line fits a {rows}x{cols} frame")
    data, ext = _encode(spec, header, frames, photometric, src, seed)
    return Sample(spec, data, ext, lines, clean, src.modality)


def _frames_for(count: int, rng: np.random.Generator) -> tuple[int, ...]:
    if count == 1 or rng.random() < 0.5:
        return tuple(range(count))  # on every frame
    picked = sorted(set(int(i) for i in rng.choice(count, size=int(rng.integers(1, count)), replace=False)))
    return tuple(picked)


def _cine(base: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Frames of a cine: the real frame moved by a few pixels per frame (the anatomy moves, overlays stay)."""
    frames = [base]
    for _ in range(count - 1):
        dy, dx = (int(v) for v in rng.integers(-6, 7, 2))
        frames.append(np.roll(base, (dy, dx), axis=(0, 1)))
    return np.ascontiguousarray(np.stack(frames))


def _to_8bit(arr: np.ndarray) -> np.ndarray:
    low, high = np.percentile(arr, (1, 99))
    # Kept as is: the CR's dense structures have low values, which MONOCHROME2 shows dark, as XA does.
    scaled = (arr.astype(np.float64) - low) / max(1.0, high - low)
    return np.rint(np.clip(scaled, 0, 1) * 235 + 10).astype(np.uint8)


def _render8(header: object, frame: np.ndarray, photometric: str) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    value = apply_modality_lut(frame, header)
    if "WindowCenter" in header:
        value = apply_voi_lut(value, header)
    value = np.asarray(value, dtype=np.float64)
    low, high = float(value.min()), float(value.max())
    gray = np.rint((value - low) * (255.0 / max(high - low, 1e-9))).astype(np.uint8)
    return 255 - gray if photometric == "MONOCHROME1" else gray


def _uid(seed: int, index: int, what: str) -> str:
    digest = hashlib.sha256(f"pixelguard-synthetic:{seed}:{index}:{what}".encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _encode(spec: ObjectSpec, header: object, frames: np.ndarray, photometric: str, src: Source,
            seed: int) -> tuple[bytes, str]:
    if spec.fmt in ("png", "jpeg"):
        image = Image.fromarray(frames[0])
        buf = io.BytesIO()
        if spec.fmt == "png":
            image.save(buf, format="PNG")
            return buf.getvalue(), ".png"
        image.save(buf, format="JPEG", quality=92)
        return buf.getvalue(), ".jpg"
    from copy import deepcopy

    from pydicom.uid import UID

    ds = deepcopy(header)
    for tag in [e.tag for e in ds if 0x6000 <= e.tag.group <= 0x60FF or e.tag.is_private]:
        del ds[tag]  # overlays and private data: only the burned-in text is ground truth
    for keyword in ("IconImageSequence", "PixelPaddingValue", "LargestImagePixelValue", "SmallestImagePixelValue"):
        if keyword in ds:
            delattr(ds, keyword)
    patient = fake_patient(seed, spec.index)
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = patient.name, patient.patient_id, patient.birth_date
    ds.BurnedInAnnotation = "YES"
    ds.Modality = src.modality
    ds.Rows, ds.Columns = int(frames.shape[1]), int(frames.shape[2])
    if src.to_8bit:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PhotometricInterpretation = "MONOCHROME2"
        for keyword in ("WindowCenter", "WindowWidth", "RescaleSlope", "RescaleIntercept", "RescaleType"):
            if keyword in ds:
                delattr(ds, keyword)
        ds.SOPClassUID = XA_IMAGE_STORAGE
    if spec.frames > 1:
        ds.NumberOfFrames = spec.frames
        if src.modality == "US":
            ds.SOPClassUID = US_MULTIFRAME_STORAGE
    elif "NumberOfFrames" in ds:
        del ds.NumberOfFrames
    ds.SOPInstanceUID = _uid(seed, spec.index, "sop")
    ds.StudyInstanceUID = _uid(seed, spec.index // 8, "study")
    ds.SeriesInstanceUID = _uid(seed, spec.index // 4, "series")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    arr = frames if spec.frames > 1 else frames[0]
    if frames.ndim == 4:
        ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.1")
    dtype = arr.dtype.newbyteorder("<")
    ds.PixelData = arr.astype(dtype).tobytes()
    ds["PixelData"].VR = "OB" if int(ds.BitsAllocated) <= 8 else "OW"
    if spec.transfer_syntax != "1.2.840.10008.1.2.1":
        ds.compress(spec.transfer_syntax, arr, generate_instance_uid=False)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), ".dcm"


# -- reading objects back and scoring redaction ----------------------------------------------------------
def decode(data: bytes) -> np.ndarray:
    """Stored values of every frame, (F, H, W) or (F, H, W, 3), for DICOM, PNG or JPEG bytes."""
    if data[128:132] == b"DICM":
        import pydicom

        ds = pydicom.dcmread(io.BytesIO(data))
        arr = ds.pixel_array
        if int(ds.get("NumberOfFrames", 1) or 1) == 1:
            arr = arr[np.newaxis]
        return arr
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)[np.newaxis]


def lossy(data: bytes) -> bool:
    return data[:2] == b"\xff\xd8"


@dataclass
class LineScore:
    entry: dict
    gone: bool  # every stroke pixel redacted
    remaining: int  # stroke pixels left


@dataclass
class ObjectScore:
    lines: list[LineScore]
    redacted_px: int  # pixels counted as redacted, all frames
    inside_px: int  # of those, inside a ground-truth box plus margin
    note: str = ""


def margin_for(size: int) -> int:
    """The margin around a ground-truth box within which redacted pixels still count as on target."""
    return max(3, int(math.ceil(0.3 * size)))


def lossy_tolerance() -> int:
    """Out of 255: changes smaller than this on JPEG objects are re-encoding noise, not redaction."""
    return 40


def redacted_mask(before: np.ndarray, after: np.ndarray, tolerance: int = 0) -> np.ndarray:
    """Per frame (F, H, W) bool: pixels the redactor changed, plus unchanged pixels enclosed by changed ones.

    The second part counts a stroke pixel whose value already equalled the fill as covered: a filled
    rectangle that swallows it leaves it indistinguishable from the fill around it.
    """
    diff = np.abs(after.astype(np.int64) - before.astype(np.int64))
    if diff.ndim == 4:
        diff = diff.max(axis=3)
    changed = diff > tolerance
    out = np.empty_like(changed)
    for f in range(changed.shape[0]):
        out[f] = _fill_holes(changed[f])
    return out


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    if not mask.any():
        return mask
    free = (~mask).astype(np.uint8)
    count, labels = cv2.connectedComponents(free, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = ~np.isin(labels, border) & (free == 1)
    return mask | enclosed


def score_object(entries: list[dict], masks: dict[str, np.ndarray], before: np.ndarray, after: np.ndarray | None,
                 tolerance: int = 0) -> ObjectScore:
    """Score one redacted object against its ground truth.

    A line (on one frame) is *gone* when every one of its stroke pixels is redacted: its value changed by
    more than ``tolerance`` (0 for lossless outputs), or it is enclosed by changed pixels (see
    :func:`redacted_mask`). The redacted area is every such pixel on every frame; the part *inside* is the
    part within a ground-truth box grown by :func:`margin_for` its font size, on that box's frame.
    ``after`` None (no output, or an output whose frames do not match) counts every line as missed.
    """
    if after is None or after.shape[:3] != before.shape[:3]:
        note = "no output" if after is None else f"output shape {after.shape} != input {before.shape}"
        return ObjectScore([LineScore(e, False, int(e["stroke_pixels"])) for e in entries], 0, 0, note)
    redacted = redacted_mask(before, after, tolerance)
    target = np.zeros_like(redacted)
    lines = []
    for entry in entries:
        x0, y0, x1, y1 = entry["box"]
        f = int(entry["frame"])
        strokes = masks[entry["mask"]]
        left = int((strokes & ~redacted[f, y0:y1, x0:x1]).sum())
        lines.append(LineScore(entry, left == 0, left))
        m = margin_for(int(entry["size"]))
        target[f, max(0, y0 - m):y1 + m, max(0, x0 - m):x1 + m] = True
    return ObjectScore(lines, int(redacted.sum()), int((redacted & target).sum()))


# -- corpus on disk --------------------------------------------------------------------------------------
def write_corpus(out: Path, count: int, seed: int = 0, start: int = 0) -> Path:
    """Write objects [start, start + count) and the manifest; reuses objects already written for this seed."""
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = {"version": MANIFEST_VERSION, "seed": seed, "objects": {}}
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if old.get("version") == MANIFEST_VERSION and old.get("seed") == seed:
            manifest = old
    objects: dict[str, dict] = manifest["objects"]
    for index in range(start, start + count):
        key = str(index)
        if key in objects and (out / objects[key]["file"]).exists():
            continue
        sample = generate(index, seed)
        # File names carry no meaning (detection is by content): an opaque digest of the bytes.
        name = hashlib.sha256(sample.data).hexdigest()[:20]
        (out / f"{name}{sample.extension}").write_bytes(sample.data)
        np.savez_compressed(out / f"{name}.masks.npz", **{f"line{i}": line.mask for i, line in enumerate(sample.lines)})
        spec = asdict(sample.spec)
        spec["texts"] = [asdict(t) for t in sample.spec.texts]
        objects[key] = {"file": f"{name}{sample.extension}", "masks": f"{name}.masks.npz", "format": sample.spec.fmt,
                        "modality": sample.modality, "source": sample.spec.source, "frames": sample.spec.frames,
                        "shape": list(sample.clean.shape[1:]), "dtype": str(sample.clean.dtype),
                        "script": sample.spec.script, "size_bucket": sample.spec.size_bucket,
                        "angle": sample.spec.angle, "polarity": sample.spec.polarity,
                        "transfer_syntax": sample.spec.transfer_syntax, "boxes": sample.ground_truth()}
    manifest["objects"] = dict(sorted(objects.items(), key=lambda kv: int(kv[0])))
    tmp = manifest_path.with_suffix(".part")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    tmp.replace(manifest_path)
    return manifest_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        path = write_corpus(args.out, args.count, args.seed)
    except FontsMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
