"""Output formats: one renderer module per format, registered by name in ``REGISTRY``.

Adding a format is one new module holding a ``Renderer`` (name, suffix, media type,
``render(result, context)``) and one ``REGISTRY.register`` line below; ``[output] formats`` in the
config then accepts its name, and the configuration reference lists it.
"""

from __future__ import annotations

from . import fhir, native
from .registry import OutputRegistry, RenderContext, Renderer

REGISTRY = OutputRegistry()
REGISTRY.register(native.RENDERER)
REGISTRY.register(fhir.RENDERER)

#: The formats written when the config names none.
DEFAULT_FORMATS = ("native",)

__all__ = ["DEFAULT_FORMATS", "REGISTRY", "OutputRegistry", "RenderContext", "Renderer"]
