"""Reference notes for the generative notes tier: real sampled instruments, offline.

Two sources, both real recordings of instruments: single notes rendered by Debian's `fluidsynth` from the
FluidR3 General MIDI soundfont (`fluid-soundfont-gm`: multi-sampled real instruments), one per
(instrument, pitch) in the task's list, and the instrument recordings the offline default task reads
(`distro_sounds`, from gcompris-qt-data), under the same concept names. Rendered once into the datasets
folder; the soundfont's and fluidsynth's versions are in the fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from grounding_eval.atomic import file_sha256
from grounding_eval.data.base import Concept, GroundingDataset, Instance, SkippedInstance
from grounding_eval.data.distro_sounds import build_distro_sounds
from grounding_eval.errors import GroundingEvalError
from grounding_eval.paths import datasets_dir

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
# distro_sounds concept -> General MIDI program (0-based). The names are distro_sounds' AudioSet labels.
GM_PROGRAMS = {"Piano": 0, "Organ": 19, "Guitar": 24, "Violin, fiddle": 40, "Cello": 42, "Harp": 46, "Trumpet": 56,
               "Saxophone": 65, "Clarinet": 71, "Flute": 73}
NOTE_NAMES = {"C": 0, "C#": 1, "D": 2, "D#": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "G#": 8, "A": 9, "A#": 10, "B": 11}


def midi_number(note: str) -> int:
    """'A4' -> 69, 'C#5' -> 73 (scientific pitch notation, C4 = 60)."""
    name, octave = note[:-1], note[-1:]
    if name not in NOTE_NAMES or not octave.isdigit():
        raise GroundingEvalError(f"note {note!r}: write it as a name and octave such as A4, C#5")
    return 12 * (int(octave) + 1) + NOTE_NAMES[name]


def frequency(note: str) -> float:
    """Equal temperament, A4 = 440 Hz."""
    return 440.0 * 2 ** ((midi_number(note) - 69) / 12)


def _midi_file(program: int, note: int, seconds: float, velocity: int = 100) -> bytes:
    """A format-0 MIDI file: program change, one note held `seconds`, then its release (480 ticks/beat, 120 bpm)."""
    ticks = int(round(seconds * 960))

    def vlq(n: int) -> bytes:
        out = [n & 0x7F]
        while n > 127:
            n >>= 7
            out.append((n & 0x7F) | 0x80)
        return bytes(reversed(out))

    track = (b"\x00\xc0" + bytes([program]) + b"\x00\x90" + bytes([note, velocity])
             + vlq(ticks) + b"\x80" + bytes([note, 0]) + vlq(480) + b"\xff\x2f\x00")
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(track)) + track


def _fluidsynth_version() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None or not Path(SOUNDFONT).is_file():
        raise GroundingEvalError("notes references need Debian's fluidsynth and fluid-soundfont-gm: "
                                 "apt-get install fluidsynth fluid-soundfont-gm (bash .ci/install does)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.splitlines()[0].strip() if out else "unknown"


def render_note(program: int, note: str, seconds: float, out: Path, sample_rate: int = 44100) -> None:
    """Render one note to a WAV file with fluidsynth (no audio device, no MIDI input)."""
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "note.mid"
        mid.write_bytes(_midi_file(program, midi_number(note), seconds))
        wav = Path(tmp) / "note.wav"
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(sample_rate), "-F", str(wav), SOUNDFONT, str(mid)],
                       check=True, capture_output=True, timeout=120)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(wav), str(out))


def build_notes(instruments: list[str] | None = None, notes: list[str] | None = None, seconds: float = 1.0,
                include_recordings: bool = True, root: str | None = None) -> GroundingDataset:
    """Concepts are instruments; instances are fluidsynth notes (each instrument at each pitch in `notes`)
    plus, when `include_recordings`, the distro_sounds recordings of those instruments."""
    instruments = list(instruments or GM_PROGRAMS)
    notes = list(notes or ["C4", "E4", "G4", "A4", "C5"])
    unknown = [i for i in instruments if i not in GM_PROGRAMS]
    if unknown:
        raise GroundingEvalError(f"notes dataset: instrument {unknown[0]!r} has no General MIDI program here; "
                                 f"valid: {', '.join(GM_PROGRAMS)}")
    for n in notes:
        midi_number(n)
    version = _fluidsynth_version()
    stamp = {"soundfont_sha256": _soundfont_hash(), "fluidsynth": version, "seconds": seconds, "renderer": 1}
    folder = Path(root) if root else datasets_dir() / "notes_fluidsynth" / hashlib.sha256(
        json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:16]
    instances: list[Instance] = []
    for inst in instruments:
        for note in notes:
            path = folder / f"{GM_PROGRAMS[inst]:03d}_{note.replace('#', 's')}.wav"
            if not path.is_file():  # rendered into a temporary file and moved: a kill leaves no half file
                render_note(GM_PROGRAMS[inst], note, seconds, path)
            instances.append(Instance(id=f"fluidsynth:{inst}:{note}", concept=inst, source=str(path),
                                      content_hash=file_sha256(str(path)),
                                      meta={"source": "fluidsynth", "note": note, "frequency": frequency(note)}))
    skipped: list[SkippedInstance] = []
    provenance = {"fluidsynth": version, "soundfont": SOUNDFONT, "soundfont_sha256": stamp["soundfont_sha256"],
                  "licence": "FluidR3_GM: MIT (Debian fluid-soundfont-gm)"}
    if include_recordings:
        distro = build_distro_sounds()  # all packages, as the offline default builds it (one shared folder)
        instances += [i for i in distro.instances if i.concept in instruments]
        provenance["recordings"] = distro.provenance
    concepts = [Concept(name=i, text=i.split(",")[0].lower(), parent="Musical instrument") for i in instruments]
    return GroundingDataset(name="notes", concepts=concepts, instances=instances, skipped=skipped, provenance=provenance)


def _soundfont_hash() -> str:
    p = Path(SOUNDFONT)
    st = p.stat()
    # 140 MB: hash the size, mtime and the first and last MiB rather than the whole file each run.
    h = hashlib.sha256(f"{st.st_size}\0{int(st.st_mtime)}".encode())
    with open(p, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, st.st_size - (1 << 20)))
        h.update(f.read())
    return h.hexdigest()
