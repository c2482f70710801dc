"""UI-format workflows (what ComfyUI's Save/Export writes) to the API format (what Export (API) writes).

Pure: the UI graph and the server's `/object_info` in, the API graph out, following ComfyUI's frontend
(1.27, `graphToPrompt`): widget values by the frontend's widget layout (see ui_widgets.py), links followed
through Reroutes, bypassed nodes (mode 4) and subgraphs, PrimitiveNode values written into their targets,
muted nodes (mode 2) and notes left out, inputs wired to a left-out node dropped. A node class the server does
not know is an error naming the node, its class and the pack it likely comes from; nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from discomfy.workflows.errors import ConversionError
from discomfy.workflows.graph import Graph, node_sort_key
from discomfy.workflows.node_packs import likely_pack
from discomfy.workflows.ui_widgets import dynamic_prompt, migrate_widget_values, widget_layout, widget_values

if TYPE_CHECKING:
    from discomfy.comfy.object_info import ObjectInfo

#: Nodes that live only in the frontend (isVirtualNode): never sent, links pass through the first two.
VIRTUAL_CLASSES = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote"})
MUTED, BYPASSED = 2, 4
SUBGRAPH_INPUT, SUBGRAPH_OUTPUT = -10, -20
MAX_DEPTH = 16  # subgraphs within subgraphs
#: Titles the frontend gives core classes that the server sends without a display name.
FRONTEND_TITLES: Mapping[str, str] = {
    "ImageBlend": "Image Blend",
    "ImageBlur": "Image Blur",
    "ImageQuantize": "Image Quantize",
    "ImageSharpen": "Image Sharpen",
    "ImageScaleToTotalPixels": "Scale Image to Total Pixels",
}


def is_ui_format(data: Any) -> bool:
    """True for a UI-format save (it has `nodes` and `links`), the format Save/Export writes."""
    return isinstance(data, Mapping) and isinstance(data.get("nodes"), list) and "links" in data


@dataclass(frozen=True, slots=True)
class _Link:
    origin: str
    origin_slot: int
    target: str
    target_slot: int
    type: str


class _Wire(NamedTuple):
    """A resolved input: the executable node and output slot it comes from."""

    node: str
    slot: int


@dataclass(frozen=True, slots=True)
class _Value:
    """A resolved input that is a constant (a subgraph's promoted widget)."""

    value: Any


@dataclass(slots=True)
class _Scope:
    """One graph level: the root, or one instance of a subgraph (with its path of instance ids)."""

    links: dict[int, _Link]
    path: tuple[str, ...] = ()
    definition: Mapping[str, Any] | None = None
    instance: _Node | None = None
    nodes: dict[str, _Node] = field(default_factory=dict)


@dataclass(slots=True)
class _Node:
    raw: Mapping[str, Any]
    scope: _Scope
    inner: _Scope | None = None  # set when this node is a subgraph instance
    widgets: dict[str, Any] = field(default_factory=dict)

    @property
    def local_id(self) -> str:
        return str(self.raw.get("id"))

    @property
    def exec_id(self) -> str:
        return ":".join([*self.scope.path, self.local_id])

    @property
    def type(self) -> str:
        return str(self.raw.get("type", ""))

    @property
    def mode(self) -> int:
        mode = self.raw.get("mode", 0)
        return mode if isinstance(mode, int) else 0

    @property
    def inputs(self) -> list[Mapping[str, Any]]:
        return [i for i in self.raw.get("inputs") or () if isinstance(i, Mapping)]

    @property
    def outputs(self) -> list[Mapping[str, Any]]:
        return [o for o in self.raw.get("outputs") or () if isinstance(o, Mapping)]


def convert_ui_workflow(
    data: Mapping[str, Any],
    info: ObjectInfo,
    *,
    file: str,
    choose: Callable[[list[str]], str] | None = None,
) -> Graph:
    """The API-format graph ComfyUI's Export (API) would write for this UI-format save.

    `choose` picks an option of a `{a|b}` block in dynamic-prompt texts (random by default, as the frontend).

    Raises:
        ConversionError: naming every node the server cannot run (class unknown, with its likely pack),
            or a malformed save.
    """
    converter = _Converter(data, info, file=file)
    return converter.run(choose)


class _Converter:
    def __init__(self, data: Mapping[str, Any], info: ObjectInfo, *, file: str) -> None:
        self.info = info
        self.file = file
        self.problems: list[str] = []
        definitions = data.get("definitions")
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, Mapping) else None
        self.subgraphs: dict[str, Mapping[str, Any]] = {
            str(s["id"]): s for s in subgraphs or () if isinstance(s, Mapping) and "id" in s
        }
        extra = data.get("extra")
        groups = extra.get("groupNodes") if isinstance(extra, Mapping) else None
        self.group_nodes: dict[str, Mapping[str, Any]] = dict(groups) if isinstance(groups, Mapping) else {}
        self.root = _Scope(links=_links(data.get("links")))
        self.nodes: list[_Node] = []  # every node of every scope, parents before their inner nodes
        self._add_nodes(self.root, data.get("nodes") or (), depth=0)

    def _add_nodes(self, scope: _Scope, raws: Any, *, depth: int) -> None:
        for raw in raws:
            if not isinstance(raw, Mapping) or "id" not in raw:
                self.problems.append(f"a node without an id: {str(raw)[:80]}")
                continue
            node = _Node(raw, scope)
            scope.nodes[node.local_id] = node
            self.nodes.append(node)
            definition = self.subgraphs.get(node.type) or self._group_definition(node)
            if definition is None:
                continue
            if depth >= MAX_DEPTH:
                self.problems.append(f"node {node.exec_id!r}: subgraphs nested deeper than {MAX_DEPTH} levels")
                continue
            node.inner = _Scope(
                links=_links(definition.get("links")),
                path=(*scope.path, node.local_id),
                definition=definition,
                instance=node,
            )
            self._add_nodes(node.inner, definition.get("nodes") or (), depth=depth + 1)

    def _group_definition(self, node: _Node) -> Mapping[str, Any] | None:
        """A legacy group node (`extra.groupNodes`, type `workflow>NAME`) as the subgraph it stands for."""
        for separator in (">", "/"):
            prefix, found, name = node.type.partition(separator)
            if prefix == "workflow" and found and isinstance(self.group_nodes.get(name), Mapping):
                return group_as_subgraph(self.group_nodes[name], node.raw, self.info)
        return None

    def run(self, choose: Callable[[list[str]], str] | None) -> Graph:
        for node in self.nodes:
            self._read_widgets(node)
        if self.problems:
            raise ConversionError(self.problems, file=self.file)
        for node in self.nodes:
            if node.type == "PrimitiveNode":
                self._apply_primitive(node)
        graph: Graph = {}
        for node in self.nodes:
            if node.mode in (MUTED, BYPASSED) or node.inner is not None or node.type in VIRTUAL_CLASSES:
                continue
            graph[node.exec_id] = self._api_node(node, choose)
        for api_node in graph.values():
            inputs = api_node["inputs"]
            for name in [n for n, v in inputs.items() if isinstance(v, list) and len(v) == 2 and v[0] not in graph]:
                del inputs[name]  # wired to a muted or missing node, as the frontend does
        return {node_id: graph[node_id] for node_id in sorted(graph, key=node_sort_key)}

    def _read_widgets(self, node: _Node) -> None:
        if node.inner is not None:
            node.widgets = self._promoted_widgets(node)
            return
        if node.type in VIRTUAL_CLASSES or node.mode == MUTED:
            return
        if not self.info.has_class(node.type):
            if node.mode != BYPASSED:
                self.problems.append(self._unknown(node))
            return
        saved = node.raw.get("widgets_values")
        if isinstance(saved, list):
            saved = migrate_widget_values(self.info, node.type, saved)
        elif not isinstance(saved, Mapping):
            saved = None
        node.widgets = widget_values(widget_layout(self.info, node.type), saved)

    def _unknown(self, node: _Node) -> str:
        pack = likely_pack(node.type, node.raw.get("properties"))
        where = f"; it likely comes from the node pack {pack}" if pack else "; install the node pack that provides it"
        return f"node {node.exec_id!r} ({node.type}): the ComfyUI server has no node class {node.type!r}{where}"

    def _promoted_widgets(self, node: _Node) -> dict[str, Any]:
        """A subgraph instance's widgets: one per subgraph input that feeds an inner widget, in input order."""
        assert node.inner is not None
        assert node.inner.definition is not None
        if node.inner.definition.get("group"):
            return {}  # a group node's values were moved into its inner nodes
        names = []
        for index, sub_input in enumerate(node.inner.definition.get("inputs") or ()):
            if isinstance(sub_input, Mapping) and self._feeds_widget(node.inner, index):
                names.append(str(sub_input.get("name")))
        saved = node.raw.get("widgets_values")
        if isinstance(saved, Mapping):
            return {name: saved[name] for name in names if name in saved}
        values = saved if isinstance(saved, list) else []
        return {name: value for name, value in zip(names, values, strict=False)}

    @staticmethod
    def _feeds_widget(scope: _Scope, index: int) -> bool:
        for link in scope.links.values():
            if link.origin == str(SUBGRAPH_INPUT) and link.origin_slot == index:
                target = scope.nodes.get(link.target)
                slots = target.inputs if target else []
                if link.target_slot < len(slots) and isinstance(slots[link.target_slot].get("widget"), Mapping):
                    return True
        return False

    def _apply_primitive(self, primitive: _Node) -> None:
        """A PrimitiveNode writes its value into the widget of every input it is wired to (applyToGraph)."""
        saved = primitive.raw.get("widgets_values")
        if not isinstance(saved, list) or not saved or not primitive.outputs:
            return
        for link_id in primitive.outputs[0].get("links") or ():
            link = primitive.scope.links.get(link_id) if isinstance(link_id, int) else None
            target = primitive.scope.nodes.get(link.target) if link else None
            if link is None or target is None or link.target_slot >= len(target.inputs):
                continue
            widget = target.inputs[link.target_slot].get("widget")
            name = widget.get("name") if isinstance(widget, Mapping) else None
            if name in target.widgets:
                target.widgets[name] = saved[0]

    def _api_node(self, node: _Node, choose: Callable[[list[str]], str] | None) -> dict[str, Any]:
        layout = {w.name: w for w in widget_layout(self.info, node.type)}
        inputs: dict[str, Any] = {}
        for name, value in node.widgets.items():
            widget = layout.get(name)
            if widget is not None and widget.dynamic_prompts and isinstance(value, str):
                value = dynamic_prompt(value, choose) if choose else dynamic_prompt(value)
            inputs[name] = _boxed(value)
        for index, slot in enumerate(node.inputs):
            resolved = self._resolve_input(node, index, set())
            if isinstance(resolved, _Value):
                inputs[str(slot.get("name"))] = _boxed(resolved.value)
            elif isinstance(resolved, _Wire):
                inputs[str(slot.get("name"))] = [resolved.node, resolved.slot]
        title = node.raw.get("title")
        return {
            "inputs": inputs,
            "class_type": node.type,
            "_meta": {"title": title if isinstance(title, str) and title else self._title(node.type)},
        }

    def _title(self, class_type: str) -> str:
        return FRONTEND_TITLES.get(class_type) or self.info.display_name(class_type)

    def _resolve_input(
        self, node: _Node, index: int, visited: set[str], wanted: str | None = None
    ) -> _Wire | _Value | None:
        """Where input `index` really comes from (ExecutableNodeDTO.resolveInput)."""
        key = f"{node.exec_id}[I]{index}"
        if key in visited:
            raise ConversionError([f"node {node.exec_id!r}: its links form a loop"], file=self.file)
        visited.add(key)
        slots = node.inputs
        if index >= len(slots) or not isinstance(slots[index].get("link"), int):
            return None
        link = node.scope.links.get(slots[index]["link"])
        if link is None:
            return None
        instance = node.scope.instance
        if instance is not None and link.origin == str(SUBGRAPH_INPUT):
            return self._resolve_subgraph_input(instance, link.origin_slot, visited)
        origin = node.scope.nodes.get(link.origin)
        if origin is None:
            return None
        return self._resolve_output(origin, link.origin_slot, wanted or str(slots[index].get("type", "")), visited)

    def _resolve_subgraph_input(self, instance: _Node, index: int, visited: set[str]) -> _Wire | _Value | None:
        assert instance.inner is not None
        assert instance.inner.definition is not None
        declared = instance.inner.definition.get("inputs") or []
        if index >= len(declared) or not isinstance(declared[index], Mapping):
            return None
        name = declared[index].get("name")
        for slot_index, slot in enumerate(instance.inputs):
            if slot.get("name") == name and isinstance(slot.get("link"), int):
                return self._resolve_input(instance, slot_index, visited)
        if name in instance.widgets:
            return _Value(instance.widgets[name])
        return None

    def _resolve_output(self, node: _Node, slot: int, wanted: str, visited: set[str]) -> _Wire | _Value | None:
        """What output `slot` of `node` stands for (ExecutableNodeDTO.resolveOutput)."""
        key = f"{node.exec_id}[O]{slot}"
        if key in visited:
            raise ConversionError([f"node {node.exec_id!r}: its links form a loop"], file=self.file)
        visited.add(key)
        if node.mode == BYPASSED:
            matching = _bypass_slot(node, slot, wanted)
            return None if matching < 0 else self._resolve_input(node, matching, visited)
        if node.inner is not None:
            for link in node.inner.links.values():
                if link.target == str(SUBGRAPH_OUTPUT) and link.target_slot == slot:
                    inner = node.inner.nodes.get(link.origin)
                    return None if inner is None else self._resolve_output(inner, link.origin_slot, wanted, visited)
            return None
        if node.type in VIRTUAL_CLASSES:
            return self._resolve_input(node, slot, visited, wanted) if slot < len(node.inputs) else None
        return _Wire(node.exec_id, slot)


def _bypass_slot(node: _Node, slot: int, wanted: str) -> int:
    """The input a bypassed node passes to output `slot`: same index if the types fit, else the first that does."""
    inputs = node.inputs
    if wanted in ("*", ""):
        return slot if len(inputs) > slot else 0
    outputs = node.outputs
    output_type = str(outputs[slot].get("type", "")) if slot < len(outputs) else ""
    types = [str(i.get("type", "")) for i in inputs]
    if slot < len(types) and _fits(types[slot], output_type) and _fits(types[slot], wanted):
        return slot
    if wanted in types:
        return types.index(wanted)
    return next((i for i, t in enumerate(types) if _fits(t, output_type) and _fits(t, wanted)), -1)


def _fits(first: str, second: str) -> bool:
    """LiteGraph.isValidConnection: equal, a wildcard, or comma-separated lists that share a type."""
    a = "" if first == "*" else first
    b = "" if second == "*" else second
    if not a or not b or a == b:
        return True
    a, b = a.lower(), b.lower()
    if "," not in a and "," not in b:
        return a == b
    return bool(set(a.split(",")) & set(b.split(",")))


def _boxed(value: Any) -> Any:
    """A list value is wrapped so that ComfyUI does not read it as a link (it unwraps `__value__`)."""
    return {"__value__": value} if isinstance(value, list) else value


def _links(raw: Any) -> dict[int, _Link]:
    """Links by id, from the array form `[id, origin, slot, target, slot, type]` or the object form."""
    links: dict[int, _Link] = {}
    for item in raw or ():
        if isinstance(item, list) and len(item) >= 5:
            link_id, origin, origin_slot, target, target_slot = item[:5]
            kind = item[5] if len(item) > 5 else ""
        elif isinstance(item, Mapping):
            link_id, origin, origin_slot = item.get("id"), item.get("origin_id"), item.get("origin_slot")
            target, target_slot, kind = item.get("target_id"), item.get("target_slot"), item.get("type", "")
        else:
            continue
        if isinstance(link_id, int) and isinstance(origin_slot, int) and isinstance(target_slot, int):
            links[link_id] = _Link(str(origin), origin_slot, str(target), target_slot, str(kind))
    return links


def group_as_subgraph(group: Mapping[str, Any], instance: Mapping[str, Any], info: ObjectInfo) -> dict[str, Any]:
    """Rewrite a group node's definition into subgraph form, its instance's widget values moved inside.

    The group's inputs are the inner inputs no inner link feeds, in node order; its outputs the inner outputs
    not only used inside (or listed in `external`); its widget values those of the inner nodes, in order.
    """
    inner = [dict(n) for n in group.get("nodes") or () if isinstance(n, Mapping)]
    internal: dict[tuple[int, int], tuple[int, int]] = {}
    for item in group.get("links") or ():
        if isinstance(item, list) and len(item) >= 4 and isinstance(item[0], int):
            internal[(item[2], item[3])] = (item[0], item[1])
    external = {(e[0], e[1]) for e in group.get("external") or () if isinstance(e, list) and len(e) >= 2}
    used_inside = set(internal.values())
    links: list[list[Any]] = []
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    saved_values = instance.get("widgets_values")
    values = list(saved_values) if isinstance(saved_values, list) else []
    for index, node in enumerate(inner):
        node["id"] = node.get("index", index)
        slots = []
        for slot_index, slot in enumerate(node.get("inputs") or ()):
            slot = dict(slot)
            origin = internal.get((node["id"], slot_index))
            if origin is not None:
                links.append([len(links) + 1, origin[0], origin[1], node["id"], slot_index, slot.get("type", "")])
            else:
                links.append(
                    [len(links) + 1, SUBGRAPH_INPUT, len(inputs), node["id"], slot_index, slot.get("type", "")]
                )
                inputs.append({"name": slot.get("name"), "type": slot.get("type"), "widget": slot.get("widget")})
            slot["link"] = links[-1][0]
            slots.append(slot)
        node["inputs"] = slots
        for slot_index, _ in enumerate(node.get("outputs") or ()):
            if (node["id"], slot_index) in used_inside and (node["id"], slot_index) not in external:
                continue
            links.append([len(links) + 1, node["id"], slot_index, SUBGRAPH_OUTPUT, len(outputs), ""])
            outputs.append({"name": f"{node['id']}:{slot_index}"})
        count = len(widget_layout(info, str(node.get("type"))))
        if values and count:
            node["widgets_values"], values = values[:count], values[count:]
    return {
        "nodes": inner,
        "links": links,
        "inputs": _group_inputs(inputs, instance),
        "outputs": outputs,
        "group": True,
    }


def _group_inputs(inputs: list[dict[str, Any]], instance: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Name the group's inputs as its instance does: saves drop unlinked widget inputs, so align in order."""
    saved = [s for s in instance.get("inputs") or () if isinstance(s, Mapping)]
    named: list[dict[str, Any]] = []
    position = 0
    for declared in inputs:
        widget = declared.get("widget")
        name = widget.get("name") if isinstance(widget, Mapping) else None
        candidate = saved[position] if position < len(saved) else None
        if candidate is not None and name is not None:
            saved_widget = candidate.get("widget")
            if not (isinstance(saved_widget, Mapping) and str(saved_widget.get("name", "")).endswith(str(name))):
                candidate = None
        if candidate is not None:
            position += 1
        named.append({"name": candidate.get("name") if candidate else f"unlinked {len(named)}"})
    return named
