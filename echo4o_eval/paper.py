"""How the Echo-4o paper ran each benchmark, and a one-line note when a run's settings differ.

``echo4o-eval run``/``score`` print :func:`paper_note` before they start, so nobody mistakes a
default-settings number for a paper number. docs/reproduce_paper.md gives the full commands.

Example:
    >>> print(paper_note("geneval_pp", model="folder:imgs", judge="openai:gpt-4.1", mode="default"))
    note: not the paper's settings for GenEval++: the paper used --mode parity (the official judge prompt); see docs/reproduce_paper.md
    >>> paper_note("geneval_pp", model="folder:imgs", judge="openai:gpt-4.1", mode="parity") is None
    True
    >>> paper_differences("geneval", model="echo4o", judge="mmdet-clip")
    ["Echo-4o's published GenEval and Bagel's own report use --variant long (the rewritten prompts; the Echo-4o figure's Bagel bar uses the original ones)"]
"""

from __future__ import annotations

from dataclasses import dataclass

from echo4o_eval.models.hub import ALIASES  # the short names and official repos of Bagel/Echo-4o


@dataclass(frozen=True)
class PaperSettings:
    """The settings behind the paper's numbers for one benchmark."""

    display_name: str
    judge: str  # the judge spec that reproduces the paper's judge
    judge_why: str  # said when another judge is chosen
    mode: str | None = "parity"  # None: either mode (GenEval: they differ only on unreadable images)
    images_per_prompt: int = 1
    comparable: bool = True  # False: no judge here reproduces the paper's (DPG's mPLUG)


PAPER = {
    "geneval": PaperSettings("GenEval", "mmdet-clip",
                             "GenEval's scorer is mmdet's Mask2Former (--judge mmdet-clip); mask2former-clip is close, "
                             "not identical", mode=None, images_per_prompt=4),
    "geneval_pp": PaperSettings("GenEval++", "openai:gpt-4.1", "the paper's judge is GPT-4.1 (--judge openai:gpt-4.1)"),
    "imagine_bench": PaperSettings("Imagine-Bench", "openai:gpt-4.1",
                                   "the paper's judge is GPT-4.1 (--judge openai:gpt-4.1)"),
    "omnicontext": PaperSettings("OmniContext", "openai:gpt-4.1", "the paper's judge is GPT-4.1 (--judge openai:gpt-4.1)"),
    "dpg_bench": PaperSettings("DPG-Bench", "", "", comparable=False),
}


def is_bagel_model(model: str) -> bool:
    """Whether a --model spec names Bagel or Echo-4o (prefix ``bagel:`` or a known alias).

    >>> is_bagel_model("bagel:/ckpt/Echo-4o"), is_bagel_model("echo4o"), is_bagel_model("folder:x")
    (True, True, False)
    """
    text = model.strip().lower()
    return text.startswith("bagel:") or text in ALIASES or text in (r.lower() for r in ALIASES.values())


def paper_differences(benchmark: str, *, model: str, judge: str | None, mode: str = "default",
                      variant: str | None = None, images_per_prompt: int | None = None) -> list[str]:
    """Each way the given settings differ from the paper's for ``benchmark`` (empty: none known).

    ``judge`` None means the benchmark's default judge.
    """
    paper = PAPER.get(benchmark)
    if paper is None:
        return []
    if not paper.comparable:
        return ["the paper's DPG-Bench numbers come from the mPLUG-large VQA model, which no judge here "
                "reproduces: scores are not comparable to published DPG numbers"]
    differences = []
    if judge is not None and judge != paper.judge and not (benchmark == "geneval" and judge == "mask2former-clip"):
        differences.append(paper.judge_why)
    if benchmark == "geneval" and judge in (None, "mask2former-clip"):
        differences.append(paper.judge_why)
    if paper.mode is not None and mode != paper.mode:
        differences.append(f"the paper used --mode {paper.mode} (the official judge prompt)")
    if images_per_prompt not in (None, paper.images_per_prompt):
        differences.append(f"the paper used {paper.images_per_prompt} image(s) per prompt")
    if benchmark == "geneval" and is_bagel_model(model) and variant != "long":
        differences.append("Echo-4o's published GenEval and Bagel's own report use --variant long (the "
                           "rewritten prompts; the Echo-4o figure's Bagel bar uses the original ones)")
    return differences


def paper_note(benchmark: str, **settings) -> str | None:
    """One line naming every difference from the paper's settings, or None when there is none."""
    differences = paper_differences(benchmark, **settings)
    if not differences:
        return None
    name = PAPER[benchmark].display_name
    return f"note: not the paper's settings for {name}: {'; '.join(differences)}; see docs/reproduce_paper.md"
