"""The colour family's perception encoder: a colour -> its CIELAB point. No weights, only colorimetry.

Two kinds of instance source are understood:
- an sRGB hex string "#rrggbb" (IEC 61966-2-1: sRGB primaries, D65 white, the piecewise sRGB curve);
- an `XyY` chromaticity + luminance measured under a named illuminant (the Munsell renotation data are
  given under illuminant C), adapted to the target white with the Bradford transform.

Both end as XYZ under the target white (D65 by default, the white sRGB is defined for) and then CIELAB.
The formulas are written out here (a few lines of numpy) rather than borrowed, so the numbers do not move
when colour-science changes a default; the tests check them against colour-science to 1e-6.
`CONVERSION_VERSION` is in the encoder identity, hence in the cache key and the results JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from grounding_eval.data.base import Instance
from grounding_eval.encoders import PerceptionEncoder, ProgressCallback
from grounding_eval.errors import GroundingEvalError

# Bump when any formula or constant below changes: old cached vectors and results must not be mixed in.
CONVERSION_VERSION = 1

# CIE 1931 2-degree observer chromaticities of the reference whites we convert between.
WHITEPOINTS_XY: dict[str, tuple[float, float]] = {
    "D65": (0.3127, 0.3290),
    "D50": (0.3457, 0.3585),
    "C": (0.31006, 0.31616),
}
# Linear sRGB -> XYZ (Y = 1 for white) as IEC 61966-2-1 publishes it, to four decimals: the standard's
# own numbers (and colour-science's), rather than a re-derivation from the primaries that differs by 1e-4.
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
# The (linearised) Bradford cone response matrix, the usual choice for adapting surface colours.
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])

_HEX = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class XyY:
    """A colour as CIE xy chromaticity and luminance Y (0-100, white = 100) under `illuminant`."""

    x: float
    y: float
    Y: float
    illuminant: str = "C"

    def key(self) -> str:
        """A canonical text form: what the content hash of an instance is taken over."""
        return f"xyY:{self.illuminant}:{self.x:.6f},{self.y:.6f},{self.Y:.6f}"


def white_XYZ(name: str) -> np.ndarray:
    """XYZ of a reference white with Y = 1."""
    x, y = WHITEPOINTS_XY[name]
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def srgb_decode(v: np.ndarray) -> np.ndarray:
    """The sRGB transfer function, inverted: encoded values in [0, 1] -> linear light."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def hex_to_srgb(text: str) -> np.ndarray:
    """'#rrggbb' -> encoded sRGB in [0, 1]."""
    if not isinstance(text, str) or not _HEX.fullmatch(text):
        raise ValueError(f"{text!r} is not an sRGB hex colour '#rrggbb'")
    return np.array([int(text[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64) / 255.0


def adapt(XYZ: np.ndarray, source_white: str, target_white: str) -> np.ndarray:
    """Von Kries adaptation in the Bradford cone space, rows of XYZ from one white to another."""
    if source_white == target_white:
        return XYZ
    gain = (BRADFORD @ white_XYZ(target_white)) / (BRADFORD @ white_XYZ(source_white))
    m = np.linalg.inv(BRADFORD) @ np.diag(gain) @ BRADFORD
    return XYZ @ m.T


def xyz_to_lab(XYZ: np.ndarray, white: str) -> np.ndarray:
    """CIE 1976 L*a*b* of XYZ rows (Y = 1 for the white) relative to `white`."""
    t = XYZ / white_XYZ(white)
    eps = (6.0 / 29.0) ** 3  # = 216/24389, the CIE's exact form
    f = np.where(t > eps, np.cbrt(t), t / (3 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    return np.stack([116.0 * f[:, 1] - 16.0, 500.0 * (f[:, 0] - f[:, 1]), 200.0 * (f[:, 1] - f[:, 2])], axis=1)


def to_lab(sources: Sequence[Any], illuminant: str = "D65") -> np.ndarray:
    """CIELAB (n, 3) of hex strings and `XyY` values, all adapted to `illuminant`. ValueError on a bad source."""
    XYZ = np.empty((len(sources), 3))
    for i, s in enumerate(sources):
        if isinstance(s, XyY):
            if s.illuminant not in WHITEPOINTS_XY:
                raise ValueError(f"illuminant {s.illuminant!r} is unknown (known: {', '.join(WHITEPOINTS_XY)})")
            if s.y <= 0:
                raise ValueError(f"{s.key()} has chromaticity y <= 0")
            xyz = np.array([s.x * s.Y / s.y, s.Y, (1.0 - s.x - s.y) * s.Y / s.y]) / 100.0
            XYZ[i] = adapt(xyz[None, :], s.illuminant, illuminant)[0]
        else:
            XYZ[i] = adapt((SRGB_TO_XYZ @ srgb_decode(hex_to_srgb(s)))[None, :], "D65", illuminant)[0]
    return xyz_to_lab(XYZ, illuminant)


class CielabEncoder(PerceptionEncoder):
    """Colours -> their 3-d CIELAB point under `illuminant` (default D65). Deterministic, no weights."""

    name = "cielab"
    modality = "colour"

    def __init__(self, illuminant: str = "D65", batch_size: int = 4096, device: str | None = None):
        # device is accepted because the runner passes it to every encoder; arithmetic on 3 numbers needs none.
        if illuminant not in WHITEPOINTS_XY:
            raise GroundingEvalError(
                f"perception_encoder.args.illuminant: {illuminant!r} is not known; valid: {', '.join(WHITEPOINTS_XY)}"
            )
        self.illuminant = illuminant
        self._batch_size = int(batch_size)

    def identity(self) -> dict[str, Any]:
        return {
            "space": "CIELAB (CIE 1976)",
            "illuminant": self.illuminant,
            "observer": "CIE 1931 2 degree",
            "adaptation": "Bradford",
            "srgb": "IEC 61966-2-1",
            "conversion_version": CONVERSION_VERSION,
        }

    def embed(self, instances: Sequence[Instance], progress: ProgressCallback | None = None) -> np.ndarray:
        try:
            lab = to_lab([inst.source for inst in instances], self.illuminant)
        except ValueError:
            for inst in instances:  # name the first instance that failed, not just the batch
                try:
                    to_lab([inst.source], self.illuminant)
                except ValueError as exc:
                    raise GroundingEvalError(
                        f"instance {inst.id!r} of concept {inst.concept!r}: {exc}; cielab reads '#rrggbb' or an XyY"
                    ) from None
            raise
        if progress:
            progress(len(instances))
        return lab.astype(np.float32)
