"""Test and bench support, not part of the product (the wheel leaves it out): ground-truth corpora.

``synthetic.py`` burns known text into real frames and scores redactions against it; the tests
(``tests/test_synthetic.py``) and the benches (``bench/pixels.py``, ``bench/ocr_throughput.py``) import it
from the repository root.
"""
