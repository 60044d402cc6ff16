"""Exit codes and on-screen causes of `run`/`score` (issue 15 #6, issue 10 #17).

A run that scores nothing exits non-zero and says why on screen; every run ends with the
coverage in its final line; low coverage is a loud warning.
"""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner
from PIL import Image

from echo4o_eval.cli import main
from tests.verbosity_guard import restored_verbosity


@pytest.fixture(autouse=True)
def _restore_verbosity():
    """-q and the demo quiet the libraries process-wide; undo that for the tests that follow."""
    with restored_verbosity():
        yield


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _invoke(args, env=None):
    return CliRunner().invoke(main, args, env={"OPENAI_API_KEY": None, **(env or {})})


def test_empty_folder_exits_non_zero_with_the_cause(tmp_path, data_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _invoke(["run", "-b", "geneval_pp", "-m", f"folder:{empty}", "--data-dir", str(data_dir),
                      "--offline", "--limit", "10", "--bootstrap", "0", "--run-dir", str(tmp_path / "run")],
                     env={"OPENAI_API_KEY": "sk-dummy-never-used"})
    assert result.exit_code == 3, result.output
    assert "coverage 0.0% (0/10 images scored)" in result.output
    assert "missing_image ×10: no image for sample 1 #0" in result.output
    assert "WARNING: only 0 of 10 images" in result.output
    assert "none of the 10 images could be scored" in result.output
    assert "note: not the paper's settings for GenEval++: the paper used --mode parity" in result.output


def test_unreachable_judge_exits_non_zero_with_the_cause(tmp_path, data_dir):
    images = tmp_path / "images"  # Echo-4o's layout: <1-based line>.png
    images.mkdir()
    for line in range(1, 6):
        Image.new("RGB", (32, 32), (40 * line, 0, 0)).save(images / f"{line}.png")
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    result = _invoke(["score", "-b", "geneval_pp", "-m", f"folder:{images}", "--data-dir", str(data_dir),
                      "--offline", "--limit", "5", "--bootstrap", "0", "--run-dir", str(tmp_path / "run"),
                      "--judge-base-url", url, "--judge-option", "max_retries=0"])
    assert result.exit_code == 3, result.output
    assert "judge_error ×5: main: " in result.output
    assert "APIConnectionError" in result.output and url in result.output
    assert result.output.count("summary: geneval_pp") == 1


def test_hosted_judge_without_a_key_exits_non_zero_naming_the_option(tmp_path, data_dir):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (32, 32)).save(images / "1.png")
    result = _invoke(["score", "-b", "geneval_pp", "-m", f"folder:{images}", "--data-dir", str(data_dir),
                      "--offline", "--limit", "1", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code != 0, result.output
    assert "OPENAI_API_KEY" in result.output and "--judge-api-key-env" in result.output


def test_quiet_still_shows_the_summary_of_a_failed_run(tmp_path, data_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _invoke(["run", "-q", "-b", "geneval_pp", "-m", f"folder:{empty}", "--data-dir", str(data_dir),
                      "--offline", "--limit", "2", "--bootstrap", "0", "--run-dir", str(tmp_path / "run")],
                     env={"OPENAI_API_KEY": "sk-dummy-never-used"})
    # nothing scored: the full summary is printed even under -q, because it is an error
    assert result.exit_code == 3 and "most common failures:" in result.output
    assert "note: not the paper's settings" not in result.output


def test_bad_key_exits_non_zero_with_the_cause_and_never_shows_the_key(tmp_path, data_dir, fake_openai):
    server = fake_openai(responder=lambda body: "{}", fault_rate=1.0, faults=("unauthorized",))
    images = tmp_path / "images"
    images.mkdir()
    for line in range(1, 4):
        Image.new("RGB", (32, 32), (0, 40 * line, 0)).save(images / f"{line}.png")
    secret = "sk-wrong-key-value-987"
    result = _invoke(["score", "-b", "geneval_pp", "-m", f"folder:{images}", "--data-dir", str(data_dir),
                      "--offline", "--limit", "3", "--bootstrap", "0", "--run-dir", str(tmp_path / "run"),
                      "--judge-base-url", server.base_url, "--judge-api-key-env", "ECHO4O_TEST_BAD_KEY",
                      "--judge-option", "max_retries=0"], env={"ECHO4O_TEST_BAD_KEY": secret})
    assert result.exit_code == 3, result.output
    assert "judge_error ×3: main: HTTP 401" in result.output and "Incorrect API key" in result.output
    assert secret not in result.output


def test_unanswered_requests_are_reported_not_priced_as_zero(tmp_path, data_dir, fake_openai):
    """Two judge requests time out after reaching the server: result.json and the summary say
    they may have been billed; a refused connection (above) is no call at all."""
    import json

    from tests.fake_judge_replies import geneval_pp_reply

    server = fake_openai(responder=geneval_pp_reply, script=["slow", "slow"], slow_seconds=1.5)
    images = tmp_path / "images"
    images.mkdir()
    for line in range(1, 4):
        Image.new("RGB", (32, 32), (40 * line, 0, 0)).save(images / f"{line}.png")
    result = _invoke(["score", "-b", "geneval_pp", "-m", f"folder:{images}", "--data-dir", str(data_dir),
                      "--offline", "--limit", "3", "--bootstrap", "0", "--run-dir", str(tmp_path / "run"),
                      "--judge-base-url", server.base_url, "--judge-option", "max_retries=0",
                      "--judge-option", "timeout=0.5", "--judge-option", "cache=off"])
    usage = json.loads((tmp_path / "run" / "result.json").read_text())["usage"]
    assert usage["judge_calls"] == server.count() == 3 and usage["unanswered_requests"] == 2
    assert "2 request(s) reached the API but got no reply" in result.output, result.output
