"""Reads a training script without running it (standard library only).

Usage:
  script_tool.py knobs SCRIPT        print the script's argparse options as JSON
  script_tool.py instrument SCRIPT   print JSON: {"ok": true, "source": ...} with the
                                     training loop's iterable wrapped by the probe, or
                                     {"ok": false, "message": ..., "line": ...}

The instrumenter changes only the loop's iterable expression and adds one import line;
every other byte of the file stays as it was.
"""

import ast
import json
import re
import sys

PROBE_IMPORT = "import autoresearch_probe as probe"

# Names that suggest an iterable of batches, and a loop body of training.
LOADER_WORDS = re.compile(r"(loader|pipeline|pipe|batches|dataset|data|dl|iterable|iterator|stream|source)", re.I)
TRAIN_WORDS = re.compile(r"(train|step|loss|backward|optimi[sz]er|model|forward|batch)", re.I)


def literal(node):
    try:
        return ast.literal_eval(node)
    except Exception:
        return None


def constants(tree):
    """Module-level names bound to literals (numbers, strings, dicts of them)."""
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = literal(node.value)
            if value is not None:
                values[node.targets[0].id] = value
    return values


def resolve(node, names):
    """A default's value: a literal, a module-level constant, or CONSTANTS["key"]."""
    value = literal(node)
    if value is not None:
        return value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        container = names.get(node.value.id)
        key = literal(node.slice)
        if isinstance(container, dict):
            return container.get(key)
        if isinstance(container, (list, tuple)) and isinstance(key, int) and -len(container) <= key < len(container):
            return container[key]
    return None


# Calls that run an SPDL pipeline in a subprocess.
SUBPROCESS_CALLS = ("run_pipeline_in_subprocess",)


def call_name(call):
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def subprocess_functions(tree):
    """Module-level functions that start a pipeline in a subprocess, directly or through
    another such function (two levels are followed)."""
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    found = set()
    for _ in range(2):
        for name, fn in functions.items():
            if any(isinstance(c, ast.Call) and (call_name(c) in SUBPROCESS_CALLS or call_name(c) in found)
                   for c in ast.walk(fn)):
                found.add(name)
    return found


def starts_subprocess(nodes, helpers):
    return any(isinstance(c, ast.Call) and (call_name(c) in SUBPROCESS_CALLS or call_name(c) in helpers)
               for n in nodes for c in ast.walk(n))


def tests_option(test, dest):
    """(condition true when the option is truthy / equals the value, compared value) if
    `test` reads the option `dest`; None otherwise."""
    negated = False
    while isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        negated = not negated
        test = test.operand

    def is_dest(e):
        return (isinstance(e, ast.Attribute) and e.attr == dest) or (isinstance(e, ast.Name) and e.id == dest)

    if is_dest(test):
        return (not negated, None)
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and is_dest(test.left) \
            and isinstance(test.comparators[0], ast.Constant):
        value = test.comparators[0].value
        if isinstance(test.ops[0], (ast.Eq, ast.Is)):
            return (not negated, value)
        if isinstance(test.ops[0], (ast.NotEq, ast.IsNot)):
            return (negated, value)
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) and not negated:
        for operand in test.values:
            found = tests_option(operand, dest)
            if found is not None and found[0]:
                return found
    return None


def subprocess_evidence(tree, dest):
    """How the option `dest` selects `run_pipeline_in_subprocess`: {"when": bool, "value":
    compared value or None, "line": n}, from an if/else (or a conditional expression)
    whose one branch starts the pipeline in a subprocess and the other does not."""
    helpers = subprocess_functions(tree)
    for node in ast.walk(tree):
        if not isinstance(node, (ast.If, ast.IfExp)):
            continue
        found = tests_option(node.test, dest)
        if found is None:
            continue
        truthy, value = found
        body = node.body if isinstance(node, ast.If) else [node.body]
        orelse = node.orelse if isinstance(node, ast.If) else [node.orelse]
        in_body, in_else = starts_subprocess(body, helpers), starts_subprocess(orelse, helpers)
        if in_body == in_else:
            continue
        return {"when": in_body == truthy, "value": value, "line": node.lineno}
    return None


def knobs(tree):
    names = constants(tree)
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument"):
            continue
        flags = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        long_flags = [f for f in flags if f.startswith("--")]
        if not long_flags:
            continue
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        kind = "str"
        if "type" in kw and isinstance(kw["type"], ast.Name):
            kind = kw["type"].id
        action = literal(kw["action"]) if "action" in kw else None
        if "action" in kw and isinstance(kw["action"], (ast.Attribute, ast.Name)) \
                and ast.unparse(kw["action"]).endswith("BooleanOptionalAction"):
            action = "boolean_optional"
        if action in ("store_true", "store_false", "boolean_optional"):
            kind = "bool"
        if "default" in kw:
            default = resolve(kw["default"], names)
        else:
            default = {"store_true": False, "store_false": True}.get(action)
        if kind == "str" and default is not None and not isinstance(default, str):
            kind = type(default).__name__
        choices = resolve(kw["choices"], names) if "choices" in kw else None
        help_text = literal(kw["help"]) if "help" in kw else None
        dest = literal(kw["dest"]) if "dest" in kw else long_flags[0][2:].replace("-", "_")
        out.append({
            "flag": long_flags[0],
            "type": kind,
            "action": action if isinstance(action, str) else None,
            "default": default,
            "choices": list(choices) if isinstance(choices, (list, tuple)) else None,
            "help": help_text if isinstance(help_text, str) else None,
            "subprocess": subprocess_evidence(tree, dest) if isinstance(dest, str) else None,
        })
    return out


class Candidate:
    def __init__(self, node, score, reason, kind):
        self.node = node  # the expression to wrap
        self.score = score
        self.reason = reason
        self.kind = kind


def expr_words(node):
    return ast.unparse(node) if hasattr(ast, "unparse") else ""


def body_score(body):
    text = "\n".join(ast.unparse(stmt) for stmt in body) if hasattr(ast, "unparse") else ""
    return 2 if TRAIN_WORDS.search(text) else 0


def batch_size_expr(function, tree):
    """An expression for the batch size visible where the loop is, if any."""
    scope = function if function is not None else tree
    for node in ast.walk(scope):
        if isinstance(node, ast.Attribute) and node.attr in ("batch_size", "batchsize", "bs"):
            return ast.unparse(node)
    for node in ast.walk(scope):
        if isinstance(node, ast.Name) and node.id in ("batch_size", "BATCH_SIZE"):
            return node.id
    # In a method, an attribute the class sets (self.batch_size).
    if function is not None and function.args.args and function.args.args[0].arg == "self":
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "batch_size" \
                    and isinstance(node.value, ast.Name) and node.value.id == "self":
                return "self.batch_size"
    # A module-level name's attribute (ARGS.batch_size) is visible everywhere.
    globals_ = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "batch_size" and isinstance(node.value, ast.Name) \
                and node.value.id in globals_:
            return ast.unparse(node)
    # The parsed arguments, when the parser has a batch-size option: ARGS = parse().
    has_option = any(k["flag"] in ("--batch-size", "--batch_size") for k in knobs(tree))
    if has_option:
        local = set()
        if function is not None:
            local = {t.id for n in ast.walk(function) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        declared_global = {name for n in ast.walk(tree) if isinstance(n, ast.Global) for name in n.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                func = node.value.func
                fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                name = node.targets[0].id
                if "parse" in fname and (name in local or name in declared_global or name in globals_):
                    return name + ".batch_size"
    return None


def candidates(tree):
    found = []
    parents = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent

    def enclosing_function(node):
        while node in parents:
            node = parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
        return None

    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.AsyncFor)):
            it = node.iter
            target = it
            reason = None
            score = 0
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id in ("range", "zip", "sorted", "reversed", "list", "len"):
                continue
            if isinstance(it, (ast.List, ast.Tuple, ast.Dict, ast.Set, ast.Constant, ast.ListComp)):
                continue
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in ("items", "keys", "values", "split", "splitlines", "readlines"):
                continue
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "enumerate" and it.args:
                target = it.args[0]
                score += 1
                reason = "enumerate(...) over the loader"
            if isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute) and target.func.attr == "get_iterator":
                score += 4
                reason = "pipeline.get_iterator(...)"
            words = expr_words(target)
            if LOADER_WORDS.search(words):
                score += 3
                reason = reason or "a loader-like iterable (%s)" % words
            score += body_score(node.body)
            if score >= 3:
                found.append(Candidate(target, score, reason or words, "for"))
        # it = iter(dl) ... next(it)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name) \
                and node.value.func.id == "iter" and node.value.args and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            function = enclosing_function(node)
            scope = function if function is not None else tree
            uses_next = any(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "next"
                and n.args and isinstance(n.args[0], ast.Name) and n.args[0].id == name
                for n in ast.walk(scope)
            )
            if uses_next:
                inner = node.value.args[0]
                score = 4 + (2 if LOADER_WORDS.search(expr_words(inner)) else 0)
                found.append(Candidate(inner, score, "iter(...) with next(...)", "iter"))
    for c in found:
        c.function = enclosing_function(c.node)
    return found


def offsets(source):
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def char_index(source_lines_starts, source, lineno, col):
    # ast columns are UTF-8 byte offsets within the line.
    line_start = source_lines_starts[lineno - 1]
    line = source[line_start:source_lines_starts[lineno]] if lineno < len(source_lines_starts) else source[line_start:]
    prefix = line.encode("utf-8")[:col].decode("utf-8", errors="ignore")
    return line_start + len(prefix)


def import_line(tree, source):
    """The index in `source` where the probe import goes: after the last top-level import."""
    last = None
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            last = node
        elif last is not None:
            break
    starts = offsets(source)
    if last is None:
        # After a module docstring, if any.
        first = tree.body[0] if tree.body else None
        if first is not None and isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                and isinstance(first.value.value, str):
            return starts[min(first.end_lineno, len(starts) - 1)]
        return 0
    return starts[min(last.end_lineno, len(starts) - 1)]


def instrument(source):
    tree = ast.parse(source)
    if "autoresearch_probe" in source:
        return {"ok": True, "source": source, "reason": "the script already uses the probe"}
    found = sorted(candidates(tree), key=lambda c: -c.score)
    hint = "for batch in probe.track(loader, batch_size=BATCH_SIZE):"
    if not found:
        return {"ok": False, "message": "no training loop over a data loader was found", "line": hint}
    if len(found) > 1 and found[0].score == found[1].score:
        lines = ", ".join(str(c.node.lineno) for c in found[:3])
        return {"ok": False,
                "message": "more than one loop could be the training loop (lines %s); wrap the right one by hand" % lines,
                "line": hint}
    best = found[0]
    bs = batch_size_expr(best.function, tree)
    starts = offsets(source)
    start = char_index(starts, source, best.node.lineno, best.node.col_offset)
    end = char_index(starts, source, best.node.end_lineno, best.node.end_col_offset)
    original = source[start:end]
    wrapped = "probe.track(%s%s)" % (original, ", batch_size=%s" % bs if bs else "")
    at = import_line(tree, source)
    # Apply the later edit first so the earlier offset stays valid.
    edits = sorted([(start, end, wrapped), (at, at, PROBE_IMPORT + "\n")], key=lambda e: -e[0])
    edited = source
    for (a, b, text) in edits:
        edited = edited[:a] + text + edited[b:]
    ast.parse(edited)
    return {"ok": True, "source": edited, "line_number": best.node.lineno,
            "reason": best.reason, "wrapped": original, "batch_size": bs}


def main():
    command, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        source = f.read()
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        print(json.dumps({"ok": False, "message": "the script does not parse: %s (line %s)" % (err.msg, err.lineno),
                          "line": ""}))
        return
    if command == "knobs":
        print(json.dumps(knobs(tree)))
    elif command == "instrument":
        print(json.dumps(instrument(source)))
    else:
        print(json.dumps({"ok": False, "message": "unknown command %s" % command, "line": ""}))


if __name__ == "__main__":
    main()
