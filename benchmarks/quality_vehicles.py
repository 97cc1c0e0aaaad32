"""The quality corpus's vehicles: what each car is, what its licensing record says, and what a camera
reports of it. Reproducible from the corpus's random generator.

Assumptions (the corpus's own, written independently of the matcher's tables in
services/matcher/vehicles.py: the figures differ on purpose, as a real fleet and real cameras would
differ from any table a matcher ships with):

Fleet (GB cars, rounded; every car drawn independently):
- colours: black 20%, white 16%, grey 17%, silver 15%, blue 13%, red 10%, green 2.5%, brown 1.2%,
  orange 1.2%, yellow 0.8%, beige 0.8%, purple 0.7%, gold 0.6%, bronze 0.5%, turquoise 0.3%;
- makes: the 30 commonest, Ford 12% down to Porsche 0.4% (MAKES below); each make 2-5 models with
  shares of their own (MODELS).

Licensing records (the hotlist entry's make, model, colour; DVLA spelling: "VOLKSWAGEN",
"MERCEDES-BENZ", "FOCUS ZETEC", colours in capitals):
- colour missing 3%, wrong 6% (resprays and wraps: half to a neighbouring colour, half to any);
- make missing 1%, wrong 1%;
- model missing 12%, wrong 4% (another model of the make).

Cameras (vendor spelling: "Volkswagen" or "VW", "Mercedes", "Focus", "dark blue" now and then):
- colour reported on 90% of reads, right 85% of the time; an error names a neighbouring colour
  (silver/grey, black/grey, blue/black, ...) 70% of the time, else any colour by fleet share;
- make reported on 70% of reads, right 90% of the time; an error is a sibling badge (a make on
  the same platform: VW/Skoda/SEAT/Audi, Peugeot/Citroen/Vauxhall, Kia/Hyundai, ...) half the
  time, else any make by fleet share;
- model reported on 25% of reads (only with the make), right 80% of the time when the make is.
"""

from __future__ import annotations

import random

from anpr.v1 import types_pb2

COLOURS = {
    "black": 0.20,
    "grey": 0.17,
    "white": 0.16,
    "silver": 0.15,
    "blue": 0.13,
    "red": 0.10,
    "green": 0.025,
    "brown": 0.012,
    "orange": 0.012,
    "yellow": 0.008,
    "beige": 0.008,
    "purple": 0.007,
    "gold": 0.006,
    "bronze": 0.005,
    "turquoise": 0.003,
}
COLOUR_NEAR = {
    "black": ("grey", "blue"),
    "grey": ("silver", "black"),
    "white": ("silver",),
    "silver": ("grey", "white"),
    "blue": ("black", "grey", "purple"),
    "red": ("orange", "purple"),
    "green": ("grey", "blue"),
    "brown": ("bronze", "beige", "black"),
    "orange": ("red", "yellow"),
    "yellow": ("gold", "orange"),
    "beige": ("gold", "white"),
    "purple": ("blue", "red"),
    "gold": ("beige", "bronze", "yellow"),
    "bronze": ("brown", "gold"),
    "turquoise": ("blue", "green"),
}
# make: (fleet share, DVLA spelling, vendor spellings)
MAKES = {
    "Ford": (0.12, "FORD", ("Ford",)),
    "Vauxhall": (0.09, "VAUXHALL", ("Vauxhall", "Opel")),
    "Volkswagen": (0.09, "VOLKSWAGEN", ("Volkswagen", "VW")),
    "Toyota": (0.06, "TOYOTA", ("Toyota",)),
    "BMW": (0.055, "BMW", ("BMW",)),
    "Mercedes": (0.055, "MERCEDES-BENZ", ("Mercedes", "Mercedes-Benz")),
    "Audi": (0.05, "AUDI", ("Audi",)),
    "Nissan": (0.05, "NISSAN", ("Nissan",)),
    "Peugeot": (0.04, "PEUGEOT", ("Peugeot",)),
    "Kia": (0.04, "KIA", ("Kia",)),
    "Hyundai": (0.035, "HYUNDAI", ("Hyundai",)),
    "Renault": (0.03, "RENAULT", ("Renault",)),
    "Honda": (0.03, "HONDA", ("Honda",)),
    "Skoda": (0.03, "SKODA", ("Skoda",)),
    "Citroen": (0.03, "CITROEN", ("Citroen", "Citroën")),
    "MINI": (0.025, "MINI", ("Mini",)),
    "Fiat": (0.02, "FIAT", ("Fiat",)),
    "Land Rover": (0.02, "LAND ROVER", ("Land Rover", "Range Rover")),
    "SEAT": (0.02, "SEAT", ("Seat",)),
    "Mazda": (0.02, "MAZDA", ("Mazda",)),
    "Volvo": (0.02, "VOLVO", ("Volvo",)),
    "Suzuki": (0.015, "SUZUKI", ("Suzuki",)),
    "MG": (0.01, "MG", ("MG",)),
    "Dacia": (0.01, "DACIA", ("Dacia",)),
    "Jaguar": (0.01, "JAGUAR", ("Jaguar",)),
    "Tesla": (0.008, "TESLA", ("Tesla",)),
    "Lexus": (0.006, "LEXUS", ("Lexus",)),
    "Mitsubishi": (0.006, "MITSUBISHI", ("Mitsubishi",)),
    "Jeep": (0.004, "JEEP", ("Jeep",)),
    "Porsche": (0.004, "PORSCHE", ("Porsche",)),
}
SIBLINGS = (
    ("Volkswagen", "Skoda", "SEAT", "Audi"),
    ("Peugeot", "Citroen", "Vauxhall", "Fiat"),
    ("Renault", "Dacia", "Nissan"),
    ("Kia", "Hyundai"),
    ("Toyota", "Lexus"),
    ("BMW", "MINI"),
    ("Jaguar", "Land Rover"),
)
MODELS = {
    "Ford": {"Fiesta": 0.35, "Focus": 0.3, "Kuga": 0.15, "Puma": 0.1, "Transit": 0.1},
    "Vauxhall": {"Corsa": 0.45, "Astra": 0.35, "Mokka": 0.1, "Insignia": 0.1},
    "Volkswagen": {"Golf": 0.4, "Polo": 0.3, "Tiguan": 0.15, "Passat": 0.15},
    "Toyota": {"Yaris": 0.35, "Aygo": 0.2, "Corolla": 0.25, "RAV4": 0.2},
    "BMW": {"1 Series": 0.3, "3 Series": 0.35, "X1": 0.15, "5 Series": 0.2},
    "Mercedes": {"A-Class": 0.35, "C-Class": 0.35, "E-Class": 0.15, "GLC": 0.15},
    "Audi": {"A3": 0.4, "A4": 0.25, "A1": 0.15, "Q3": 0.2},
    "Nissan": {"Qashqai": 0.45, "Juke": 0.35, "Micra": 0.2},
}
DEFAULT_MODELS = {"Alpha": 0.5, "Sigma": 0.3, "Vista": 0.2}

CAMERA_COLOUR_REPORTED, CAMERA_COLOUR_RIGHT, CAMERA_COLOUR_NEAR = 0.90, 0.85, 0.70
CAMERA_MAKE_REPORTED, CAMERA_MAKE_RIGHT, CAMERA_MAKE_SIBLING = 0.70, 0.90, 0.5
CAMERA_MODEL_REPORTED, CAMERA_MODEL_RIGHT = 0.25, 0.80
RECORD_COLOUR_MISSING, RECORD_COLOUR_WRONG = 0.03, 0.06
RECORD_MAKE_MISSING, RECORD_MAKE_WRONG = 0.01, 0.01
RECORD_MODEL_MISSING, RECORD_MODEL_WRONG = 0.12, 0.04


def _pick(rng: random.Random, shares: dict) -> str:
    return rng.choices(list(shares), [v[0] if isinstance(v, tuple) else v for v in shares.values()])[0]


def _model(rng: random.Random, make: str) -> str:
    return _pick(rng, MODELS.get(make, DEFAULT_MODELS))


def random_car(rng: random.Random) -> tuple[str, str, str]:
    """(make, model, colour) of a car drawn from the fleet."""
    make = _pick(rng, MAKES)
    return make, _model(rng, make), _pick(rng, COLOURS)


def _other_colour(rng: random.Random, colour: str, near: float) -> str:
    if rng.random() < near:
        return rng.choice(COLOUR_NEAR[colour])
    while True:
        other = _pick(rng, COLOURS)
        if other != colour:
            return other


def _other_make(rng: random.Random, make: str, sibling: float) -> str:
    family = next((f for f in SIBLINGS if make in f), ())
    if family and rng.random() < sibling:
        return rng.choice([m for m in family if m != make])
    while True:
        other = _pick(rng, MAKES)
        if other != make:
            return other


def record(rng: random.Random, car: tuple[str, str, str]) -> types_pb2.VehicleDescription:
    """What the licensing record says of a car (DVLA spelling, with its errors and gaps)."""
    make, model, colour = car
    out = types_pb2.VehicleDescription()
    r = rng.random()
    if r >= RECORD_COLOUR_MISSING:
        wrong = r < RECORD_COLOUR_MISSING + RECORD_COLOUR_WRONG
        out.colour = (_other_colour(rng, colour, 0.5) if wrong else colour).upper()
    r = rng.random()
    if r >= RECORD_MAKE_MISSING:
        shown = _other_make(rng, make, 0.0) if r < RECORD_MAKE_MISSING + RECORD_MAKE_WRONG else make
        out.make = MAKES[shown][1]
    r = rng.random()
    if r >= RECORD_MODEL_MISSING:
        wrong = r < RECORD_MODEL_MISSING + RECORD_MODEL_WRONG
        shown = _model(rng, make) if wrong else model
        out.model = f"{shown} {rng.choice(('', 'ZETEC', 'SE', 'SPORT', 'GLX'))}".strip().upper()
    return out


def camera_view(rng: random.Random, car: tuple[str, str, str]) -> types_pb2.VehicleDescription:
    """What a camera's classifier reports of a car (vendor spelling, with its errors and gaps)."""
    make, model, colour = car
    out = types_pb2.VehicleDescription()
    if rng.random() < CAMERA_COLOUR_REPORTED:
        seen = colour if rng.random() < CAMERA_COLOUR_RIGHT else _other_colour(rng, colour, CAMERA_COLOUR_NEAR)
        out.colour = f"dark {seen}" if seen in ("blue", "green", "grey") and rng.random() < 0.1 else seen
    if rng.random() < CAMERA_MAKE_REPORTED:
        right = rng.random() < CAMERA_MAKE_RIGHT
        seen = make if right else _other_make(rng, make, CAMERA_MAKE_SIBLING)
        out.make = rng.choice(MAKES[seen][2])
        if rng.random() < CAMERA_MODEL_REPORTED:
            out.model = model if right and rng.random() < CAMERA_MODEL_RIGHT else _model(rng, seen)
    return out
