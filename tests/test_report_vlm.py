"""The report renders VLM-judged runs readably: GenEval++ per-clause verdicts, Imagine-Bench
FF/IP/AQ with reasons, OmniContext PF/SC with reference thumbnails, DPG-Bench questions with
yes/no per crop; every judge text shown as text (checked in headless Chromium)."""

from __future__ import annotations

import html as html_lib
import json
import re

import pytest
from click.testing import CliRunner
from test_report import REPO, _chromium, _run_chromium, probe_result, with_probe
from vlm_runfixtures import (
    HOSTILE_OBSERVATION, dpg_reply, dpg_samples, geneval_pp_reply, imagine_reply, omnicontext_reply,
    omnicontext_samples, write_vlm_run,
)

from echo4o_eval.assets import Assets
from echo4o_eval.cli import main
from echo4o_eval.spec import get_benchmark, load_benchmark


def _official(name, data_dir):
    spec = get_benchmark(name)
    return load_benchmark(spec).load_samples(Assets(spec, data_dir=data_dir, allow_download=False), None)


@pytest.fixture(scope="module")
def vlm_report(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("vlm")
    geneval_pp = _official("geneval_pp", data_dir)[::40]  # one prompt of each of the 7 tags
    runs = [
        write_vlm_run(root / "gpp-vlm", "geneval_pp", geneval_pp, geneval_pp_reply,
                      fail={(geneval_pp[1].id, 0)}),
        write_vlm_run(root / "imagine", "imagine_bench", _official("imagine_bench", data_dir)[:4],
                      imagine_reply),
        write_vlm_run(root / "omni", "omnicontext", omnicontext_samples(root / "inputs"), omnicontext_reply),
        write_vlm_run(root / "dpg", "dpg_bench", dpg_samples(), dpg_reply, options={"crops": 2, "resolution": 24}),
    ]
    out = root / "out"
    result = CliRunner().invoke(main, ["report", *map(str, runs), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text()
    galleries = [json.loads(m) for m in re.findall(r'<script type="application/json" id="gallery-data-\d">(.*?)</script>', page)]
    return {"out": out, "runs": runs, "galleries": galleries, "page": page}


def _section(item, title):
    found = [s for s in item["sections"] if s["title"].startswith(title)]
    assert found, [s["title"] for s in item["sections"]]
    return found[0]


def test_geneval_pp_checklist_and_clause_verdicts(vlm_report):
    items = vlm_report["galleries"][0]
    first, second = items[0], items[1]
    assert first["checklist"].startswith("This image should contain:\n- brown-colored 1 bus")
    table = _section(second, "judge checklist")
    assert table["head"] == ["#", "requirement", "observation", "satisfied"]
    assert table["rows"][0][:2] == [1, "exactly 1 bus, brown in colour"] and table["rows"][0][3] is False
    assert table["rows"][0][2] == HOSTILE_OBSERVATION  # kept verbatim, rendered as text
    assert table["rows"][-1][1].startswith("the picture is one natural") and table["rows"][-1][3] is True
    assert second["verdict"] is False and second["reason"].startswith("failed: exactly 1 bus")
    failed = next(it for it in items if it["status"] == "judge_error")
    assert _section(failed, "not judged")["rows"] == [["main", "judge_error", "HTTP 500 after 3 attempts"]]


def test_imagine_scores_with_reasons(vlm_report):
    item = vlm_report["galleries"][1][1]
    rows = _section(item, "judge scores")["rows"]
    assert ["Fantasy Fulfillment", 6.0, "fantasy element judged for image 1"] in rows
    assert ["Aesthetic Quality", 7.0, "aesthetics judged for image 1"] in rows
    assert item["main"] == pytest.approx(0.8 * 6 + 0.2 * 7) and item["verdict"] is None
    assert "note: The fantasy element required" in item["checklist"]


def test_omnicontext_reference_thumbnails(vlm_report):
    out = vlm_report["out"]
    items = vlm_report["galleries"][2]
    counts = [len(it["refs"]) for it in items]
    assert counts == [1, 1, 2, 2, 2, 2]
    for it in items:
        for ref in it["refs"]:
            assert (out / ref["thumb"]).is_file() and (out / ref["full"]).resolve().is_file()
    rows = _section(items[1], "judge scores")["rows"]
    assert rows == [["prompt following", 8.0, "prompt following: the subject <b>omni-0</b> is kept"],
                    ["subject consistency", 4.0, "subject consistency: the subject <b>omni-0</b> is changed"]]


def test_dpg_questions_per_crop(vlm_report):
    item = vlm_report["galleries"][3][1]
    table = _section(item, "questions and answers")
    assert table["head"] == ["#", "question", "depends on", "crop 1", "crop 2"]
    assert table["rows"] == [[1, "Is there a cat?", "", "yes", "yes"],
                             [2, "Is the cat <red>?", "1", "no", "no"],
                             [3, "Is the cat on the mat?", "1, 2", "yes", "yes"]]
    values = dict(_section(item, "score values")["rows"])
    assert values["score"] == pytest.approx(1 / 3)  # question 3 is zeroed: its parent 2 failed
    assert "relation - spatial: 0" in values["categories"]
    assert len(item["judges"]) == 6 and item["n_judgements"] == 6


def test_diff_of_different_benchmarks_is_refused(vlm_report, tmp_path):
    runs = [str(r) for r in vlm_report["runs"]]
    result = CliRunner().invoke(main, ["report", *runs, "-o", str(tmp_path), "--diff", "gpp-vlm:dpg"])
    assert result.exit_code == 2 and "only runs of the same benchmark can be diffed" in result.output


PROBE = r"""
<script>
(function () {
  var out = {};
  function block(run) { return document.querySelector('.gallery-block[data-run="' + run + '"]'); }
  function tableTexts(card) {
    return Array.prototype.map.call(card.querySelectorAll(".details-table"), function (t) {
      return t.querySelector("div").textContent + " | " + Array.prototype.map.call(t.querySelectorAll("tbody tr"),
        function (r) { return Array.prototype.map.call(r.cells, function (c) { return c.textContent; }).join(" / "); }).join(" || ");
    });
  }
  document.querySelectorAll(".gallery-block .f-sort").forEach(function (sel) { sel.value = "id"; sel.dispatchEvent(new Event("change")); });
  var gpp = block(0).querySelectorAll(".card");
  out.gppSecond = tableTexts(gpp[1]);
  out.gppNoClass = gpp[1].querySelectorAll("td.ans-no").length;
  out.gppGrouped = gpp[0].parentNode === gpp[1].parentNode && gpp[0].getAttribute("data-sid") === gpp[1].getAttribute("data-sid");
  out.imagine = tableTexts(block(1).querySelectorAll(".card")[1]);
  out.imagineBadge = block(1).querySelectorAll(".card")[1].querySelector(".badge.score").textContent;
  var omni = block(2).querySelectorAll(".card");
  out.omniRefs = Array.prototype.map.call(omni, function (c) { return c.querySelectorAll(".refs img.ref").length; });
  var refSources = Array.prototype.map.call(document.querySelectorAll(".refs img.ref"), function (img) { return img.src; });
  out.refsLoaded = 0; out.refsFailed = 0;
  out.omniTable = tableTexts(omni[1]);
  out.dpg = tableTexts(block(3).querySelectorAll(".card")[1]);
  out.boxesHidden = block(3).querySelector(".f-boxes").parentNode.hidden;
  var search = block(0).querySelector(".f-text");
  search.value = "failed: exactly 1 bus"; search.dispatchEvent(new Event("input"));
  out.searchReason = block(0).querySelector(".count").textContent;
  out.injectedImages = document.querySelectorAll('img[src="x"]').length;
  out.boldTags = document.querySelectorAll(".cards b").length;
  out.pwned = window.__pwned === undefined ? null : window.__pwned;
  out.errors = document.getElementById("js-errors").textContent;
  var pre = document.createElement("pre");
  pre.id = "probe-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
  refSources.forEach(function (src) {  // lazy images below the fold: load each source directly
    var img = new Image();
    img.onload = function () { out.refsLoaded += img.naturalWidth > 0 ? 1 : 0; pre.textContent = JSON.stringify(out); };
    img.onerror = function () { out.refsFailed += 1; pre.textContent = JSON.stringify(out); };
    img.src = src;
  });
})();
</script>
"""


@pytest.mark.browser
def test_vlm_report_in_headless_chromium(vlm_report):
    binary = _chromium()
    out = vlm_report["out"]
    probe = out / "probe.html"
    probe.write_text(with_probe(vlm_report["page"], PROBE))
    done = _run_chromium(binary, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = probe_result(done.stdout)
    assert found["errors"] == ""
    checklist = next(t for t in found["gppSecond"] if t.startswith("judge checklist"))
    assert f"1 / exactly 1 bus, brown in colour / {HOSTILE_OBSERVATION} / no ✗" in checklist
    assert found["gppNoClass"] >= 2 and found["gppGrouped"]  # the clause and "correct: no"
    imagine = next(t for t in found["imagine"] if t.startswith("judge scores"))
    assert "Fantasy Fulfillment / 6 / fantasy element judged for image 1" in imagine
    assert found["imagineBadge"] == "score 6.2"
    assert found["omniRefs"] == [1, 1, 2, 2, 2, 2]
    assert (found["refsLoaded"], found["refsFailed"]) == (10, 0)
    assert any("subject consistency / 4 / subject consistency: the subject <b>omni-0</b> is changed" in t
               for t in found["omniTable"])
    dpg = next(t for t in found["dpg"] if t.startswith("questions and answers"))
    assert "2 / Is the cat <red>? / 1 / no / no" in dpg
    assert found["boxesHidden"] is True
    assert found["searchReason"] == "1 of 14 images · 1 of 7 prompts"  # the search also reads the reason
    assert found["injectedImages"] == 0 and found["boldTags"] == 0 and found["pwned"] is None
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = _run_chromium(binary, "--window-size=1280,3000", "--virtual-time-budget=3000",
                         f"--screenshot={artifacts / 'report_vlm.png'}", (out / "index.html").as_uri())
    assert shot.returncode == 0 and (artifacts / "report_vlm.png").stat().st_size > 10_000


def test_official_pack_replies_render_as_rows():
    from echo4o_eval.benchmarks.geneval_pp import prompts as geneval_pp
    from echo4o_eval.benchmarks.imagine_bench import prompts as imagine
    from echo4o_eval.report.details import judge_sections
    from echo4o_eval.records.types import Judgement, Sample, Status

    sample = Sample("1", 0, "a photo of 2 dogs", "counting",
                    {"tag": "counting", "include": [{"class": "dog", "count": 2}], "prompt": "a photo of 2 dogs"})
    reply = '```json\n{"correct": 0, "reason": "only one dog"}\n```'
    official = Judgement("main", "openai:gpt-4.1", Status.OK, replies=(reply,),
                         parsed=(geneval_pp.official_parse(reply),))
    assert judge_sections("geneval_pp", sample, [official]) == [
        {"title": "judge scores", "head": ["criterion", "score", "reason"], "rows": [["correct", 0, "only one dog"]]}]
    text = "Fantasy Fulfillment: 7\nIdentity Preservation: 9\nAesthetic Quality: 8\nThe fur is blue."
    scores = Judgement("main", "openai:gpt-4.1", Status.OK, replies=(text,), parsed=(imagine.official_parse(text),))
    rows = judge_sections("imagine_bench", sample, [scores])[0]["rows"]
    assert rows == [["Fantasy Fulfillment", 7.0, ""], ["Identity Preservation", 9.0, ""],
                    ["Aesthetic Quality", 8.0, ""]]  # free-text reply: reasons stay in the raw reply


def test_agreement_refuses_scale_scored_runs_and_compares_vlm_verdicts(vlm_report):
    gpp, imagine = map(str, vlm_report["runs"][:2])
    refused = CliRunner().invoke(main, ["agreement", imagine, imagine])
    assert refused.exit_code == 2 and "no image has an OK pass/fail verdict" in refused.output
    same = CliRunner().invoke(main, ["agreement", gpp, gpp, "--format", "json"])
    data = json.loads(same.output)
    assert data["n"] == 13 and data["kappa"] == pytest.approx(1.0)
    assert data["notes"] == ["1 image(s) of run A without an OK pass/fail verdict left out",
                             "1 image(s) of run B without an OK pass/fail verdict left out"]
