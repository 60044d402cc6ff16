"""Benchmark specs and official-asset handling (sha256 pins, downloads, local copies)."""

import hashlib
import http.server
import io
import tarfile
import threading
from dataclasses import replace

import pytest

from echo4o_eval.assets import AssetError, Assets, sha256_file_list
from echo4o_eval.spec import SpecError, benchmark_names, get_benchmark, load_spec

ALL = ["dpg_bench", "geneval", "geneval_pp", "imagine_bench", "omnicontext"]


def test_all_benchmarks_discovered_with_metrics():
    assert benchmark_names() == ALL
    for name in ALL:
        spec = get_benchmark(name)
        assert spec.metric(spec.primary_metric).higher_is_better
        for asset in spec.assets:
            if asset.kind == "file":
                assert asset.url.startswith("https://raw.githubusercontent.com/")
                # pinned to a 40-hex commit
                assert any(len(p) == 40 and all(c in "0123456789abcdef" for c in p) for p in asset.url.split("/"))


def test_spec_errors_name_file_and_field(tmp_path):
    folder = tmp_path / "mybench"
    folder.mkdir()
    (folder / "benchmark.yaml").write_text("id: mybench\nversion: 1\n")
    with pytest.raises(SpecError, match=r"mybench/benchmark.yaml: missing required field 'metrics'"):
        load_spec(folder / "benchmark.yaml")
    (folder / "benchmark.yaml").write_text("id: other\nversion: 1\ndefault_judge: x\njudge_kinds: [vlm]\n"
                                          "primary_metric: m\nmetrics: [{name: m, display_name: M}]\n")
    with pytest.raises(SpecError, match="must equal its folder name"):
        load_spec(folder / "benchmark.yaml")


def test_unknown_benchmark_suggests():
    with pytest.raises(KeyError, match="did you mean: geneval, geneval_pp"):
        get_benchmark("geneval++")


def test_local_data_dir_is_verified(data_dir, tmp_path):
    spec = get_benchmark("geneval_pp")
    assert Assets(spec, data_dir=data_dir, allow_download=False).path("prompts").name == "Geneval++.jsonl"
    bad = tmp_path / "geneval_pp"
    bad.mkdir()
    (bad / "Geneval++.jsonl").write_text('{"tag": "x"}\n')
    with pytest.raises(AssetError, match=r"Geneval\+\+.jsonl: sha256 .* does not match the pinned"):
        Assets(spec, data_dir=tmp_path, allow_download=False).path("prompts")


class _Server:
    def __init__(self, files):
        files_ = files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = files_.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                if body is not None:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def test_download_verifies_and_discards_mismatch(data_dir, tmp_path):
    good = (data_dir / "imagine_bench" / "Imagine.jsonl").read_bytes()
    server = _Server({"/good": good, "/bad": good + b"tampered"})
    try:
        spec = get_benchmark("imagine_bench")
        asset = spec.asset("prompts")
        ok_spec = replace(spec, assets=(replace(asset, url=server.url + "/good"),))
        path = Assets(ok_spec, data_dir=tmp_path / "none", cache_dir=tmp_path / "c1").path("prompts")
        assert path.read_bytes() == good
        bad_spec = replace(spec, assets=(replace(asset, url=server.url + "/bad"),))
        with pytest.raises(AssetError, match="does not match the pinned .* the file was not kept"):
            Assets(bad_spec, data_dir=tmp_path / "none", cache_dir=tmp_path / "c2").path("prompts")
        assert list((tmp_path / "c2").rglob("*.jsonl")) == []
        assert list((tmp_path / "c2").rglob("tmp*")) == []
    finally:
        server.close()


def test_file_list_from_repository_tarball(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in {"R-abc/dpg_bench/prompts/2.txt": b"two", "R-abc/dpg_bench/prompts/10.txt": b"ten",
                           "R-abc/dpg_bench/other.csv": b"x"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text))
    server = _Server({"/repo.tgz": buffer.getvalue()})
    try:
        spec = get_benchmark("dpg_bench")
        asset = replace(spec.asset("prompts"), url=server.url + "/repo.tgz", member="R-abc/dpg_bench/prompts",
                        sha256=hashlib.sha256(
                            f"{hashlib.sha256(b'two').hexdigest()}  2.txt\n"
                            f"{hashlib.sha256(b'ten').hexdigest()}  10.txt\n".encode()).hexdigest())
        got = Assets(replace(spec, assets=(asset,)), data_dir=tmp_path / "none", cache_dir=tmp_path / "c").path("prompts")
        assert sorted(p.name for p in got.iterdir()) == ["10.txt", "2.txt"]
        assert sha256_file_list(got) == asset.sha256
    finally:
        server.close()


def test_offline_missing_asset_says_how_to_get_it(tmp_path):
    with pytest.raises(AssetError, match="echo4o-eval data fetch geneval"):
        Assets(get_benchmark("geneval"), data_dir=tmp_path, cache_dir=tmp_path, allow_download=False).path("prompts")


def test_dpg_prompt_folder_hash_matches_official(data_dir):
    report = dict(Assets(get_benchmark("dpg_bench"), data_dir=data_dir).verify())
    assert report["prompts"] == "ok"


def test_dpg_prompt_folder_hash_includes_the_names(data_dir, tmp_path):
    import shutil

    copy = tmp_path / "dpg_bench" / "prompts"
    shutil.copytree(data_dir / "dpg_bench" / "prompts", copy)
    assets = Assets(get_benchmark("dpg_bench"), data_dir=tmp_path, allow_download=False)
    assert dict(assets.verify())["prompts"] == "ok"
    (copy / "5.txt").rename(copy / "5a.txt")  # same contents, same order, another name
    assert "does not match the pinned" in dict(assets.verify())["prompts"]


def _cli(*args):
    from click.testing import CliRunner

    from echo4o_eval.cli import main

    return CliRunner().invoke(main, list(args))


def test_a_missing_required_file_fails_verify_and_offline_validate(data_dir, tmp_path):
    import shutil

    shutil.copytree(data_dir / "geneval_pp", tmp_path / "geneval_pp")
    (tmp_path / "geneval_pp" / "Geneval++.jsonl").unlink()
    verify = _cli("data", "verify", "--data-dir", str(tmp_path), "geneval_pp")
    assert verify.exit_code == 1, verify.output
    assert "geneval_pp/prompts: missing" in verify.output
    assert "echo4o-eval data fetch geneval_pp" in verify.output and "ECHO4O_DATA_DIR" in verify.output
    validate = _cli("validate", "--offline", "--data-dir", str(tmp_path), "geneval_pp")
    assert validate.exit_code == 1, validate.output
    assert "geneval_pp: FAILED: required file(s) missing: prompts" in validate.output


def test_absent_optional_files_are_listed_as_skipped(data_dir, tmp_path):
    import shutil

    shutil.copytree(data_dir / "geneval_pp", tmp_path / "geneval_pp")
    (tmp_path / "geneval_pp" / "Geneval++.txt").unlink()  # optional
    verify = _cli("data", "verify", "--data-dir", str(tmp_path), "geneval_pp")
    assert verify.exit_code == 0, verify.output
    assert "geneval_pp/prompts_txt: skipped (optional, not present)" in verify.output
    strict = _cli("validate", "--offline", "--strict", "--data-dir", str(tmp_path), "geneval_pp")
    assert strict.exit_code == 1 and "--strict: optional file(s) absent: prompts_txt" in strict.output


def test_download_failures_name_data_dir_env_and_data_fetch(tmp_path):
    spec = get_benchmark("geneval_pp")
    asset = replace(spec.asset("prompts"), url="http://127.0.0.1:9/Geneval++.jsonl")
    assets = Assets(replace(spec, assets=(asset,)), data_dir=tmp_path / "none", cache_dir=tmp_path / "c")
    with pytest.raises(AssetError) as error:
        assets.path("prompts")
    message = str(error.value)
    for hint in ("--data-dir", "ECHO4O_DATA_DIR", "echo4o-eval data fetch geneval_pp"):
        assert hint in message
    with pytest.raises(AssetError, match="ECHO4O_DATA_DIR"):
        Assets(spec, data_dir=tmp_path, cache_dir=tmp_path, allow_download=False).path("prompts")
