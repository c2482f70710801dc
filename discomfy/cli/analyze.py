"""`python -m discomfy analyze`: list a graph's tunable inputs and write a mapping YAML for it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from discomfy.comfy.object_info import ObjectInfo
from discomfy.errors import DiscomfyError
from discomfy.sweep.target import mapping_beside
from discomfy.sweep.template import render_sweep_template
from discomfy.workflows import Analysis, Graph, analyze_graph, load_graph, load_workflow
from discomfy.workflows.errors import WorkflowFileError, WorkflowLoadError
from discomfy.workflows.mapping import NAME_RE, slug
from discomfy.workflows.template import render_report, render_template


def add_analyze_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `analyze` on the CLI."""
    parser = subparsers.add_parser(
        "analyze",
        help="list a workflow's tunable inputs and write a mapping YAML for it",
        description="Read WORKFLOW.json (ComfyUI 'Export (API)' format), list its seeds, prompts, "
        "sampling, resolution, model, image and video inputs, and write WORKFLOW.yaml beside it "
        "(unless it exists) so the bot can offer the workflow.",
    )
    parser.add_argument("workflow", type=Path, help="an API-format workflow JSON file")
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
        "--object-info",
        type=Path,
        metavar="FILE",
        help="a saved GET /object_info answer: offer the server's samplers, schedulers and model files as choices",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="write a sweep file (WORKFLOW.sweep.yaml, or --output) with suggested ranges instead of the mapping",
    )
    parser.set_defaults(handler=analyze_command)


def analyze_command(args: argparse.Namespace) -> int:
    """Entry point of `analyze`: returns the process exit code."""
    try:
        name = _name(args)
        graph = load_graph(args.workflow)
        info = _read_object_info(args.object_info) if args.object_info else None
    except DiscomfyError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    analysis = analyze_graph(graph, info)
    if args.sweep:
        return _write_sweep(args, analysis, graph, info)
    sys.stdout.write(render_report(analysis, graph_file=args.workflow.name))
    if not args.write:
        return 0
    target: Path = args.output or args.workflow.with_suffix(".yaml")
    if target.exists() and not args.force:
        sys.stdout.write(f"\n{target} exists; left as it is (--force replaces it).\n")
        return 0
    graph_file = Path(os.path.relpath(args.workflow, target.parent or ".")).as_posix()
    target.write_text(render_template(analysis, name=name, graph_file=graph_file), encoding="utf-8")
    try:
        load_workflow(target)
    except WorkflowLoadError as exc:
        sys.stderr.write(f"error: the written mapping does not load, please report this:\n{exc}\n")
        return 1
    sys.stdout.write(f"\nWrote {target}: review the names, limits and choices, then restart the bot.\n")
    return 0


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


def _read_object_info(path: Path) -> ObjectInfo:
    try:
        return ObjectInfo(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise WorkflowFileError("file not found", file=str(path)) from None
    except (OSError, ValueError) as exc:
        raise WorkflowFileError(f"not a saved /object_info answer: {exc}", file=str(path)) from exc
