"""Writing a branch-level config change back into the config file.

A hexclave.config.py keeps its leading comments / docstring; the rest becomes `config = define_config({...})`, as
readable Python. A TypeScript file is rewritten whole in the platform's form: the `StackConfig` type import, then
`export const config: StackConfig = {...};` as 2-space JSON (a .js file without the type). The write is atomic (a
temporary file renamed over the old one), and the written file is loaded again at once, so the next request, and the
next hot reload, see exactly what was written.
"""
from __future__ import annotations

import ast
import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from emulator.domain.projects import config as config_mod
from emulator.domain.projects import config_node
from emulator.errors import StatusError

DEFAULT_HEADER = ("# Hexclave emulator config. Edit it by hand or through the emulator's config API (which rewrites\n"
                  "# this file); saved changes apply to the next request.\n")
WIDTH = 110


def _literal(value: Any, indent: int) -> str:
    """A Python literal for a JSON-like value: dicts and lists one entry a line, unless short and flat."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid Python string literal
    if isinstance(value, (list, tuple)):
        items = [_literal(v, indent + 4) for v in value]
        open_, close = "[", "]"
    elif isinstance(value, dict):
        items = [f"{json.dumps(str(k), ensure_ascii=False)}: {_literal(v, indent + 4)}" for k, v in value.items()]
        open_, close = "{", "}"
    else:
        raise TypeError(f"cannot write a {type(value).__name__} into a config file")
    if not items:
        return open_ + close
    flat = open_ + ", ".join(items) + close
    if "\n" not in flat and indent + len(flat) <= WIDTH and not any(isinstance(v, (dict, list)) and v
                                                                      for v in (value.values() if isinstance(value, dict) else value)):
        return flat
    pad = " " * (indent + 4)
    return open_ + "\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + close


def _header(old_source: str) -> str:
    """The leading comments and module docstring of the old file, or a short default header."""
    try:
        body = ast.parse(old_source).body
    except SyntaxError:
        return DEFAULT_HEADER
    lines = old_source.splitlines(keepends=True)
    end = len(lines)  # before the first statement there are only comments and blank lines
    if body:
        first = body[0]
        is_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str)
        end = first.end_lineno if is_doc else first.lineno - 1
    text = "".join(lines[:end]).strip("\n")
    return text + "\n" if text.strip() else DEFAULT_HEADER


def python_content(config: dict[str, Any], old_source: str = "") -> str:
    return (f"{_header(old_source)}\nfrom emulator.config import define_config\n\n"
            f"config = define_config({_literal(config, 0)})\n")


# Packages exporting the `StackConfig` type, in the platform's order of preference; the first one the project
# depends on names the import, else the default.
TYPE_PACKAGES = ("@stackframe/stack", "@stackframe/react", "@stackframe/js", "@stackframe/template")
DEFAULT_TYPE_PACKAGE = "@stackframe/js"


def type_package(folder: Path) -> str:
    """The `StackConfig` import of a config file in `folder`, from the nearest package.json's dependencies."""
    for directory in (folder, *folder.parents):
        manifest = directory / "package.json"
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
                deps = {**(data.get("dependencies") or {}), **(data.get("devDependencies") or {})}
            except (OSError, ValueError, AttributeError, TypeError):
                return DEFAULT_TYPE_PACKAGE
            return next((p for p in TYPE_PACKAGES if p in deps), DEFAULT_TYPE_PACKAGE)
    return DEFAULT_TYPE_PACKAGE


def _js_value(value: Any) -> Any:
    """What JSON.stringify sees: no null entries in objects (null resets a key, so it is left out), whole floats
    as integers."""
    if isinstance(value, dict):
        return {k: _js_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_js_value(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def typescript_content(config: dict[str, Any], path: Path) -> str:
    body = json.dumps(_js_value(config), indent=2, ensure_ascii=False)
    if path.suffix in (".js", ".mjs", ".cjs"):  # plain JavaScript: no type import, no annotation
        return f"export const config = {body};\n"
    return (f'import type {{ StackConfig }} from "{type_package(path.parent)}";\n\n'
            f"export const config: StackConfig = {body};\n")


def file_content(config: dict[str, Any], path: Path, old_source: str = "") -> str:
    """The text of a config file at `path` holding `config` (nested keys), in that file's language."""
    if config_node.is_node_config(path):
        return typescript_content(config, path)
    return python_content(config, old_source)


async def write_back(config_file: config_mod.ConfigFile, override: dict[str, Any]) -> None:
    """Make `override` the content of the config file, and the config file's current config."""
    if config_file.error is not None:
        raise StatusError(400, f"{config_file.path} has an error, so it cannot be rewritten; fix it first: "
                               f"{config_file.error}")
    try:
        nested = config_mod.nest(override)
    except ValueError as exc:
        raise StatusError(400, f"Config override has {exc}") from None
    async with config_file.lock:  # not while the watcher or a request is loading the file
        await asyncio.to_thread(_write_and_load, config_file, nested)


def _write_and_load(config_file: config_mod.ConfigFile, nested: dict[str, Any]) -> None:
    path: Path = config_file.path
    try:
        old_source = path.read_text(encoding="utf-8")
    except OSError:
        old_source = ""
    write_file(path, file_content(nested, path, old_source))
    stamp = config_mod._stamp(path)
    if config_node.is_node_config(path):
        # The file now holds exactly this JSON: no need to run node to read it back.
        config_file.take(config_mod.validate(_js_value(nested)), stamp)
    else:
        # Load what was written, as the watcher would: the file is the single source of the branch config.
        config_file.take(config_mod.load_file(path), stamp)


def write_file(path: Path, content: str) -> None:
    """Replace the file's content atomically (a temporary file renamed over it), keeping its permissions."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content)
        try:
            os.chmod(tmp, path.stat().st_mode & 0o777)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
