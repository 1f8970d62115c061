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


# Calls that turn an environment variable's text into a value.
CONVERSIONS = ("int", "float", "bool", "str")
# The probe's own settings: never the script's.
PROBE_ENV_PREFIX = "AUTORESEARCH_"


def is_environ(node):
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or \
        (isinstance(node, ast.Name) and node.id == "environ")


def env_read(expr):
    """(NAME, default expression or None) when `expr` reads environment variable NAME:
    `os.environ.get("N", d)`, `os.getenv("N", d)`, `os.environ.setdefault("N", d)`,
    `os.environ["N"]`, each possibly inside int()/float()/bool()/str()."""
    while isinstance(expr, ast.Call) and call_name(expr) in CONVERSIONS and len(expr.args) == 1 \
            and not isinstance(expr.func, ast.Attribute):
        expr = expr.args[0]
    key, default = None, None
    if isinstance(expr, ast.Call):
        func = expr.func
        name = call_name(expr)
        direct = name == "getenv"
        via_environ = name in ("get", "setdefault") and isinstance(func, ast.Attribute) and is_environ(func.value)
        if (direct or via_environ) and expr.args:
            key = literal(expr.args[0])
            default = expr.args[1] if len(expr.args) > 1 else next(
                (k.value for k in expr.keywords if k.arg == "default"), None)
    elif isinstance(expr, ast.Subscript) and is_environ(expr.value):
        key = literal(expr.slice)
    if isinstance(key, str) and key:
        return key, default
    return None


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
    """How `test` reads the option `dest`: (truthy, compared value, part), where the
    test (or, for `part` "and"/"or", one operand of it) is true exactly when the option
    is truthy (equals the value) if `truthy`, falsy otherwise; None if it does not."""
    negated = False
    while isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        negated = not negated
        test = test.operand

    def is_dest(e):
        if dest.startswith("env:"):
            read = env_read(e)
            return read is not None and read[0] == dest[4:]
        return (isinstance(e, ast.Attribute) and e.attr == dest) or (isinstance(e, ast.Name) and e.id == dest)

    if is_dest(test):
        return (not negated, None, "whole")
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and is_dest(test.left) \
            and isinstance(test.comparators[0], ast.Constant):
        value = test.comparators[0].value
        if isinstance(test.ops[0], (ast.Eq, ast.Is)):
            return (not negated, value, "whole")
        if isinstance(test.ops[0], (ast.NotEq, ast.IsNot)):
            return (negated, value, "whole")
    if isinstance(test, ast.BoolOp) and not negated:
        for operand in test.values:
            found = tests_option(operand, dest)
            if found is not None and found[2] == "whole":
                return (found[0], found[1], "and" if isinstance(test.op, ast.And) else "or")
    return None


def inline(test, aliases):
    """`test` with a bare name (possibly negated) replaced by the module-level expression
    it is bound to."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return ast.UnaryOp(op=test.op, operand=inline(test.operand, aliases))
    if isinstance(test, ast.Name) and test.id in aliases:
        return aliases[test.id]
    return test


def subprocess_evidence(tree, dest):
    """How the option `dest` selects `run_pipeline_in_subprocess`: {"when": bool, "value":
    compared value or None, "line": n}, from an if/else (or a conditional expression)
    whose one branch starts the pipeline in a subprocess and the other does not. With
    `a and b` only a false operand decides (the else branch); with `a or b` only a true
    one (the body)."""
    helpers = subprocess_functions(tree)
    # `USE_MP = os.environ.get("USE_MP") == "1"` at module level, then `if USE_MP:`.
    aliases = {}
    if dest.startswith("env:"):
        for n in tree.body:
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
                aliases[n.targets[0].id] = n.value
    for node in ast.walk(tree):
        if not isinstance(node, (ast.If, ast.IfExp)):
            continue
        found = tests_option(inline(node.test, aliases), dest)
        if found is None:
            continue
        truthy, value, part = found
        body = node.body if isinstance(node, ast.If) else [node.body]
        orelse = node.orelse if isinstance(node, ast.If) else [node.orelse]
        in_body, in_else = starts_subprocess(body, helpers), starts_subprocess(orelse, helpers)
        if in_body == in_else:
            continue
        if part == "and" and in_body or part == "or" and in_else:
            continue
        return {"when": in_body == truthy, "value": value, "line": node.lineno}
    return None


# SPDL (and PyTorch DataLoader) parameters that set how fast the pipeline runs, and the
# role a launch flag gets when its value reaches one: (call name, keyword, position).
PIPELINE_PARAMETERS = [
    ("pipe", "concurrency", None, "concurrency"),
    ("build", "num_threads", None, "threads"),
    ("run_pipeline_in_subprocess", "num_threads", None, "threads"),
    ("run_pipeline_in_subprocess", "buffer_size", None, "buffer"),
    ("add_sink", "buffer_size", 0, "buffer"),
    ("aggregate", None, 0, "batch_size"),
    ("DataLoader", "batch_size", 1, "batch_size"),
    ("DataLoader", "num_workers", None, "threads"),
    ("DataLoader", "prefetch_factor", None, "buffer"),
    ("ThreadPoolExecutor", "max_workers", 0, "threads"),
    ("ProcessPoolExecutor", "max_workers", 0, "threads"),
    ("ProcessPoolExecutorConfig", "max_workers", 0, "threads"),
]
# The argparse calls whose result holds the parsed options.
PARSE_CALLS = ("parse_args", "parse_known_args", "parse_intermixed_args", "parse_known_intermixed_args")
# How many assignments, attributes and calls are followed back from a parameter.
FLOW_DEPTH = 8


def argument(call, keyword, position):
    for k in call.keywords:
        if k.arg == keyword and keyword is not None:
            return k.value
    if position is not None and 0 <= position < len(call.args) \
            and not any(isinstance(a, ast.Starred) for a in call.args[:position + 1]):
        return call.args[position]
    return None


def stage_name(call):
    """The stage a `pipe(op, name=...)` call makes: its name, or the op's name as SPDL
    names it (`__name__`, partials unwrapped)."""
    for k in call.keywords:
        if k.arg == "name":
            value = literal(k.value)
            return value if isinstance(value, str) else None
    if call.args:
        op = call.args[0]
        while isinstance(op, ast.Call) and call_name(op) == "partial" and op.args:
            op = op.args[0]
        if isinstance(op, ast.Name):
            return op.id
        if isinstance(op, ast.Attribute):
            return op.attr
    return None


class Flow:
    """Which options' values reach an expression: through assignments, attributes
    (`self.x = ...`, `Config(x=...)`, dataclass fields), function arguments, dict keys
    and `getattr(args, "x")`. Scope is approximate: a name's assignments are looked up in
    its function first, then in the module."""

    def __init__(self, tree, dests):
        self.tree = tree
        self.dests = set(dests)
        self.parents = {}
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self.functions = {}
        self.classes = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
        self.calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        self._globals = {}
        self.names = {}       # name -> [(scope, value)]
        self.attributes = {}  # attribute or keyword or dict key -> [value]
        for node in ast.walk(tree):
            targets, value = [], None
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                targets, value = [node.target], node.value
            elif isinstance(node, (ast.NamedExpr,)):
                targets, value = [node.target], node.value
            for target in targets:
                self._bind(target, value, self.scope_of(node))
            if isinstance(node, ast.Call) and call_name(node) not in {p[0] for p in PIPELINE_PARAMETERS}:
                for k in node.keywords:
                    if k.arg:
                        self.attributes.setdefault(k.arg, []).append(k.value)
            if isinstance(node, ast.Dict):
                for key, item in zip(node.keys, node.values):
                    key = literal(key) if key is not None else None
                    if isinstance(key, str):
                        self.attributes.setdefault(key, []).append(item)
        # Positional arguments to a class whose fields are annotated (a dataclass).
        for call in self.calls:
            cls = self.classes.get(call_name(call))
            if cls is None:
                continue
            fields = [n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
            for name, arg in zip(fields, call.args):
                self.attributes.setdefault(name, []).append(arg)

    def declared_global(self, function):
        cached = self._globals.get(id(function))
        if cached is None:
            cached = {name for n in ast.walk(function) if isinstance(n, ast.Global) for name in n.names}
            self._globals[id(function)] = cached
        return cached

    def scope_of(self, node):
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return node
        return None

    def _bind(self, target, value, scope):
        if isinstance(target, ast.Name):
            if scope is not None and target.id in self.declared_global(scope):
                scope = None  # `global ARGS; ARGS = parse()` binds the module's name
            self.names.setdefault(target.id, []).append((scope, value))
        elif isinstance(target, ast.Attribute):
            self.attributes.setdefault(target.attr, []).append(value)
        elif isinstance(target, ast.Subscript):
            key = literal(target.slice)
            if isinstance(key, str):
                self.attributes.setdefault(key, []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) else None
            for i, element in enumerate(target.elts):
                self._bind(element, items[i] if items else value, scope)

    def reaching(self, expr, depth=FLOW_DEPTH, seen=None):
        """The option dests (and `const:NAME` module constants) whose values flow into
        `expr`."""
        seen = set() if seen is None else seen
        if expr is None or depth <= 0:
            return set()
        read = env_read(expr)
        if read is not None:
            return {"env:" + read[0]} | self.reaching(read[1], depth - 1, seen)
        if isinstance(expr, ast.Attribute):
            # `a.b.c` is read through its last name only; `self.cfg` as a whole would
            # stand for everything the object holds.
            found = self._key(expr.attr, depth, seen)
            if expr.attr in self.dests and self.is_arguments(expr.value):
                found.add(expr.attr)
            return found
        if isinstance(expr, ast.Subscript):
            key = literal(expr.slice)
            if isinstance(key, str):
                return self._key(key, depth, seen)
            return self.reaching(expr.value, depth, seen)
        if isinstance(expr, ast.Name):
            if expr.id in ("self", "cls") or not isinstance(expr.ctx, ast.Load):
                return set()
            return self._name(expr, depth, seen)
        if isinstance(expr, ast.Call):
            name = call_name(expr)
            key = literal(expr.args[1]) if name == "getattr" and len(expr.args) >= 2 else None
            if name == "get" and isinstance(expr.func, ast.Attribute) and expr.args:
                key = literal(expr.args[0])
            found = self._key(key, depth, seen) if isinstance(key, str) else set()
            if name == "getattr" and isinstance(key, str) and key in self.dests \
                    and self.is_arguments(expr.args[0]):
                found.add(key)
            # A call's value depends on its arguments (max(a, b), int(x), f(args.n));
            # the receiver of a method call is not followed.
            for arg in list(expr.args) + [k.value for k in expr.keywords]:
                found |= self.reaching(arg, depth, seen)
            return found
        if isinstance(expr, (ast.Lambda, ast.FunctionDef)):
            return set()
        found = set()
        for child in ast.iter_child_nodes(expr):
            found |= self.reaching(child, depth, seen)
        return found

    def is_arguments(self, expr, depth=FLOW_DEPTH):
        """Whether `expr` holds the parsed options: an `ArgumentParser.parse_args()` (or
        `parse_known_args()`) result, or what a function of the script returns when it
        returns one, reached through names, attributes and arguments."""
        if depth <= 0 or expr is None:
            return False
        if isinstance(expr, ast.Call):
            name = call_name(expr)
            if isinstance(expr.func, ast.Attribute) and name in PARSE_CALLS:
                return True
            # A function of the script that returns the parsed options (`def parse():
            # ...; return p.parse_args()`), whatever it is called.
            return any(self.is_arguments(r.value, depth - 1)
                       for fn in self.functions.get(name, [])
                       for r in ast.walk(fn) if isinstance(r, ast.Return) and r.value is not None)
        if isinstance(expr, ast.Subscript):
            return self.is_arguments(expr.value, depth - 1)  # parse_known_args()[0]
        values = []
        if isinstance(expr, ast.Attribute):
            values = self.attributes.get(expr.attr, [])
        elif isinstance(expr, ast.Name):
            if expr.id in ("self", "cls"):
                return False
            scope = self.scope_of(expr)
            values = self.bindings_at(expr)
            if scope is not None and not isinstance(scope, ast.Lambda):
                values = values + self._arguments_for(scope, expr.id)
        return any(self.is_arguments(v, depth - 1) for v in values)

    def _arguments_for(self, function, name):
        """The expressions passed for parameter `name` of `function` at its call sites."""
        return [value for (_, value) in self._call_sites(function, name) if value is not None]

    def _call_sites(self, function, name):
        """(call, the expression it passes for parameter `name` or None) for every call
        of `function` (of its class, for `__init__`); none for `self`/`cls` or a name that
        is no parameter."""
        params = [a.arg for a in function.args.posonlyargs + function.args.args]
        if name in ("self", "cls") or (name not in params and name not in [a.arg for a in function.args.kwonlyargs]):
            return []
        position = params.index(name) if name in params else None
        if position is not None and params[0] in ("self", "cls"):
            position -= 1
        callee = function.name
        cls = self.parents.get(function)
        if function.name == "__init__" and isinstance(cls, ast.ClassDef):
            callee = cls.name
        return [(call, argument(call, name, position)) for call in self.calls if call_name(call) == callee]

    def bindings_at(self, node):
        """The values a name may hold where `node` reads it: its function's own
        assignments, else the module's."""
        scope = self.scope_of(node)
        bindings = self.names.get(node.id, [])
        return [v for (w, v) in bindings if w is scope] or [v for (w, v) in bindings if w is None]

    def _key(self, key, depth, seen):
        found = set()
        if ("key", key) in seen:
            return found
        seen.add(("key", key))
        for value in self.attributes.get(key, []):
            found |= self.reaching(value, depth - 1, seen)
        return found

    def _name(self, node, depth, seen):
        scope = self.scope_of(node)
        marker = ("name", node.id, id(scope))
        if marker in seen:
            return set()
        seen.add(marker)
        found = set()
        bindings = self.names.get(node.id, [])
        local = [value for (where, value) in bindings if where is scope]
        chosen = local or [value for (where, value) in bindings if where is None]
        if not local and chosen:
            # A module-level name is a source of its own (`BATCH_SIZE = 16`).
            found.add("const:" + node.id)
        for value in chosen:
            found |= self.reaching(value, depth - 1, seen)
        if scope is not None and not isinstance(scope, ast.Lambda):
            found |= self._parameter(scope, node.id, depth, seen)
        return found

    def _parameter(self, function, name, depth, seen):
        params = [a.arg for a in function.args.posonlyargs + function.args.args]
        found = set()
        defaults = function.args.defaults
        if name in params and defaults and params.index(name) >= len(params) - len(defaults):
            found |= self.reaching(defaults[params.index(name) - (len(params) - len(defaults))], depth - 1, seen)
        for call, value in self._call_sites(function, name):
            if value is not None:
                found |= self.reaching(value, depth - 1, seen)
            elif any(k.arg is None for k in call.keywords) and name in self.dests:
                # `main(**vars(args))`: every parameter named after an option.
                found.add(name)
        return found

    def pipeline_of(self, call, depth=64):
        """Which pipeline a builder call belongs to: the line of the chain's first call
        (`PipelineBuilder()`), followed through the names the builder is kept in. Calls
        outside a builder chain (`run_pipeline_in_subprocess(config)`) follow their
        first argument."""
        node = call
        while depth > 0:
            depth -= 1
            if isinstance(node, ast.Call):
                if isinstance(node.func, ast.Attribute):
                    node = node.func.value
                    continue
                if call_name(node) in ("run_pipeline_in_subprocess",) and node.args:
                    node = node.args[0]
                    continue
                return "line %d" % node.lineno
            if isinstance(node, ast.Attribute):
                node = node.value
                continue
            if isinstance(node, ast.Name):
                values = self.bindings_at(node)
                if len(values) == 1 and values[0] is not None:
                    node = values[0]
                    continue
                return None
            return None
        return None

    def parameters(self):
        """Every pipeline parameter in the script: (role, call, param, stage, line, expr,
        pipeline)."""
        out = []
        for call in self.calls:
            for (callee, keyword, position, role) in PIPELINE_PARAMETERS:
                if call_name(call) != callee:
                    continue
                value = argument(call, keyword, position)
                if value is None:
                    continue
                stage = stage_name(call) if callee == "pipe" else None
                out.append((role, callee, keyword or "#%d" % position, stage, value.lineno, value,
                            self.pipeline_of(call)))
        return out


def reaches(tree, dests):
    """For each dest, the pipeline parameters its value reaches; None when the script
    sets no pipeline parameter at all (then only names can tell)."""
    flow = Flow(tree, dests)
    parameters = flow.parameters()
    if not parameters:
        return None
    out = {dest: [] for dest in dests}
    for (role, callee, param, stage, line, value, pipeline) in parameters:
        for dest in sorted(flow.reaching(value) & flow.dests):
            out[dest].append({"role": role, "call": callee, "param": param, "stage": stage, "line": line,
                              "pipeline": pipeline})
    return out


def options(tree):
    """The script's argparse options, each with its `dest`."""
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
            "dest": dest if isinstance(dest, str) else None,
        })
    return out


def env_options(tree):
    """The environment variables the script reads, as options: `flag` is the variable's
    name and `env` is true. The type is the conversion around the read (`int(...)`), else
    what the default looks like."""
    parents = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent
    names = constants(tree)
    found = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Call, ast.Subscript)):
            continue
        if isinstance(node, ast.Call) and call_name(node) in CONVERSIONS:
            continue  # the read inside is visited on its own
        read = env_read(node)
        if read is None or read[0].startswith(PROBE_ENV_PREFIX) or read[0] in found:
            continue
        key, default_expr = read
        default = resolve(default_expr, names) if default_expr is not None else None
        kind = None
        parent = parents.get(node)
        if isinstance(parent, ast.Call) and call_name(parent) in CONVERSIONS \
                and not isinstance(parent.func, ast.Attribute):
            kind = call_name(parent)
        if kind is None:
            text = str(default) if default is not None else ""
            kind = "int" if re.fullmatch(r"-?[0-9]+", text) else "str"
        if kind == "int" and default is not None:
            try:
                default = int(str(default))
            except ValueError:
                default = None
        found[key] = {
            "flag": key,
            "type": kind,
            "action": None,
            "default": default,
            "choices": None,
            "help": None,
            "subprocess": subprocess_evidence(tree, "env:" + key),
            "dest": "env:" + key,
            "env": True,
        }
    return list(found.values())


def knobs(tree):
    """The options as the knob table reads them: with the pipeline parameters each
    one's value reaches. Environment variables the script reads come after its flags."""
    out = options(tree) + env_options(tree)
    found = reaches(tree, [o["dest"] for o in out if o["dest"]])
    for option in out:
        dest = option.pop("dest")
        option["reaches"] = None if found is None else found.get(dest, [])
    # A variable is listed only when the code proves it sizes the pipeline or picks the
    # subprocess: the rest of the environment (HOME, RANK) is no workload setting.
    return [o for o in out if not o.get("env") or o["reaches"] or o["subprocess"]]


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
    has_option = any(k["flag"] in ("--batch-size", "--batch_size") for k in options(tree))
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


def proven_batch_size(tree, loop, expression):
    """`expression` (a batch-size expression visible at the loop) when the code shows its
    value is the batch size: it comes from the same option or module constant as a
    batch-size parameter (`aggregate(n)`, `DataLoader(batch_size=)`), or, when the script
    sets none, as the loop's own iterable. Otherwise None, and the probe measures the
    batch instead of trusting a name."""
    if expression is None:
        return None
    try:
        candidate = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return None
    dests = [o.get("dest") for o in options(tree) if o.get("dest")]
    flow = Flow(tree, dests)
    # Anchor the parsed expression in the loop's scope so names resolve there.
    anchor = loop.node
    flow.parents[candidate] = anchor
    for node in ast.walk(candidate):
        for child in ast.iter_child_nodes(node):
            flow.parents[child] = node
    sources = flow.reaching(candidate)
    if not sources:
        return None
    targets = [value for (role, _, _, _, _, value, _) in flow.parameters() if role == "batch_size"]
    if not targets:
        targets = [loop.node]
    for target in targets:
        if sources & flow.reaching(target):
            return expression
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
            # A loop that yields passes the stream on (a generator between the loader
            # and the training loop): the loop that consumes it is the training loop.
            passes_on = any(isinstance(n, (ast.Yield, ast.YieldFrom)) for stmt in node.body for n in ast.walk(stmt))
            if passes_on:
                score -= 3
                if score >= 2:
                    found.append(Candidate(target, score, "a generator's loop over the loader", "for"))
                continue
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
        # it = make_iterator(...) ... next(it): the iterator comes from a call.
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            function = enclosing_function(node)
            scope = function if function is not None else tree
            nexts = [n for n in ast.walk(scope)
                     if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "next"
                     and n.args and isinstance(n.args[0], ast.Name) and n.args[0].id == name]
            in_loop = any(isinstance(loop, (ast.While, ast.For)) and any(n in set(ast.walk(loop)) for n in nexts)
                          for loop in ast.walk(scope))
            if nexts and in_loop:
                score = 3 + (2 if LOADER_WORDS.search(expr_words(node.value)) else 0)
                found.append(Candidate(node.value, score, "next(...) on an iterator in a loop", "next"))
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
    bs = proven_batch_size(tree, best, batch_size_expr(best.function, tree))
    starts = offsets(source)
    start = char_index(starts, source, best.node.lineno, best.node.col_offset)
    end = char_index(starts, source, best.node.end_lineno, best.node.end_col_offset)
    original = source[start:end]
    wrapped = "probe.track(%s%s)" % (original, ", batch_size=%s" % bs if bs else "")
    if best.kind == "next":
        # next() needs an iterator; the probe's tracker is an iterable.
        wrapped = "iter(%s)" % wrapped
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
