"""Deterministic sample specs for the three subsets and their rendering to text.

Each sample draws from its own ``random.Random("<seed>:<subset>:<index>")``, so sample k is the
same whatever the counts of the other subsets, and the same config always plans the same specs.
A spec is plain JSON kept beside the text, so it can be checked automatically later
(:func:`geneval_metadata` turns an instruction spec into the detector rule engine's input).

Example:
    >>> spec = instruction_spec(seed=0, index=3, max_objects=3, dense_fraction=0.0)
    >>> spec == instruction_spec(seed=0, index=3, max_objects=3, dense_fraction=0.0)
    True
    >>> render_instruction({"objects": [{"class": "cat", "count": 2, "colour": "black"},
    ...                                 {"class": "dog", "count": 1}],
    ...                     "relations": [{"subject": 1, "relation": "left of", "object": 0}]})
    'Two black cats and one dog. The dog is left of the cats.'
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from echo4o_eval.data_gen import vocabulary as words


def rng_for(seed: int, subset: str, index: int) -> random.Random:
    """The random source of one sample (independent of every other sample)."""
    return random.Random(f"{seed}:{subset}:{index}")


# -- fantasy ------------------------------------------------------------------------------
def fantasy_spec(seed: int, index: int, objects: Sequence[str], kinds: Sequence[str]) -> dict[str, Any]:
    """Base object x transformation kind x value; ``second`` for multi-object scenes.

    >>> fantasy_spec(0, 0, ["cat"], ["material"])["kind"]
    'material'
    """
    rng = rng_for(seed, "fantasy", index)
    kind = kinds[index % len(kinds)]  # kinds are balanced; objects and values drawn
    obj = rng.choice(list(objects))
    value = rng.choice([v for v in words.FANTASY_VALUES[kind] if v != obj] or [obj])
    spec = {"object": obj, "kind": kind, "family": words.FANTASY_KINDS[kind][0], "value": value}
    if kind == "multi_object":
        spec["second"] = rng.choice([o for o in objects if o != obj] or [obj])
    return spec


def render_fantasy(spec: dict[str, Any]) -> dict[str, str]:
    """Template prompt and note (used when no chat model writes them, and as the chat's brief).

    >>> render_fantasy({"object": "cat", "kind": "material", "value": "ice"})["prompt"]
    'A cat made completely of ice.'
    """
    prompt = words.FANTASY_TEMPLATES[spec["kind"]].format(**spec)
    changes = words.FANTASY_KINDS[spec["kind"]][1]
    return {"prompt": prompt, "must_change": f"{changes}: {spec['value']}",
            "must_stay": f"the {spec['object']} stays recognisable as a {spec['object']}"}


# -- instruction following ----------------------------------------------------------------
def instruction_spec(seed: int, index: int, max_objects: int, dense_fraction: float) -> dict[str, Any]:
    """Objects with counts and colours, optional absolute regions, one relation, dense details."""
    rng = rng_for(seed, "instruction", index)
    n_objects = rng.randint(1, max(1, max_objects))
    classes = rng.sample(list(words.COCO_OBJECTS), n_objects)
    objects = []
    for name in classes:
        item: dict[str, Any] = {"class": name, "count": rng.choice((1, 1, 2, 3, 4))}
        if rng.random() < 0.6:
            item["colour"] = rng.choice(words.COLOURS)
        objects.append(item)
    relations = []
    if n_objects >= 2 and rng.random() < 0.7:
        if rng.random() < 0.75:
            relations.append({"subject": 1, "relation": rng.choice(words.RELATIONS), "object": 0})
        else:
            relations.append({"subject": 1, "relation": rng.choice(words.SIZE_RELATIONS), "object": 0})
    related = {r["subject"] for r in relations} | {r["object"] for r in relations}
    for i, item in enumerate(objects):
        if i not in related and rng.random() < 0.3:
            item["region"] = rng.choice(words.REGIONS)
    spec: dict[str, Any] = {"objects": objects, "relations": relations}
    if rng.random() < dense_fraction:
        spec["details"] = rng.sample(list(words.DENSE_DETAILS), 2)
    return spec


def _phrase(item: dict[str, Any]) -> str:
    count = int(item["count"])
    number = words.NUMBER_WORDS[count] if count < len(words.NUMBER_WORDS) else str(count)
    colour = f"{item['colour']} " if item.get("colour") else ""
    return f"{number} {colour}{words.plural(item['class'], count)}"


def render_instruction(spec: dict[str, Any]) -> str:
    """The spec as one plain instruction (the text is generated from the spec, never the reverse)."""
    objects = spec["objects"]
    plain = [_phrase(o) for o in objects if not o.get("region")]
    sentences = []
    if plain:
        text = plain[0] if len(plain) == 1 else ", ".join(plain[:-1]) + " and " + plain[-1]
        sentences.append(text[0].upper() + text[1:] + ".")
    for item in objects:
        if item.get("region"):
            verb = "is" if int(item["count"]) == 1 else "are"
            sentences.append(f"In the {item['region']} of the image there {verb} {_phrase(item)}.")
    for relation in spec.get("relations", []):
        a, b = objects[relation["subject"]], objects[relation["object"]]
        verb = "is" if int(a["count"]) == 1 else "are"
        name_a = words.plural(a["class"], int(a["count"]))
        name_b = words.plural(b["class"], int(b["count"]))
        sentences.append(f"The {name_a} {verb} {relation['relation']} the {name_b}.")
    sentences.extend(spec.get("details", []))
    return " ".join(sentences)


def geneval_metadata(spec: dict[str, Any], prompt: str) -> dict[str, Any]:
    """The part of an instruction spec the GenEval rule engine can check (counts, colours,
    left/right/above/below); ``unchecked`` lists what it cannot (regions, sizes, details).

    >>> meta = geneval_metadata({"objects": [{"class": "cat", "count": 1, "region": "centre"}],
    ...                          "relations": []}, "x")
    >>> meta["include"], meta["unchecked"]
    ([{'class': 'cat', 'count': 1}], ['region of cat'])
    """
    include, unchecked = [], []
    for item in spec["objects"]:
        clause: dict[str, Any] = {"class": item["class"], "count": int(item["count"])}
        if item.get("colour"):
            clause["color"] = item["colour"]
        if item.get("region"):
            unchecked.append(f"region of {item['class']}")
        include.append(clause)
    for relation in spec.get("relations", []):
        if relation["relation"] in words.RELATIONS:
            include[relation["subject"]]["position"] = [relation["relation"], relation["object"]]
        else:
            unchecked.append(f"size: {relation['relation']}")
    if spec.get("details"):
        unchecked.append("dense details")
    return {"tag": "instruction", "prompt": prompt, "include": include, "exclude": [],
            "unchecked": unchecked}


# -- multi-reference ----------------------------------------------------------------------
def subject_specs(seed: int, count: int) -> list[dict[str, Any]]:
    """Reference subjects to generate first: about one in four is a scene."""
    out = []
    for index in range(count):
        rng = rng_for(seed, "subject", index)
        if index % 4 == 3:
            scene = rng.choice(words.SCENES)
            out.append({"label": scene, "role": "scene",
                        "prompt": words.SCENE_TEMPLATE.format(scene=scene)})
        else:
            obj = rng.choice(words.EVERYDAY_OBJECTS + words.COCO_OBJECTS)
            out.append({"label": obj, "role": "object",
                        "prompt": words.SUBJECT_TEMPLATE.format(object=obj)})
    return out


def multi_reference_spec(seed: int, index: int, pool: Sequence[dict[str, Any]],
                         min_refs: int, max_refs: int) -> dict[str, Any]:
    """Pick 2-4 pool items (objects first, a scene last when there is one) and an interaction.

    Each pool item is ``{"ref": id, "label": ..., "role": "object" | "scene"}``.
    """
    rng = rng_for(seed, "multi_reference", index)
    objects = [p for p in pool if p["role"] != "scene"]
    scenes = [p for p in pool if p["role"] == "scene"]
    k = rng.randint(min_refs, max_refs)
    use_scene = bool(scenes) and k >= 3 and rng.random() < 0.7
    n_objects = min(len(objects), k - (1 if use_scene else 0))
    if n_objects < 2:
        raise ValueError(f"the reference pool has {len(objects)} object image(s); a multi-reference "
                         "sample needs at least 2")
    chosen = rng.sample(objects, n_objects) + ([rng.choice(scenes)] if use_scene else [])
    return {"references": [dict(p) for p in chosen], "interaction": rng.choice(words.INTERACTIONS)}


def render_multi_reference(spec: dict[str, Any]) -> str:
    """The instruction naming which element comes from which image.

    >>> render_multi_reference({"interaction": "wearing", "references": [
    ...     {"label": "dog", "role": "object"}, {"label": "hat", "role": "object"},
    ...     {"label": "sunlit beach", "role": "scene"}]})
    'The dog from image 1 wearing the hat from image 2, in the sunlit beach of image 3.'
    """
    refs = spec["references"]
    parts = [f"The {refs[0]['label']} from image 1 {spec['interaction']} the {refs[1]['label']} from image 2"]
    for number, ref in enumerate(refs[2:], start=3):
        if ref["role"] == "scene":
            parts.append(f", in the {ref['label']} of image {number}")
        else:
            parts.append(f", with the {ref['label']} from image {number} beside them")
    return "".join(parts) + "."
