"""Judge prompts: official checklist/parsers against the goldens, the official-text loader
(local folder and the ast path over synthetic scripts), and our pack's parsers."""

from __future__ import annotations

import json
import os

import pytest

from echo4o_eval.benchmarks.geneval_pp import prompts as geneval_pp
from echo4o_eval.benchmarks.imagine_bench import prompts as imagine
from echo4o_eval.benchmarks.omnicontext import prompts as omnicontext
from echo4o_eval.prompts.official import (
    OFFICIAL_PROMPTS, OfficialPromptError, load_official_prompt,
)


def read_jsonl(path):
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def test_geneval_pp_official_checklists_match_all_goldens(goldens_dir, judge_prompts_dir):
    template = load_official_prompt("geneval_pp_user_template", prompts_dir=judge_prompts_dir)
    rows = read_jsonl(goldens_dir / "geneval_pp_checklists.jsonl")
    assert len(rows) == 344
    errors = 0
    for row in rows:
        if "expected_error" in row:
            with pytest.raises(geneval_pp.ChecklistError, match="count must be a number|missing 'class'"):
                geneval_pp.official_checklist(row["metadata"])
            errors += 1
            continue
        assert geneval_pp.official_checklist(row["metadata"]) == row["checklist"], row.get("line")
        assert geneval_pp.official_user_text(template, row["metadata"]) == row["user_text"]
    assert errors == 2


def _official(parser: str, text: str):
    if parser.startswith("geneval_pp"):
        return geneval_pp.official_parse(text)
    if parser.startswith("imagine"):
        return imagine.official_parse(text)
    return omnicontext.official_parse(text)


def test_official_reply_parsers_match_all_goldens(goldens_dir):
    cases = read_jsonl(goldens_dir / "judge_parsing.jsonl")
    assert len(cases) == 141
    for case in cases:
        expected = case["expected"]
        if isinstance(expected, dict) and expected.get("error") is True:
            with pytest.raises(ValueError):
                _official(case["parser"], case["input"])
            continue
        got = _official(case["parser"], case["input"])
        assert got == expected, case["case"]
        downstream = case.get("downstream", {})
        if case["parser"].startswith("geneval_pp"):
            assert geneval_pp.official_counts_as_correct(got) == downstream["counts_as_correct"]
        if case["parser"].startswith("imagine"):
            assert imagine.weighted_score(*(got[k] for k in imagine.CRITERIA)) == downstream["weighted_score"]


def test_official_texts_load_from_a_local_folder_and_are_verified(judge_prompts_dir, tmp_path):
    for name in OFFICIAL_PROMPTS:
        assert load_official_prompt(name, prompts_dir=judge_prompts_dir)
    (tmp_path / "geneval_pp_system.txt").write_text("You are a lenient judge.")
    with pytest.raises(OfficialPromptError, match="geneval_pp_system.txt.*sha256"):
        load_official_prompt("geneval_pp_system", prompts_dir=tmp_path)


def _fstring(template: str, fields: dict[str, str]) -> str:
    escaped = template.replace("{", "{{").replace("}", "}}")
    for placeholder, expr in fields.items():
        escaped = escaped.replace("{" + placeholder + "}", "{" + expr + "}")
    return "f" + repr(escaped)


def write_synthetic_scripts(folder, texts: dict[str, str]) -> None:
    """Scripts shaped like the official ones (texts taken from the data folder at test time)."""
    (folder / "Eval-gpt-4.1-geneval++.py").write_text(
        f"SYSTEM_PROMPT = {texts['geneval_pp_system']!r}\n\n"
        "def process_sample(idx, metadata):\n"
        "    instruction = metadata.get('prompt', '').strip()\n"
        "    explanation = str(metadata)\n"
        "    return [{'type': 'text', 'text': "
        + _fstring(texts["geneval_pp_user_template"], {"{instruction}": "instruction",
                                                       "{checklist}": "explanation"}) + "}]\n")
    (folder / "Eval-gpt-4.1-Imagine.py").write_text(
        "def build_messages(prompt_data, image_base64):\n"
        f"    return [{{'role': 'system', 'content': [{{'type': 'text', 'text': {texts['imagine_system']!r}}}]}},\n"
        "            {'role': 'user', 'content': [{'type': 'text', 'text': "
        + _fstring(texts["imagine_user_template"], {"{instruction}": "prompt_data[\"instruction\"]",
                                                    "{note}": "prompt_data[\"note\"]"}) + "}]}]\n")
    names = ["omnicontext_prompt_following", "omnicontext_prompt_following_scene",
             "omnicontext_subject_consistency", "omnicontext_subject_consistency_scene"]
    preamble = os.path.commonprefix([texts[n] for n in names])
    rules = ["PF_Single_and_Multiple", "PF_Scene", "SC_Single_and_Multiple", "SC_Scene"]
    body = f"_context_no_delimit = {preamble!r}\n" + "".join(
        f"_prompts_0shot_in_context_generation_rule_{rule} = {texts[name][len(preamble):]!r}\n"
        for rule, name in zip(rules, names))
    (folder / "prompt_generator.py").write_text(body)


def test_official_texts_extract_from_scripts_with_ast(judge_prompts_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("ECHO4O_PROMPTS_DIR", raising=False)
    texts = {n: (judge_prompts_dir / f"{n}.txt").read_bytes().decode() for n in OFFICIAL_PROMPTS}
    write_synthetic_scripts(tmp_path, texts)
    for name in OFFICIAL_PROMPTS:
        got = load_official_prompt(name, scripts_dir=tmp_path, cache_dir=tmp_path / "c", download=False)
        assert got == texts[name], name
    # a changed text is refused, naming the official source
    source = (tmp_path / "prompt_generator.py").read_text().replace("Rate from 0 to 10", "Rate 1-5", 1)
    (tmp_path / "prompt_generator.py").write_text(source)
    with pytest.raises(OfficialPromptError, match="prompt_generator.py.*expected"):
        load_official_prompt("omnicontext_prompt_following", scripts_dir=tmp_path,
                             cache_dir=tmp_path / "c", download=False)


def test_scripts_are_never_executed(tmp_path, monkeypatch):
    monkeypatch.delenv("ECHO4O_PROMPTS_DIR", raising=False)
    marker = tmp_path / "executed"
    (tmp_path / "Eval-gpt-4.1-geneval++.py").write_text(
        f"open({str(marker)!r}, 'w').write('x')\nSYSTEM_PROMPT = 'short'\n")
    with pytest.raises(OfficialPromptError, match="sha256"):
        load_official_prompt("geneval_pp_system", scripts_dir=tmp_path, cache_dir=tmp_path, download=False)
    assert not marker.exists()


def test_no_download_and_no_local_copy_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("ECHO4O_PROMPTS_DIR", raising=False)
    with pytest.raises(OfficialPromptError, match="not cached and downloads are off"):
        load_official_prompt("imagine_system", cache_dir=tmp_path, download=False)


def test_echo4o_geneval_pp_parser_requires_one_verdict_per_clause():
    parse = geneval_pp.echo4o_parser(2)
    reply = {"checks": [{"requirement": 1, "observation": "two dogs", "satisfied": True},
                        {"requirement": 2, "observation": "photo", "satisfied": False}]}
    assert [c["satisfied"] for c in parse("```json\n" + json.dumps(reply) + "\n```")] == [True, False]
    with pytest.raises(ValueError, match="requirements 1..2"):
        parse(json.dumps({"checks": reply["checks"][:1]}))
    with pytest.raises(ValueError, match="not JSON"):
        parse('{"checks": [')


def test_echo4o_score_parsers_reject_out_of_range():
    with pytest.raises(ValueError):
        omnicontext.echo4o_parse('{"reasoning": "x", "score": 11}')
    with pytest.raises(ValueError):
        imagine.echo4o_parse('{"fantasy_fulfillment": {"reason": "", "score": 3}}')
