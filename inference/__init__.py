"""OCR engines behind one interface: in-process (onnxruntime) for the embedded default, Triton for streaming."""
