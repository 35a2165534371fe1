"""`ktuberling_words`: real recordings of people saying single words, read in place from Debian's
`ktuberling-data` (the sounds of KDE's stamp toy KTuberling; GPL-2+). The references of the generative
speech tier.

The package holds one folder of recordings per language under /usr/share/ktuberling/sounds/ and, beside
each, a `<language>.soundtheme` file (XML) that names what every recording says with a language-neutral
sound name: `<sound name="nose" file="fr/patate_nez.wav"/>`,
`<sound name="egypt_camel" file="fr/egypte_chameau.wav"/>`.
A concept is the WORD a sound name says (the name without its playground's prefix, `concept_text`), its
instances every recording of that word, in every language whose theme has it and under any playground's
name ("eye" gathers the face playground's eye, the robot's and the butterfly's). So a word's references are
many speakers (one or a few per language) saying it in their language. Nothing is copied: instances point
at the package's files.

Identical files (the four Serbian themes share theirs; Spanish says "lazo" for both bow and tie) count
once: the later one is skipped as a duplicate, the rule of every clip dataset (data/clips.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from grounding_eval.data.base import Concept, GroundingDataset, SkippedInstance
from grounding_eval.data.clips import AUDIO_EXTENSIONS, Candidate, assemble
from grounding_eval.data.distro_sounds import package_version
from grounding_eval.data.options import ClipOptions, clip_builder
from grounding_eval.errors import GroundingEvalError

NAME = "ktuberling_words"
PACKAGE = "ktuberling-data"
# Where the package keeps its recordings; module-level so that tests (and unusual installs) can point it elsewhere.
SOUNDS_ROOT = "/usr/share/ktuberling/sounds"
INSTALL_HINT = f"run `sudo apt-get install {PACKAGE}` (or bash .ci/install)"
# The playgrounds' prefixes of sound names: "egypt_camel" says camel.
SCENES = ("egypt_", "moon_", "tv_", "pizzeria_", "xmas_", "robot_workshop_", "butterflies_", "tux-")
# Sound names whose word the package spells in one piece or misspells, or that say more than their word.
WORDS = {"egypt_palmtree": "palm tree", "moon_fallingstar": "falling star", "egypt_sphynx": "sphinx",
         "pizzeria_brocolli": "broccoli", "moon_moonwalker": "moon walker", "sherif-tux": "sheriff tux",
         "whitch-tux": "witch tux",
         "xmas_ball": "christmas ball",  # fr "boule de Noël", not the face playground's "ballon"
         "tux-bow": "archery bow"}  # fr "arc", not the face playground's bow ("noeud papillon", es "lazo")


def concept_text(sound: str) -> str:
    """The word a sound name says: "egypt_palmtree" -> "palm tree", "pizzeria_olive2" -> "olive",
    "robot_workshop_eye" -> "eye" (so it joins the face playground's "eye")."""
    if sound in WORDS:
        return WORDS[sound]
    word = next((sound[len(p):] for p in SCENES if sound.startswith(p)), sound)
    return " ".join(word.rstrip("0123456789").replace("_", " ").replace("-", " ").split()).lower()


def sounds_root() -> Path:
    """The installed package's sounds folder; a missing package is one line naming it and the fix."""
    root = Path(SOUNDS_ROOT)
    if not root.is_dir() or not any(root.glob("*.soundtheme")):
        raise GroundingEvalError(f"Debian package {PACKAGE} is not installed (no sound themes in {root}): {INSTALL_HINT}")
    return root


def read_themes(root: Path, languages: Sequence[str] | None = None) -> tuple[list[tuple[str, str, str]], dict[str, int]]:
    """(language, sound name, file relative to `root`) for every theme entry whose file is there, and the
    number of entries per language whose file is not (the package's `id` theme names a folder it lacks)."""
    themes = {p.name[: -len(".soundtheme")]: p for p in sorted(root.glob("*.soundtheme"))}
    if languages is not None:
        unknown = [lang for lang in languages if lang not in themes]
        if unknown:
            raise GroundingEvalError(f"{NAME}: no sound theme for language {unknown[0]!r} in {root}; "
                                     f"languages: {', '.join(themes)}")
        themes = {lang: themes[lang] for lang in sorted(set(languages))}
    entries: list[tuple[str, str, str]] = []
    absent: Counter[str] = Counter()
    for lang, path in themes.items():
        try:
            sounds = ET.parse(path).getroot().iter("sound")
        except ET.ParseError as exc:
            raise GroundingEvalError(f"{NAME}: {path} is not a readable sound theme ({exc}); reinstall {PACKAGE}") from None
        for s in sounds:
            name, rel = s.get("name"), s.get("file")
            if not name or not rel:
                continue
            if (lang, name, rel) in entries:
                continue  # the nn theme lists its face playground twice
            if (root / rel).is_file():
                entries.append((lang, name, rel))
            else:
                absent[lang] += 1
    return entries, dict(sorted(absent.items()))


@clip_builder
def build_ktuberling_words(languages: list[str] | None = None, *, clips: ClipOptions) -> GroundingDataset:
    """One concept per word the KTuberling sound names say, its instances that word spoken in every language
    whose theme has it (under any playground's sound name). `languages` limits the themes read (default all);
    the clip options are every clip dataset's: `min_clips_per_class` keeps the words with at least that many
    distinct recordings."""
    root = sounds_root()
    entries, absent = read_themes(root, languages)
    words = sorted({concept_text(name) for _, name, _ in entries})
    concepts = [Concept(name=w, text=w, parent="Speech") for w in words]
    candidates = [Candidate(id=f"{lang}:{name}", concept=concept_text(name), path=str(root / rel),
                            meta={"language": lang, "sound": name, "file": rel}) for lang, name, rel in entries]
    # A word with fewer recordings listed than min_clips_per_class cannot keep the class: dropped before its
    # files are decoded (at 20, 164 of the 182 words), and reported as assemble reports a dropped class.
    listed_per_word = Counter(c.concept for c in candidates)
    least = clips.min_clips_per_class
    hopeless = {w: f"{n} recording(s) listed, fewer than {least} = min_clips_per_class"
                for w, n in sorted(listed_per_word.items()) if n < least}
    skipped = [SkippedInstance(c.id, f"class dropped ({hopeless[c.concept]})") for c in candidates if c.concept in hopeless]
    listed = {rel for _, _, rel in entries}
    folders = sorted({rel.split("/")[0] for rel in listed})  # the folders of the themes read
    unlisted = sum(1 for f in folders for p in (root / f).iterdir()
                   if p.suffix.lower() in AUDIO_EXTENSIONS and f"{f}/{p.name}" not in listed)
    data = assemble(NAME, [c for c in concepts if c.name not in hopeless],
                    [c for c in candidates if c.concept not in hopeless], options=clips, cache_root=root,
                    skipped=skipped, provenance={
                        "package": PACKAGE, "version": package_version(PACKAGE), "root": str(root), "licence": "GPL-2+",
                        "languages": sorted({lang for lang, _, _ in entries}), "theme_entries_without_file": absent,
                        "recordings_in_no_theme": unlisted})
    dropped = {**hopeless, **data.provenance.get("dropped_classes", {})}
    if dropped:
        data.provenance["dropped_classes"] = dict(sorted(dropped.items()))
    return data


def describe() -> dict[str, str]:
    """For `grounding-eval datasets`: counts from the themes, without decoding audio."""
    try:
        entries, _ = read_themes(sounds_root())
    except GroundingEvalError as exc:
        return {"source": str(exc)}
    per_word = Counter(concept_text(name) for _, name, _ in entries)
    return {"source": f"Debian {PACKAGE} ({SOUNDS_ROOT}), read in place",
            "clips": f"{len(entries)} theme entries in {len({lang for lang, _, _ in entries})} languages (before duplicates)",
            "classes": f"{len(per_word)} words, {min(per_word.values())}-{max(per_word.values())} entries each"}
