"""One loaded model and what runs on it: the onnxruntime-genai engine, prompts and decoders."""
