"""The synth report: self-contained (no file or network references), strict CSP, and its gallery
filters work in headless Chromium."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from echo4o_eval.cli import main
from synth_fakes import chat_responder, patterned_png, write_job

pytest.importorskip("imagehash")

PROBE = """<script>
(function () {
  var out = {errors: ""};
  try {
    var cards = document.querySelectorAll('.card');
    var visible = function () { return Array.prototype.filter.call(cards, function (c) { return !c.hidden; }).length; };
    out.cards = cards.length; out.shownAtStart = visible();
    var outcomes = {};
    cards.forEach(function (c) { outcomes[c.dataset.outcome] = (outcomes[c.dataset.outcome] || 0) + 1; });
    out.outcomes = outcomes;
    var kept = document.querySelector('.f-outcome[value="kept"]');
    kept.checked = false; kept.dispatchEvent(new Event('change'));
    out.shownWithoutKept = visible();
    kept.checked = true; kept.dispatchEvent(new Event('change'));
    var subset = document.getElementById('f-subset'); subset.value = 'multi_reference';
    subset.dispatchEvent(new Event('change'));
    out.shownMulti = visible();
    out.refsInMulti = document.querySelectorAll('.card[data-subset="multi_reference"] img.ref').length;
    subset.value = ''; subset.dispatchEvent(new Event('change'));
    var text = document.getElementById('f-text'); text.value = 'Rewritten:'; text.dispatchEvent(new Event('input'));
    out.shownRewritten = visible();
    out.label = document.getElementById('f-shown').textContent;
  } catch (e) { out.errors = String(e); }
  var pre = document.createElement("pre"); pre.id = "probe-result"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


@pytest.fixture
def report_page(tmp_path, fake_openai, data_dir):
    server = fake_openai(responder=chat_responder, image_maker=patterned_png)
    job = write_job(tmp_path, server.base_url, counts=(6, 6, 4), subjects=4,
                    extra={"filter.data_dir": str(data_dir)})
    for command in ("all", "report"):
        result = CliRunner().invoke(main, ["synth", command, str(job)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return (tmp_path / "work" / "report.html").read_text(), tmp_path


def test_report_is_self_contained_with_a_strict_policy(report_page):
    html, _ = report_page
    policy = html.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert "'unsafe-inline'" not in policy and "'sha256-" in policy
    assert "file:" not in html and 'src="http' not in html
    assert html.count('class="card ') == 16 and "references:" in html


@pytest.mark.browser
def test_report_filters_in_headless_chromium(report_page):
    from test_report import _chromium, _run_chromium, probe_result, with_probe

    html, folder = report_page
    binary = _chromium()
    page = folder / "probe.html"
    page.write_text(with_probe(html, PROBE))
    done = _run_chromium(binary, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = probe_result(done.stdout)
    assert found["errors"] == ""
    assert found["cards"] == found["shownAtStart"] == 16
    assert found["shownWithoutKept"] == 16 - found["outcomes"].get("kept", 0)
    assert found["shownMulti"] == 4 and found["refsInMulti"] >= 8
    assert found["shownRewritten"] == found["outcomes"].get("rewritten", 0) > 0
    assert found["label"] == f"{found['shownRewritten']} shown"
