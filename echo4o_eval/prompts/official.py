"""Official (paper-parity) judge prompt texts, read at run time and never shipped.

Each text comes from the official evaluation script, pinned by commit, downloaded once into
the cache, and extracted with :mod:`ast` - the script is parsed, never executed. The extracted
text must have its pinned sha256 (computed from the texts the official code sends);
anything else is an error naming the source. The pins (script, recipe, sha256) belong to the
benchmarks: each keeps its ``OFFICIAL_TEXTS`` in ``benchmarks/<id>/prompts.py``; this module
is the engine they share. A local directory laid out like the project's
``judge_prompts`` folder (``<name>.txt``; option ``prompts_dir`` or env ``ECHO4O_PROMPTS_DIR``)
is used instead when given, and is verified the same way. ``scripts_dir`` (or env
``ECHO4O_OFFICIAL_SCRIPTS_DIR``) may hold local copies of the script files.

Example:
    >>> source = "GREETING = 'Hel' + 'lo'\\n\\ndef build(name):\\n    return f'Hi {name}!'\\n"
    >>> extract(source, Recipe("assign", names=("GREETING",)))
    'Hello'
    >>> extract(source, Recipe("fstring", function="build", startswith="Hi", fields={"name": "{who}"}))
    'Hi {who}!'
"""

from __future__ import annotations

import ast
import hashlib
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


class OfficialPromptError(RuntimeError):
    """An official prompt could not be obtained or does not match its pinned sha256."""


@dataclass(frozen=True)
class Script:
    """An official script pinned to a commit."""

    repo: str
    commit: str
    path: str

    @property
    def url(self) -> str:
        """Raw GitHub URL of the script at its pinned commit."""
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.path}"


@dataclass(frozen=True)
class Recipe:
    """How to find a text in a script: ``assign`` (concatenation of module-level string
    constants ``names``), ``fstring`` (the f-string in ``function`` starting with
    ``startswith``; each ``{expr}`` replaced by ``fields[expr source]``), ``dict_text`` (the
    ``index``-th constant string value under a "text" key in ``function``)."""

    kind: str
    names: tuple[str, ...] = ()
    function: str = ""
    startswith: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    index: int = 0


def official_prompts() -> dict[str, tuple]:
    """Every pinned official text by name, gathered from the registered benchmarks (each
    benchmark's ``official_texts``: built-in ones keep theirs in ``benchmarks/<id>/prompts.py``).
    ``OFFICIAL_PROMPTS`` is this mapping."""
    from echo4o_eval.spec import benchmark_names, load_benchmark

    texts: dict[str, tuple] = {}
    for name in benchmark_names():
        texts.update(load_benchmark(name).official_texts)
    return texts


def __getattr__(name: str):
    if name == "OFFICIAL_PROMPTS":
        return official_prompts()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _string(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string(node.left), _string(node.right)
        return None if left is None or right is None else left + right
    return None


def _render_fstring(node: ast.JoinedStr, fields: Mapping[str, str]) -> str:
    out = []
    for part in node.values:
        if isinstance(part, ast.Constant):
            out.append(str(part.value))
        elif isinstance(part, ast.FormattedValue):
            expr = ast.unparse(part.value)
            if expr not in fields or part.format_spec is not None or part.conversion != -1:
                raise OfficialPromptError(f"unexpected field {{{expr}}} in official f-string")
            out.append(fields[expr])
    return "".join(out)


def _function(tree: ast.Module, name: str) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    raise OfficialPromptError(f"function {name!r} not found")


def extract(source: str, recipe: Recipe) -> str:
    """Extract one text from script ``source`` by ``recipe`` (parsed with ast, not run)."""
    tree = ast.parse(source)
    if recipe.kind == "assign":
        found: dict[str, str] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                text = _string(node.value)
                if text is not None:
                    found[node.targets[0].id] = text
        missing = [n for n in recipe.names if n not in found]
        if missing:
            raise OfficialPromptError(f"module-level strings {missing} not found")
        return "".join(found[n] for n in recipe.names)
    function = _function(tree, recipe.function)
    if recipe.kind == "fstring":
        for node in ast.walk(function):
            if isinstance(node, ast.JoinedStr) and node.values:
                first = node.values[0]
                if isinstance(first, ast.Constant) and str(first.value).startswith(recipe.startswith):
                    return _render_fstring(node, recipe.fields)
        raise OfficialPromptError(f"no f-string starting {recipe.startswith!r} in {recipe.function}")
    if recipe.kind == "dict_text":
        texts = [_string(v) for node in ast.walk(function) if isinstance(node, ast.Dict)
                 for k, v in zip(node.keys, node.values)
                 if isinstance(k, ast.Constant) and k.value == "text" and _string(v) is not None]
        if len(texts) <= recipe.index:
            raise OfficialPromptError(f"no text constant #{recipe.index} in {recipe.function}")
        return texts[recipe.index]
    raise OfficialPromptError(f"unknown recipe kind {recipe.kind!r}")


def sha256_text(text: str) -> str:
    """Hex SHA-256 digest of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _script_source(script: Script, scripts_dir: Path | None, cache_dir: Path, download: bool) -> str:
    if scripts_dir is not None:
        local = scripts_dir / Path(script.path).name
        if local.is_file():
            return local.read_text(encoding="utf-8")
    cached = cache_dir / script.repo.replace("/", "__") / script.commit / script.path
    if not cached.is_file():
        if not download:
            raise OfficialPromptError(
                f"official script {script.url} (parity mode's judge prompt) is not cached and "
                "downloads are off: run once without --offline to cache it, or set "
                "ECHO4O_OFFICIAL_SCRIPTS_DIR to a folder holding the official scripts, or "
                "ECHO4O_PROMPTS_DIR to a folder of the official prompt texts")
        try:
            with urllib.request.urlopen(script.url, timeout=60) as response:
                data = response.read()
        except OSError as exc:
            raise OfficialPromptError(
                f"cannot download {script.url} (parity mode reads its judge prompt from this official "
                f"script; it is cached after one download): {exc}. Offline, give a local copy: "
                "--eval-option prompts_dir=DIR or ECHO4O_PROMPTS_DIR=DIR (the official prompt texts), "
                "or ECHO4O_OFFICIAL_SCRIPTS_DIR=DIR (the script files); default mode (no --mode "
                "parity) needs neither") from exc
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, cached)
    return cached.read_text(encoding="utf-8")


def load_official_prompt(
    name: str,
    prompts_dir: str | Path | None = None,
    scripts_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download: bool = True,
    texts: Mapping[str, tuple] | None = None,
) -> str:
    """The official text ``name`` of ``texts`` (a benchmark's ``OFFICIAL_TEXTS``; default:
    every benchmark's, :func:`official_prompts`), verified against its sha256."""
    texts = official_prompts() if texts is None else texts
    if name not in texts:
        raise KeyError(f"unknown official prompt {name!r}; known: {sorted(texts)}")
    script, recipe, expected = texts[name]
    prompts_dir = prompts_dir or os.environ.get("ECHO4O_PROMPTS_DIR")
    if prompts_dir:
        path = Path(prompts_dir) / f"{name}.txt"
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise OfficialPromptError(f"{path}: cannot read official prompt: {exc}") from exc
        where = str(path)
    else:
        scripts_dir = scripts_dir or os.environ.get("ECHO4O_OFFICIAL_SCRIPTS_DIR")
        if cache_dir is None:
            from echo4o_eval.assets import default_cache_dir

            cache_dir = default_cache_dir() / "official_scripts"
        source = _script_source(script, Path(scripts_dir) if scripts_dir else None,
                                Path(cache_dir), download)
        try:
            text = extract(source, recipe)
        except (SyntaxError, OfficialPromptError) as exc:
            raise OfficialPromptError(f"{script.url}: cannot extract {name}: {exc}") from exc
        where = script.url
    actual = sha256_text(text)
    if actual != expected:
        raise OfficialPromptError(
            f"{where}: official prompt {name} has sha256 {actual}, expected {expected} "
            "(not the pinned official text)")
    return text


class OfficialPrompts:
    """Official texts loaded on first use and kept for the life of one evaluator.

    >>> texts = OfficialPrompts(prompts_dir="/nonexistent")
    >>> texts.loaded
    {}
    """

    def __init__(self, prompts_dir: str | Path | None = None,
                 texts: Mapping[str, tuple] | None = None) -> None:
        self.prompts_dir = prompts_dir
        self.texts = texts  # the benchmark's OFFICIAL_TEXTS (None: every benchmark's)
        self.loaded: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        """The verified official text ``name`` (see :func:`load_official_prompt`)."""
        if name not in self.loaded:
            self.loaded[name] = load_official_prompt(name, prompts_dir=self.prompts_dir, texts=self.texts)
        return self.loaded[name]
