"""The stable reason codes of inputs the daemon sets aside, one enum for every place that names one.

A code is written to the ``.error.json`` sidecar (``reason``), the ``failed`` and ``retry_scheduled``
log events and the status file's ``last_error``; integrators and monitoring read them, so a member's
*value* never changes. The table in docs/integration.md is generated from this enum and the failure
policy (``appliance.daemon.policy.reason_table``), so the documentation cannot drift from the code.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

#: Who raises a code: the input contract (reading and parsing a dropped file), the pipeline (the
#: document is unusable for extraction), or the daemon itself (its failure policy).
Source = Literal["input", "pipeline", "daemon"]


class Reason(str, Enum):
    """A reason code. ``str``-valued: ``Reason.UTF16 == "utf16"``; ``str()``/``format()`` give the value.

    Each member also has ``source`` (see ``Source``) and ``meaning`` (one line of Markdown for the
    integration guide; ``{suffixes}`` in it is filled with the supported input suffixes).
    """

    source: Source
    meaning: str

    def __new__(cls, code: str, source: Source, meaning: str) -> Reason:  # noqa: PYI034
        """A member whose value is ``code`` (the string written to sidecars and logs)."""
        obj = str.__new__(cls, code)
        obj._value_ = code
        obj.source = source
        obj.meaning = meaning
        return obj

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    # -- the input contract (appliance.reader, appliance.inputs)
    EMPTY = ("empty", "input", "the file has no bytes")
    WHITESPACE_ONLY = ("whitespace_only", "input", "the text is empty or only whitespace")
    TOO_LARGE = ("too_large", "input", "the file is larger than `limits.max_file_bytes`")
    UTF16 = (
        "utf16",
        "input",
        "UTF-16 or UTF-32 (byte-order mark, or NUL bytes between characters): save as UTF-8",
    )
    BINARY = ("binary", "input", "NUL bytes or many control characters: not a text file")
    INVALID_UTF8 = ("invalid_utf8", "input", "not valid UTF-8 (the detail gives the byte offset)")
    INVALID_JSON = (
        "invalid_json",
        "input",
        "a `.json` input is not valid JSON (the detail gives line and column)",
    )
    JSON_NOT_OBJECT = ("json_not_object", "input", "the top level of a `.json` input is not an object")
    JSON_FIELD = ("json_field", "input", "`id` or `text` missing, or a field of the wrong type")
    JSON_UNKNOWN_FIELD = (
        "json_unknown_field",
        "input",
        "a field other than `id`, `language`, `text`, `metadata`",
    )
    JSON_DUPLICATE_KEY = ("json_duplicate_key", "input", "a JSON object repeats a key")
    JSON_TOO_DEEP = ("json_too_deep", "input", "nesting deeper than `limits.max_json_depth`")
    METADATA_TOO_LARGE = (
        "metadata_too_large",
        "input",
        "`metadata` larger than `limits.max_metadata_bytes`",
    )
    BAD_ID = (
        "bad_id",
        "input",
        "the id is empty, longer than 255 characters, or has control characters",
    )
    BAD_LANGUAGE = (
        "bad_language",
        "input",
        "`language` is not a valid BCP-47 tag, or names no known language (`xx-nope`, `und`, `qaa`)",
    )
    UNSUPPORTED_TYPE = ("unsupported_type", "input", "the name does not end in {suffixes}")
    UNREADABLE = (
        "unreadable",
        "input",
        "the appliance may not read the file (permissions: see the group and ACL above)",
    )
    NOT_REGULAR_FILE = (
        "not_regular_file",
        "input",
        "a symbolic link, folder, named pipe or device: moved aside unread, never followed",
    )
    BAD_NAME = ("bad_name", "input", "the file name is not valid UTF-8")
    # -- timed transcripts (appliance.inputs: subtitles, Whisper-style JSON, timed .txt; issue #13)
    JSON_SHAPE = (
        "json_shape",
        "input",
        "a `.json` object of neither accepted shape: the appliance's (`id`, `text`, …) or a Whisper "
        "transcript (`segments`)",
    )
    JSON_SEGMENTS = (
        "json_segments",
        "input",
        "a Whisper-style `.json` whose `segments` is not a list of objects with numeric `start` and "
        "`end`, string `text` and optional string `speaker` (the detail gives the segment number)",
    )
    SUBTITLE_INVALID = (
        "subtitle_invalid",
        "input",
        "a `.vtt` or `.srt` file its subtitle parser cannot read (the detail gives the line or offset)",
    )
    NO_CUES = (
        "no_cues",
        "input",
        "a subtitle, Whisper `.json` or timed `.txt` input without any cue, or whose cues are all empty",
    )
    CUE_TIMES = (
        "cue_times",
        "input",
        "a cue time that is unreadable, negative or not finite, ends before it starts, or starts before "
        "the previous cue (the detail gives the cue number)",
    )
    # -- the pipeline
    TOO_LONG = ("too_long", "pipeline", "the pipeline refused the document as too long")
    # -- the daemon's failure policy
    PIPELINE_ERROR = (
        "pipeline_error",
        "daemon",
        "the extraction failed unexpectedly (the sidecar names the exception class)",
    )
    STORAGE_ERROR = (
        "storage_error",
        "daemon",
        (
            "writing failed (disk full, read-only or missing folder): the input stays in `work/`, nothing "
            "new is claimed, and the write is retried with backoff until it succeeds; the log's `errno` "
            "gives the code, e.g. `ENOSPC`"
        ),
    )
    ENVIRONMENT_ERROR = (
        "environment_error",
        "daemon",
        (
            "the extraction could not run for a reason outside the input (its models cannot be loaded "
            "again, a worker process cannot start): the input stays in `work/` and is retried with backoff"
        ),
    )
    INTERNAL_ERROR = (
        "internal_error",
        "daemon",
        "an unexpected error outside the extraction (a bug): the sidecar names the exception class",
    )
    INTERRUPTED = (
        "interrupted",
        "daemon",
        (
            "the extraction crashed `retries.max_attempts` times on this input, each time alone in a child "
            "process (an input in flight when the appliance dies is only ever retried that way): a file "
            "that crashes the appliance is set aside; a kill, power cut or restart of the service is never "
            "counted"
        ),
    )


#: Codes the input contract raises, with their meaning (the reader's and the parsers' refusals).
INPUT_REASONS: dict[str, str] = {r.value: r.meaning for r in Reason if r.source == "input"}
