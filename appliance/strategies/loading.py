"""Loading the extractor bundle, once, for the strategies that use a model (json, evidence, hybrid).

Imports onnxruntime-genai (through ``appliance.inference.engine``): the rules strategy never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..bundle import resolve_bundle
from ..inference.engine import LoadedModel
from ..result import ModelRef

if TYPE_CHECKING:
    from ..settings import PipelineSettings


def load_extractor(settings: PipelineSettings, models_dir: Path) -> tuple[LoadedModel, ModelRef]:
    """The extractor bundle ``settings.extractor`` (a name under ``models_dir``, or a folder), verified
    when ``settings.verify_bundles`` and loaded with ``settings.threads``, and its provenance record.
    Raises ``BundleError`` when it cannot be found, verified or loaded."""
    model = LoadedModel(resolve_bundle(settings.extractor, models_dir), verify=settings.verify_bundles,
                        threads=settings.threads)
    m = model.manifest
    ref = ModelRef(name=m.name, role="extractor", bundle_hash=model.bundle_hash, precision=m.precision,
                   execution_provider=m.execution_provider)
    return model, ref
