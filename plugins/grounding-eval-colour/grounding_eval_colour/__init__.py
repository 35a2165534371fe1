"""grounding-eval plugin: the colour grounding family.

It adds, through the same hooks as any third-party plugin and with nothing in the core:
- datasets `xkcd_colors` (949 XKCD survey names, one sRGB value each) and `munsell_colors` (Munsell
  renotation chips grouped by their ten hue names);
- the perception encoder `cielab` (a colour -> its CIELAB point under D65; no weights);
- the tasks in `tasks/` (`xkcd_color_probe`, `munsell_color_probe`).

Install: `pip install -e plugins/grounding-eval-colour` (pulls matplotlib and colour-science).
"""

from __future__ import annotations

from pathlib import Path
from grounding_eval.hookspecs import hookimpl
from grounding_eval.registry import lazy

TASK_DIR = Path(__file__).resolve().parent / "tasks"


_cielab = lazy("grounding_eval_colour.cielab", "CielabEncoder")  # args checked against its __init__


# Lazy builders: the registry checks task args against their real signatures (no **args escape).
_xkcd = lazy("grounding_eval_colour.datasets", "build_xkcd_colors")
_munsell = lazy("grounding_eval_colour.datasets", "build_munsell_colors")


@hookimpl
def register_tasks(register):
    register(TASK_DIR)


@hookimpl
def register_perception_encoders(register):
    register("cielab", _cielab, modality="colour",
             description="a colour (sRGB hex or xyY) -> its CIELAB point under D65 (args: illuminant); no weights")


@hookimpl
def register_datasets(register):
    register("xkcd_colors", _xkcd,
             description="XKCD colour survey: 949 colour names with one sRGB value each (CC0, shipped in matplotlib)")
    register("munsell_colors", _munsell,
             description="Munsell renotation chips (colour-science) as instances of their 10 hue names (args: subset=real|all)")
