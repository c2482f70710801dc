"""`python -m discomfy convert`: a UI-format save (Save/Export) to what Export (API) writes, using the server."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from discomfy.cli.server import add_server_options, object_info
from discomfy.errors import DiscomfyError
from discomfy.workflows import is_ui_format, load_graph
from discomfy.workflows.graph import read_json


def add_convert_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `convert` on the CLI."""
    parser = subparsers.add_parser(
        "convert",
        help="convert a UI-format workflow (ComfyUI's normal Save/Export) to the API format",
        description="Write what ComfyUI's Workflow > Export (API) would write for UI.json. The server's node "
        "list (/object_info) tells how widget values map to inputs, so ComfyUI must be reachable (--url, "
        "else comfy.url from the config), or give a saved /object_info with --object-info FILE.",
    )
    parser.add_argument("workflow", type=Path, help="a UI-format workflow JSON file (an API-format one is copied)")
    parser.add_argument("-o", "--output", type=Path, help="where to write the API JSON (default: standard output)")
    add_server_options(parser)
    parser.set_defaults(handler=convert_command)


def convert_command(args: argparse.Namespace) -> int:
    """Entry point of `convert`: returns the process exit code."""
    try:
        info = object_info(args) if is_ui_format(read_json(args.workflow)) else None
        graph = load_graph(args.workflow, info)
    except DiscomfyError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    text = json.dumps(graph, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        sys.stderr.write(f"error: cannot write {args.output}: {exc}\n")
        return 2
    sys.stderr.write(f"Wrote {args.output} ({len(graph)} nodes)\n")
    return 0
