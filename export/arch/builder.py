"""``python -m export.arch.builder -i HF_DIR -o OUT -p int4 -e cpu [--extra_options K=V ...]``.

The onnxruntime-genai builder's own command line, with this project's architecture fixes installed
(Gemma 3 under transformers 5, Cohere). Use it wherever a subprocess would run
``python -m onnxruntime_genai.models.builder``.
"""

from ._builder import main

if __name__ == "__main__":
    main()
