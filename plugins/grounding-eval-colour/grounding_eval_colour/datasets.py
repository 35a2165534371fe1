"""Colour datasets that ship inside PyPI packages, so they build offline in well under a second.

What an instance is here: a colour has no "clips", only a point. Each XKCD name comes with the one sRGB
value the survey's respondents gave it, so it has exactly one instance; each Munsell hue family has every
renotation chip of that hue (all values and chromas) as its instances. The probe handles both: its loss
averages over instances, and its test ranks concepts for every instance of a held-out concept.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import re

from grounding_eval.data.base import Concept, GroundingDataset, Instance
from grounding_eval.errors import GroundingEvalError
from grounding_eval_colour.cielab import XyY

# Munsell's own names for its ten principal hues, in hue-circle order.
MUNSELL_HUE_NAMES: dict[str, str] = {
    "R": "red", "YR": "yellow-red", "Y": "yellow", "GY": "green-yellow", "G": "green",
    "BG": "blue-green", "B": "blue", "PB": "purple-blue", "P": "purple", "RP": "red-purple",
}
MUNSELL_SUBSETS = ("real", "all")
_HUE = re.compile(r"(\d+(?:\.\d+)?)([A-Z]+)")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "unknown"


def build_xkcd_colors() -> GroundingDataset:
    """The 949 colour names of the XKCD colour survey (CC0), as matplotlib ships them, one sRGB value each."""
    try:
        from matplotlib.colors import XKCD_COLORS
    except ImportError as exc:
        raise GroundingEvalError("dataset xkcd_colors needs matplotlib: pip install matplotlib") from exc
    concepts, instances = [], []
    for key in sorted(XKCD_COLORS):
        name = key.removeprefix("xkcd:")
        hex_value = XKCD_COLORS[key].lower()
        concepts.append(Concept(name, name))
        instances.append(Instance(name, name, hex_value, _sha(f"srgb:{hex_value}"), meta={"hex": hex_value}))
    return GroundingDataset(
        "xkcd_colors", concepts, instances,
        provenance={"source": "matplotlib.colors.XKCD_COLORS (XKCD colour survey, CC0)",
                    "matplotlib": _version("matplotlib")},
    )


def build_munsell_colors(subset: str = "real") -> GroundingDataset:
    """Munsell renotation chips (colour-science), grouped by their ten principal hue names.

    `subset="real"` keeps the 2734 chips inside the MacAdam limits for illuminant C (surface colours that
    exist); "all" adds the extrapolated ones, some of which have chromaticities no light can have.
    """
    if subset not in MUNSELL_SUBSETS:
        raise GroundingEvalError(f"dataset.args.subset: {subset!r} is not valid; valid: {', '.join(MUNSELL_SUBSETS)}")
    try:
        from colour.notation import MUNSELL_COLOURS_ALL, MUNSELL_COLOURS_REAL
    except ImportError as exc:
        raise GroundingEvalError("dataset munsell_colors needs colour-science: pip install colour-science") from exc
    table = MUNSELL_COLOURS_REAL if subset == "real" else MUNSELL_COLOURS_ALL
    instances = []
    for (hue, value, chroma), (x, y, Y) in table:
        m = _HUE.fullmatch(hue)
        if m is None or m.group(2) not in MUNSELL_HUE_NAMES:
            raise GroundingEvalError(f"dataset munsell_colors: colour-science returned hue {hue!r}, which is not a Munsell hue")
        notation = f"{hue} {value:g}/{chroma:g}"
        spec = XyY(float(x), float(y), float(Y), "C")
        instances.append(Instance(notation, MUNSELL_HUE_NAMES[m.group(2)], spec, _sha(spec.key()),
                                  meta={"notation": notation}))
    concepts = [Concept(name, name, aliases=(code,)) for code, name in MUNSELL_HUE_NAMES.items()]
    return GroundingDataset(
        "munsell_colors", concepts, instances,
        provenance={"source": f"colour.notation.MUNSELL_COLOURS_{subset.upper()} (Munsell renotation, illuminant C)",
                    "subset": subset, "colour-science": _version("colour-science")},
    )
