"""HTML report: files and exports, escaping, and a real headless-Chromium check of the DOM.

The browser test loads the report from file:// with a probe script appended (a copy of the
page), which clicks, filters and reads the DOM and writes its findings into an element that
``--dump-dom`` returns. It also saves a screenshot to test-artifacts/report.png.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from runfixtures import HOSTILE, jitter, make_samples, verdicts, worsen, write_run

from echo4o_eval.report.commands import report_command
from echo4o_eval.records.types import Status

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOSTILE_REASON = '"><img src=x onerror="window.__pwned=3"> judge said <script>x()</script>'


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    samples = make_samples(60, hostile=True)
    base = verdicts(samples, images=2, seed=1)
    runs = [
        write_run(root / "ckpt-100", samples, base, "ckpt-100", image_px=64, n_boot=100,
                  failures=[("00010", 1, Status.JUDGE_ERROR), ("00011", 0, Status.MISSING_IMAGE)],
                  judge_reason=HOSTILE_REASON),
        write_run(root / "ckpt-200", samples, worsen(base, 0.3, seed=2), "ckpt-200", image_px=64,
                  n_boot=100, created="2026-11-28T11:00:00+00:00"),
        write_run(root / "ckpt-300", samples, jitter(base, 0.1, seed=3), "ckpt-300", image_px=64,
                  n_boot=100, created="2026-11-28T12:00:00+00:00"),
    ]
    published = root / "published.json"
    published.write_text(json.dumps([{"model": "Reference <model>", "benchmark": "geneval",
                                      "version": "1.0", "metrics": {"overall": 0.5},
                                      "per_tag": {"colors": {"accuracy": 0.9}},
                                      "source": "test fixture, not a real figure"}]))
    out = root / "out"
    result = CliRunner().invoke(report_command, [*map(str, runs), "-o", str(out), "--published",
                                                 str(published), "--page-size", "48", "--baseline",
                                                 "--baseline-dir", str(root / "baselines")])
    assert result.exit_code == 0, result.output
    return {"out": out, "runs": runs, "root": root}


def test_files_exports_and_baselines(report):
    out = report["out"]
    html = (out / "index.html").read_text()
    # 3 runs x 120 images, 2 failed images have no file; thumbnails are keyed by content hash, so
    # identical images of different runs share one file
    import re

    items = [it for block in re.findall(r'<script type="application/json" id="gallery-data-\d">(.*?)</script>', html)
             for it in json.loads(block)]
    thumbs = {it["thumb"] for it in items if it["thumb"]}
    assert sum(1 for it in items if it["thumb"]) == 358
    assert all((out / t).is_file() and t.endswith("_256.jpg") for t in thumbs)
    assert len(list((out / "thumbs").glob("*/*_256.jpg"))) == len(thumbs)
    assert "<script>window.__pwned" not in html and 'onerror="window.__pwned' not in html
    assert "cdn" not in html.lower() and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    data = json.loads((out / "leaderboard.json").read_text())
    assert data["schema"] == "echo4o-eval/report" and data["schema_version"] == 1
    assert [r["name"] for r in data["leaderboard"]["rows"]][:3] == ["ckpt-100", "ckpt-200", "ckpt-300"]
    assert [r["runs"] for r in data["leaderboard"]["rows"]][:3] == [["ckpt-100"], ["ckpt-200"], ["ckpt-300"]]
    assert data["leaderboard"]["rows"][3]["published"] is True
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    overall = [r for r in rows if r["run"] == "ckpt-200" and r["tag"] == "" and r["metric"] == "overall"]
    assert len(overall) == 1 and float(overall[0]["ci_low"]) < float(overall[0]["value"])
    md = (out / "leaderboard.md").read_text()
    assert "(published, not measured)" in md and "Reference &lt;model>" in md and "source: test fixture" in md
    assert r"\toprule" in (out / "leaderboard.tex").read_text()
    assert sorted(p.name for p in (report["root"] / "baselines").iterdir()) == [
        f"geneval__ckpt-{k}__mask2former-clip.json" for k in (100, 200, 300)]


def probe_script(body: str) -> str:
    """A <script> element that runs ``body`` (JavaScript that fills the object ``out``), adds the
    page's ``js-errors`` text as ``out.errors`` and writes ``out`` as JSON into
    <pre id="probe-result">, which :func:`probe_result` reads back."""
    return ("\n<script>\n(function () {\n  var out = {};\n" + body
            + '  out.errors = document.getElementById("js-errors").textContent;\n'
            '  var pre = document.createElement("pre");\n  pre.id = "probe-result";\n'
            "  pre.textContent = JSON.stringify(out);\n  document.body.appendChild(pre);\n})();\n</script>\n")


PROBE = probe_script(r"""
  var board = document.getElementById("leaderboard");
  out.rows = board.tBodies[0].rows.length;
  out.published = document.querySelectorAll("#leaderboard tr.published").length;
  out.publishedLabel = document.querySelector("#leaderboard tr.published .badge.ref").textContent;
  out.cspScript = document.querySelector('meta[http-equiv="Content-Security-Policy"]').content;
  var th = board.querySelector("th.primary");
  th.click();
  out.sortedDesc = Array.prototype.map.call(board.tBodies[0].rows, function (r) { return r.cells[0].querySelector(".name").textContent.trim(); });
  th.click();
  out.sortedAsc = Array.prototype.map.call(board.tBodies[0].rows, function (r) { return r.cells[0].querySelector(".name").textContent.trim(); });
  var block = document.querySelector('.gallery-block[data-run="0"]');
  var cards = function () { return block.querySelectorAll(".card").length; };
  out.cardsFirstPage = cards();
  out.count = block.querySelector(".count").textContent;
  block.querySelector(".next").click();
  out.cardsSecondPage = cards();
  block.querySelector(".next").click();
  out.cardsLastPage = cards();
  var set = function (cls, value) { var s = block.querySelector(cls); s.value = value; s.dispatchEvent(new Event("change")); };
  set(".f-tag", "colors");
  out.colorsCount = block.querySelector(".count").textContent;
  out.colorsTagsOk = Array.prototype.every.call(block.querySelectorAll(".group .badge.tag"), function (b) { return b.textContent === "colors"; });
  set(".f-tag", "");
  set(".f-status", "judge_error");
  out.judgeErrorCards = cards();
  set(".f-status", "");
  set(".f-verdict", "fail");
  out.failAllRed = Array.prototype.every.call(block.querySelectorAll(".card"), function (c) { return c.classList.contains("v-fail"); });
  out.failCards = cards();
  set(".f-verdict", "");
  out.worstFirst = Array.prototype.map.call(block.querySelectorAll(".group .group-head .badge.pass, .group .group-head .badge.some, .group .group-head .badge.fail"), function (b) { return b.textContent; }).slice(0, 3);
  set(".f-sort", "id");
  out.prompts = Array.prototype.map.call(block.querySelectorAll(".group .prompt"), function (p) { return p.textContent; }).slice(0, 6);
  out.imagesPerGroup = block.querySelector(".group .imgs").querySelectorAll(".card").length;
  out.reasons = Array.prototype.map.call(block.querySelectorAll(".card .reason"), function (p) { return p.textContent; }).slice(0, 2);
  out.boxes = block.querySelectorAll(".card svg rect").length;
  out.injectedImages = document.querySelectorAll('img[src="x"]').length;
  out.injectedScripts = Array.prototype.filter.call(document.scripts, function (s) { return s.textContent.trim().indexOf("window.__pwned") === 0; }).length;
  out.pwned = window.__pwned === undefined ? null : window.__pwned;
  out.diffTables = document.querySelectorAll("#diffs .difftable").length;
  out.diffBroken = document.querySelectorAll("#diff-0 tr.chg-broken").length;
  out.diffFixed = document.querySelectorAll("#diff-0 tr.chg-fixed").length;
  out.diffTagsSorted = (function () {
    var tags = Array.prototype.map.call(document.querySelectorAll("#diff-1 tbody tr"), function (r) { return r.cells[0].textContent; });
    return tags.join("|") === tags.slice().sort().join("|");
  })();
""")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium not found but CI is set: install Debian `chromium`")
    pytest.skip("chromium not installed (apt-get install -y chromium)")


def with_probe(html: str, probe: str) -> str:
    """The page with ``probe`` (a <script> element) appended and allowed by the page's CSP hash."""
    from echo4o_eval.report.html import script_hash

    source = probe.split("<script>", 1)[1].rsplit("</script>", 1)[0]
    assert "'unsafe-inline'" not in html.split("script-src", 1)[1].split('"', 1)[0]
    html = html.replace("script-src ", f"script-src {script_hash(source)} ", 1)
    return html.replace("</body>", probe + "</body>")


def probe_result(stdout: str) -> dict:
    """The JSON the probe wrote into <pre id="probe-result">."""
    import html as html_lib

    marker = '<pre id="probe-result">'
    assert marker in stdout, stdout[-2000:]
    return json.loads(html_lib.unescape(stdout.split(marker, 1)[1].split("</pre>", 1)[0]))


def _run_chromium(binary: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)


@pytest.mark.browser
def test_report_in_headless_chromium(report):
    binary = _chromium()
    out = report["out"]
    probe = out / "probe.html"
    html = (out / "index.html").read_text()
    probe.write_text(with_probe(html, PROBE))
    done = _run_chromium(binary, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = probe_result(done.stdout)
    assert found["errors"] == ""
    assert "'unsafe-inline'" not in found["cspScript"].split("script-src", 1)[1].split(";", 1)[0]
    assert found["rows"] == 4 and found["published"] == 1
    assert found["publishedLabel"] == "published"
    # overall: ckpt-200 (30% of correct images broken) must sort last when best first
    measured = [name for name in found["sortedDesc"] if name.startswith("ckpt")]
    assert measured[-1] == "ckpt-200"
    assert found["sortedAsc"] == list(reversed(found["sortedDesc"]))
    assert (found["cardsFirstPage"], found["cardsSecondPage"], found["cardsLastPage"]) == (48, 48, 24)
    assert found["count"] == "120 of 120 images · 60 of 60 prompts"
    assert found["colorsCount"] == "20 of 120 images · 10 of 60 prompts" and found["colorsTagsOk"]
    assert found["imagesPerGroup"] == 2  # a prompt's images together
    assert found["worstFirst"][0].startswith("0/")  # worst prompts first: none of its images passed
    assert found["judgeErrorCards"] == 1
    assert found["failAllRed"] and found["failCards"] > 0
    for text in HOSTILE[:2]:
        assert text in found["prompts"]  # rendered as text, verbatim
    assert found["reasons"][0] == HOSTILE_REASON
    assert found["boxes"] > 0
    assert found["injectedImages"] == 0 and found["injectedScripts"] == 0 and found["pwned"] is None
    assert found["diffTables"] == 2 and found["diffBroken"] > 0 and found["diffFixed"] == 0
    assert found["diffTagsSorted"]
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = _run_chromium(binary, "--window-size=1280,2200", "--virtual-time-budget=3000",
                         f"--screenshot={artifacts / 'report.png'}", (out / "index.html").as_uri())
    assert shot.returncode == 0 and (artifacts / "report.png").stat().st_size > 10_000
    shutil.copytree(out, artifacts / "report", dirs_exist_ok=True)


def _diff_headings(html: str) -> list[str]:
    import re

    section = html.split('<section id="diffs">', 1)[1] if '<section id="diffs">' in html else ""
    return [re.sub(r"\s+", " ", h).strip() for h in re.findall(r"<h3>(.*?) <span", section)]


def test_diff_pairs_chosen_by_name_or_position(report, tmp_path):
    runs = [str(r) for r in report["runs"]]
    default = (report["out"] / "index.html").read_text()
    assert _diff_headings(default) == ["ckpt-100 → ckpt-200", "ckpt-100 → ckpt-300"]
    out = tmp_path / "chosen"
    result = CliRunner().invoke(report_command, [*runs, "-o", str(out), "--diff", "2:ckpt-100",
                                                 "--diff", "ckpt-300:ckpt-200"])
    assert result.exit_code == 0, result.output
    html = (out / "index.html").read_text()
    assert _diff_headings(html) == ["ckpt-200 → ckpt-100", "ckpt-300 → ckpt-200"]
    first = html.split('id="diff-0"', 1)[1].split('id="diff-1"', 1)[0]
    # ckpt-200 broke 30% of ckpt-100's correct images, so going back only fixes
    assert 'class="chg-fixed"' in first and 'class="chg-broken"' not in first


def test_diff_option_errors(report, tmp_path):
    runs = [str(r) for r in report["runs"]]
    for spec, message in [("ckpt-100:nope", "no run 'nope'; runs are 1=ckpt-100, 2=ckpt-200, 3=ckpt-300"),
                          ("4:1", "no run '4'"), ("ckpt-100", "expected BASE:OTHER"),
                          ("1:ckpt-100", "both sides are run 'ckpt-100'")]:
        result = CliRunner().invoke(report_command, [*runs, "-o", str(tmp_path / "x"), "--diff", spec])
        assert result.exit_code == 2 and message in result.output, (spec, result.output)


def test_thumbnails_are_reused_across_builds_and_follow_image_changes(report, tmp_path):
    from PIL import Image

    from echo4o_eval.report.html import build_report

    out = tmp_path / "out"
    build_report(report["runs"][:1], out, published=False)
    thumbs = {p: p.stat().st_mtime_ns for p in (out / "thumbs").glob("*/*.jpg")}
    assert thumbs and (out / "thumbs" / "index.json").is_file()
    build_report(report["runs"][:1], out, published=False)
    assert {p: p.stat().st_mtime_ns for p in (out / "thumbs").glob("*/*.jpg")} == thumbs  # none remade
    image = next((report["runs"][0] / "images").rglob("*.png"))
    Image.new("RGB", (64, 64), (1, 2, 3)).save(image)  # a changed image gets a new thumbnail
    build_report(report["runs"][:1], out, published=False)
    assert len(list((out / "thumbs").glob("*/*.jpg"))) == len(thumbs) + 1
