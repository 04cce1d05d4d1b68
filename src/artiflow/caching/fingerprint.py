"""Step code fingerprints for step caching: the walk from a step through the user code it reaches.

A fingerprint covers a step's source and, transitively, the user code and constants it reaches.
Source is compared as an AST without positions or comments (reformatting, moving code or the whole
folder keeps it) and paths never enter the digest. The step's own @cache lines are left out (caching
a step is not its code; keys.py adds the version). Library code is not followed: its versions are
(packages.py). Which code is the user's is in sources.py, how constants encode in constants.py.
"""

from __future__ import annotations

import ast
import copy
import os
import symtable
import sys
import types
from dataclasses import dataclass
from typing import Any, NamedTuple

import xxhash

from .constants import Unhashable, ValueEncoder, a_type, type_name
from .packages import flow_package_versions
from .sources import FRAMEWORKS, Source, UserCode, bindings, is_framework, top

__all__ = ["CodeFingerprint", "code_fingerprint", "flow_package_versions"]

FORMAT = b"artiflow-code-fingerprint-1"
NEVER_CACHED = "such a step is never cached"
REMEDY = "Make it a constant, a parameter or an artifact, or turn caching off for the step with @cache(enabled=False)."
STATELESS_DESCRIPTORS = (types.MethodDescriptorType, types.WrapperDescriptorType, types.ClassMethodDescriptorType)


@dataclass(frozen=True)
class CodeFingerprint:
    """What a step's code depends on, as one digest; or why it cannot be fingerprinted (then it is never cached)."""

    digest: str               # hex xxh3_128 of everything the step's code depends on; "" if problem
    problem: str | None       # None when fine; else why, naming the object and file:line
    covered: tuple[str, ...]  # qualified names of what was covered, sorted


def code_fingerprint(flow_cls: type, step_name: str) -> CodeFingerprint:
    """The fingerprint of one step: its source and the user code and constants it reaches."""
    walker = _Walker(flow_cls, step_name)
    try:
        walker.follow_step()
    except _Problem as exc:
        return CodeFingerprint("", str(exc), walker.covered())
    return CodeFingerprint(walker.digest(), None, walker.covered())


class _Problem(Exception):
    """The step cannot be fingerprinted; the message says why and what to do."""


class _Ref(NamedTuple):
    """How the walk reached a value: as which name, covered under which label, bound where, read by whom."""

    kind: str              # "module-level name", "flow attribute", "closure variable", "default value"
    name: str
    label: str
    where: str             # file:line where the name is bound (else where it is used)
    via: str               # label of the code that reads it
    source: Source | None = None   # the module binding `name` (to tell a library's import)


def _global_names(node: ast.AST, text: str | None = None) -> set[str] | None:
    """Names the code of `node` looks up as globals (arguments and locals left out); None if unknown."""
    try:
        table = symtable.symtable(text if text is not None else ast.unparse(node), "<fingerprint>", "exec")
    except SyntaxError:  # e.g. `nonlocal x` in an inner function taken out of its enclosing one
        return None
    names: set[str] = set()
    todo = [table]
    while todo:
        scope = todo.pop()
        names.update(s.get_name() for s in scope.get_symbols() if s.is_referenced() and s.is_global())
        todo.extend(scope.get_children())
    return names


def _name_chains(node: ast.AST, names: set[str] | None) -> dict[tuple[str, ...], int]:
    """Each read `name.attr.attr` (longest chain) of a wanted name (None: any), with the line of its first use."""
    found: dict[tuple[str, ...], int] = {}
    todo: list[ast.AST] = [node]
    while todo:
        sub = todo.pop()
        base, attrs = sub, []
        while isinstance(base, ast.Attribute):
            attrs.append(base.attr)
            base = base.value
        if isinstance(base, ast.Name) and (names is None or base.id in names):
            if isinstance(getattr(sub, "ctx", None), ast.Load):
                found.setdefault((base.id, *reversed(attrs)), base.lineno)
            continue
        todo.extend(reversed(list(ast.iter_child_nodes(base))))
    return found


def _without_cache_decorators(node: ast.AST, globals_: dict[str, Any]) -> ast.AST:
    """The step's def without its @cache / @cache(...) lines: whether and how it is cached is not its code."""
    written = getattr(node, "decorator_list", [])  # a lambda made a step has none
    kept = [deco for deco in written if not _is_cache_decorator(deco, globals_)]
    if len(kept) == len(written):
        return node
    stripped = copy.copy(node)
    stripped.decorator_list = kept
    return stripped


def _is_cache_decorator(deco: ast.expr, globals_: dict[str, Any]) -> bool:
    """`@cache`, `@af.cache(...)`, ...: a name (or a chain through modules) that resolves to artiflow's cache."""
    from ..decorators import cache

    target, attrs = deco.func if isinstance(deco, ast.Call) else deco, []
    while isinstance(target, ast.Attribute):
        attrs.append(target.attr)
        target = target.value
    if not isinstance(target, ast.Name) or target.id not in globals_:
        return False
    value = globals_[target.id]
    for attr in reversed(attrs):
        if not isinstance(value, types.ModuleType):
            return False  # only modules are looked into: reading an arbitrary object's attribute may run code
        value = _probe(value, attr)
    return value is cache


def _class_attribute(klass: type, name: str) -> tuple[type, Any] | None:
    """The class (in the MRO) defining `name`, and the raw value there (no descriptor run)."""
    return next(((owner, vars(owner)[name]) for owner in klass.__mro__ if name in vars(owner)), None)


def _is_framework_object(value: Any) -> bool:
    """An artiflow/metaflow object (a Parameter, a Config, `current`): not user code, and not data to hash."""
    return top(type(value).__module__) in FRAMEWORKS


def _first_argument(node: ast.AST) -> str | None:
    args = getattr(node, "args", None)
    positional = (args.posonlyargs + args.args) if args else []
    return positional[0].arg if positional else None


def _probe(obj: Any, name: str) -> Any:
    """`obj.<name>`, or None when it is missing or reading it fails (an arbitrary object may raise anything)."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _wrapper_chain(value: Any) -> list[Any]:
    """`value` and what it wraps (`__wrapped__`, as functools.wraps sets it), outermost first."""
    chain: list[Any] = []
    while value is not None and all(v is not value for v in chain) and len(chain) < 64:  # a mock wraps forever
        chain.append(value)
        value = _probe(value, "__wrapped__")
    return chain


class _Walker:
    """One fingerprint computation: follows a step's code, collecting (covered name, content digest) items."""

    def __init__(self, flow_cls: type, step_name: str) -> None:
        self.flow_cls, self.step = flow_cls, step_name
        self.user_code = UserCode(flow_cls)
        self.encoder = ValueEncoder(self._code_identity, self._module_identity, self.user_code.root)
        self.items: dict[tuple[str, bytes], None] = {}
        self.labels: dict[int, tuple[str, Any]] = {}   # id of a followed object -> (label, the object kept alive)
        self.step_label = ""

    def digest(self) -> str:
        hasher = xxhash.xxh3_128(FORMAT)
        for label, content in sorted(self.items):
            hasher.update(label.encode() + b"\0" + content)
        return hasher.hexdigest()

    def covered(self) -> tuple[str, ...]:
        return tuple(sorted({label for label, _ in self.items}))

    def _add(self, label: str, content: bytes) -> None:
        self.items[(label, xxhash.xxh3_128(content).digest())] = None

    # -- problems ----------------------------------------------------------------------------------------------
    def _unreadable(self, what: str, where: str) -> _Problem:
        return _Problem(f"step '{self.step}' uses {what} ({where}), whose source cannot be read (code made by exec "
                        f"or typed in an interactive session); {NEVER_CACHED}. Define it in a .py file next to "
                        "the flow, or turn caching off for the step with @cache(enabled=False).")

    def _remember(self, obj: Any, label: str) -> None:
        self.labels[id(obj)] = (label, obj)

    # -- following code ----------------------------------------------------------------------------------------
    def follow_step(self) -> None:
        found = _class_attribute(self.flow_cls, self.step)
        func = found[1] if found else None
        if not (callable(func) and _probe(func, "is_step")):
            raise _Problem(f"flow '{self.flow_cls.__name__}' has no step '{self.step}', so it cannot be "
                           "fingerprinted; check the step name.")
        chain = [inner for inner in _wrapper_chain(func) if isinstance(inner, types.FunctionType)]
        for position, inner in enumerate(reversed(chain)):  # the step itself first: its label names it
            if position == 0 or self.user_code.is_user_function(inner):
                self.follow_function(inner, flow_method=True, is_step=position == 0)

    def follow_function(self, func: types.FunctionType, flow_method: bool = False, is_step: bool = False) -> str:
        """Cover a function's source, then what it reads: globals, closure cells, default values.

        Of the step itself (`is_step`), its @cache / @cache(...) lines are left out: they are not its code.
        """
        if id(func) in self.labels:
            return self.labels[id(func)][0]
        code, module_name = func.__code__, func.__globals__.get("__name__")
        source = self.user_code.source(code.co_filename, module_name) if os.path.isfile(code.co_filename) else None
        if source is None:
            raise self._unreadable(f"{module_name}.{func.__qualname__}", code.co_filename)
        label = source.label + func.__qualname__
        self.step_label = self.step_label or label
        self._remember(func, label)
        nodes = source.functions.get((code.co_name, code.co_firstlineno))
        if not nodes:
            raise _Problem(f"step '{self.step}' uses {label}, whose source in {source.rel} no longer matches the "
                           f"loaded code (the file changed after it was imported); {NEVER_CACHED} in this run.")
        if is_step:
            nodes = [_without_cache_decorators(node, func.__globals__) for node in nodes]
        self._add(label, b"def" + b"".join(ast.dump(node).encode() for node in nodes))
        for node in nodes:
            self._walk(node, source, func.__globals__, label, _first_argument(node) if flow_method else None)
        self._follow_cells_and_defaults(func, source, label)
        return label

    def follow_class(self, klass: type) -> str:
        """Cover a user class's whole source (its methods included) and what it reads."""
        if id(klass) in self.labels:
            return self.labels[id(klass)][0]
        module = sys.modules[klass.__module__]
        source = self.user_code.module_source(module)
        label = (source.label if source else f"{module.__name__}.") + klass.__qualname__
        node = source.classes.get(klass.__qualname__) if source else None
        if node is None:
            raise self._unreadable(f"the class {label}", getattr(module, "__file__", None) or module.__name__)
        self._remember(klass, label)
        self._add(label, b"class" + ast.dump(node).encode())
        self._walk(node, source, vars(module), label)
        return label

    def follow_module(self, module: types.ModuleType) -> str:
        """Cover a whole local module (referenced as a value, or through a chain that does not resolve)."""
        if id(module) in self.labels:
            return self.labels[id(module)][0]
        source = self.user_code.module_source(module)
        label = source.label.rstrip(".:") if source else module.__name__
        self._remember(module, label)
        if source is None:  # a namespace package: no source of its own
            self._add(label, b"namespace")
        else:
            self._add(label, b"module" + ast.dump(source.tree).encode())
            self._walk(source.tree, source, vars(module), label, text=source.text)
        return label

    def _walk(self, node: ast.AST, source: Source, globals_: dict[str, Any], via: str,
              self_name: str | None = None, text: str | None = None) -> None:
        """Follow every global (and, in a flow method, `self.<attr>`) the code of `node` reads."""
        names = _global_names(node, text)
        wanted = None if names is None else names | ({self_name} if self_name else set())
        for chain, line in _name_chains(node, wanted).items():
            if self_name is not None and chain[0] == self_name:
                if len(chain) > 1:
                    self._flow_member(chain[1], source, line, via)
            elif chain[0] in globals_:
                ref = self._global_ref(source, chain[0], f"{source.rel}:{line}", via)
                self._visit(globals_[chain[0]], chain[1:], ref)

    def _global_ref(self, source: Source, name: str, used_at: str, via: str) -> _Ref:
        binding = source.bindings.get(name)
        where = f"{source.rel}:{binding.line}" if binding else used_at
        return _Ref("module-level name", name, source.label + name, where, via, source)

    def _flow_member(self, attr: str, source: Source, line: int, via: str) -> None:
        """`self.<attr>` in a flow method: follow a non-step method, hash a class-level constant."""
        found = _class_attribute(self.flow_cls, attr)
        if found is None or is_framework(found[0].__module__):
            return  # an artifact (not on the class), or artiflow's own: self.next, self.input, ...
        owner, value = found
        if _is_framework_object(value) or _probe(value, "is_step"):
            return  # a Parameter or Config (in the cache key on their own), or another step
        value = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        methods = [value.fget, value.fset, value.fdel] if isinstance(value, property) else [value]
        if all(isinstance(m, types.FunctionType) or m is None for m in methods):
            for method in methods:
                if method is not None and self.user_code.is_user_function(method):
                    self.follow_function(method, flow_method=True)
            return
        owner_source = self.user_code.module_source(sys.modules.get(owner.__module__)) or source
        owner_node = owner_source.classes.get(owner.__qualname__)
        binding = bindings(owner_node.body).get(attr) if isinstance(owner_node, ast.ClassDef) else None
        where = f"{owner_source.rel}:{binding.line if binding else line}"
        label = f"{owner_source.label}{owner.__qualname__}.{attr}"
        self._visit(value, (), _Ref("flow attribute", f"{owner.__name__}.{attr}", label, where, via))

    def _follow_cells_and_defaults(self, func: types.FunctionType, source: Source, label: str) -> None:
        """Closure variables and default argument values count like module-level constants."""
        code = func.__code__
        where = f"{source.rel}:{code.co_firstlineno}"
        for name, cell in zip(code.co_freevars, func.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # not assigned yet
                continue
            if name != "__class__":  # super()'s cell: that class is covered by its source
                self._visit(value, (), _Ref("closure variable", name, f"{label}.<closure {name}>", where, label))
        positional, defaults = code.co_varnames[:code.co_argcount], func.__defaults__ or ()
        named = [*zip(positional[len(positional) - len(defaults):], defaults), *(func.__kwdefaults__ or {}).items()]
        for name, value in named:
            self._visit(value, (), _Ref("default value", name, f"{label}.<default {name}>", where, label))

    # -- values ------------------------------------------------------------------------------------------------
    def _visit(self, value: Any, rest: tuple[str, ...], ref: _Ref) -> None:
        """A value the code reads: follow user code, hash data, ignore libraries, or report a problem."""
        if isinstance(value, types.ModuleType):
            self._visit_module(value, rest, ref)
        elif not _is_framework_object(value) and self._code_identity(value) is None:
            try:
                self._add(ref.label, b"value" + self.encoder.encode(value))
            except Unhashable as exc:
                if not self._imported_from_library(ref):
                    raise self._unhashable(ref, value, exc) from None

    def _visit_module(self, module: types.ModuleType, rest: tuple[str, ...], ref: _Ref) -> None:
        """`helpers.clean` follows `clean`; `helpers` alone (or an unresolvable chain) covers the module."""
        if not self.user_code.is_user_module(module):
            return
        if not rest or rest[0] not in vars(module):
            self.follow_module(module)
            return
        source = self.user_code.module_source(module)
        inner = (self._global_ref(source, rest[0], ref.where, ref.via) if source else
                 _Ref(ref.kind, rest[0], f"{module.__name__}.{rest[0]}", ref.where, ref.via))
        self._visit(vars(module)[rest[0]], rest[1:], inner)

    def _imported_from_library(self, ref: _Ref) -> bool:
        """A name bound by `from <library> import name`: the library's version covers it."""
        binding = ref.source.bindings.get(ref.name) if ref.source else None
        if binding is None or binding.imported_from is None or binding.level:
            return False
        module = sys.modules.get(binding.imported_from)
        return module is None or not self.user_code.is_user_module(module)

    def _unhashable(self, ref: _Ref, value: Any, exc: Unhashable) -> _Problem:
        what = exc.what if exc.obj is value else f"{a_type(value)} holding {exc.what}"
        through = f" (through {ref.via})" if ref.via != self.step_label else ""
        return _Problem(f"step '{self.step}' reads{through} the {ref.kind} '{ref.name}' ({ref.where}), {what}, "
                        f"which cannot be fingerprinted; {NEVER_CACHED}. {REMEDY}")

    def _code_identity(self, value: Any) -> str | None:
        """If `value` is code, follow it when it is the user's and return a stable name for it; else None."""
        if isinstance(value, type):
            if issubclass(self.flow_cls, value):
                return f"flow class {value.__qualname__}"  # its steps are reached through `self`
            return self.follow_class(value) if self.user_code.is_user_class(value) else type_name(value)
        if isinstance(value, types.MethodType) and isinstance(value.__self__, type):
            return f"{self._code_identity(value.__self__)}|{self._code_identity(value.__func__)}"
        if isinstance(value, types.FunctionType) or (callable(value) and _probe(value, "__wrapped__")):
            return "|".join(self._function_identity(inner) for inner in _wrapper_chain(value))
        if isinstance(value, STATELESS_DESCRIPTORS):
            return f"{type_name(value.__objclass__)}.{value.__name__}"
        return self._library_callable(value)

    def _library_callable(self, value: Any) -> str | None:
        """`module.name` of a function-like object from a library (a builtin, a numpy ufunc), bound to no instance."""
        name, module_name = _probe(value, "__qualname__") or _probe(value, "__name__"), _probe(value, "__module__")
        module = sys.modules.get(module_name) if isinstance(module_name, str) else None
        if not callable(value) or not isinstance(name, str) or module is None or self.user_code.is_user_module(module):
            return None
        owner = _probe(value, "__self__")
        return f"{module.__name__}.{name}" if owner is None or isinstance(owner, (types.ModuleType, type)) else None

    def _function_identity(self, func: Any) -> str:
        if isinstance(func, types.FunctionType) and self.user_code.is_user_function(func):
            return self.follow_function(func)
        if isinstance(func, type):
            return self._code_identity(func) or ""
        name = _probe(func, "__qualname__") or _probe(func, "__name__") or type_name(type(func))
        return f"{_probe(func, '__module__')}.{name}"

    def _module_identity(self, module: types.ModuleType) -> str:
        """A module inside a value: a local one is followed (its label), a library's is its name."""
        return self.follow_module(module) if self.user_code.is_user_module(module) else module.__name__
