"""Workflows: exported ComfyUI graphs plus the YAML mappings that make them safe to fill from Discord."""

from __future__ import annotations

from discomfy.workflows.analyze import Analysis, Group, Tunable, analyze_graph
from discomfy.workflows.check import check_against_object_info
from discomfy.workflows.convert import convert_ui_workflow, is_ui_format
from discomfy.workflows.graph import Graph, InputRef, parse_graph
from discomfy.workflows.library import WorkflowLibrary
from discomfy.workflows.loader import load_workflow, load_workflows
from discomfy.workflows.model import (
    BuiltWorkflow,
    ParamSpec,
    ParamType,
    WorkflowKind,
    WorkflowSpec,
)
from discomfy.workflows.render import apply_overrides, build_workflow
from discomfy.workflows.seeds import (
    SEED_MAX,
    find_seed_inputs,
    new_seed,
    randomize_seeds,
    sweep_seeds,
)
from discomfy.workflows.source import graph_from_data, load_graph
from discomfy.workflows.template import render_report, render_template

__all__ = [
    "SEED_MAX",
    "Analysis",
    "BuiltWorkflow",
    "Graph",
    "Group",
    "InputRef",
    "ParamSpec",
    "ParamType",
    "Tunable",
    "WorkflowKind",
    "WorkflowLibrary",
    "WorkflowSpec",
    "analyze_graph",
    "apply_overrides",
    "build_workflow",
    "check_against_object_info",
    "convert_ui_workflow",
    "find_seed_inputs",
    "graph_from_data",
    "is_ui_format",
    "load_graph",
    "load_workflow",
    "load_workflows",
    "new_seed",
    "parse_graph",
    "randomize_seeds",
    "render_report",
    "render_template",
    "sweep_seeds",
]
