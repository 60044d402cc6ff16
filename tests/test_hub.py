"""Models from the Hub (huggingface_hub patched, no network) and Bagel's code fetched from a
local HTTP server: download, sha256 check, safe unpack, cache reuse, offline errors."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import logging
import shutil
import tarfile
import threading
import time

import pytest

from echo4o_eval.models import bagel_code, hub
from echo4o_eval.models.bagel_code import BagelCodeError, fetch_bagel_code
from echo4o_eval.models.hub import HubError
from tests.bagel_stand_in_checkpoint import STAND_IN_REPO, write_stand_in_checkpoint

SHA = "0123456789abcdef0123456789abcdef01234567"


# ---------------------------------------------------------------- Bagel's code, from a tarball


def make_tarball(top="Bagel-056b5fd", extra=None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(STAND_IN_REPO, arcname=top,
                    filter=lambda info: None if "__pycache__" in info.name else info)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def served(tmp_path):
    """Serve tmp_path/www over HTTP on 127.0.0.1; yields (folder, base url, request log)."""
    www = tmp_path / "www"
    www.mkdir()
    log = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            log.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}", log
    server.shutdown()
    server.server_close()


def test_code_is_downloaded_verified_unpacked_and_then_reused(served, tmp_path):
    www, base, log = served
    payload = make_tarball()
    (www / "bagel.tar.gz").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    options = {"bagel_code_url": f"{base}/bagel.tar.gz", "bagel_code_sha256": digest}

    repo, source = fetch_bagel_code(options, {}, cache_dir=tmp_path / "cache")
    assert (repo / "inferencer.py").read_text() == (STAND_IN_REPO / "inferencer.py").read_text()
    assert source == {"url": f"{base}/bagel.tar.gz", "sha256": digest, "pinned": True}
    assert len(log) == 1
    (www / "bagel.tar.gz").unlink()  # the cache answers from now on, even offline
    again, _ = fetch_bagel_code(options, {"HF_HUB_OFFLINE": "1"}, cache_dir=tmp_path / "cache")
    assert again == repo and len(log) == 1


def test_a_wrong_sha256_keeps_nothing(served, tmp_path):
    www, base, _ = served
    (www / "bagel.tar.gz").write_bytes(make_tarball())
    options = {"bagel_code_url": f"{base}/bagel.tar.gz", "bagel_code_sha256": "0" * 64}
    with pytest.raises(BagelCodeError, match="does not match the pinned 0000"):
        fetch_bagel_code(options, {}, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_without_a_pin_the_download_sha256_is_warned_recorded_and_then_enforced(served, tmp_path, caplog):
    www, base, _ = served
    payload = make_tarball()
    (www / "bagel.tar.gz").write_bytes(payload)
    options = {"bagel_code_url": f"{base}/bagel.tar.gz"}
    with caplog.at_level(logging.WARNING, logger=bagel_code.__name__):
        _, source = fetch_bagel_code(options, {}, cache_dir=tmp_path / "cache")
    digest = hashlib.sha256(payload).hexdigest()
    assert source == {"url": f"{base}/bagel.tar.gz", "sha256": digest, "pinned": False}
    assert f"ECHO4O_BAGEL_CODE_SHA256={digest}" in caplog.text
    # a later pin that differs from what is cached makes it download and check again
    (www / "bagel.tar.gz").write_bytes(make_tarball(extra={"Bagel-056b5fd/NEW": b"x"}))
    with pytest.raises(BagelCodeError, match="does not match the pinned"):
        fetch_bagel_code({**options, "bagel_code_sha256": "1" * 64}, {}, cache_dir=tmp_path / "cache")


def test_archives_that_escape_or_are_not_bagel_are_refused(served, tmp_path):
    www, base, _ = served
    (www / "evil.tar.gz").write_bytes(make_tarball(extra={"Bagel-056b5fd/../../outside.txt": b"x"}))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("top/README.md")
        archive.addfile(info, io.BytesIO(b""))
    (www / "other.tar.gz").write_bytes(buffer.getvalue())
    with pytest.raises(BagelCodeError, match="not a readable Bagel code archive"):
        fetch_bagel_code({"bagel_code_url": f"{base}/evil.tar.gz"}, {}, cache_dir=tmp_path / "c")
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "c" / "outside.txt").exists()
    with pytest.raises(BagelCodeError, match="not Bagel's code .missing inferencer.py"):
        fetch_bagel_code({"bagel_code_url": f"{base}/other.tar.gz"}, {}, cache_dir=tmp_path / "c")


def test_offline_or_unreachable_code_download_says_what_to_do(tmp_path):
    with pytest.raises(BagelCodeError, match="downloads are off .*bagel_repo=DIR or set ECHO4O_BAGEL_REPO"):
        fetch_bagel_code({}, {"HF_HUB_OFFLINE": "1"}, cache_dir=tmp_path)
    started = time.perf_counter()
    with pytest.raises(BagelCodeError, match="could not download Bagel's code from http://127.0.0.1:9/"):
        fetch_bagel_code({"bagel_code_url": "http://127.0.0.1:9/x.tar.gz"}, {}, cache_dir=tmp_path)
    assert time.perf_counter() - started < 10


def test_the_default_pin_is_the_bagel_commit_our_benchmark_files_use():
    assert bagel_code.BAGEL_CODE_URL == (
        "https://github.com/ByteDance-Seed/Bagel/archive/056b5fd51a88c1eb4547318609e25d40080fcf87.tar.gz")


# ---------------------------------------------------------------- checkpoints from the Hub


@pytest.fixture
def online_hub(monkeypatch, tmp_path):
    """snapshot_download patched to 'download' a stand-in checkpoint into a snapshot folder."""
    import huggingface_hub

    calls = []

    def snapshot_download(repo_id, revision=None, allow_patterns=None, local_files_only=False, **kw):
        calls.append({"repo_id": repo_id, "revision": revision, "allow_patterns": allow_patterns,
                      "local_files_only": local_files_only})
        folder = tmp_path / "hub" / repo_id.replace("/", "--") / "snapshots" / SHA
        if local_files_only and not folder.exists():
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        if not folder.exists():
            write_stand_in_checkpoint(folder)
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr(hub, "probe_hub", lambda timeout=5.0: None)
    return calls


def test_bagel_hub_id_downloads_only_what_bagel_loads_and_records_the_revision(online_hub):
    from echo4o_eval.models.bagel import BagelModel

    model = BagelModel("echo4o", {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
    assert online_hub[0]["repo_id"] == "Yejy53/Echo-4o"
    assert "ema.safetensors" in online_hub[0]["allow_patterns"]
    assert "*.safetensors" not in online_hub[0]["allow_patterns"]
    assert model.identity() == {"kind": "hub", "repo_id": "Yejy53/Echo-4o", "revision": "main", "sha": SHA}
    assert model.describe()["checkpoint_source"] == {"hub_repo": "Yejy53/Echo-4o", "revision": SHA,
                                                     "requested_revision": None}
    pinned = BagelModel(f"Yejy53/Echo-4o@{SHA}", {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
    assert pinned.identity() == {"kind": "hub", "repo_id": "Yejy53/Echo-4o", "sha": SHA}
    assert online_hub[-1]["revision"] == SHA


def test_the_identity_known_before_loading_is_the_adapters(online_hub, monkeypatch):
    from echo4o_eval.models import identity
    from echo4o_eval.models.bagel import BagelModel

    monkeypatch.setattr(identity, "_cached_revision", lambda repo_id, revision: SHA)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for spec in ("echo4o", f"Yejy53/Echo-4o@{SHA}"):
        model = BagelModel(spec, {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
        assert identity.source_identity(spec) == model.identity()


def test_resolve_model_goes_from_hub_id_to_a_bagel_model(online_hub, monkeypatch):
    from huggingface_hub import HfApi

    from echo4o_eval.models.bagel import BagelModel
    from echo4o_eval.models.resolve import resolve_model

    files = ["llm_config.json", "vit_config.json", "ae.safetensors", "ema.safetensors", "tokenizer.json"]
    monkeypatch.setattr(HfApi, "list_repo_files", lambda self, repo_id, revision=None, **kw: files)
    model = resolve_model("someone/my-bagel-finetune", {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
    assert isinstance(model, BagelModel) and model.hub_repo == "someone/my-bagel-finetune"


def test_unreachable_hub_fails_fast_and_says_so(monkeypatch, tmp_path):
    import huggingface_hub

    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    called = []
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", lambda *a, **k: called.append(1))
    started = time.perf_counter()
    with pytest.raises(HubError) as error:
        hub.repo_files("Yejy53/Echo-4o")
    assert time.perf_counter() - started < 10 and not called  # no half-minute of retries
    message = str(error.value)
    assert message.startswith("cannot reach the Hugging Face Hub for Yejy53/Echo-4o (")
    assert "hf download Yejy53/Echo-4o" in message


def test_gated_and_missing_repos_say_how_to_log_in(monkeypatch):
    import httpx2
    from huggingface_hub import HfApi, errors

    response = httpx2.Response(403, request=httpx2.Request("GET", "https://huggingface.co/api/x"))
    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr(hub, "probe_hub", lambda timeout=5.0: None)

    def gated(self, repo_id, **kw):
        raise errors.GatedRepoError("gated", response=response)

    monkeypatch.setattr(HfApi, "list_repo_files", gated)
    with pytest.raises(HubError, match=r"org/gated is a gated repo: accept its terms .* `hf auth login`"):
        hub.repo_files("org/gated")

    def missing(self, repo_id, **kw):
        raise errors.RepositoryNotFoundError("404", response=response)

    monkeypatch.setattr(HfApi, "list_repo_files", missing)
    with pytest.raises(HubError, match=r"org/private was not found .* `hf auth login`"):
        hub.repo_files("org/private")


def test_offline_uses_the_cache_and_otherwise_names_hf_download(online_hub, monkeypatch):
    from echo4o_eval.models.bagel import BagelModel
    from echo4o_eval.models.bagel_checkout import BagelSetupError

    monkeypatch.setattr(hub, "hub_offline", lambda: True)
    with pytest.raises(BagelSetupError, match="HF_HUB_OFFLINE is set .*`hf download Yejy53/Echo-4o`"):
        BagelModel("echo4o", {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    BagelModel("echo4o", {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})  # downloads
    monkeypatch.setattr(hub, "hub_offline", lambda: True)
    cached = BagelModel("echo4o", {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
    assert cached.hub_revision == SHA and online_hub[-1]["local_files_only"] is True
    assert sorted(hub.repo_files("Yejy53/Echo-4o"))[:2] == ["ae.safetensors", "ema.safetensors"]


def test_bagel_model_without_a_checkout_uses_the_fetched_code(served, tmp_path, monkeypatch, online_hub):
    from echo4o_eval.models.bagel import BagelModel

    www, base, _ = served
    payload = make_tarball()
    (www / "b.tar.gz").write_bytes(payload)
    monkeypatch.delenv("ECHO4O_BAGEL_REPO", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("ECHO4O_CACHE_DIR", str(tmp_path / "cache"))
    model = BagelModel("echo4o", {"device": "cpu", "bagel_code_url": f"{base}/b.tar.gz",
                                  "bagel_code_sha256": hashlib.sha256(payload).hexdigest()})
    assert str(model.checkout.repo).startswith(str(tmp_path / "cache" / "bagel-code"))
    assert model.describe()["bagel_code"]["pinned"] is True
    shutil.rmtree(tmp_path / "cache")
