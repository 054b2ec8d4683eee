"""Architecture fixes and additions for onnxruntime-genai's model builder.

* ``gemma3``: Gemma 3 under transformers 5 (RoPE config, exact embedding scale, ``<bos>``, sliding
  window cache slack). See :mod:`export.arch.gemma3`.
* ``cohere``: ``CohereForCausalLM`` (Aya-expanse-8B), which the builder does not support. See
  :mod:`export.arch.cohere`.

Hooks for the export core (``export/build.py``):

* :func:`run_builder` runs the builder in-process with the fixes installed (or call :func:`install`
  once before using ``onnxruntime_genai.models.builder.create_model`` yourself; a subprocess must run
  ``python -m export.arch.builder`` instead of ``python -m onnxruntime_genai.models.builder``).
* :func:`token_facts_overrides` gives the manifest's ``TokenFacts`` fields an architecture needs
  (Gemma 3: ``add_bos=True``).
* Importing this package registers the tiny checkpoint recipes ``gemma3``, ``cohere`` and
  ``cohere-noqk`` with :func:`export.tiny.register_tiny`.
"""

from __future__ import annotations

from typing import Any

from . import cohere, gemma3
from ._builder import (
    builder_module,
    install,
    register_architecture,
    register_class_patch,
    run_builder,
    supported_extra_architectures,
)

register_class_patch("Gemma3Model", gemma3.make_class)
register_architecture(cohere.ARCHITECTURE, cohere.make_class)


def _architecture(config: Any) -> tuple[str, str]:
    if isinstance(config, dict):
        archs, model_type = config.get("architectures") or [""], config.get("model_type", "")
    else:
        archs, model_type = getattr(config, "architectures", None) or [""], getattr(config, "model_type", "")
    return archs[0] or "", model_type or ""


def token_facts_overrides(config: Any) -> dict[str, Any]:
    """``TokenFacts`` fields this architecture needs, from an HF config object or config.json dict."""
    arch, model_type = _architecture(config)
    if arch in gemma3.ARCHITECTURES or model_type in gemma3.MODEL_TYPES:
        return gemma3.token_facts(config)
    if arch == cohere.ARCHITECTURE:
        return cohere.token_facts(config)
    return {}


def _register_tiny() -> None:
    try:
        from ..tiny import CHATML_TEMPLATE, TinySpec, register_tiny
    except ImportError:  # export.tiny not present (partial checkout): nothing to register
        return
    register_tiny(
        "gemma3",
        TinySpec(
            make_config=gemma3.tiny_config,
            model_class="Gemma3ForCausalLM",
            # Like the real Gemma template, BOS is *not* written by the template here: the runtime
            # prepends it because the manifest says add_bos=True.
            chat_template=CHATML_TEMPLATE,
            bos_token=gemma3.TINY_BOS,
            extra_special_tokens=[gemma3.TINY_BOS],
        ),
    )
    for name, make in (("cohere", cohere.tiny_config), ("cohere-noqk", cohere.tiny_config_no_qk_norm)):
        register_tiny(
            name,
            TinySpec(
                make_config=make,
                model_class="CohereForCausalLM",
                chat_template="{{ bos_token }}" + CHATML_TEMPLATE,
                bos_token="<BOS_TOKEN>",
                extra_special_tokens=["<BOS_TOKEN>"],
            ),
        )


_register_tiny()

__all__ = [
    "builder_module",
    "install",
    "register_architecture",
    "register_class_patch",
    "run_builder",
    "supported_extra_architectures",
    "token_facts_overrides",
]
