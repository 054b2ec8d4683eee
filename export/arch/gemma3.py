"""Gemma 3 (``Gemma3ForCausalLM``, model_type ``gemma3_text``; e.g. Gemma-3-1B-it) under transformers 5.

What breaks, and how each fix works:

1. **RoPE config** (``KeyError: 'rope_type'``). transformers 5 stores RoPE per layer type:
   ``rope_parameters = {"sliding_attention": {...}, "full_attention": {...}}`` and drops the old flat
   ``rope_theta`` / ``rope_local_base_freq`` / ``rope_scaling``. The builder's ``make_rope_init``
   indexes ``rope_parameters["rope_type"]`` and ``Gemma3Model`` reads ``config.rope_local_base_freq``.
   :func:`normalise_rope_config` rewrites the config object the builder holds (never the files):
   ``rope_parameters`` becomes the flat ``full_attention`` entry (so scaling such as Gemma-3-4B's
   ``linear`` factor applies to the global layers), ``rope_theta`` the global theta, and
   ``rope_local_base_freq`` the sliding theta. The local cos/sin cache is then built from the
   sliding-layer entry alone (the builder would otherwise carry the global scaling into it).
2. **Embedding scale**: the builder rounds ``sqrt(hidden_size)`` to two decimals (33.94 for the 1B
   model's 1152); transformers multiplies by the exact value. We use the exact value.
3. **``<bos>``**: genai's tokenizer does not add Gemma's ``<bos>``; without it the model produces
   garbage. Not fixable in the graph: the record's ``token_facts`` say ``add_bos=True`` for the manifest
   and the runtime prepends it (exactly one: a chat template that already renders ``bos_token``
   must not get a second one).
4. **Sliding window**: sliding layers get a window-sized KV buffer. ``search.max_length`` must be at
   least the window (512 for the 1B model); we raise it if an export asked for less. ``rewind_to`` to a
   position that has already slid out of the window (prefix reuse after a long document) needs
   extra positions kept beyond the window: ``sliding_window.cache_slack`` in ``genai_config.json``.
   The builder writes 0 ("EP default"); we write :data:`DEFAULT_CACHE_SLACK` (extra option
   ``window_cache_slack=N`` overrides it). Cost: ``slack`` extra positions per sliding layer.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from .record import CHATML_TEMPLATE, Architecture, TinySpec

# Positions kept beyond the sliding window, so a reusable prompt prefix survives a document (and
# its answer) of up to this many tokens appended after it. 4096 covers a long transcript plus the
# JSON answer; it costs slack*kv_heads*head_dim*2 values per sliding layer (4 MiB/layer fp32 for
# Gemma-3-1B), far less than the full-attention layers' max_length caches.
DEFAULT_CACHE_SLACK = 4096
SLACK_OPTION = "window_cache_slack"


def _nested(rp: Any) -> bool:
    return isinstance(rp, dict) and ("full_attention" in rp or "sliding_attention" in rp)


def normalise_rope_config(config: Any) -> dict | None:
    """Flatten transformers-5 per-layer-type RoPE settings in place; returns the sliding entry.

    Idempotent. Returns ``None`` when the config is already flat (older transformers).
    """
    targets = [config]
    if getattr(config, "text_config", None) is not None:
        targets.insert(0, config.text_config)
    local_entry = None
    for cfg in targets:
        rp = getattr(cfg, "rope_parameters", None)
        if not _nested(rp):
            local_entry = getattr(cfg, "_appliance_local_rope", local_entry)
            continue
        full = dict(rp.get("full_attention") or rp["sliding_attention"])
        local = dict(rp.get("sliding_attention") or full)
        full.setdefault("rope_type", "default")
        local.setdefault("rope_type", "default")
        cfg.rope_theta = float(full.get("rope_theta", 1_000_000.0))
        cfg.rope_local_base_freq = float(local.get("rope_theta", 10_000.0))
        cfg.rope_parameters = full
        cfg._appliance_local_rope = local
        local_entry = local
    if local_entry is not None and getattr(config, "text_config", None) is not None:
        # The builder collapses text_config into the top level only for missing keys.
        for key in ("rope_theta", "rope_local_base_freq", "rope_parameters", "_appliance_local_rope"):
            if hasattr(config.text_config, key):
                setattr(config, key, getattr(config.text_config, key))
    return local_entry


def make_class(b: ModuleType, original: type) -> type:
    """Subclass of the builder's ``Gemma3Model`` (``original``, from builder module ``b``) with the fixes above."""
    Model = b.Model

    class ApplianceGemma3Model(original):
        def make_config_init(self, config):
            self._appliance_local_rope = normalise_rope_config(config)
            super().make_config_init(config)

        def __init__(self, config, io_dtype, onnx_dtype, ep, cache_dir, extra_options):
            # Read (and remove) our own option before the base class sees the options.
            slack = extra_options.pop(SLACK_OPTION, None)
            super().__init__(config, io_dtype, onnx_dtype, ep, cache_dir, extra_options)
            self.embed_attrs["scale"] = float(math.sqrt(self.hidden_size))
            self.context_length_attrs["window_kv_cache_slack"] = int(
                DEFAULT_CACHE_SLACK if slack is None else slack
            )

        def make_rotary_embedding_multi_cache(self):
            # Global layers: rope_attrs as make_rope_init set them from the full_attention entry.
            self.cos_cache_global_name, self.sin_cache_global_name = "cos_cache_global", "sin_cache_global"
            Model.make_rotary_embedding_caches(
                self, cos_cache_name=self.cos_cache_global_name, sin_cache_name=self.sin_cache_global_name
            )
            # Local (sliding) layers: their own theta and, unlike the builder, none of the global scaling.
            local = getattr(self, "_appliance_local_rope", None) or {"rope_type": "default"}
            rope_type = local.get("rope_type", "default")
            self.rope_attrs["create_caches"] = True
            self.rope_attrs["theta"] = self.rope_local_theta
            self.rope_attrs.pop("rescale_inv_freq", None)
            self.rope_attrs["mscale"] = 1
            if rope_type == "default":
                self.rope_attrs["rescale_factors"] = 1
            elif rope_type == "linear":
                self.rope_attrs["rescale_factors"] = local["factor"]
            else:
                raise NotImplementedError(f"Gemma 3 sliding-layer RoPE type '{rope_type}' is not supported")
            self.cos_cache_local_name, self.sin_cache_local_name = "cos_cache_local", "sin_cache_local"
            Model.make_rotary_embedding_caches(
                self, cos_cache_name=self.cos_cache_local_name, sin_cache_name=self.sin_cache_local_name
            )

        def update_genai_config(self, genai_config):
            super().update_genai_config(genai_config)
            window = self.window_size if self.window_size and self.window_size > 0 else 0
            search = genai_config.setdefault("search", {})
            if window and search.get("max_length", window) < window:
                search["max_length"] = window
            sw = genai_config.get("model", {}).get("decoder", {}).get("sliding_window")
            if sw is not None:
                sw["cache_slack"] = int(self.context_length_attrs["window_kv_cache_slack"])

    ApplianceGemma3Model.__name__ = ApplianceGemma3Model.__qualname__ = "ApplianceGemma3Model"
    return ApplianceGemma3Model


# ---------------------------------------------------------------------------------------------------
# Tiny checkpoint recipe

TINY_BOS = "<bos>"
TINY_SLIDING_WINDOW = 16


def tiny_config(vocab: int, ids: dict[str, int]) -> Any:
    """Gemma 3 text model, hidden 48 (so sqrt(hidden) is irrational), one sliding + one global layer."""
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(
        vocab_size=vocab,
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=TINY_SLIDING_WINDOW,
        layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=4096,
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
            "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1_000_000.0},
        },
        tie_word_embeddings=True,
        bos_token_id=ids["bos"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        architectures=["Gemma3ForCausalLM"],
    )


ARCHITECTURE = Architecture(
    name="gemma3",
    hf_architectures=("Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"),
    model_types=("gemma3_text", "gemma3"),
    class_patches={"Gemma3Model": make_class},
    needs_bos=True,
    token_facts={"add_bos": True},
    tiny={
        "gemma3": TinySpec(
            make_config=tiny_config,
            model_class="Gemma3ForCausalLM",
            # Like the real Gemma template, BOS is *not* written by the template here: the runtime
            # prepends it because the manifest says add_bos=True.
            chat_template=CHATML_TEMPLATE,
            bos_token=TINY_BOS,
            extra_special_tokens=[TINY_BOS],
        ),
    },
)
