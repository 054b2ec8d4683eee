"""The daemon's pipeline: loading it (waiting for model bundles that are not there yet), holding it, and
releasing it while a suspect input runs in a child process.

* ``load_when_present``: a model bundle on a USB stick or a network mount may appear after the
  service starts. When loading fails with a ``BundleError`` *and* a configured bundle is missing (its
  folder absent, or present without ``manifest.json``: an empty mount point), the daemon waits for it
  for ``service.model_wait_seconds``, telling systemd (``STATUS=``, ``EXTEND_TIMEOUT_USEC=``,
  ``WATCHDOG=1``), and loads as soon as it appears. Still missing then: ``ModelsUnavailable``, which
  the CLI turns into exit status 75 (EX_TEMPFAIL): the unit restarts the service after ``RestartSec``
  (only 78, a configuration error, is never restarted). A bundle that is there but broken is a
  configuration error (78) at once.
* ``PipelineSlot``: the loaded pipeline. ``release`` closes it (a suspect's child process loads its
  own models: releasing the parent's keeps the peak memory at one copy of the models, which matters
  for large models under the unit's ``MemoryMax``); ``get`` loads it again when next needed.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..bundle import MANIFEST_NAME, default_models_dir, resolve_bundle
from ..document import Document
from ..errors import ApplianceError, BundleError
from ..logfmt import event
from ..result import Result
from ..settings import PipelineSettings

log = logging.getLogger("appliance.daemon")


class PipelineLike(Protocol):
    """What the daemon needs of ``appliance.pipeline.Pipeline``."""

    def process(self, doc: Document) -> Result:
        """One document → its result; ``InputError`` if the document is unusable."""
        ...

    def describe(self) -> dict[str, Any]:
        """Task, prompt hash and models, for the status file."""
        ...

    def close(self) -> None:
        """Release the models."""
        ...


PipelineLoader = Callable[[PipelineSettings], PipelineLike]
EX_TEMPFAIL = 75  # sysexits.h: "try again later"; the unit (Restart=always, 78 excluded) restarts it
POLL_SECONDS = 2.0
BROKEN_RETRY_SECONDS = 10.0


class ModelsUnavailable(ApplianceError):
    """Configured model bundles did not appear within ``service.model_wait_seconds`` (exit 75)."""


def missing_bundles(settings: PipelineSettings) -> list[str]:
    """The configured bundles (the extractor unless the strategy is ``rules``, the translator) that are
    not there: no such folder, or a folder without ``manifest.json``."""
    refs = [settings.translator] if settings.translator else []
    if settings.strategy != "rules":
        refs.insert(0, settings.extractor)
    models_dir = settings.models_dir or default_models_dir()
    missing = []
    for ref in refs:
        try:
            folder = resolve_bundle(ref, models_dir)
        except BundleError:
            missing.append(ref)
            continue
        if not (folder / MANIFEST_NAME).is_file():
            missing.append(ref)
    return missing


def load_when_present(
    loader: PipelineLoader,
    settings: PipelineSettings,
    *,
    wait_seconds: float,
    notify: Callable[[str], None],
    stopping: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PipelineLike | None:
    """``loader(settings)``, waiting up to ``wait_seconds`` for missing bundles (module docstring).

    A bundle that appears while waiting but does not load (still being copied) is tried again every
    ``BROKEN_RETRY_SECONDS`` until the wait ends. Returns None if ``stopping()`` became true while
    waiting. Raises ``ModelsUnavailable`` when the wait ends with bundles still missing, the
    ``BundleError`` of a bundle that is there but does not load (at once if it was there from the
    start), and any other error of the loader as it comes.
    """
    deadline = clock() + wait_seconds
    waited = False
    announced: list[str] | None = None
    while True:
        try:
            return loader(settings)
        except BundleError as e:
            missing = missing_bundles(settings)
            if not missing and not waited:
                raise  # there, but broken: a configuration error
            error = e
        retry_at = clock() + BROKEN_RETRY_SECONDS
        while True:
            left = deadline - clock()
            if left <= 0:
                if missing:
                    raise ModelsUnavailable(
                        f"model bundle(s) {', '.join(missing)} not found after waiting {wait_seconds:.0f} s "
                        "(not mounted or not copied yet?); exiting to be restarted"
                    ) from None
                raise error
            if missing != announced:
                event(log, logging.WARNING, "waiting_for_models", missing=missing, seconds=round(left))
                announced = missing
            what = ", ".join(missing) if missing else "to load (still being copied?)"
            notify(f"STATUS=waiting for model bundle(s) {what}: {left:.0f} s left")
            notify(f"EXTEND_TIMEOUT_USEC={int((POLL_SECONDS * 3 + 60) * 1e6)}")
            notify("WATCHDOG=1")
            sleep(min(POLL_SECONDS, max(left, 0.01)))
            if stopping():
                return None
            waited = True
            now_missing = missing_bundles(settings)
            if len(now_missing) < len(missing) or (not now_missing and clock() >= retry_at):
                if now_missing != missing:
                    event(log, logging.INFO, "models_appeared", missing=now_missing)
                break  # something appeared (or it is time to try a broken one again): load
            missing = now_missing


class PipelineSlot:
    """Holds the daemon's pipeline: ``get`` (loading it with ``loader`` if released), ``release``.

    ``on_load`` is called with each newly loaded pipeline (the status file's model description).
    """

    def __init__(
        self,
        loader: PipelineLoader,
        settings: PipelineSettings,
        pipeline: PipelineLike | None = None,
        on_load: Callable[[PipelineLike], None] | None = None,
    ) -> None:
        self.loader = loader
        self.settings = settings
        self._pipeline = pipeline
        self.on_load = on_load

    @property
    def loaded(self) -> bool:
        """True while a pipeline is held."""
        return self._pipeline is not None

    def get(self) -> PipelineLike:
        """The pipeline, loaded now if it was released. Raises what the loader raises."""
        if self._pipeline is None:
            t0 = time.monotonic()
            self._pipeline = self.loader(self.settings)
            event(log, logging.INFO, "models_loaded", seconds=round(time.monotonic() - t0, 3), reload=True)
            if self.on_load is not None:
                self.on_load(self._pipeline)
        return self._pipeline

    def release(self) -> None:
        """Close and drop the pipeline (its memory returns before a child process loads its own)."""
        if self._pipeline is not None:
            pipeline, self._pipeline = self._pipeline, None
            pipeline.close()
            del pipeline
            gc.collect()

    def close(self) -> None:
        """Release for good (at shutdown)."""
        self.release()
