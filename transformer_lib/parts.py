"""Your own parts, carried from chapter to chapter: ``save`` after a build exercise, ``load`` later.

Notebooks never import each other. So when you have built a part (chapter 2's
``MultiHeadAttention``, say) and its check passes, ``parts.save(MultiHeadAttention)`` writes its
code into ``my_transformer.py``, a small module of your own beside the notebook, with everything
it needs: the functions and classes of yours it uses, the imports, the constants. A later chapter
calls ``parts.load()`` and builds from your parts where you saved them and from the library's
where you did not, and says which is which. Open ``my_transformer.py`` to read what you saved;
saving a part again replaces it.

The environment variable ``TRANSFORMER_LIB_PARTS`` names another file, or is ``none`` to save
nothing: the book's own builds and tests set it, so every chapter there runs on the library's
parts, the same on every run.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import linecache
import os
import re
import sys
import tempfile
import types
from pathlib import Path

import torch.nn as nn

FILE = "my_transformer.py"
MODULE = "my_transformer"  # the __module__ of the classes load() reads back
ENVIRONMENT = "TRANSFORMER_LIB_PARTS"
HEADER = '''"""Your Transformer's parts, written by transformer_lib.parts.save in the exercises.

Each part was saved from a chapter with copies of the code of yours it uses, so that it runs on
its own; saving it again replaces it. Later chapters build from these parts
(transformer_lib.parts.load); a part that is not here comes from the library.
"""
'''
_MARK = re.compile(r"^# ---- (\w+), saved from (.*) ----$", re.M)


class PartsError(ValueError):
    """A part that cannot be saved or loaded; the message says why and what to do."""


def path() -> Path | None:
    """Where parts are saved: ``my_transformer.py`` here, or ``$TRANSFORMER_LIB_PARTS``; None when
    that variable is ``none``."""
    chosen = os.environ.get(ENVIRONMENT, FILE)
    return None if chosen.lower() == "none" else Path(chosen)


def source_of(obj) -> str:
    """The code that defined ``obj``, also for a class defined in a notebook cell (where
    ``inspect.getsource`` fails on classes, but each cell's code is in ``linecache``)."""
    if inspect.isfunction(obj):
        return inspect.getsource(obj)
    functions = [f for f in vars(obj).values() if inspect.isfunction(f)]
    if not functions:
        raise PartsError(f"cannot find the code of {obj.__name__}: it defines no method")
    code = functions[0].__code__
    text = "".join(linecache.getlines(code.co_filename))
    try:
        tree = ast.parse(text)
    except SyntaxError:
        tree = None
    for node in ast.walk(tree) if tree else ():
        if (isinstance(node, ast.ClassDef) and node.name == obj.__name__
                and node.lineno <= code.co_firstlineno <= node.end_lineno):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            return "\n".join(text.splitlines()[first - 1 : node.end_lineno]) + "\n"
    raise PartsError(f"cannot find the code of {obj.__name__}: run the cell that defines it, "
                     "then save it from the same notebook")


def _free_names(source: str) -> list[str]:
    """Names the code reads but does not define: what it needs from around it, in order."""
    tree = ast.parse(source)
    defined = {node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    read = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            read.append(node.id)
    inner = set()  # parameters and local variables of the functions and methods
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            inner.add(node.name)  # also a function defined inside a method
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            arguments = node.args
            inner |= {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
            inner |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            inner.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            inner |= {(a.asname or a.name).split(".")[0] for a in node.names}
    ignore = defined | inner | set(dir(builtins))
    return list(dict.fromkeys(name for name in read if name not in ignore))


def _requirement(name: str, value, owner: str) -> tuple[str, object | None]:
    """One line that gives ``name`` its value in the saved module, or the object to save too."""
    if isinstance(value, types.ModuleType):
        module = value.__name__
        if module.rsplit(".", 1)[-1] == name:
            return (f"import {module}" if "." not in module
                    else f"from {module.rsplit('.', 1)[0]} import {name}"), None
        return f"import {module} as {name}", None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return f"{name} = {value!r}", None
    if inspect.ismethod(value) and inspect.isclass(value.__self__) and (
            value.__self__.__module__ not in ("__main__", MODULE)):  # e.g. tl.EncoderLayer.sized
        owner = value.__self__
        return (f"import {owner.__module__}\n"
                f"{name} = {owner.__module__}.{owner.__qualname__}.{value.__name__}"), None
    if inspect.isfunction(value) or inspect.isclass(value):
        if value.__module__ in ("__main__", MODULE):
            return "", value  # yours: its code is saved with the part
        if value.__name__ == name:
            return f"from {value.__module__} import {name}", None
        return f"from {value.__module__} import {value.__name__} as {name}", None
    raise PartsError(f"{owner} uses {name!r}, a {type(value).__name__}: save only code. Make it "
                     f"a constant (a number or a string) or pass it in as an argument")


def _globals(obj) -> dict:
    """The names around ``obj`` where it was defined (a notebook's, or the saved file's)."""
    if inspect.isfunction(obj):
        return obj.__globals__
    functions = [f for f in vars(obj).values() if inspect.isfunction(f)]
    return functions[0].__globals__ if functions else vars(sys.modules[obj.__module__])


def _code_of(part) -> str:
    """The part's source, preceded by what it needs: imports, constants and the code of yours it
    uses, copied in, so that the saved part runs on its own."""
    lines, code, seen, todo = [], [], set(), [part]
    while todo:
        obj = todo.pop(0)
        if obj.__name__ in seen:
            continue
        seen.add(obj.__name__)
        source = source_of(obj)
        code.append(source)
        namespace = _globals(obj)
        for name in _free_names(source):
            if name in seen:
                continue
            if name not in namespace:
                raise PartsError(f"{obj.__name__} uses {name!r}, which is not defined here: "
                                 "run the cell that defines it first")
            line, more = _requirement(name, namespace[name], obj.__name__)
            if more is not None:
                todo.append(more)
            elif line not in lines:
                lines.append(line)
    return "\n".join(lines) + "\n\n\n" + "\n\n".join(reversed(code))


def _blocks(text: str) -> dict[str, str]:
    """{name: block} of a saved file, each block with its marker line."""
    marks = list(_MARK.finditer(text))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return {m.group(1): text[m.start() : end].rstrip() + "\n" for m, end in zip(marks, ends)}


def save(part, chapter: str | None = None) -> Path | None:
    """Save ``part`` (your ``nn.Module`` class, or a function) into ``my_transformer.py``, with the
    code of yours it uses, so that later chapters can build from it. Returns the file."""
    if not (inspect.isclass(part) or inspect.isfunction(part)):
        raise PartsError(f"save takes your class or function itself, e.g. parts.save(MyModule), "
                         f"not a {type(part).__name__}")
    target = path()
    if target is None:
        print(f"{part.__name__} not saved: {ENVIRONMENT}=none (the book's own runs use the "
              "library's parts)")
        return None
    chapter = chapter or _notebook_name(_globals(part))
    block = f"# ---- {part.__name__}, saved from {chapter} ----\n{_code_of(part)}"
    try:
        compile(block, str(target), "exec")
    except SyntaxError as error:
        raise PartsError(f"the code saved for {part.__name__} does not compile: {error}") from None
    blocks = _blocks(target.read_text()) if target.exists() else {}
    blocks[part.__name__] = block.rstrip() + "\n"
    text = HEADER + "\n\n" + "\n\n".join(blocks.values())
    with tempfile.NamedTemporaryFile("w", dir=target.parent.absolute(), suffix=".tmp",
                                     delete=False) as temporary:
        temporary.write(text)
    Path(temporary.name).replace(target)  # the file is whole at every moment
    print(f"saved your {part.__name__} in {target}")
    return target


def _notebook_name(namespace: dict) -> str:
    name = namespace.get("__vsc_ipynb_file__") or os.environ.get("JPY_SESSION_NAME")
    return Path(name).name if name else "a notebook"


def load(**library_parts):
    """Your parts where you saved them, the library's otherwise, in the order asked, e.g.::

        MultiHeadAttention, FeedForward = parts.load(MultiHeadAttention=tl.MultiHeadAttention,
                                                     FeedForward=tl.FeedForward)

    Each saved part runs on its own (it was saved with copies of the code of yours it uses), so
    one part saved again never changes another. Prints which part comes from where.
    """
    if not library_parts:
        raise PartsError("name the parts you need and the library's fallback for each, e.g. "
                         "load(MultiHeadAttention=tl.MultiHeadAttention)")
    where = path()
    blocks = _blocks(where.read_text()) if where is not None and where.exists() else {}
    chosen, report = [], []
    for name, library in library_parts.items():
        if name in blocks:
            namespace = {"__name__": MODULE, "__file__": str(where)}
            filename = f"<{where}: {name}>"  # in linecache, so that the part can be saved again
            lines = blocks[name].splitlines(keepends=True)
            linecache.cache[filename] = (len(blocks[name]), None, lines, filename)
            try:
                exec(compile(blocks[name], filename, "exec"), namespace)
            except Exception as error:  # noqa: BLE001 - any error in the learner's file
                raise PartsError(f"your {name} in {where} does not run ({type(error).__name__}: "
                                 f"{error}); save it again, or delete its block to use the "
                                 "library's") from None
            part, origin = namespace[name], f"yours, saved from {_MARK.match(blocks[name])[2]}"
            if inspect.isclass(library) and issubclass(library, nn.Module) and not (
                    inspect.isclass(part) and issubclass(part, nn.Module)):
                raise PartsError(f"your {name} in {where} is not an nn.Module class")
        else:
            part = library
            origin = ("the library's" + ("" if where is None
                      else f" (none saved in {where})" if not blocks else ""))
        chosen.append(part)
        report.append(f"{name}: {origin}")
    print("\n".join(report))
    return chosen[0] if len(chosen) == 1 else tuple(chosen)
