"""The words the planner combines: base objects, fantasy transformation kinds, colours, regions,
relations and the templates that render specs to text. Written for this project.

The fantasy kinds follow the shape of Imagine-Bench's taxonomy (attribute shift, hybridisation,
spatio-temporal, multi-object); the wording and the lists are ours.

Example:
    >>> len(COCO_OBJECTS), len(EVERYDAY_OBJECTS) > 120, sorted(FANTASY_KINDS)[:3]
    (80, True, ['colour', 'combination', 'environment'])
"""

from __future__ import annotations

from echo4o_eval.judges.labels import GENEVAL_OBJECT_NAMES

COCO_OBJECTS: tuple[str, ...] = GENEVAL_OBJECT_NAMES  # the detector rule engine's 80 names

EVERYDAY_OBJECTS: tuple[str, ...] = (
    "teapot", "armchair", "lamp", "bookshelf", "violin", "guitar", "piano", "hammer", "ladder",
    "kettle", "candle", "wristwatch", "sunflower", "cactus", "lighthouse", "windmill", "tractor",
    "helmet", "rocking horse", "snail", "owl", "fox", "rabbit", "turtle", "octopus", "goldfish",
    "pineapple", "watermelon", "mushroom", "pumpkin", "croissant", "typewriter", "telescope",
    "globe", "hourglass", "compass", "lantern", "umbrella stand", "mailbox", "bicycle bell",
    "paper boat", "hot air balloon", "sailboat", "castle", "treehouse", "fountain", "bridge",
    "robot vacuum", "sewing machine", "accordion", "trumpet", "drum", "feather", "seashell",
    "pine cone", "acorn", "snowman", "scarecrow", "carousel", "rubber duck", "chess piece",
    "key", "padlock", "spoonbill", "flamingo", "hedgehog", "jellyfish", "whale", "dragonfly",
    "bathtub", "wardrobe", "bicycle helmet", "garden hose", "watering can", "wheelbarrow",
    "shovel", "rake", "broom", "bucket", "frying pan", "saucepan", "cutting board", "rolling pin",
    "whisk", "ladle", "blender", "coffee grinder", "alarm clock", "desk fan", "radiator",
    "curtain", "rug", "cushion", "picture frame", "mirror", "thimble", "flower pot", "birdcage",
    "aquarium", "kayak", "canoe", "rowing boat", "tent", "sleeping bag", "backpack stove",
    "binoculars", "camera", "headphones", "microphone", "record player", "cassette tape",
    "television antenna", "street lamp", "traffic cone", "post box", "telephone booth",
    "ferris wheel", "roller skate", "skipping rope", "kite reel", "yo-yo", "spinning top",
    "ukulele", "music box", "paintbrush", "easel", "pencil", "stapler", "harmonica",
)

#: kind -> (family, what the transformation changes)
FANTASY_KINDS: dict[str, tuple[str, str]] = {
    "colour": ("attribute shift", "its colour"),
    "shape": ("attribute shift", "its shape"),
    "size": ("attribute shift", "its size relative to its surroundings"),
    "material": ("hybridisation", "the material it is made of"),
    "combination": ("hybridisation", "its body, fused with a second object"),
    "time": ("spatio-temporal", "the era or moment it appears in"),
    "environment": ("spatio-temporal", "the place it is found in"),
    "multi_object": ("multi-object", "how it interacts with other objects"),
}

FANTASY_VALUES: dict[str, tuple[str, ...]] = {
    "colour": ("transparent turquoise", "striped purple and gold", "glowing neon green",
               "mirror-chrome silver", "checkered black and white", "rainbow-gradient"),
    "shape": ("a perfect cube", "a spiral", "a flat paper-thin sheet", "a pyramid",
              "a cluster of spheres", "a long twisted ribbon"),
    "size": ("as tall as a skyscraper", "small enough to sit on a fingertip",
             "larger than the mountain behind it", "the size of a grain of rice on a table"),
    "material": ("ice", "woven wicker", "stained glass", "knitted wool", "polished marble",
                 "molten lava", "clouds", "origami paper"),
    "combination": EVERYDAY_OBJECTS[:24],
    "time": ("in the Stone Age", "in a far-future city of 3000", "during a medieval fair",
             "at the first moment of dawn on another planet", "in a 1920s silent film"),
    "environment": ("at the bottom of the ocean", "floating in outer space", "inside a snow globe",
                    "on the surface of the moon", "in a desert made of sugar", "inside a library"),
    "multi_object": ("reading a book to", "sharing an umbrella with", "playing chess against",
                     "carrying on its back", "having tea with", "racing against"),
}

FANTASY_TEMPLATES: dict[str, str] = {
    "colour": "A {object} that is entirely {value}, shown clearly in a realistic setting.",
    "shape": "A {object} reshaped into {value}, still recognisable as a {object}.",
    "size": "A {object} {value}.",
    "material": "A {object} made completely of {value}.",
    "combination": "A creature that is half {object} and half {value}.",
    "time": "A {object} {value}.",
    "environment": "A {object} {value}.",
    "multi_object": "A {object} {value} a {second}.",
}

COLOURS: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
                            "black", "white")  # GenEval's palette, so the rule engine can check them
REGIONS: tuple[str, ...] = ("top left", "top right", "bottom left", "bottom right", "centre")
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
SIZE_RELATIONS: tuple[str, ...] = ("larger than", "smaller than")
NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five")
DENSE_DETAILS: tuple[str, ...] = (
    "The scene is lit by soft late-afternoon sunlight coming from the left.",
    "The background is a plain pale-grey studio wall with a faint shadow.",
    "Everything stands on a worn wooden table with visible grain.",
    "The photograph is taken from eye level with a shallow depth of field.",
    "Light rain has left small droplets on every surface.",
)

SUBJECT_TEMPLATE = "A clear studio photo of a single {object} on a plain light background."
SCENE_TEMPLATE = "An empty {scene}, wide shot, no people or animals."
SCENES: tuple[str, ...] = ("sunlit beach", "snowy forest clearing", "city rooftop at dusk",
                           "cosy library room", "grassy hill under a blue sky", "old stone courtyard")
INTERACTIONS: tuple[str, ...] = ("next to", "holding", "sitting on", "wearing", "playing with",
                                 "in front of")


def plural(word: str, count: int) -> str:
    """``word`` in the plural when ``count`` is not 1 (regular English rules and a few exceptions).

    >>> plural("bus", 2), plural("knife", 3), plural("sheep", 2), plural("cat", 1)
    ('buses', 'knives', 'sheep', 'cat')
    """
    if count == 1:
        return word
    irregular = {"person": "people", "sheep": "sheep", "skis": "skis", "mouse": "mice",
                 "knife": "knives", "giraffe": "giraffes", "bus": "buses"}
    head, _, last = word.rpartition(" ")
    if last in irregular:
        out = irregular[last]
    elif last.endswith(("s", "x", "ch", "sh")):
        out = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        out = last[:-1] + "ies"
    else:
        out = last + "s"
    return f"{head} {out}".strip()
