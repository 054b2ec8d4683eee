"""``fhir``: the result as a FHIR R4 ``Bundle`` (JSON): QuestionnaireResponse, Observations, Provenance.

Built and validated with ``fhir.resources`` (see :mod:`appliance.fhir`); needs the task the result
was made with (the render context's). The encrypted file is ``<key>.fhir.json.age``; the mapping is
documented in docs/result-schema.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ApplianceError
from ..result import Result
from .registry import RenderContext


@dataclass(frozen=True)
class FhirBundle:
    """A FHIR R4 Bundle of type ``collection``, compact UTF-8 JSON."""

    name: str = "fhir"
    suffix: str = ".fhir.json"
    media_type: str = "application/fhir+json"

    def render(self, result: Result, context: RenderContext) -> bytes:
        """``result`` as a validated Bundle. Raises ApplianceError without the task or when the result
        is not of it; see :func:`appliance.fhir.render_bundle`."""
        if context.task is None:
            raise ApplianceError("the 'fhir' output format needs the task the result was made with")
        from ..fhir import render_bundle  # the FHIR library loads only where this format is used

        return render_bundle(result, context.task)


RENDERER = FhirBundle()
