"""The published study's headline table (Ghaffarzadeh-Esfahani et al., 2026): medians over 13 features.

Persian palliative-care call transcripts (1,221), the ``palliative13`` features, missing outputs scored
False. Shown next to every report for orientation: a different language, population and feature set, so
the figures are *not* directly comparable with a run on another labelled set.
"""

from __future__ import annotations

STUDY_REFERENCE = "Ghaffarzadeh-Esfahani et al., 2026 (1,221 Persian call transcripts, palliative13, missing scored False)"

# model, macro-F1, MCC, sensitivity, specificity
STUDY_TABLE: list[tuple[str, float, float, float, float]] = [
    ("Qwen2.5-7B-Instruct", 0.899, 0.797, 0.818, 0.987),
    ("Llama-3.1-8B-Instruct", 0.870, 0.749, 0.909, 0.958),
    ("Llama-3.2-3B-Instruct", 0.866, 0.734, 0.842, 0.951),
    ("Aya-expanse-8B, English input", 0.855, 0.724, 0.901, 0.955),
    ("Aya-expanse-8B, Persian input", 0.842, 0.686, 0.893, 0.960),
    ("Qwen2.5-1.5B-Instruct", 0.819, 0.654, 0.737, 0.982),
    ("Gemma-3-1B-it", 0.740, 0.502, 0.613, 0.986),
]
