"""Writing an Analysis out: a mapping YAML that loads as is, and a grouped report for people."""

from __future__ import annotations

from typing import Any

import yaml

from discomfy.workflows.analyze import Analysis, Group, Tunable

_VALUE_WIDTH = 48
DESCRIPTION_LIMIT = 100  # Discord's limit for an option description


def render_template(
    analysis: Analysis, *, name: str, graph_file: str, title: str | None = None, description: str = ""
) -> str:
    """The mapping YAML for a graph; rarely-tuned parameters are written commented out."""
    header = [
        f"# DisComfy mapping for {graph_file}, written by `python -m discomfy analyze`.",
        "# Rename, limit or remove parameters as you like; see docs/workflows.md.",
        _seed_comment(analysis),
    ]
    top: dict[str, Any] = {
        "name": name,
        "title": title or _title_from(name),
        "description": description,
        "kind": analysis.kind,
        "graph": graph_file,
    }
    if analysis.outputs:
        top["outputs"] = list(analysis.outputs)
    lines = [*header, _dump(top).rstrip("\n")]
    body = _parameters_block(analysis)
    lines.append("parameters:" if body else "parameters: {}")
    lines.extend(body)
    return "\n".join(lines) + "\n"


def _seed_comment(analysis: Analysis) -> str:
    if not analysis.seeds:
        return "# No seed input found: every job of this workflow is the same."
    refs = "".join(f"\n#   {_printable(f'{t.targets[0]}: {t.label}')}" for t in analysis.seeds)
    return f"# Seeds: each job sets all of these to one fresh seed (found automatically):{refs}"


def _parameters_block(analysis: Analysis) -> list[str]:
    lines: list[str] = []
    for group in Group:
        tunables = analysis.group(group) if group is not Group.SEEDS else ()
        if not tunables:
            continue
        lines.append(f"  # --- {group.value}")
        for tunable in tunables:
            lines.append(_printable(f"  # {tunable.label}; graph value: {_short(tunable.value)}"))
            text = _dump({tunable.name: _param_body(tunable)})
            prefix = "  # " if tunable.advanced else "  "
            lines.extend(prefix + line for line in text.rstrip("\n").splitlines())
    return lines


def _param_body(tunable: Tunable) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if len(tunable.targets) == 1:
        body["node"] = tunable.targets[0].node
        body["input"] = tunable.targets[0].input
    else:
        body["targets"] = [str(ref) for ref in tunable.targets]
    body["type"] = tunable.type.value
    if tunable.required:
        body["required"] = True
    for key in ("min", "max", "multiple_of", "max_length"):
        value = getattr(tunable, key)
        if value is not None:
            body[key] = value
    if tunable.choices is not None:
        body["choices"] = list(tunable.choices)
    if tunable.description:
        body["description"] = tunable.description[:DESCRIPTION_LIMIT]
    return body


class _Dumper(yaml.SafeDumper):
    """Block mappings with one-line lists: readable, and diffs stay small."""


def _flow_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # PyYAML writes NEL and other unprintables raw, then reads them back as line breaks.
    style = None if data.isprintable() else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(list, _flow_list)
_Dumper.add_representer(str, _text)


def _dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)


def _title_from(name: str) -> str:
    words = name.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def _printable(text: str) -> str:
    """Comments are raw text: keep titles with control characters from breaking the YAML."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _short(value: Any) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 3] + "..."


def render_report(analysis: Analysis, *, graph_file: str) -> str:
    """The tunable inputs grouped for the terminal: name, node inputs, node and current value."""
    outputs = ", ".join(analysis.outputs) or "none recognised"
    lines = [
        f"{graph_file}: {analysis.node_count} nodes, kind {analysis.kind}, outputs: {outputs}",
    ]
    for group in Group:
        tunables = analysis.group(group)
        if not tunables:
            continue
        heading = group.value[:1].upper() + group.value[1:]
        if group is Group.SEEDS:
            heading += " (each job sets all of them to one seed)"
        lines.append("")
        lines.append(f"{heading}:")
        for tunable in tunables:
            lines.append(_report_line(tunable, group))
    if not analysis.seeds and not analysis.tunables:
        lines.append("No tunable inputs recognised.")
    return "\n".join(lines) + "\n"


def _report_line(tunable: Tunable, group: Group) -> str:
    where = ", ".join(str(ref) for ref in tunable.targets)
    name = "" if group is Group.SEEDS else tunable.name
    flags = "  (commented out in the template)" if tunable.advanced else ""
    if tunable.required:
        flags += "  (required)"
    label = _printable(tunable.label)
    return f"  {name:<18} {where:<24} {label:<44} = {_short(tunable.value)}{flags}"
