"""Leaderboard joined by model, published rows, plots, steps, baselines and the phone layout.

The browser tests load the page in headless Chromium at 1280 px and at 390 px (a phone) and
save screenshots to test-artifacts/report_board.png and report_phone.png.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_board_runs import board_runs
from test_report import REPO, _chromium, _run_chromium, probe_result, probe_script, with_probe

from echo4o_eval.report.commands import report_command
from echo4o_eval.report.runs import load_view

PUBLISHED = Path(os.environ.get("ECHO4O_SHARED_DIR", REPO.parent / "shared")) / "published" / "README.md"


@pytest.fixture(scope="module")
def board(tmp_path_factory, data_dir):
    if not PUBLISHED.is_file():
        pytest.skip(f"{PUBLISHED} not found (the shared published figures)")
    root = tmp_path_factory.mktemp("board")
    runs = board_runs(root, data_dir)
    out = root / "out"
    result = CliRunner().invoke(report_command, [*map(str, runs), "-o", str(out), "--published",
                                                 str(PUBLISHED), "--full-images", "copy"])
    assert result.exit_code == 0, result.output
    return {"root": root, "runs": runs, "out": out, "html": (out / "index.html").read_text()}


def test_rows_join_benchmarks_of_one_model_and_judge_and_rank_with_ties(board):
    data = json.loads((board["out"] / "leaderboard.json").read_text())["leaderboard"]
    measured = [r for r in data["rows"] if not r["published"]]
    assert [(r["name"], r["runs"]) for r in measured] == [
        ("bagel-ft @ step 100", ["geneval-step100"]), ("bagel-ft @ step 200", ["geneval-step200"]),
        ("bagel-ft @ step 300", ["geneval-step300"]),
        ("bagel-ft @ step 300", ["gpp-step300", "imagine-step300"])]
    primary = [c["label"] for c in data["columns"] if not c["tag"]]
    assert primary == ["GenEval", "GenEval++", "Imagine-Bench"]
    ranks = [r["cells"][0]["rank"] for r in measured[:3]]
    assert ranks[0] == "3" and ranks[1:] == ["1=", "1="]  # step 100 is clearly worse; 200 and 300 overlap
    published = [r for r in data["rows"] if r["published"]]
    assert published and all("radar.jpg" in r["source"] and "28f36d7" in r["source"] for r in published)
    echo = next(r for r in published if r["name"] == "Echo-4o")
    assert echo["cells"][0]["value"] == 0.89 and echo["cells"][0]["rank"] == ""
    assert "published" in board["html"] and 'class="badge ref"' in board["html"]


def test_plots_are_inline_svg_and_the_page_has_no_inline_script_allowance(board):
    html = board["html"]
    for kind in ("radar", "bars", "steps", "hist", "scatter"):
        assert f'class="plot {kind}"' in html, kind
    assert html.count('class="plot bars"') == 3 and html.count('class="plot scatter"') == 2
    assert "GenEval overall by step: bagel-ft" in html
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "script-src 'sha256-" in csp and "style-src 'sha256-" in csp and "unsafe-inline" not in csp
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_full_images_copied_into_the_report_folder(board):
    items = [it for block in re.findall(r'<script type="application/json" id="gallery-data-\d">(.*?)</script>',
                                        board["html"]) for it in json.loads(block)]
    fulls = {it["full"] for it in items if it["full"]}
    assert fulls and all(f.startswith("images/") and (board["out"] / f).is_file() for f in fulls)
    assert "outside this report folder" not in board["html"]


def test_csv_neutralises_formulas(board, tmp_path):
    data = load_view(board["runs"][0]).to_baseline()
    data["name"] = '=HYPERLINK("http://evil.example","x")'
    data["manifest"]["model"] = {"spec": "+cmd|' /C calc'!A0"}
    baseline = tmp_path / "evil.json"
    baseline.write_text(json.dumps(data))
    out = tmp_path / "out"
    result = CliRunner().invoke(report_command, [str(baseline), "-o", str(out), "--no-published"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert rows and all(r["run"].startswith("'=HYPERLINK") and r["model"].startswith("'+cmd") for r in rows)
    assert all(not v.startswith(("=", "+", "@")) for r in rows for v in r.values())


def test_baselines_are_named_by_benchmark_model_and_judge_and_never_overwritten(board, tmp_path):
    runs = [str(r) for r in board["runs"]]
    target = tmp_path / "b"
    cli = CliRunner()
    res = cli.invoke(report_command, [runs[2], runs[3], "-o", str(tmp_path / "o"), "--no-published",
                                      "--baseline", "--baseline-dir", str(target)])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in target.iterdir())
    assert names == ["geneval__bagel-ft_step-300-" + names[0].split("step-300-")[1].split("__")[0]
                     + "__mask2former-clip.json", names[1]]
    assert names[1].startswith("geneval_pp__bagel-ft_step-300-") and names[1].endswith("__openai_gpt-4.1-"
                                                                                         + names[1].rsplit("-", 1)[1])
    again = cli.invoke(report_command, [runs[2], "-o", str(tmp_path / "o"), "--no-published",
                                        "--baseline", "--baseline-dir", str(target)])
    assert again.exit_code == 0 and "(unchanged)" in again.output
    # another run of the same benchmark, model and judge would replace geneval's baseline: refused
    other = Path(runs[1])
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["model"]["identity"]["step"] = 300
    (other / "manifest.json").write_text(json.dumps(manifest))
    try:
        clash = cli.invoke(report_command, [str(other), "-o", str(tmp_path / "o"), "--no-published",
                                            "--baseline", "--baseline-dir", str(target)])
        assert clash.exit_code == 2 and "exists with other content" in clash.output
        both = cli.invoke(report_command, [runs[2], str(other), "-o", str(tmp_path / "o"), "--no-published",
                                           "--baseline", "--baseline-dir", str(tmp_path / "c")])
        assert both.exit_code == 2 and "would both be written" in both.output
        assert not (tmp_path / "c").exists()
    finally:
        manifest["model"]["identity"]["step"] = 200
        (other / "manifest.json").write_text(json.dumps(manifest))


def test_unusable_report_input_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "array.json"
    bad.write_text("[]")
    res = CliRunner().invoke(report_command, [str(bad), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert len([line for line in res.output.splitlines() if line.startswith("error:")]) == 1


PROBE = probe_script(r"""
  var board = document.getElementById("leaderboard");
  var tagHeader = board.querySelector("th.tagcol");
  out.tagsHiddenAtFirst = getComputedStyle(tagHeader).display === "none";
  document.getElementById("toggle-tags").click();
  out.tagsShown = getComputedStyle(tagHeader).display !== "none";
  document.getElementById("toggle-tags").click();
  out.scrollWidth = document.documentElement.scrollWidth;
  out.innerWidth = window.innerWidth;
  var firstNumber = board.querySelector("tbody td.num .val");
  var box = firstNumber.getBoundingClientRect();
  out.firstNumberVisible = box.top >= 0 && box.bottom <= window.innerHeight && box.left >= 0 && box.right <= window.innerWidth;
  var model = board.querySelector("tbody td.model");
  out.modelSticky = getComputedStyle(model).position;
  var imagine = document.querySelector('.gallery-block[data-run="4"]');
  var min = imagine.querySelector(".f-min"), max = imagine.querySelector(".f-max");
  min.value = "5"; min.dispatchEvent(new Event("input"));
  out.scoresAtLeast5 = Array.prototype.map.call(imagine.querySelectorAll(".card .badge.score"), function (b) { return parseFloat(b.textContent.replace("score ", "")); });
  min.value = ""; min.dispatchEvent(new Event("input"));
  var geneval = document.querySelector('.gallery-block[data-run="0"]');
  var req = geneval.querySelector(".f-req");
  out.reqOptions = Array.prototype.map.call(req.options, function (o) { return o.value; });
  req.value = out.reqOptions[1]; req.dispatchEvent(new Event("change"));
  out.reqCardsOk = Array.prototype.every.call(geneval.querySelectorAll(".card"), function (c) {
    return Array.prototype.some.call(c.querySelectorAll(".badge.req"), function (b) { return b.textContent === out.reqOptions[1]; });
  });
  out.reqCount = geneval.querySelector(".count").textContent;
""")


def _probe(board, width: int, height: int) -> dict:
    binary = _chromium()
    probe = board["out"] / f"probe{width}.html"
    probe.write_text(with_probe(board["html"], PROBE))
    done = _run_chromium(binary, f"--window-size={width},{height}", "--virtual-time-budget=5000",
                         "--dump-dom", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    return probe_result(done.stdout)


def _screenshot(board, width: int, height: int, name: str) -> Path:
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = _run_chromium(_chromium(), f"--window-size={width},{height}", "--virtual-time-budget=3000",
                         f"--screenshot={artifacts / name}", (board["out"] / "index.html").as_uri())
    assert shot.returncode == 0 and (artifacts / name).stat().st_size > 10_000
    return artifacts / name


@pytest.mark.browser
def test_board_plots_and_gallery_in_headless_chromium(board):
    found = _probe(board, 1280, 1600)
    assert found["errors"] == ""
    assert found["tagsHiddenAtFirst"] and found["tagsShown"]
    assert found["modelSticky"] == "sticky" and found["firstNumberVisible"]
    assert found["scoresAtLeast5"] and min(found["scoresAtLeast5"]) >= 5
    assert found["reqOptions"][0] == "" and len(found["reqOptions"]) >= 2 and found["reqCardsOk"]
    assert found["scrollWidth"] <= found["innerWidth"]
    _screenshot(board, 1280, 5000, "report_board.png")


PHONE_HARNESS = """<!DOCTYPE html><html><head><meta charset="utf-8">
<style>body { margin: 0; } iframe { border: 0; width: 390px; height: 844px; display: block; }</style></head>
<body><iframe id="phone" src="index.html"></iframe>
<script>
document.getElementById("phone").addEventListener("load", function () {
  var win = this.contentWindow, doc = this.contentDocument, out = {};
  out.innerWidth = win.innerWidth;
  out.scrollWidth = doc.documentElement.scrollWidth;
  var cell = doc.querySelector("#leaderboard tbody td.num .val");
  var box = cell.getBoundingClientRect();
  out.firstNumberVisible = box.top >= 0 && box.bottom <= win.innerHeight && box.left >= 0 && box.right <= win.innerWidth;
  out.firstNumber = cell.textContent;
  out.widest = Array.prototype.reduce.call(doc.querySelectorAll("body *"), function (m, el) {
    if (el.closest(".scroll")) return m;  // tables scroll inside their own box
    return Math.max(m, el.getBoundingClientRect().right);
  }, 0);
  out.errors = doc.getElementById("js-errors").textContent;
  var pre = document.createElement("pre");
  pre.id = "probe-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script></body></html>
"""


@pytest.mark.browser
def test_phone_width_has_no_sideways_scroll_and_numbers_on_the_first_screen(board):
    # headless Chromium lays pages out at least 500 px wide, so the phone is an iframe of 390 x 844
    harness = board["out"] / "phone.html"
    harness.write_text(PHONE_HARNESS)
    done = _run_chromium(_chromium(), "--allow-file-access-from-files", "--window-size=500,900",
                         "--virtual-time-budget=5000", "--dump-dom", harness.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = probe_result(done.stdout)
    assert found["errors"] == ""
    assert found["innerWidth"] == 390 and found["scrollWidth"] <= 390, found
    assert found["widest"] <= 391, found
    assert found["firstNumberVisible"], found
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = _run_chromium(_chromium(), "--allow-file-access-from-files", "--window-size=500,900",
                         "--virtual-time-budget=3000", f"--screenshot={artifacts / 'report_phone.png'}",
                         harness.as_uri())
    assert shot.returncode == 0 and (artifacts / "report_phone.png").stat().st_size > 10_000
