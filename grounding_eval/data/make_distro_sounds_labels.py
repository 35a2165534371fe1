"""Write the edition-2 label map of `distro_sounds` (distro_sounds_labels_2.csv) from the installed packages.

    python -m grounding_eval.data.make_distro_sounds_labels [OUT.csv]

The CSV is what the dataset reads; this script is how it was written, kept so that a package upgrade can
be re-labelled by the same rules. Every audio file under each package's root gets one row: an AudioSet
class name (from the rules below, which read the file's name and folder) or the reason it has none.
The edition-1 rows (gcompris-qt-data, minetest-data, sound-theme-freedesktop) are carried over unchanged.

A class keeps at most CLASS_CAP clips, taken round-robin over packages (then by path), so that one game's
fourteen chicken clips do not outweigh every other class in the clip-averaged scores; the rest are listed
with the reason "class cap".
"""

from __future__ import annotations

import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

from grounding_eval.atomic import file_sha256
from grounding_eval.data import distro_sounds as ds
from grounding_eval.data.clips import AUDIO_EXTENSIONS, ClipCheck, inspect_file

CLASS_CAP = 8
# Shorter clips are listed as too short (the gcompris drip, 0.09 s, is the shortest edition-1 clip).
MIN_SECONDS = 0.05

# (package, regex on the path under the package root, AudioSet class, note). First match wins; a rule
# with class "" gives the reason instead. Labels are read from names and folders: the games name their
# effects after what makes the sound.
RULES: list[tuple[str, str, str, str]] = [
    # --- tuxpaint-stamps-default: each stamp's own sound effect; *_desc* files are spoken descriptions
    ("tuxpaint-stamps-default", r"_desc", "", "spoken description of a stamp (speech, many languages)"),
    ("tuxpaint-stamps-default", r"symbols/(alphabets|math)/", "", "a spoken letter or digit"),
    ("tuxpaint-stamps-default", r"symbols/faces/", "", "a voiced emotion (excited/happy/mad/sad): no single class"),
    ("tuxpaint-stamps-default", r"_[a-z]{2}(_[A-Z]{2})?\.ogg$", "", "localised (spoken) variant of a stamp sound"),
    ("tuxpaint-stamps-default", r"/frog\.ogg$", "Frog", "frog stamp"),
    ("tuxpaint-stamps-default", r"birds/(blackbird|lark|cuckoo|quetzal|tucan|penguin)\.ogg$",
     "Bird vocalization, bird call, bird song", "bird stamp (song or call)"),
    ("tuxpaint-stamps-default", r"birds/crow\.ogg$", "Crow", "crow stamp"),
    ("tuxpaint-stamps-default", r"birds/(duck|drake)\.ogg$", "Duck", "duck stamp"),
    ("tuxpaint-stamps-default", r"birds/gander\.ogg$", "Goose", "gander stamp"),
    ("tuxpaint-stamps-default", r"birds/(hen|rooster)\.ogg$", "Chicken, rooster", "hen / rooster stamp"),
    ("tuxpaint-stamps-default", r"birds/owl\.ogg$", "Owl", "owl stamp"),
    ("tuxpaint-stamps-default", r"birds/seagull\.ogg$", "Gull, seagull", "seagull stamp"),
    ("tuxpaint-stamps-default", r"birds/turkey\.ogg$", "Turkey", "turkey stamp"),
    ("tuxpaint-stamps-default", r"insects/(bee|hornet)\.ogg$", "Bee, wasp, etc.", "bee / hornet stamp"),
    ("tuxpaint-stamps-default", r"insects/mosquito\.ogg$", "Mosquito", "mosquito stamp"),
    ("tuxpaint-stamps-default", r"aquatic/(whale|orca|dolphin)\.ogg$", "Whale vocalization", "cetacean stamp"),
    ("tuxpaint-stamps-default", r"bovines/(bison|bull|cow|cow_white)\.ogg$", "Cattle, bovinae", "cattle stamp"),
    ("tuxpaint-stamps-default", r"bovines/(goat|mountaingoat)\.ogg$", "Goat", "goat stamp"),
    ("tuxpaint-stamps-default", r"bovines/(sheep|sheep_lamb|ram)\.ogg$", "Sheep", "sheep stamp"),
    ("tuxpaint-stamps-default", r"cats/(lion|tiger)\.ogg$", "Roaring cats (lions, tigers)", "lion / tiger stamp"),
    ("tuxpaint-stamps-default", r"dogs/dog\.ogg$", "Dog", "dog stamp"),
    ("tuxpaint-stamps-default", r"equines/horse\.ogg$", "Horse", "horse stamp"),
    ("tuxpaint-stamps-default", r"mammals/pig(_golden2?)?\.ogg$", "Pig", "pig stamp"),
    ("tuxpaint-stamps-default", r"rodents/mouse\.ogg$", "Mouse", "mouse stamp"),
    ("tuxpaint-stamps-default", r"halloween/blackcat\.ogg$", "Cat", "cat stamp"),
    ("tuxpaint-stamps-default", r"hobbies/camera_35mm\.ogg$", "Camera", "35 mm camera stamp"),
    ("tuxpaint-stamps-default", r"percussion/cymbal_crash\.ogg$", "Crash cymbal", "crash cymbal stamp"),
    ("tuxpaint-stamps-default", r"percussion/drum_tomtom_floor\.ogg$", "Drum", "floor tom stamp"),
    ("tuxpaint-stamps-default", r"percussion/drumkit\.ogg$", "Drum kit", "drum kit stamp"),
    ("tuxpaint-stamps-default", r"string/cello\.ogg$", "Cello", "cello stamp"),
    ("tuxpaint-stamps-default", r"string/violin\.ogg$", "Violin, fiddle", "violin stamp"),
    ("tuxpaint-stamps-default", r"wind/bassoon\.ogg$", "Bassoon", "bassoon stamp"),
    ("tuxpaint-stamps-default", r"arttools/scissors_small_(open|closed)\.ogg$", "Scissors", "scissors stamp"),
    ("tuxpaint-stamps-default", r"household/toilet\.ogg$", "Toilet flush", "toilet stamp"),
    ("tuxpaint-stamps-default", r"tools/(hammer|mallet_metal)\.ogg$", "Hammer", "hammer / mallet stamp"),
    ("tuxpaint-stamps-default", r"tools/saw\.ogg$", "Sawing", "saw stamp"),
    ("tuxpaint-stamps-default", r"household/vacuum_cleaner\.ogg$", "Vacuum cleaner", "vacuum cleaner stamp"),
    ("tuxpaint-stamps-default", r"naturalforces/lightningbolt\.ogg$", "Thunder", "lightning bolt stamp"),
    ("tuxpaint-stamps-default", r"newyears/fireworks\.ogg$", "Fireworks", "fireworks stamp"),
    ("tuxpaint-stamps-default", r"emergency/firetruck\.ogg$", "Fire engine, fire truck (siren)", "fire truck stamp"),
    ("tuxpaint-stamps-default", r"", "", "stamp sound with no AudioSet class that names it"),
    # --- tuxpaint-data: the paint program's tool sounds
    ("tuxpaint-data", r"^harp\.wav$", "Harp", "harp glissando"),
    ("tuxpaint-data", r"^giggle\.wav$", "Laughter", "giggle"),
    ("tuxpaint-data", r"^typewriterbell\.wav$", "Typewriter", "typewriter carriage bell"),
    ("tuxpaint-data", r"", "", "drawing-tool or UI sound effect: no AudioSet class fits"),
    # --- megaglest-data: units and tilesets; voice lines are speech
    ("megaglest-data", r"units/chicken/sounds/", "Chicken, rooster", "chicken unit"),
    ("megaglest-data", r"tilesets/[^/]+/sounds/chicken\.wav$", "Chicken, rooster", "tileset chicken ambience"),
    ("megaglest-data", r"commondata/sounds/cow_", "Cattle, bovinae", "cow unit"),
    ("megaglest-data", r"units/bull/sounds/", "Cattle, bovinae", "bull unit"),
    ("megaglest-data", r"(commondata/sounds/pig_|units/wild_sow/sounds/)", "Pig", "pig / wild sow unit"),
    ("megaglest-data", r"units/sheep/sounds/", "Sheep", "sheep unit"),
    ("megaglest-data", r"units/beehive/sounds/bee\d\.wav$", "Bee, wasp, etc.", "beehive unit"),
    ("megaglest-data", r"commondata/sounds/anvil\d\.wav$", "Hammer", "hammer on an anvil (blacksmith)"),
    ("megaglest-data", r"commondata/sounds/worker_harvest_wood\d\.wav$", "Chop", "worker chopping wood"),
    ("megaglest-data", r"tilesets/[^/]+/sounds/rain\.ogg$", "Rain", "tileset rain ambience"),
    ("megaglest-data", r"tilesets/[^/]+/sounds/wind\.ogg$", "Wind", "tileset wind ambience"),
    ("megaglest-data", r"tilesets/[^/]+/sounds/wolf\.wav$", "Howl", "tileset wolf howl"),
    ("megaglest-data", r"commondata/sounds/\w+_(ack|select)\d+\.wav$", "Speech", "unit voice line"),
    ("megaglest-data", r"/music/", "", "game music"),
    ("megaglest-data", r"", "", "game effect (weapon, magic, unit action or UI): no AudioSet class fits clearly"),
    # --- wesnoth-1.16-data
    ("wesnoth-1.16-data", r"sounds/ambient/birds\d\.ogg$", "Bird vocalization, bird call, bird song", "bird ambience"),
    ("wesnoth-1.16-data", r"sounds/ambient/campfire\.ogg$", "Fire", "campfire"),
    ("wesnoth-1.16-data", r"sounds/fire\.wav$", "Fire", "fire attack"),
    ("wesnoth-1.16-data", r"sounds/ambient/wardrums\.ogg$", "Drum", "war drums"),
    ("wesnoth-1.16-data", r"sounds/(bow|bow-miss|crossbow|crossbow-miss)\.ogg$", "Arrow", "bow / crossbow shot"),
    ("wesnoth-1.16-data", r"sounds/explosion\.ogg$", "Explosion", "explosion"),
    ("wesnoth-1.16-data", r"sounds/(gunshot\.wav|thunderstick(-miss)?\.ogg)$", "Gunshot, gunfire", "musket shot"),
    ("wesnoth-1.16-data", r"sounds/horse-(canter|elf-canter)\.wav$", "Horse", "horse cantering"),
    ("wesnoth-1.16-data", r"sounds/horse-(die|hit-\d)\.ogg$", "Horse", "horse cry"),
    ("wesnoth-1.16-data", r"sounds/wolf-growl-\d\.ogg$", "Growling", "wolf growl"),
    ("wesnoth-1.16-data", r"sounds/hiss(-big|-hit|-die)?\.wav$", "Hiss", "hiss"),
    ("wesnoth-1.16-data", r"sounds/(dwarf-laugh\.wav|witches-laugh\.wav)$", "Laughter", "laugh"),
    ("wesnoth-1.16-data", r"sounds/human(-female|-old)?-hit-\d\.ogg$", "Grunt", "a human grunting when hit"),
    ("wesnoth-1.16-data", r"sounds/lightning\.ogg$", "Thunder", "lightning attack: a thunderclap"),
    ("wesnoth-1.16-data", r"", "", "game effect (weapon, magic, creature or UI): no AudioSet class fits clearly"),
    # --- lincity-ng-data: a city builder; each building has its ambience
    ("lincity-ng-data", r"sounds/Fire\d\.wav$", "Fire", "fire"),
    ("lincity-ng-data", r"sounds/RailTrain\d\.wav$", "Train", "railway train"),
    ("lincity-ng-data", r"sounds/Trafic(High|Low)\d\.wav$", "Traffic noise, roadway noise", "road traffic"),
    ("lincity-ng-data", r"sounds/SportsCroud\d\.wav$", "Crowd", "crowd in a sports stadium"),
    ("lincity-ng-data", r"sounds/Blacksmith\d\.wav$", "Hammer", "blacksmith hammering"),
    ("lincity-ng-data", r"sounds/RocketExplosion1\.wav$", "Explosion", "rocket explosion"),
    ("lincity-ng-data", r"^music/", "", "game music"),
    ("lincity-ng-data", r"", "", "building ambience or UI sound: a mix with no single AudioSet class"),
    # --- tuxtype-data
    ("tuxtype-data", r"sounds/explosion\.wav$", "Explosion", "explosion"),
    ("tuxtype-data", r"sounds/cheer\.wav$", "Cheering", "cheer"),
    ("tuxtype-data", r"sounds/harp\.wav$", "Harp", "harp glissando"),
    ("tuxtype-data", r"\.ogg$", "", "game music"),
    ("tuxtype-data", r"", "", "game feedback sound: no AudioSet class fits clearly"),
    # --- frozen-bubble-data
    ("frozen-bubble-data", r"snd/applause\.ogg$", "Applause", "applause"),
    ("frozen-bubble-data", r"snd/snore\.ogg$", "Snoring", "snoring"),
    ("frozen-bubble-data", r"snd/typewriter\.ogg$", "Typewriter", "typewriter"),
    ("frozen-bubble-data", r"zik", "", "game music"),
    ("frozen-bubble-data", r"", "", "game feedback sound: no AudioSet class fits clearly"),
    # --- supertux-data
    ("supertux-data", r"^music/", "", "game music"),
    ("supertux-data", r"sounds/thunder\.wav$", "Thunder", "thunder"),
    ("supertux-data", r"sounds/rain\.wav$", "Rain", "rain"),
    ("supertux-data", r"sounds/splash\.(ogg|wav)$", "Splash, splatter", "splash into water"),
    ("supertux-data", r"sounds/(fireworks\.wav|firecracker\.ogg)$", "Fireworks", "fireworks / firecracker"),
    ("supertux-data", r"sounds/explosion\.wav$", "Explosion", "explosion"),
    ("supertux-data", r"sounds/door\.wav$", "Door", "door"),
    ("supertux-data", r"sounds/waterfall\.wav$", "Waterfall", "waterfall"),
    ("supertux-data", r"sounds/(fire\.ogg|flame\.wav)$", "Fire", "fire / flame"),
    ("supertux-data", r"sounds/ticking\.wav$", "Tick", "clock ticking"),
    ("supertux-data", r"sounds/savebell(2|_low)\.wav$", "Bell", "bell"),
    ("supertux-data", r"", "", "game effect or UI sound: no AudioSet class fits clearly"),
    # --- hedgewars-data: effects, and voice packs saying the same lines in many voices
    ("hedgewars-data", r"^Music/", "", "game music"),
    ("hedgewars-data", r"voices/[^/]+/Laugh\.ogg$", "Laughter", "character laughing"),
    ("hedgewars-data", r"voices/[^/]+/PoisonCough\.ogg$", "Cough", "character coughing"),
    ("hedgewars-data", r"voices/[^/]+/(Ooff\d|Ow\d|Ouch)\.ogg$", "Grunt", "character grunting when hit"),
    ("hedgewars-data", r"voices/[^/]+/(Hello|Yessir|Byebye|Incoming|Takecover|Victory|Excellent)\.ogg$",
     "Speech", "character voice line"),
    ("hedgewars-data", r"voices/", "", "character voice line (exclamation, effort or scream): not used"),
    ("hedgewars-data", r"Sounds/Droplet\d\.ogg$", "Drip", "water droplet"),
    ("hedgewars-data", r"Sounds/Whistle\.ogg$", "Whistle", "whistle"),
    ("hedgewars-data", r"Sounds/shutterclick\.ogg$", "Camera", "camera shutter"),
    ("hedgewars-data", r"Sounds/splash\.ogg$", "Splash, splatter", "splash into water"),
    ("hedgewars-data", r"Sounds/steps\.ogg$", "Walk, footsteps", "footsteps"),
    ("hedgewars-data", r"Sounds/hammer\.ogg$", "Hammer", "hammer"),
    ("hedgewars-data", r"Sounds/pickhammer\.ogg$", "Jackhammer", "pneumatic drill"),
    ("hedgewars-data", r"Sounds/bee\.ogg$", "Bee, wasp, etc.", "bee"),
    ("hedgewars-data", r"Sounds/explosion\.ogg$", "Explosion", "explosion"),
    ("hedgewars-data", r"Sounds/shotgunfire\.ogg$", "Gunshot, gunfire", "shotgun shot"),
    ("hedgewars-data", r"Sounds/whipcrack\.ogg$", "Whip", "whip crack"),
    ("hedgewars-data", r"", "", "game effect or UI sound: no AudioSet class fits clearly"),
    # --- sonic-pi-samples: a live-coding sample library (mostly CC0)
    ("sonic-pi-samples", r"samples/tabla_", "Tabla", "tabla stroke"),
    ("sonic-pi-samples", r"samples/loop_tabla", "Tabla", "tabla loop"),
    ("sonic-pi-samples", r"samples/drum_snare_", "Snare drum", "acoustic snare drum"),
    ("sonic-pi-samples", r"samples/(drum_bass_|drum_heavy_kick)", "Bass drum", "acoustic bass drum"),
    ("sonic-pi-samples", r"samples/drum_cymbal_(closed|pedal)", "Hi-hat", "hi-hat"),
    ("sonic-pi-samples", r"samples/drum_cymbal_(hard|soft|open)", "Cymbal", "cymbal"),
    ("sonic-pi-samples", r"samples/drum_splash_", "Cymbal", "splash cymbal"),
    ("sonic-pi-samples", r"samples/drum_cowbell", "Cowbell", "cowbell"),
    ("sonic-pi-samples", r"samples/drum_tom_", "Drum", "tom drum"),
    ("sonic-pi-samples", r"samples/drum_roll", "Drum roll", "drum roll"),
    ("sonic-pi-samples", r"samples/guit_", "Guitar", "guitar"),
    ("sonic-pi-samples", r"samples/misc_burp", "Burping, eructation", "burp"),
    ("sonic-pi-samples", r"samples/misc_crow", "Crow", "crow"),
    ("sonic-pi-samples", r"samples/perc_snap", "Finger snapping", "finger snap"),
    ("sonic-pi-samples", r"samples/perc_door", "Door", "door"),
    ("sonic-pi-samples", r"samples/perc_bell", "Bell", "struck bell"),
    ("sonic-pi-samples", r"samples/loop_(amen|amen_full|breakbeat)\.flac$", "Drum beat", "sampled drum break"),
    ("sonic-pi-samples", r"samples/vinyl_(scratch|backspin|rewind)", "Scratching (performance technique)", "record scratching"),
    ("sonic-pi-samples", r"samples/(bd|sn|elec|glitch|bass|loop|mehackit|ambi)_", "",
     "electronic or processed sample (synth, drum machine, loop): no single AudioSet class"),
    ("sonic-pi-samples", r"", "", "sample with no AudioSet class that names it"),
    # --- lmms-common: a music studio's sample library
    ("lmms-common", r"drums/(snare0\d|snare_acoustic01|snare_muffled0\d)\.ogg$", "Snare drum", "snare drum"),
    ("lmms-common", r"drums/bassdrum_acoustic0\d\.ogg$", "Bass drum", "acoustic bass drum"),
    ("lmms-common", r"drums/hihat_", "Hi-hat", "hi-hat"),
    ("lmms-common", r"drums/crash0\d\.ogg$", "Crash cymbal", "crash cymbal"),
    ("lmms-common", r"drums/ride0\d\.ogg$", "Cymbal", "ride cymbal"),
    ("lmms-common", r"drums/(rim01|snare_rim01|sidestick01)\.ogg$", "Rimshot", "rimshot / side stick"),
    ("lmms-common", r"drums/tom(0\d|_hi01|_low01|_mid01)\.ogg$", "Drum", "tom drum"),
    ("lmms-common", r"drums/clap0\d\.ogg$", "Clapping", "hand clap"),
    ("lmms-common", r"drums/shaker0\d\.ogg$", "Maraca", "shaker"),
    ("lmms-common", r"instruments/cello01", "Cello", "cello"),
    ("lmms-common", r"instruments/(church_organ0\d|e_organ01)", "Organ", "organ"),
    ("lmms-common", r"instruments/e_piano_accord0\d", "Electric piano", "electric piano chord"),
    ("lmms-common", r"instruments/flute01", "Flute", "flute"),
    ("lmms-common", r"instruments/harpsichord01", "Harpsichord", "harpsichord"),
    ("lmms-common", r"instruments/piano0\d", "Piano", "piano"),
    ("lmms-common", r"instruments/steel_guitar", "Guitar", "steel-string guitar"),
    ("lmms-common", r"latin/latin_guitar0\d", "Guitar", "latin guitar"),
    ("lmms-common", r"instruments/trumpet01", "Trumpet", "trumpet"),
    ("lmms-common", r"instruments/violin_", "Violin, fiddle", "violin"),
    ("lmms-common", r"effects/wind_chimes01", "Wind chime", "wind chimes"),
    ("lmms-common", r"misc/applause01", "Applause", "applause"),
    ("lmms-common", r"misc/raving_crowd01", "Crowd", "crowd"),
    ("lmms-common", r"effects/scratch01", "Scratching (performance technique)", "record scratch"),
    ("lmms-common", r"misc/metronome0\d", "Tick", "metronome tick"),
    ("lmms-common", r"beats/break0\d\.ogg$", "Drum kit", "a drum kit playing a break"),
    ("lmms-common", r"beats/jungle01\.ogg$", "Drum beat", "sampled drum break"),
    ("lmms-common", r"misc/snaph01", "Finger snapping", "a short snap (0.18 s), by name and length"),
    ("lmms-common", r"beats/(909beat01|electro_beat0\d)\.ogg$", "Drum machine", "drum-machine beat"),
    ("lmms-common", r"(stringsnpads/(juno_pad01|korg_poly6_drone01|nord_ambient01)|basses/matrix1000_pluck01|"
     r"bassloops/tb303_01)\.ogg$", "Synthesizer", "a named hardware synthesiser"),
    ("lmms-common", r"instruments/bassslap0\d", "Bass guitar", "slap bass"),
    ("lmms-common", r"", "", "synthesised, electronic or looped sample: no single AudioSet class"),
    # --- hydrogen-data: the GM rock kit (acoustic drum recordings); the TR-808 kit is an emulation
    ("hydrogen-data", r"GMRockKit/Snare-", "Snare drum", "snare drum"),
    ("hydrogen-data", r"GMRockKit/SnareRimshot-", "Rimshot", "rimshot"),
    ("hydrogen-data", r"GMRockKit/SideStick-", "Rimshot", "side stick"),
    ("hydrogen-data", r"GMRockKit/Kick-", "Bass drum", "bass drum"),
    ("hydrogen-data", r"GMRockKit/Hat", "Hi-hat", "hi-hat"),
    ("hydrogen-data", r"GMRockKit/Crash-", "Crash cymbal", "crash cymbal"),
    ("hydrogen-data", r"GMRockKit/(Ride|24Ride|Splash)-", "Cymbal", "ride / splash cymbal"),
    ("hydrogen-data", r"GMRockKit/Cowbell-", "Cowbell", "cowbell"),
    ("hydrogen-data", r"GMRockKit/Tom", "Drum", "tom drum"),
    ("hydrogen-data", r"GMRockKit/HandClap", "Clapping", "hand clap"),
    ("hydrogen-data", r"GMRockKit/Bell-", "", "ride-cymbal bell: neither Bell nor a clear Cymbal clip"),
    ("hydrogen-data", r"TR808EmulationKit/", "Drum machine", "TR-808 drum-machine hit (emulation)"),
    ("hydrogen-data", r"", "", "UI click or empty sample"),
]


def _audio_files(package: str, root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def _rule(package: str, path: str) -> tuple[str, str]:
    for pkg, pattern, label, note in RULES:
        if pkg == package and re.search(pattern, path):
            return label, note
    raise SystemExit(f"no rule for {package}:{path}")


def build_rows() -> list[dict[str, str]]:
    old_rows, _ = ds.read_label_map(ds.LABEL_MAPS[1])
    rows = [{"package": r.package, "path": r.path, "label": r.label, "note": r.note} for r in old_rows]
    first_with_bytes: dict[str, str] = {}
    for package in ds.EDITION_PACKAGES[2]:
        if package in ds.EDITION_PACKAGES[1]:
            continue
        root = ds._locate(package)
        for path in _audio_files(package, root):
            label, note = _rule(package, path)
            if label:
                # A clip the harness cannot decode, or too short to embed, is listed with why (some lmms
                # "*.ogg" samples are malformed WAV files).
                problem = inspect_file(str(root / path), ClipCheck(min_seconds=MIN_SECONDS)).reason
                if problem:
                    kind = "too short" if problem.startswith("too short") else "unreadable by libsndfile"
                    label, note = "", f"{kind} ({note})"
            if label:
                # The same recording under two names (a tileset sound copied into every tileset) would
                # count twice against the cap and be dropped by the builder anyway: list it as a duplicate.
                first = first_with_bytes.setdefault(file_sha256(str(root / path)), f"{package}:{path}")
                if first != f"{package}:{path}":
                    label, note = "", f"same bytes as {first}"
            rows.append({"package": package, "path": path, "label": label, "note": note})
    # The class cap: round-robin over packages, in a fixed package order, then by path.
    order = {p: i for i, p in enumerate(ds.EDITION_PACKAGES[2])}
    by_class: dict[str, dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["label"]:
            by_class[r["label"]][r["package"]].append(r)
    for label, per_pkg in by_class.items():
        queues = [sorted(per_pkg[p], key=lambda r: r["path"]) for p in sorted(per_pkg, key=order.__getitem__)]
        kept = 0
        while any(queues):
            for q in queues:
                if not q:
                    continue
                r = q.pop(0)
                if kept >= CLASS_CAP:
                    r["note"] = f"class cap: {label!r} already has {CLASS_CAP} clips ({r['note']})"
                    r["label"] = ""
                else:
                    kept += 1
    return sorted(rows, key=lambda r: (order[r["package"]], r["path"]))


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ds.LABEL_MAPS[2]
    rows = build_rows()
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["package", "path", "label", "note"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{out}: {len(rows)} rows, {sum(bool(r['label']) for r in rows)} labelled")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
