"""Registry: decorator and lazy entries, duplicates, close-match errors, plugins."""

import pytest

from echo4o_eval.registry import DuplicateNameError, Registry, UnknownNameError, import_object


def test_decorator_and_lazy_entries():
    reg = Registry("thing", entry_point_group=None)

    @reg.register("alpha")
    def alpha():
        return 1

    reg.register_lazy("join", "os.path:join")
    assert reg.get("alpha") is alpha
    assert reg.get("join")("a", "b") == "a/b"
    assert reg.names() == ["alpha", "join"]
    assert "join" in reg and "beta" not in reg


def test_duplicates_rejected():
    reg = Registry("thing", entry_point_group=None)
    reg.register_lazy("x", "os:getcwd")
    with pytest.raises(DuplicateNameError, match="thing 'x' is already registered"):
        reg.register_lazy("x", "os:getpid")


def test_unknown_name_suggests_close_matches():
    reg = Registry("judge", entry_point_group=None)
    reg.register_lazy("mask2former-clip", "os:getcwd")
    with pytest.raises(UnknownNameError) as info:
        reg.get("mask2former_clip")
    assert "did you mean: mask2former-clip?" in str(info.value)


def test_lazy_entry_is_not_imported_until_used():
    import sys

    reg = Registry("thing", entry_point_group=None)
    reg.register_lazy("never", "echo4o_eval_no_such_module:attr")
    assert "echo4o_eval_no_such_module" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        reg.get("never")


def test_plugins_from_entry_points(monkeypatch):
    import importlib.metadata as md

    ep = md.EntryPoint(name="plug", value="os.path:basename", group="echo4o_eval.test")
    monkeypatch.setattr(md, "entry_points", lambda group: [ep] if group == "echo4o_eval.test" else [])
    reg = Registry("thing", entry_point_group="echo4o_eval.test")
    assert reg.get("plug")("/a/b") == "b"


def test_import_object_needs_colon():
    with pytest.raises(ValueError, match="module:attr"):
        import_object("os.path.join")


def _with_plugins(monkeypatch, group, *entries):
    import importlib.metadata as md

    eps = [md.EntryPoint(name=n, value=v, group=group) for n, v in entries]
    monkeypatch.setattr(md, "entry_points", lambda group: [e for e in eps if e.group == group])


class _Replacing:
    replaces_builtin = True


REPLACING = _Replacing()


def test_plugin_named_like_a_builtin_is_an_error_naming_both(monkeypatch):
    _with_plugins(monkeypatch, "echo4o_eval.test", ("getcwd", "os:getpid"))
    reg = Registry("thing", entry_point_group="echo4o_eval.test",
                   builtins=lambda: {"getcwd": ("os:getcwd", "built-in os:getcwd")})
    with pytest.raises(DuplicateNameError) as info:
        reg.names()
    message = str(info.value)
    assert "built-in os:getcwd" in message and "'getcwd' = 'os:getpid'" in message
    assert "replaces_builtin" in message


def test_plugin_may_replace_a_builtin_when_it_opts_in(monkeypatch):
    _with_plugins(monkeypatch, "echo4o_eval.test", ("getcwd", "test_registry:REPLACING"))
    reg = Registry("thing", entry_point_group="echo4o_eval.test",
                   builtins=lambda: {"getcwd": ("os:getcwd", "built-in os:getcwd")})
    assert reg.get("getcwd") is REPLACING
    assert "replacing built-in os:getcwd" in reg.source("getcwd")


def test_two_plugins_with_one_name_are_an_error_even_when_opting_in(monkeypatch):
    _with_plugins(monkeypatch, "echo4o_eval.test", ("x", "test_registry:REPLACING"),
                  ("x", "test_registry:REPLACING"))
    reg = Registry("thing", entry_point_group="echo4o_eval.test")
    with pytest.raises(DuplicateNameError, match="registered twice"):
        reg.names()


def test_plugin_benchmark_named_like_a_builtin_is_refused(monkeypatch):
    from echo4o_eval import catalog
    from echo4o_eval.spec import load_benchmark

    _with_plugins(monkeypatch, "echo4o_eval.benchmarks", ("geneval", "os:getcwd"))
    fresh = Registry("benchmark", entry_point_group="echo4o_eval.benchmarks",
                     builtins=catalog.builtin_benchmarks)
    monkeypatch.setattr("echo4o_eval.spec.BENCHMARKS", fresh)
    with pytest.raises(DuplicateNameError, match="built-in benchmarks/geneval.*'geneval' = 'os:getcwd'"):
        load_benchmark("geneval")


def test_a_benchmark_entry_that_is_not_a_benchmark_is_named(monkeypatch):
    from echo4o_eval import catalog
    from echo4o_eval.spec import SpecError, load_benchmark

    _with_plugins(monkeypatch, "echo4o_eval.benchmarks", ("odd", "os.path:sep"))
    fresh = Registry("benchmark", entry_point_group="echo4o_eval.benchmarks",
                     builtins=catalog.builtin_benchmarks)
    monkeypatch.setattr("echo4o_eval.spec.BENCHMARKS", fresh)
    with pytest.raises(SpecError, match="plugin entry point 'odd'.*expected an echo4o_eval.spec.Benchmark"):
        load_benchmark("odd")
