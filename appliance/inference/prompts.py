"""Prompts as data: the system instruction, few-shot turns and document turn for a task.

The prompt is split into a fixed *prefix* (system + examples, identical for every document, so it
can be prefilled once) and a per-document *suffix*. The prompt hash covers the whole template with a
placeholder for the document, so a result records exactly which prompt produced it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..tasks import Feature, Task

DOC_PLACEHOLDER = "\u241fDOCUMENT\u241f"


def answer_json(task: Task, output: dict[str, Any]) -> str:
    """The exact answer layout the decoder produces: compact JSON, keys in task order."""
    return json.dumps({k: output[k] for k in task.keys}, ensure_ascii=False, separators=(",", ":"))


def _value_help(f: Feature) -> str:
    if f.type == "boolean":
        return "true or false"
    if f.type == "enum":
        return "one of " + ", ".join(json.dumps(o, ensure_ascii=False) for o in f.options or [])
    if f.type == "number":
        return "a number"
    return "a list of short strings"


def system_prompt(task: Task, language: str = "en") -> str:
    """The system message: the task's instruction, one ``- key (label): definition Value: ...`` line per
    feature (labels in ``language``, else English), and the instruction to reply with those keys in order."""
    lines = [task.instruction.strip(), "", "Items:"]
    for f in task.features:
        lines.append(f"- {f.key} ({f.label(language)}): {f.definition.strip()} Value: {_value_help(f)}.")
    lines += ["", "Reply with one JSON object with exactly these keys, in this order: " + ", ".join(task.keys) + "."]
    return "\n".join(lines)


def document_turn(task: Task, text: str) -> str:
    """The user turn for one document: ``DOCUMENT_LABEL:`` then the text, stripped."""
    return f"{task.document_label}:\n{text.strip()}"


@dataclass(frozen=True)
class JsonPrompt:
    """A task's rendered prompt split for prefix reuse.

    ``hash`` is the SHA-256 hex of a version tag and the whole rendered prompt with the placeholder.
    When the chat template does not render the prefix as a textual prefix of the full prompt,
    ``reusable`` is False, ``prefix`` is empty and ``suffix_template`` holds the whole prompt.
    """

    prefix: str            # rendered system + few-shot turns
    suffix_template: str   # rendered document turn + generation prompt, with DOC_PLACEHOLDER
    reusable: bool         # prefix is a true textual prefix of the full prompt
    hash: str

    def suffix(self, text: str) -> str:
        """The per-document part of the prompt with ``text`` (stripped) in place of the placeholder."""
        return self.suffix_template.replace(DOC_PLACEHOLDER, text.strip())


def build_json_prompt(task: Task, render, language: str = "en") -> JsonPrompt:
    """The task's prompt: system message and few-shot turns, then a document turn with a placeholder.

    ``render(messages, add_generation_prompt=...)`` is the model's chat template (e.g.
    ``LoadedModel.render``, which raises BundleError when the template fails).
    """
    messages: list[dict[str, str]] = [{"role": "system", "content": system_prompt(task, language)}]
    for ex in task.examples:
        messages.append({"role": "user", "content": document_turn(task, ex.text)})
        messages.append({"role": "assistant", "content": answer_json(task, ex.output)})
    prefix = render(messages, add_generation_prompt=False)
    doc_msg = {"role": "user", "content": f"{task.document_label}:\n{DOC_PLACEHOLDER}"}
    full = render(messages + [doc_msg], add_generation_prompt=True)
    reusable = full.startswith(prefix)
    suffix_template = full[len(prefix):] if reusable else full
    h = hashlib.sha256(("json-v1\0" + full).encode("utf-8")).hexdigest()
    return JsonPrompt(prefix=prefix if reusable else "", suffix_template=suffix_template, reusable=reusable, hash=h)
