"""Cohere (``CohereForCausalLM``: Command-R, Aya-expanse-8B) for the onnxruntime-genai builder.

The builder has no Cohere class. The differences from Llama, taken from transformers'
``models/cohere/modeling_cohere.py``, and how each is expressed with the builder's ops:

* **Norms are LayerNorm without bias** (mean-centred, ``layer_norm_eps``), not RMSNorm: ``simple=False``
  (``LayerNormalization`` / ``SkipLayerNormalization``) with an all-zero bias, since the op wants one.
* **One norm, parallel residual**: ``h = x + attn(ln(x)) + mlp(ln(x))`` — the layer shape of Phi-2, so
  the layer wiring is the builder's ``PhiModel.make_layer`` (attention and MLP both read the norm
  output, their outputs are added, and the next ``SkipLayerNorm`` adds the residual).
* **MLP** is Llama's gated SiLU (gate/up/down), not Phi's fc1/fc2.
* **RoPE is interleaved** (``repeat_interleave`` of the frequencies: pairs (0,1), (2,3), ...), so the
  rotary op runs with ``interleaved=1``.
* **logit_scale** multiplies the logits: the builder's LM-head ``scale`` (a ``Mul`` after the MatMul).
* **Tied embeddings** (``tie_word_embeddings``): the builder's ``shared_embeddings`` default.
* **Optional qk-norm** (``use_qk_norm``, Command-R+): a LayerNorm over ``head_dim`` with a weight per
  head (shape ``[heads, head_dim]``), applied before RoPE. Built as ``LayerNormalization`` with unit
  scale followed by a ``Mul`` with the ``[heads, head_dim]`` weight. The GQA-fused qk-norm (RMSNorm,
  one weight for all heads) would be wrong, so it is disabled.

The genai runtime does not know the model type ``cohere``; the graph is an ordinary decoder with the
standard inputs and outputs, so ``genai_config.json`` declares it as ``llama`` (the type only selects
the generic decoder-only pipeline).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .record import CHATML_TEMPLATE, Architecture, TinySpec, tiny_dims

HF_ARCHITECTURE = "CohereForCausalLM"
GENAI_MODEL_TYPE = "llama"


def make_class(b: ModuleType) -> type:
    """A builder ``Model`` for Cohere, built on builder module ``b``'s ``PhiModel`` (see the module docstring)."""
    import torch

    PhiModel = b.PhiModel

    class CohereModel(PhiModel):
        def __init__(self, config, io_dtype, onnx_dtype, ep, cache_dir, extra_options):
            super().__init__(config, io_dtype, onnx_dtype, ep, cache_dir, extra_options)
            eps = float(getattr(config, "layer_norm_eps", 1e-5))
            self.layernorm_attrs["simple"] = False
            self.layernorm_attrs["epsilon"] = eps
            self.attention_attrs["qk_norm_epsilon"] = eps
            self.mlp_attrs["use_proj"], self.mlp_attrs["use_fc"] = True, False
            self.lm_head_attrs["scale"] = float(getattr(config, "logit_scale", 1.0) or 1.0)

        def make_rope_init(self, config):
            super().make_rope_init(config)
            self.rope_attrs["interleaved"] = 1

        def make_attention_init(self, config):
            use_qk_norm = bool(getattr(config, "use_qk_norm", False))
            self.attention_attrs["q_norm"] = use_qk_norm
            self.attention_attrs["k_norm"] = use_qk_norm
            super().make_attention_init(config)

        def is_fused_qk_norm_gqa_supported(self):
            return False

        def make_layernorm(self, layer_id, layernorm, skip, simple, location):
            if not simple and getattr(layernorm, "bias", None) is None:
                layernorm.bias = torch.zeros_like(layernorm.weight)
            super().make_layernorm(layer_id, layernorm, skip, simple, location)

        def make_qk_norm(self, layer_id, attention):
            self.attention_attrs["q_path"] = self._make_head_layernorm(
                layer_id, "q_norm", self.attention_attrs["q_path"], attention.q_norm.weight, self.num_attn_heads
            )
            self.attention_attrs["k_path"] = self._make_head_layernorm(
                layer_id, "k_norm", self.attention_attrs["k_path"], attention.k_norm.weight, self.num_kv_heads
            )

        def _make_head_layernorm(self, layer_id, kind, root_input, weight, num_heads):
            # BxSx(N*H) -> BxSxNxH -> LayerNorm over H (unit scale, zero bias) -> * weight[N,H] -> BxSx(N*H)
            base = f"/model/layers.{layer_id}/attn/{kind}"
            h, width = self.head_size, num_heads * self.head_size
            reshape_1 = f"{base}/Reshape_1"
            self.make_reshape(
                reshape_1,
                [root_input, f"/model/constants/INT64/[0, 0, {num_heads}, {h}]"],
                dtype=self.io_dtype,
                shape=["batch_size", "sequence_length", num_heads, h],
            )
            ones, zeros = f"model.layers.{layer_id}.attn.{kind}.ones", f"model.layers.{layer_id}.attn.{kind}.zeros"
            self.make_initializer(torch.ones(h), ones, to=self.io_dtype)
            self.make_initializer(torch.zeros(h), zeros, to=self.io_dtype)
            ln = f"{base}/LayerNormalization"
            self.make_node(
                "LayerNormalization",
                inputs=[f"{reshape_1}/output_0", ones, zeros],
                outputs=[f"{ln}/output_0"],
                name=ln,
                axis=-1,
                epsilon=self.attention_attrs["qk_norm_epsilon"],
                stash_type=1,
            )
            self.make_value(f"{ln}/output_0", self.io_dtype, shape=["batch_size", "sequence_length", num_heads, h])
            w_name = f"model.layers.{layer_id}.attn.{kind}.weight"
            self.make_initializer(weight.detach().reshape(num_heads, h), w_name, to=self.io_dtype)
            mul = f"{base}/Mul"
            self.make_mul(
                mul, [f"{ln}/output_0", w_name], dtype=self.io_dtype, shape=["batch_size", "sequence_length", num_heads, h]
            )
            reshape_2 = f"{base}/Reshape_2"
            self.make_reshape(
                reshape_2,
                [f"{mul}/output_0", f"/model/constants/INT64/[0, 0, {width}]"],
                dtype=self.io_dtype,
                shape=["batch_size", "sequence_length", width],
            )
            return f"{reshape_2}/output_0"

        def update_genai_config(self, genai_config):
            super().update_genai_config(genai_config)
            genai_config["model"]["type"] = GENAI_MODEL_TYPE

    return CohereModel


# ---------------------------------------------------------------------------------------------------
# Tiny checkpoint recipes


def tiny_config(vocab: int, ids: dict[str, int], *, use_qk_norm: bool = True) -> Any:
    """Cohere with qk-norm on (exercises the per-head LayerNorm) and a non-trivial logit_scale."""
    from transformers import CohereConfig

    return CohereConfig(
        vocab_size=vocab,
        **tiny_dims(ids),
        logit_scale=0.5,
        use_qk_norm=use_qk_norm,
        layer_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=ids["bos"],
        architectures=["CohereForCausalLM"],
    )


def tiny_config_no_qk_norm(vocab: int, ids: dict[str, int]) -> Any:
    """Aya-expanse / Command-R shape: no qk-norm."""
    return tiny_config(vocab, ids, use_qk_norm=False)


def _tiny(make_config) -> TinySpec:
    # Cohere's chat template begins with <BOS_TOKEN> itself: nothing to add at run time.
    return TinySpec(
        make_config=make_config,
        model_class="CohereForCausalLM",
        chat_template="{{ bos_token }}" + CHATML_TEMPLATE,
        bos_token="<BOS_TOKEN>",
        extra_special_tokens=["<BOS_TOKEN>"],
    )


ARCHITECTURE = Architecture(
    name="cohere",
    hf_architectures=(HF_ARCHITECTURE,),
    model_types=("cohere",),
    builder_class=make_class,
    tiny={"cohere": _tiny(tiny_config), "cohere-noqk": _tiny(tiny_config_no_qk_norm)},
)
