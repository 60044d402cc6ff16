"""A complete echo4o-eval plugin in one file: a benchmark, a judge and a model.

Installed (``pip install .`` next to the pyproject.toml below), it adds:

* benchmark ``toy_colors``: four prompts naming a colour; an image is correct when its main
  colour is the one asked for;
* judge ``toy-colour``: reads each image's mean colour and names the nearest of the
  vocabulary the evaluator sends in the request;
* model ``toy-painter``: paints a flat image of the colour named in the prompt (its argument
  ``off`` paints everything grey).
"""

from __future__ import annotations

from pathlib import Path

from echo4o_eval.scoring.aggregation import make_result, mean_metric, tag_means
from echo4o_eval.spec import Benchmark, BenchmarkSpec, MetricSpec
from echo4o_eval.records.types import Generation, JudgeRequest, Judgement, Sample, SampleScore, Status

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "grey": (128, 128, 128)}


# ---- the benchmark: spec, samples and evaluator ------------------------------------------

SPEC = BenchmarkSpec(
    id="toy_colors", version="1.0", display_name="Toy colours", task="text_to_image", assets=(),
    default_judge="toy-colour", judge_kinds=("colour",), primary_metric="overall",
    metrics=(MetricSpec("overall", "Correct colour", higher_is_better=True, unit="fraction"),),
)


def load_samples(assets, variant=None) -> list[Sample]:
    """Four prompts, tagged by the colour they ask for (``assets`` unused: no files needed)."""
    words = ["red", "green", "blue", "red"]
    return [Sample(id=str(i), index=i, prompt=f"a {w} square", tag=w) for i, w in enumerate(words)]


class ToyColourEvaluator:
    """Asks the judge for each image's colour; correct when it is the colour asked for."""

    judge_kind = "colour"

    def __init__(self, spec: BenchmarkSpec, options) -> None:
        if options.get("mode", "default") not in ("default", "parity"):
            raise ValueError(f"unknown mode {options['mode']!r}")
        self.spec, self.options = spec, {"mode": options.get("mode", "default")}

    def requests(self, sample, generation):
        """One request per generated image, carrying the colour vocabulary."""
        if generation.status is not Status.OK:
            return []
        return [JudgeRequest(key="main", images=(generation.image_path,),
                             params={"colours": sorted(COLOURS)})]

    def score(self, sample, generation, judgements):
        """``correct`` = the judged colour is the sample's tag; failures keep their status."""
        if generation.status is not Status.OK:
            return SampleScore(sample.id, generation.image_index, sample.tag, generation.status,
                               reason=generation.error or "")
        [judgement] = [j for j in judgements if j.key == "main"] or [None]
        if judgement is None or judgement.status is not Status.OK:
            return SampleScore(sample.id, generation.image_index, sample.tag, Status.JUDGE_ERROR,
                               reason="no colour judgement")
        colour = judgement.parsed[0]
        return SampleScore(sample.id, generation.image_index, sample.tag, Status.OK,
                           values={"correct": colour == sample.tag}, reason=f"looks {colour}")

    def aggregate(self, samples, scores):
        """Share of correct images, overall and per asked colour, with coverage."""
        per_tag = tag_means([s.tag for s in samples], scores, ["correct"])
        ok = [s.values["correct"] for s in scores if s.status is Status.OK]
        metrics = {"overall": mean_metric(ok, len(scores))}
        per_tag = {tag: {"overall": m["correct"]} for tag, m in per_tag.items()}
        return make_result(self.spec, self.options["mode"], samples, scores, metrics, per_tag)


def make_evaluator(spec: BenchmarkSpec, judge_kind: str, options) -> ToyColourEvaluator:
    """The evaluator, given this benchmark's spec."""
    return ToyColourEvaluator(spec, options)


benchmark = Benchmark(SPEC, load_samples, make_evaluator)


# ---- the judge ----------------------------------------------------------------------------

class ToyColourJudge:
    """Names the nearest colour of the request's vocabulary to the image's mean colour."""

    id = "toy-colour"
    kind = "colour"

    def judge(self, requests):
        """One Judgement per request; an unreadable image is a bad_image judgement."""
        from PIL import Image

        out = []
        for request in requests:
            try:
                with Image.open(request.images[-1]) as image:
                    mean = image.convert("RGB").resize((1, 1)).getpixel((0, 0))
            except OSError as exc:
                out.append(Judgement(request.key, self.id, Status.BAD_IMAGE, error=str(exc)))
                continue
            names = request.params["colours"]
            nearest = min(names, key=lambda n: sum((a - b) ** 2 for a, b in zip(COLOURS[n], mean)))
            out.append(Judgement(request.key, self.id, Status.OK, parsed=(nearest,)))
        return out

    def describe(self):
        """Settings for the run manifest."""
        return {"id": self.id}

    def close(self):
        """Nothing to release."""


def make_judge(argument: str, options) -> ToyColourJudge:
    """Judge factory: ``-j toy-colour``."""
    return ToyColourJudge()


# ---- the model ----------------------------------------------------------------------------

class ToyPainter:
    """Paints a flat 32x32 image of the colour named in the prompt (grey when ``off``)."""

    batch_size = 4

    def __init__(self, argument: str) -> None:
        self.off = argument == "off"
        self.id = f"toy-painter:{argument}" if argument else "toy-painter"

    def generate(self, requests):
        """Writes each image to the path the runner gives; one Generation per request."""
        from PIL import Image

        out = []
        for r in requests:
            word = "grey" if self.off else next((w for w in COLOURS if w in r.prompt), "grey")
            Path(r.output_path).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 32), COLOURS[word]).save(r.output_path)
            out.append(Generation(r.sample_id, r.image_index, r.seed, Status.OK, image_path=r.output_path))
        return out

    def identity(self):
        """What decides the images (enters the generation fingerprint)."""
        return {"painter": "toy", "off": self.off}

    def describe(self):
        """Settings for the run manifest."""
        return {"id": self.id}

    def close(self):
        """Nothing to release."""


def make_model(argument: str, options) -> ToyPainter:
    """Model factory: ``-m toy-painter`` or ``-m toy-painter:off``."""
    return ToyPainter(argument)
