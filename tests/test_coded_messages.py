"""Every user-facing message the product raises or writes carries its message code (so Chinese mode shows no
English but names and values): an AST scan of planner/, templates/, runner/ and tui/.

- every ``InputError`` (any subclass) and ``NothingFits`` is built from a ``Msg``: its message and hint are
  ``Msg(...)`` / ``Msg.join(...)``, a parameter annotated ``Msg``, a local variable assigned only such values, or
  the message of another error (``exc.message``);
- every runner event written with a ``message=`` carries a coded message the same way;
- every argument given to a parameter annotated ``Msg`` (helpers that build an error or an event) is coded, and
  a call to a function of the module that returns ``Msg`` counts as coded.

A new English-only message (a string, an f-string, ``"...".format()``) fails here with its file and line."""

from __future__ import annotations

import ast
from pathlib import Path

from ft_tui.runner import events as event_schema

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("planner", "templates", "runner", "tui")
BASE_ERRORS = {"InputError", "NothingFits"}
#: Calls that write or build an event (``EventWriter.emit``, what wraps it, and the schema's event classes:
#: ``EndEvent(message=...)``).
EVENT_CALLS = {"emit", "emit_event"} | {name for name, value in vars(event_schema).items()
                                        if isinstance(value, type) and issubclass(value, event_schema.Event)}


def product_files() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def parsed() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8")) for p in product_files()}


def error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """InputError, NothingFits and every class of ours that derives from one of them."""
    names = set(BASE_ERRORS)
    classes = [n for t in trees.values() for n in ast.walk(t) if isinstance(n, ast.ClassDef)]
    changed = True
    while changed:
        changed = False
        for c in classes:
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", None) for b in c.bases}
            if c.name not in names and bases & names:
                names.add(c.name)
                changed = True
    return names


def _callee(node: ast.Call) -> str | None:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _is_msg_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == "Msg")
        or (isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "Msg"))


class Scope:
    """What a function knows about its names: parameter annotations and assignments."""

    def __init__(self, fn: ast.AST | None, parent: Scope | None = None):
        self.params: dict[str, ast.AST | None] = {}
        self.assigned: dict[str, list[ast.AST]] = {}
        self.parent = parent
        if fn is None:
            return
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = fn.args
            for a in (*args.posonlyargs, *args.args, *args.kwonlyargs):
                self.params[a.arg] = a.annotation
        body = fn.body if isinstance(fn, ast.Module) else None
        for node in (body if body is not None else ast.walk(fn)):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        self.assigned.setdefault(t.id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.assigned.setdefault(node.target.id, []).append(node.value)

    def lookup(self, name: str) -> list[ast.AST]:
        """The values assigned to ``name`` here, else in the enclosing (module) scope."""
        if name in self.assigned:
            return self.assigned[name]
        return self.parent.lookup(name) if self.parent is not None else []


def _annotated_msg(annotation: ast.AST | None) -> bool:
    return annotation is not None and "Msg" in ast.unparse(annotation)


def coded(node: ast.AST | None, scope: Scope, depth: int = 0, returns_msg: frozenset[str] = frozenset()) -> bool:
    """Whether ``node`` is a coded message (or nothing). ``returns_msg``: the module's functions that return one."""
    if node is None or (isinstance(node, ast.Constant) and node.value in (None, "")):
        return True
    if _is_msg_call(node) or (isinstance(node, ast.Call) and _callee(node) in returns_msg):
        return True
    if isinstance(node, ast.IfExp):
        return coded(node.body, scope, depth, returns_msg) and coded(node.orelse, scope, depth, returns_msg)
    if isinstance(node, ast.BoolOp):
        return all(coded(v, scope, depth, returns_msg) for v in node.values)
    if isinstance(node, ast.Attribute):  # another error's message (exc.message, self.message)
        return node.attr in ("message", "hint")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "as_msg":
        return True  # an error as a message (InputError.as_msg and the like)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and depth < 4:
        tables = scope.lookup(node.value.id)  # a table of messages, e.g. PHASES[phase]
        return bool(tables) and all(
            (isinstance(t, ast.Dict) and all(coded(v, scope, depth + 1, returns_msg) for v in t.values))
            or (isinstance(t, ast.DictComp) and coded(t.value, scope, depth + 1, returns_msg)) for t in tables)
    if isinstance(node, ast.Name) and depth < 4:
        if node.id in scope.params:
            return _annotated_msg(scope.params[node.id])
        values = scope.lookup(node.id)
        return bool(values) and all(coded(v, scope, depth + 1, returns_msg) for v in values)
    return False


def _functions(tree: ast.Module):
    """(function or None for module level, node) for every node, with the innermost function."""
    def walk(node, fn):
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else fn
            yield inner, child
            yield from walk(child, inner)
    yield from walk(tree, None)


def _no_message_classes(trees: dict[Path, ast.Module], errors: set[str]) -> set[str]:
    """Error classes whose constructor takes no message (it builds a coded one itself, e.g. from problems)."""
    out = set()
    for tree in trees.values():
        for c in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name in errors):
            init = next((f for f in c.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
            if init is not None and len(init.args.args) > 1 and init.args.args[1].arg != "message":
                out.add(c.name)
    return out


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return "ft_tui." + ".".join(p for p in rel.parts if p != "__init__")


def _imported_msg_returners(path: Path, tree: ast.Module, msg_returners: dict[str, set[str]]) -> set[str]:
    """Names this module imports from another of ours that are functions returning ``Msg`` there."""
    package = _module_name(path).rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([source] if source else []))
            out |= {a.asname or a.name for a in node.names if a.name in msg_returners.get(source, set())}
    return out


def uncoded_sites() -> list[str]:
    trees = parsed()
    errors = error_classes(trees)
    errors -= _no_message_classes(trees, errors)
    bad = []
    msg_returners = {_module_name(path): {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                                          and _annotated_msg(n.returns)} for path, tree in trees.items()}
    for path, tree in trees.items():
        defs = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        returns_msg = frozenset(msg_returners[_module_name(path)] | _imported_msg_returners(path, tree, msg_returners))
        module_scope = Scope(tree)
        scopes: dict[int, Scope] = {}
        for fn, node in _functions(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _callee(node)
            scope = module_scope if fn is None else scopes.setdefault(id(fn), Scope(fn, module_scope))
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            target = defs.get(name) if isinstance(node.func, (ast.Name, ast.Attribute)) else None
            if target is not None and name not in errors:
                params = [a for a in (*target.args.posonlyargs, *target.args.args) if a.arg != "self"]
                given = list(zip(params, node.args, strict=False)) + [
                    (a, k.value) for k in node.keywords for a in (*params, *target.args.kwonlyargs) if a.arg == k.arg]
                for param, value in given:
                    if _annotated_msg(param.annotation) and not coded(value, scope, 0, returns_msg):
                        bad.append(f"{where}: {name}({param.arg}={ast.unparse(value)[:60]}) is not a coded message")
            if name in errors:
                message = node.args[0] if node.args else next(
                    (k.value for k in node.keywords if k.arg == "message"), None)
                hint = next((k.value for k in node.keywords if k.arg == "hint"), None)
                if message is None and name == "NothingFits":
                    bad.append(f"{where}: {name}() without a message")
                if not coded(message, scope, 0, returns_msg):
                    bad.append(f"{where}: {name}({ast.unparse(message)[:70]}) is not a coded message")
                if not coded(hint, scope, 0, returns_msg):
                    bad.append(f"{where}: {name}(hint={ast.unparse(hint)[:70]}) is not a coded message")
            elif name in EVENT_CALLS:
                for k in node.keywords:
                    if k.arg == "message" and not coded(k.value, scope, 0, returns_msg):
                        bad.append(f"{where}: event message={ast.unparse(k.value)[:70]} is not a coded message")
    return bad


def test_the_scan_sees_the_error_classes_and_rejects_english():
    errors = error_classes(parsed())
    assert {"InputError", "ConfigError", "DataError", "ModelError", "ConfigProblems", "NothingFits"} <= errors
    tree = ast.parse('def f(m: Msg, s: str):\n    x = Msg("a")\n    y = f"{s}"\n'
                     '    ConfigError(m); ConfigError(x); ConfigError(y); ConfigError(s); ConfigError("txt")\n'
                     '    ConfigError(Msg("a"), hint="fix it")\n')
    fn = tree.body[0]
    scope = Scope(fn)
    calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and _callee(n) == "ConfigError"]
    assert [coded(c.args[0], scope) for c in calls] == [True, True, False, False, False, True]
    assert not coded(calls[-1].keywords[0].value, scope)


def test_every_error_and_event_message_is_coded():
    bad = uncoded_sites()
    assert not bad, f"{len(bad)} English-only messages (make them Msg(code, ...) with a catalog entry):\n" + \
        "\n".join(bad)
