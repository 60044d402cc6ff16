"""Stage 2, generate: text-to-image and multi-image edits through any model adapter that ``run``
accepts (image API, diffusers, Bagel, plugins), with a hard budget.

- Images go to ``WORK/images/<subset>/<2 hex of sha256(id)>/<id>.png`` (never one huge folder).
- A record is appended after each batch; on resume, samples with an ``ok`` or ``refused`` record
  are skipped and the others asked again. The image API adapter's response cache
  (``WORK/cache/images/responses.sqlite``) replays a reply that was paid for but never recorded
  (SIGKILL between the reply and the record), so nothing is paid twice. A sample whose last
  record is a ``generation_error`` is asked again in its next retry round
  (``GenerationRequest.retry_round``, kept in the record): new cache slots, so an unusable
  image that was paid for is really requested again instead of replayed from the cache.
- Budget: ``max_images`` counts images paid for (cache replays are free), ``max_cost`` their
  estimated cost (the adapter's, else ``price_per_image``). A batch is cut to what the budget
  still allows, so the cap is never exceeded; then the stage stops cleanly (``stopped``).
  Every reply the server billed counts, whatever became of its image: a reply whose image is
  unusable (undecodable, empty, no data) is paid for like a good one, and so is an earlier
  attempt that a retry replaced (:mod:`~echo4o_eval.data_gen.spend`); one with no known price
  is counted apart (charged at ``price_per_image``), never as $0.
  Requests that reached the server but got no reply (timeout, broken connection; the adapter's
  ``usage["unanswered"]``) may have been billed: they are counted in the record
  (``unanswered``) and by ``synth status``, not priced.
- Reference subjects are generated first; multi-reference samples then use their images
  (a sample whose subject failed is ``missing_reference``, retried on the next run).
- Local generators shard over processes like ``run``: launched with torchrun/accelerate, each
  rank takes ``shard(key=id)`` of the samples and ``1/world_size`` of the budget.

Example:
    >>> image_path("/w", "fantasy", "fantasy-000001")
    '/w/images/fantasy/6c/fantasy-000001.png'
    >>> billed_images({"status": "generation_error", "cached": False, "cost_usd": 0.0013,
    ...                "usage": {"api_calls": 1}})  # a billed reply whose image was unusable
    1
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from pathlib import Path
from typing import Any, Iterable

from echo4o_eval import distributed
from echo4o_eval.data_gen.config import SynthConfig
from echo4o_eval.data_gen.records import RecordStore, retry_round
from echo4o_eval.data_gen.spend import billed_images
from echo4o_eval.records.types import GenerationRequest, to_json

log = logging.getLogger(__name__)
DONE = ("ok", "refused")


def image_path(work_dir: str | Path, subset: str, sid: str) -> str:
    """Where the image of sample ``sid`` is written."""
    shard = hashlib.sha256(sid.encode()).hexdigest()[:2]
    return str(Path(work_dir) / "images" / subset / shard / f"{sid}.png")


def sample_seed(base: int, sid: str) -> int:
    """A per-sample seed derived from the base seed and the id (stable across runs).

    >>> sample_seed(0, "a") == sample_seed(0, "a") != sample_seed(1, "a")
    True
    """
    return int.from_bytes(hashlib.sha256(f"{base}:{sid}".encode()).digest()[:4], "big")


def make_generator(config: SynthConfig):
    """The ImageModel the config names; the image API's reply cache lives in the work dir."""
    from echo4o_eval.models.resolve import resolve_model, split_model_spec

    if not config.generate.model:
        raise ValueError("generate.model is empty: name a generator (e.g. openai:gpt-image-1, "
                         "diffusers:PATH, bagel:PATH)")
    options = dict(config.generate.options)
    if split_model_spec(config.generate.model)[0] == "openai":
        options.setdefault("cache_dir", str(config.work_path / "cache" / "images"))
        options.setdefault("batch_size", config.generate.batch_size)  # one generate() call per batch
    return resolve_model(config.generate.model, options)


class Budget:
    """What this rank may still spend: its share of what the job's budget has left (images paid
    for and their estimated cost, counted over every rank's records)."""

    def __init__(self, config: SynthConfig, info, spent_images: int, spent_cost: float,
                 unit_cost: float | None = None, unpriced_images: int = 0) -> None:
        share = config.generate
        # images earlier runs paid for without a price: charged at price_per_image, never at $0
        if unpriced_images and share.price_per_image is not None:
            spent_cost += unpriced_images * share.price_per_image
        world, rank = info.world_size, info.rank
        self.max_images = None
        if share.max_images is not None:
            left = max(0, share.max_images - spent_images)
            self.max_images = left // world + (1 if rank < left % world else 0)
        self.max_cost = None if share.max_cost is None else max(0.0, share.max_cost - spent_cost) / world
        self.price = share.price_per_image
        self.before_images, self.before_cost = spent_images, spent_cost
        self.images, self.cost = 0, 0.0  # spent by this process (images billed, their cost)
        self.unpriced = 0  # of those images, how many have no price at all (not in cost)
        self.unanswered = 0  # requests sent by this process that got no reply (may be billed)
        # the largest cost of one image seen so far (earlier runs' records count)
        self.unit_cost = max((c for c in (share.price_per_image, unit_cost) if c is not None), default=None)
        self.stopped: str | None = None
        if unpriced_images and self.max_cost is not None and self.price is None:
            self.stopped = (f"max_cost is set but {unpriced_images} image(s) already paid for have no price: "
                            "set generate.price_per_image or use max_images")

    def allowance(self, wanted: int) -> int:
        """How many of ``wanted`` requests may be sent now (0 means: stop)."""
        if self.stopped:
            return 0
        allowed = wanted
        if self.max_images is not None:
            allowed = min(allowed, self.max_images - self.images)
            if allowed <= 0:
                self.stopped = f"max_images reached ({self.before_images + self.images} images paid)"
                return 0
        if self.max_cost is not None:
            left = self.max_cost - self.cost
            if self.unit_cost is None:
                allowed = min(allowed, 1)  # learn the price of one image first
            elif self.unit_cost > 0:
                allowed = min(allowed, int((left + 1e-9) // self.unit_cost))  # 1e-9: float noise
            if allowed <= 0 or left <= 0:
                self.stopped = f"max_cost reached (${self.before_cost + self.cost:.4f} spent)"
                return 0
        return allowed

    def charge(self, record: dict[str, Any]) -> None:
        """Count one generation's spending: every image the server billed, whatever became of
        it (replays from the cache are free)."""
        self.unanswered += int(record.get("unanswered") or 0)
        images = billed_images(record)
        if not images:
            return
        self.images += images
        cost = record.get("cost_usd")
        if cost is None and self.price is not None:
            cost = self.price * images
        if cost is None:  # counted apart, never as $0
            self.unpriced += images
            if self.max_cost is not None:
                self.stopped = ("max_cost is set but the generator reports no price: set "
                                "generate.price_per_image or use max_images")
            return
        self.cost += cost
        self.unit_cost = max(self.unit_cost or 0.0, cost)  # the most one request has cost


def _spent(store: RecordStore) -> tuple[int, float, float | None, int]:
    """Images paid for (unusable ones and earlier attempts a retry replaced included), their
    known cost, the most one request cost and how many paid images have no price (counted
    apart, never as $0), over every rank's records: the store's spend ledger."""
    spent = store.spend("generate")
    return spent["billed"], spent["cost_usd"], spent["unit_cost"], spent["unpriced"]


def _request(config: SynthConfig, item: dict[str, Any], references: tuple[str, ...],
             round_: int = 0) -> GenerationRequest:
    return GenerationRequest(
        sample_id=item["id"], sample_index=0, tag=item["subset"], prompt=item["prompt"], image_index=0,
        seed=sample_seed(config.generate.seed, item["id"]),
        output_path=image_path(config.work_path.resolve(), item["subset"], item["id"]),
        reference_images=references,
        params={**config.generate.params, "task": "multi_reference" if references else "text_to_image"},
        retry_round=round_,
    )


def _resolve_references(item: dict[str, Any], store: RecordStore) -> tuple[tuple[str, ...], str | None]:
    paths = []
    for ref in item.get("references", []):
        if Path(ref).is_absolute():
            if not Path(ref).is_file():
                return (), f"reference image {ref} does not exist"
            paths.append(ref)
            continue
        record = store.get("generate", ref, refresh=False)
        if record is None or record.get("status") != "ok":
            status = record.get("status") if record else "not generated"
            return (), f"reference subject {ref} has no image ({status})"
        paths.append(record["image_path"])
    return tuple(paths), None


def _record(generation, item: dict[str, Any], model_id: str, references) -> dict[str, Any]:
    usage = dict(generation.usage or {})
    cached = bool(usage.get("cached"))
    record = {"id": item["id"], "subset": item["subset"], "status": to_json(generation.status),
              "image_path": generation.image_path, "error": generation.error, "model": model_id,
              "cost_usd": None if cached else generation.cost_usd, "cached": cached,
              "usage": to_json(usage), "params": to_json(dict(generation.params or {})),
              "references": list(references),
              "unanswered": int(usage.get("unanswered") or 0)}  # sent, no reply: may be billed
    # paid: the server billed this request (an unusable image too; refusals and errors are not)
    record["paid"] = billed_images({**record, "paid": not cached}) > 0
    return record


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def run_generate(config: SynthConfig, model=None, progress=None) -> dict[str, Any]:
    """Generate every planned sample this rank owns that has no ``ok``/``refused`` record."""
    info = distributed.rank_info()
    store = RecordStore(config.work_dir, rank=info.rank)
    own_model = model is None
    model = model or make_generator(config)
    budget = Budget(config, info, *_spent(store))
    if info.is_main:
        settings = config.work_path / "generate_settings.json"
        settings.write_text(json.dumps(generation_settings(model), indent=2, sort_keys=True), encoding="utf-8")
    counts: dict[str, int] = {}
    try:
        for phase, wanted in (("subjects", lambda r: r["subset"] == "subject"),
                              ("samples", lambda r: r["subset"] != "subject")):
            done = store.ids("generate", DONE)
            pending = (r for r in store.iterate("plan")  # streamed: never the whole plan in memory
                       if r.get("status") == "ok" and wanted(r) and r["id"] not in done)
            _generate_phase(config, store, model, _mine(pending, info), budget, counts, progress)
            distributed.barrier(config.work_dir, info, f"generated-{phase}")
            if budget.stopped:
                break
    finally:
        if own_model:
            model.close()
        store.close()
    return {"rank": info.rank, "by_status": dict(sorted(counts.items())), "paid_images": budget.images,
            "cost_usd": round(budget.cost, 6), "unpriced_images": budget.unpriced,
            "unanswered": budget.unanswered, "stopped": budget.stopped,
            "paid_before": budget.before_images}


def _mine(records: Iterable[dict], info, chunk: int = 512) -> Iterable[dict]:
    """This rank's records (``shard`` keyed by id, applied to a stream a chunk at a time)."""
    buffer: list[dict] = []
    for record in records:
        buffer.append(record)
        if len(buffer) >= chunk:
            yield from distributed.shard(buffer, info.rank, info.world_size, key=lambda r: r["id"])
            buffer = []
    yield from distributed.shard(buffer, info.rank, info.world_size, key=lambda r: r["id"])


def _generate_phase(config, store, model, items: Iterable[dict], budget, counts, progress) -> None:
    size = max(1, int(getattr(model, "batch_size", 0) or config.generate.batch_size))
    size = min(size, config.generate.batch_size)
    items = iter(items)
    waiting_items: list[dict] = []
    with store.writer("generate") as write:
        while not budget.stopped:
            waiting_items.extend(itertools.islice(items, size - len(waiting_items)))
            if not waiting_items:
                break
            store.refresh("generate")
            allowed = budget.allowance(len(waiting_items))
            if allowed <= 0:
                break
            batch, waiting_items = waiting_items[:allowed], waiting_items[allowed:]
            requests, waiting = [], []
            for item in batch:
                references, problem = _resolve_references(item, store)
                if problem:
                    write({"id": item["id"], "subset": item["subset"], "status": "missing_reference",
                           "error": problem, "paid": False, "cost_usd": None})
                    counts["missing_reference"] = counts.get("missing_reference", 0) + 1
                    continue
                round_ = retry_round(store.get("generate", item["id"], refresh=False), "generation_error")
                requests.append(_request(config, item, references, round_))
                waiting.append(item)
            generations = model.generate(requests) if requests else []
            for item, request, generation in zip(waiting, requests, generations):
                record = _record(generation, item, model.id, request.reference_images)
                record["retry_round"] = request.retry_round
                write(record)
                budget.charge(record)
                counts[record["status"]] = counts.get(record["status"], 0) + 1
            if progress:
                progress(len(batch))
    if budget.stopped:
        log.warning("generation stopped: %s", budget.stopped)


def generation_settings(model) -> dict[str, Any]:
    """The generator's description and identity, for the dataset card."""
    identity = None
    if hasattr(model, "identity"):
        try:
            identity = model.identity()
        except Exception as exc:  # an in-memory model without identity: say so
            identity = {"error": str(exc)}
    return json.loads(json.dumps({"describe": dict(model.describe()), "identity": identity}, default=str))
