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
