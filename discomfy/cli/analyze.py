"""`python -m discomfy analyze`: list a graph's tunable inputs and write a mapping YAML for it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from discomfy.cli.server import ServerUnavailableError, add_server_options, object_info
from discomfy.comfy.object_info import ObjectInfo
from discomfy.errors import DiscomfyError
from discomfy.sweep.target import mapping_beside
from discomfy.sweep.template import render_sweep_template
from discomfy.workflows import Analysis, Graph, analyze_graph, is_ui_format, load_graph, load_workflow
from discomfy.workflows.errors import WorkflowLoadError
from discomfy.workflows.graph import read_json
from discomfy.workflows.mapping import NAME_RE, slug
from discomfy.workflows.template import render_report, render_template


def add_analyze_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `analyze` on the CLI."""
    parser = subparsers.add_parser(
        "analyze",
        help="list a workflow's tunable inputs and write a mapping YAML for it",
        description="Read WORKFLOW.json (API format, or a UI-format save, which is converted), list its seeds, "
        "prompts, sampling, resolution, model, image and video inputs, and write WORKFLOW.yaml beside it "
        "(unless it exists) so the bot can offer the workflow. The limits, steps, choices and descriptions "
        "come from the ComfyUI server's node list (--url, else comfy.url from the config; --object-info "
        "FILE offline); without it, DisComfy's own guesses are used.",
    )
    parser.add_argument("workflow", type=Path, help="a workflow JSON file (API or UI format)")
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the mapping YAML (default); --no-write only prints the inputs",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing mapping")
    parser.add_argument("--output", type=Path, help="mapping path (default: WORKFLOW.yaml beside it)")
    parser.add_argument("--name", help="workflow name (default: from the file name)")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="write a sweep file (WORKFLOW.sweep.yaml, or --output) with suggested ranges instead of the mapping",
    )
    add_server_options(parser)
    parser.set_defaults(handler=analyze_command)


def analyze_command(args: argparse.Namespace) -> int:
    """Entry point of `analyze`: returns the process exit code."""
    try:
        name = _name(args)
        ui_format = is_ui_format(read_json(args.workflow))
        info = _node_list(args, required=ui_format)
        graph = load_graph(args.workflow, info)
    except DiscomfyError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    analysis = analyze_graph(graph, info)
    if args.sweep:
        if ui_format:
            args.workflow = _write_api_graph(args.workflow, graph)
        return _write_sweep(args, analysis, graph, info)
    sys.stdout.write(render_report(analysis, graph_file=args.workflow.name))
    if not args.write:
        return 0
    target: Path = args.output or args.workflow.with_suffix(".yaml")
    if target.exists() and not args.force:
        sys.stdout.write(f"\n{target} exists; left as it is (--force replaces it).\n")
        return 0
    if ui_format:  # the mapping names an API-format graph: write the converted one beside the save
        args.workflow = _write_api_graph(args.workflow, graph)
    graph_file = Path(os.path.relpath(args.workflow, target.parent or ".")).as_posix()
    target.write_text(render_template(analysis, name=name, graph_file=graph_file), encoding="utf-8")
    try:
        load_workflow(target)
    except WorkflowLoadError as exc:
        sys.stderr.write(f"error: the written mapping does not load, please report this:\n{exc}\n")
        return 1
    sys.stdout.write(
        f"\nWrote {target}: review the names, limits and choices, then use /workflow reload (or restart the bot).\n"
    )
    return 0


def _write_api_graph(ui_file: Path, graph: Graph) -> Path:
    """The API-format graph converted from a UI save, written beside it (mappings and sweeps name that one)."""
    api_file = ui_file.with_name(f"{ui_file.stem}.api.json")
    api_file.write_text(json.dumps(graph, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    sys.stdout.write(f"\nWrote {api_file}: the API-format graph converted from {ui_file.name}.\n")
    return api_file


def _write_sweep(args: argparse.Namespace, analysis: Analysis, graph: Graph, info: ObjectInfo | None) -> int:
    target: Path = args.output or args.workflow.with_suffix(".sweep.yaml")
    if target.exists() and not args.force:
        sys.stdout.write(f"{target} exists; left as it is (--force replaces it).\n")
        return 0
    workflow = Path(os.path.relpath(args.workflow, target.parent or ".")).as_posix()
    mapping = mapping_beside(args.workflow)
    text = render_sweep_template(analysis, graph, workflow=workflow, info=info, mapping=mapping)
    target.write_text(text, encoding="utf-8")
    sys.stdout.write(f"Wrote {target}: choose what to vary, then: python -m discomfy sweep {target}\n")
    return 0


def _name(args: argparse.Namespace) -> str:
    if args.name is None:
        return slug(args.workflow.stem)
    if not NAME_RE.fullmatch(args.name):
        raise DiscomfyError(f"--name {args.name!r}: use lowercase letters, digits, '-' or '_'")
    return args.name


def _node_list(args: argparse.Namespace, *, required: bool) -> ObjectInfo | None:
    """The server's node list; an API-format graph can do without it (with a warning), a UI save cannot."""
    try:
        return object_info(args)
    except ServerUnavailableError as exc:
        if required:
            raise
        sys.stderr.write(f"warning: {exc}\nAnalyzing without it: limits and choices are DisComfy's guesses.\n")
        return None
