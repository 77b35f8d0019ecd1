"""``--int8-keep`` names: the short module paths a user sees (``head``, ``body.0.conv1``, ``upsample.0``) or
full ONNX node names (``/head/head.0/Conv``).

The TorchScript exporter names a node by its module scope: ``/body/body.0/conv1/Conv`` is the Conv of module
``body.0.conv1`` (a segment that starts with the path so far plus ``.`` replaces it, any other is appended).
A short name selects every Conv whose module path is that name or lies under it: ``head`` the head's convs,
``body.0`` both convs of the first block, ``body.0.conv1`` one. Prefixes match whole components only (``body``
never selects ``body_tail.0``). A full node name selects that node. Anything else is one line listing the valid
short names, with the closest ones, or, for a name that ends several module paths (``conv1``), the ones it
could mean. Nodes without a scope path (a dynamo export's ``node_conv2d_12``) are named by their node name.

``short_form``: the keep list as the user would type it, one entry per kept conv (the shortest module path that
holds it alone, or its node name), so ``--int8-keep <short_form>`` selects exactly the same convs.
"""

from __future__ import annotations

import difflib

import onnx

from edgesr.errors import UsageError

SHOWN = 12  # module paths listed in a refusal (the rest counted)


def module_path(node_name: str) -> str | None:
    """'/body/body.0/conv1/Conv' -> 'body.0.conv1'; None for a name that is not a scope path."""
    parts = [p for p in node_name.split("/") if p]
    if not node_name.startswith("/") or len(parts) < 2:
        return None
    path = ""
    for seg in parts[:-1]:
        path = seg if not path or seg.startswith(path + ".") else f"{path}.{seg}"
    return path


def under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def _paths(model: onnx.ModelProto, conv_only: bool) -> dict[str, list[str]]:
    """Node name -> nothing; module path -> the (Conv) node names in it, in graph order."""
    out: dict[str, list[str]] = {}
    for n in model.graph.node:
        p = module_path(n.name)
        if p is not None and (n.op_type == "Conv" or not conv_only):
            out.setdefault(p, []).append(n.name)
    return out


def _convs_under(convs: dict[str, list[str]], prefix: str) -> list[str]:
    return [c for p, names in convs.items() if under(p, prefix) for c in names]


def _prefixes(paths: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for p in paths:
        parts = p.split(".")
        for i in range(1, len(parts) + 1):
            seen.setdefault(".".join(parts[:i]), None)
    return list(seen)


def _refuse(name: str, convs: dict[str, list[str]], model: onnx.ModelProto) -> UsageError:
    """The one-line refusal of a name that selects no conv, with the names that would."""
    paths = list(convs)
    if not paths:  # a graph without scope paths: node names only
        names = [n.name for n in model.graph.node if n.op_type == "Conv"]
        return UsageError(f"--int8-keep {name!r} is not a node of the model; its convs are: {', '.join(names)}")
    shown = ", ".join(paths[:SHOWN]) + (f" ... ({len(paths)} in all)" if len(paths) > SHOWN else "")
    valid = (f"short names are module paths (each selects the convs under it: "
             f"{', '.join(dict.fromkeys(p.split('.')[0] for p in paths))}) or one conv's: {shown}; "
             "full ONNX node names work too")
    ops = sorted({n.op_type for n in model.graph.node if under(module_path(n.name) or "", name)})
    if ops:
        return UsageError(f"--int8-keep {name!r} has no Conv under it ({', '.join(ops)}: already float); {valid}")
    ends = [p for p in paths if p.endswith("." + name)]
    if len(ends) > 1:
        more = f" ... ({len(ends)} in all)" if len(ends) > SHOWN else ""
        return UsageError(f"--int8-keep {name!r} is ambiguous: it ends {', '.join(ends[:SHOWN])}{more}: name one; "
                          f"{valid}")
    close = ends or difflib.get_close_matches(name, _prefixes(paths), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return UsageError(f"--int8-keep {name!r} is not a node or module of the model{hint}; {valid}")


def resolve_keep(model: onnx.ModelProto, names: list[str]) -> list[str]:
    """Short names and node names -> the Conv node names they select, in graph order; refused in one line."""
    ops = {n.name: n.op_type for n in model.graph.node}
    convs = _paths(model, conv_only=True)
    chosen: set[str] = set()
    not_conv: list[str] = []
    for name in names:
        if name in ops:
            if ops[name] == "Conv":
                chosen.add(name)
            else:
                not_conv.append(f"{name} ({ops[name]})")
            continue
        found = _convs_under(convs, name)
        if not found:
            raise _refuse(name, convs, model)
        chosen.update(found)
    if not_conv:
        raise UsageError(
            f"--int8-keep takes Conv nodes only: {', '.join(not_conv)} already run in float "
            "(Q/DQ sits on Conv inputs and weights only)"
        )
    return [n.name for n in model.graph.node if n.name in chosen]


def short_form(model: onnx.ModelProto, keep: list[str]) -> list[str]:
    """Each kept conv by the shortest prefix of its module path that holds no other conv (``head``,
    ``upsample.0``, ``body.0.conv1``), else by its node name."""
    convs = _paths(model, conv_only=True)
    out = []
    for name in keep:
        path = module_path(name)
        prefixes = _prefixes([path]) if path is not None else []
        out.append(next((p for p in prefixes if _convs_under(convs, p) == [name]), name))
    return out
