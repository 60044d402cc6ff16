"""The last parity gaps against the official scorers (issue 10, items 18-21): DPG's exact
'yes', Imagine-Bench's undecodable images, OmniContext's `regex` repair and out-of-range
scores, and one sample's scoring exception costing only that sample."""

from __future__ import annotations

import pytest

from echo4o_eval.benchmarks.dpg_bench.vlm import DPGBenchEvaluator
from echo4o_eval.benchmarks.imagine_bench.vlm import ImagineBenchEvaluator
from echo4o_eval.benchmarks.omnicontext.vlm import OmniContextEvaluator
from echo4o_eval.benchmarks.omnicontext import prompts as omni_prompts
from echo4o_eval.scoring.aggregation import safe_score
from echo4o_eval.records.types import Generation, Judgement, Sample, Status


def ok_generation(sample_id: str) -> Generation:
    return Generation(sample_id, 0, 0, Status.OK, image_path=f"/img/{sample_id}.png")


def dpg_sample() -> Sample:
    questions = [{"proposition_id": 1, "dependency": [0], "tuple": "entity - whole (cat)",
                  "question": "Is there a cat?", "csv_row": 1}]
    return Sample("cat1", 0, "a cat", "dpg", {"questions": questions})


@pytest.mark.parametrize("reply,parity_score,default_score", [
    ("yes", 1.0, 1.0), ("Yes", 0.0, 1.0), ("yes ", 0.0, 1.0), ("yes.", 0.0, 1.0), ("no", 0.0, 0.0)])
def test_dpg_parity_counts_only_the_exact_answer_yes(reply, parity_score, default_score):
    sample = dpg_sample()
    for mode, expected in (("parity", parity_score), ("default", default_score)):
        ev = DPGBenchEvaluator({"mode": mode, "prompt_pack": "official"})
        [request] = ev.requests(sample, ok_generation(sample.id))
        judgement = Judgement(request.key, "j", Status.OK, replies=(reply,), parsed=(request.parse(reply),))
        score = ev.score(sample, ok_generation(sample.id), [judgement])
        assert score.status is Status.OK and score.values["score"] == expected, mode


def test_dpg_default_mode_refuses_a_reply_that_is_neither_yes_nor_no():
    ev = DPGBenchEvaluator({"mode": "default", "prompt_pack": "official"})
    [request] = ev.requests(dpg_sample(), ok_generation("cat1"))
    with pytest.raises(ValueError):
        request.parse("unanswerable")


def imagine_sample(sid: str, kind: str = "COLOR") -> Sample:
    return Sample(sid, 0, "p", kind, {"instruction": "p", "note": "n", "type": kind})


def test_imagine_parity_scores_an_undecodable_image_as_zero_in_the_means():
    samples = [imagine_sample("1"), imagine_sample("2")]
    good = Judgement("main", "j", Status.OK, parsed=({"Fantasy Fulfillment": 8.0,
                                                       "Identity Preservation": 8.0,
                                                       "Aesthetic Quality": 8.0},))
    bad = Generation("2", 0, None, Status.BAD_IMAGE, image_path="/img/2.png", error="cannot decode")
    for mode, expected_mean, expected_n in (("parity", 4.0, 2), ("default", 8.0, 1)):
        ev = ImagineBenchEvaluator({"mode": mode})
        scores = [ev.score(samples[0], ok_generation("1"), [good]), ev.score(samples[1], bad, [])]
        assert scores[1].status is Status.BAD_IMAGE  # the status is kept in both modes
        result = ev.aggregate(samples, scores)
        group = result.per_tag["Attribute shift"]["score"]
        assert (group.value, group.n, group.n_total) == (expected_mean, expected_n, 2), mode
        assert result.status_counts == {"ok": 1, "bad_image": 1}


def test_imagine_parity_still_skips_a_missing_image():
    ev = ImagineBenchEvaluator({"mode": "parity"})
    sample = imagine_sample("1")
    missing = Generation("1", 0, None, Status.MISSING_IMAGE, error="no file")
    result = ev.aggregate([sample], [ev.score(sample, missing, [])])
    assert result.per_tag["Attribute shift"]["score"].n == 0


@pytest.mark.parametrize("reply,expected", [
    ("{score: 7, re\u0301ason: good}", {"score": [7], "re\u0301ason": "good"}),  # combining acute
    ("{score: 7, a\u200db: good}", {"score": [7], "a\u200db": "good"}),  # zero-width joiner
])
def test_omnicontext_official_repair_uses_the_regex_module(reply, expected):
    import re

    # stdlib re stops \w at the mark, quotes half a key and the repair does not decode
    assert re.sub(r"(\w+):", r'"\1":', reply) != __import__("regex").sub(r"(\w+):", r'"\1":', reply)
    assert omni_prompts.official_parse(reply) == expected


def omni_sample() -> Sample:
    return Sample("0", 0, "p", "multi_object", {"instruction": "p", "instruction_language": "en"})


def omni_judgements(pf: float, sc: float) -> list[Judgement]:
    return [Judgement("prompt_following", "j", Status.OK, parsed=({"score": pf, "reasoning": ""},)),
            Judgement("subject_consistency", "j", Status.OK, parsed=({"score": sc, "reasoning": ""},))]


def test_omnicontext_negative_score_is_a_parse_error_in_default_mode(judge_prompts_dir):
    ev = OmniContextEvaluator({"mode": "default", "prompt_pack": "official",
                               "prompts_dir": str(judge_prompts_dir)})
    requests = ev.requests(omni_sample(), ok_generation("0"))
    with pytest.raises(ValueError, match="0..10"):
        requests[0].parse('{"score": -3, "reasoning": "x"}')
    score = ev.score(omni_sample(), ok_generation("0"), omni_judgements(-3, 5))
    assert score.status is Status.PARSE_ERROR and "out of range" in score.reason


def test_omnicontext_parity_keeps_official_behaviour_on_negative_scores(judge_prompts_dir):
    ev = OmniContextEvaluator({"mode": "parity", "prompts_dir": str(judge_prompts_dir)})
    [pf_request, _] = ev.requests(omni_sample(), ok_generation("0"))
    assert pf_request.parse('{"score": -3, "reasoning": "x"}')["score"] == -3.0  # no range check
    crashed = ev.score(omni_sample(), ok_generation("0"), omni_judgements(-3, 5))
    assert crashed.status is Status.SCORE_ERROR and "math domain error" in crashed.reason
    result = ev.aggregate([omni_sample()], [crashed])
    assert result.metrics["overall"].value is None
    assert any("math domain error" in note for note in result.notes)
    both_negative = ev.score(omni_sample(), ok_generation("0"), omni_judgements(-4, -9))
    assert both_negative.status is Status.OK and both_negative.values["score"] == 6.0


def test_a_scoring_exception_costs_only_that_sample():
    class Exploding:
        def score(self, sample, generation, judgements):
            raise ValueError("math domain error")

    sample = omni_sample()
    score = safe_score(Exploding(), sample, ok_generation("0"), [])
    assert score.status is Status.SCORE_ERROR and "ValueError: math domain error" in score.reason
    ev = OmniContextEvaluator({"mode": "default"})
    assert safe_score(ev, sample, ok_generation("0"), omni_judgements(7, 7)).values["score"] == 7.0
