"""How a synthetic figure looks: skin, hair and clothing colours, clothing pieces, outline and shading; and
RenderStyle, the knobs of a drawing style (proportions, line weight, palette, costume shapes) that make a
set of figures look like another artist's (benchmarks/finetune_corrections.py)."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field, replace

import numpy as np

#: Skin tones from pale to dark (RGB).
SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (255, 236, 224), (252, 224, 205), (246, 210, 184), (236, 192, 160), (224, 172, 138), (198, 142, 106),
    (170, 114, 80), (141, 88, 58), (112, 68, 44), (86, 52, 34),
)  # fmt: skip

#: Hair colours: natural ones and the anime ones (RGB).
HAIR_COLORS: tuple[tuple[int, int, int], ...] = (
    (24, 20, 22), (52, 36, 28), (92, 60, 38), (140, 96, 56), (214, 178, 110), (236, 220, 170), (168, 64, 36),
    (204, 108, 52), (238, 150, 184), (90, 120, 210), (130, 80, 170), (70, 150, 120), (210, 214, 226),
    (246, 246, 250), (150, 30, 50),
)  # fmt: skip

#: Colours of artists' wooden and plastic mannequins (RGB).
MANNEQUIN_COLORS: tuple[tuple[int, int, int], ...] = (
    (222, 184, 135), (205, 160, 110), (190, 190, 196), (236, 236, 236), (160, 190, 220), (120, 120, 128),
)  # fmt: skip

SLEEVES = ("none", "short", "long")
LEGWEAR = ("none", "shorts", "trousers", "skirt")


@dataclass(frozen=True)
class HairStyle:
    """Hairline heights (fractions of the head's half height) at the front, sides and back, and the shell."""

    front: float = 0.3
    side: float = -0.15
    back: float = -0.6
    bangs_depth: float = 0.25  # how far the bangs' tips reach below the front hairline
    bangs_count: float = 7.0  # tips across the forehead
    shell_offset: tuple[float, float, float] = (0.0, 0.06, -0.06)  # shell centre, fractions of the semi axes
    shell_scale: tuple[float, float, float] = (1.08, 1.06, 1.08)


#: Hair style name -> its hairline and shell ("bald" has none).
HAIR_STYLES = {
    "short": HairStyle(),
    "long": HairStyle(side=-0.55, back=-0.9, shell_scale=(1.12, 1.08, 1.1)),
    "bob": HairStyle(front=0.28, side=-0.8, back=-0.95, shell_offset=(0.0, -0.02, -0.08),
                     shell_scale=(1.16, 1.1, 1.12)),
}


def _jitter(rng, rgb, amount=14) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in np.clip(np.asarray(rgb) + rng.integers(-amount, amount + 1, 3), 0, 255))
    return r, g, b


def random_color(rng: np.random.Generator, sat=(0.15, 0.9), val=(0.2, 0.95)) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


def shade(rgb, factor: float) -> tuple[int, int, int]:
    """rgb darkened (factor < 1) or lightened towards white (factor > 1)."""
    if factor <= 1:
        out = [v * factor for v in rgb]
    else:
        out = [v + (255 - v) * (factor - 1) for v in rgb]
    r, g, b = (min(255, max(0, int(round(v)))) for v in out)
    return r, g, b


@dataclass
class Outfit:
    """Colours by material and the clothing pieces of one figure."""

    colors: dict[str, tuple[int, int, int]]  # material -> RGB
    mannequin: bool = False  # an artist's mannequin: one colour, ball joints, no clothes or hair
    sleeves: str = "short"
    legwear: str = "trousers"
    skirt_length: float = 0.6  # of the thigh
    sleeve_length: float = 0.6  # of the upper arm (short sleeves)
    shorts_length: float = 0.5  # of the thigh
    boots: bool = False
    boot_height: float = 0.5  # of the shin
    hair: str = "short"
    hair_length: float = 1.0  # long hair, in head heights
    cape: bool = False
    cape_length: float = 0.5  # of the height
    scarf: bool = False
    sleeve_scale: float = 1.2  # short sleeves' radius, of the arm's
    skirt_flare: float | None = None  # extra width at the skirt's hem, of the height (None: a small random one)
    outline_px: float = 1.5  # outline width as a fraction of 256 px images (scaled with the image)
    outline_dark: tuple[int, int, int] | None = (25, 20, 30)  # None: each part outlined in its own dark shade
    shading: bool = True
    light_dir: tuple[float, float] = (-0.6, -0.8)  # image direction the light comes from
    extra: dict = field(default_factory=dict)

    def color(self, material: str) -> tuple[int, int, int]:
        return self.colors[material]


def sample_outfit(rng: np.random.Generator) -> Outfit:
    """A random look: a plain mannequin a quarter of the time, else a clothed character."""
    skin = _jitter(rng, SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], 8)
    angle = rng.uniform(0, 2 * np.pi)
    light = (float(np.cos(angle)), float(np.sin(angle)))
    outline_px = 0.0 if rng.random() < 0.08 else float(rng.uniform(0.8, 2.6))
    outline_dark = None if rng.random() < 0.45 else _jitter(rng, (25, 20, 30), 20)
    if rng.random() < 0.25:
        base = _jitter(rng, MANNEQUIN_COLORS[int(rng.integers(len(MANNEQUIN_COLORS)))], 10)
        joint = shade(base, rng.uniform(0.7, 0.88))
        colors = {m: base for m in ("skin", "top", "bottom", "shoes", "hair", "cuff", "cape", "scarf")}
        colors.update(joint=joint, eye=shade(base, 0.45), eye_white=shade(base, 1.2), mouth=shade(base, 0.6))
        return Outfit(colors=colors, mannequin=True, sleeves="none", legwear="none", hair="bald",
                      outline_px=outline_px, outline_dark=outline_dark, shading=rng.random() < 0.8,
                      light_dir=light)  # fmt: skip
    top = random_color(rng)
    bottom = random_color(rng) if rng.random() < 0.8 else shade(top, rng.uniform(0.6, 0.9))
    colors = {
        "skin": skin,
        "top": top,
        "bottom": bottom,
        "shoes": random_color(rng, sat=(0.0, 0.6), val=(0.1, 0.8)),
        "hair": _jitter(rng, HAIR_COLORS[int(rng.integers(len(HAIR_COLORS)))], 12),
        "cuff": shade(top, rng.uniform(0.55, 0.8)) if rng.random() < 0.6 else random_color(rng),
        "cape": random_color(rng, sat=(0.3, 0.9), val=(0.2, 0.8)),
        "scarf": random_color(rng, sat=(0.4, 1.0), val=(0.4, 0.95)),
        "joint": shade(skin, 0.85),
        "eye": random_color(rng, sat=(0.4, 0.9), val=(0.15, 0.6)),
        "eye_white": (250, 250, 250),
        "mouth": shade(skin, 0.6),
    }
    legwear = LEGWEAR[int(rng.choice(4, p=[0.06, 0.22, 0.44, 0.28]))]
    hair = ("short", "long", "bob", "bald")[int(rng.choice(4, p=[0.4, 0.35, 0.2, 0.05]))]
    return Outfit(
        colors=colors,
        sleeves=SLEEVES[int(rng.choice(3, p=[0.25, 0.35, 0.4]))],
        legwear=legwear,
        skirt_length=float(rng.uniform(0.35, 1.0)),
        sleeve_length=float(rng.uniform(0.35, 0.75)),
        shorts_length=float(rng.uniform(0.3, 0.7)),
        boots=bool(rng.random() < 0.3),
        boot_height=float(rng.uniform(0.3, 0.75)),
        hair=hair,
        hair_length=float(rng.uniform(0.6, 2.2)),
        cape=bool(rng.random() < 0.1),
        cape_length=float(rng.uniform(0.3, 0.6)),
        scarf=bool(rng.random() < 0.12),
        outline_px=outline_px,
        outline_dark=outline_dark,
        shading=bool(rng.random() < 0.75),
        light_dir=light,
    )


#: Palettes a RenderStyle may ask for: "random" (sample_outfit's colours), "mono" (every material a shade of
#: one hue), "ink" (line art: paper-white fills, black lines, no shading).
PALETTES = ("random", "mono", "ink")
#: Costumes a RenderStyle may ask for: "random" (sample_outfit's pieces) or "robe" (a flared robe to below the
#: knees, puffed sleeves, boots and a cape: the legs and arms' outlines mostly hidden).
COSTUMES = ("random", "robe")


@dataclass(frozen=True)
class RenderStyle:
    """A drawing style: the proportions, line weight, palette and costume shapes of a set of figures.

    The default draws what render_figure always drew (nothing changes, the random draws included); another
    style restyles each figure's sampled proportions and outfit (heads: figure height in heads; limb_scale:
    limb and torso thickness; line_weight: outline width range in pixels at 256 px; palette and costume:
    see PALETTES and COSTUMES).
    """

    name: str = "default"
    heads: tuple[float, float] = (5.0, 8.0)
    limb_scale: float = 1.0
    line_weight: tuple[float, float] | None = None
    palette: str = "random"
    costume: str = "random"

    def __post_init__(self) -> None:
        if self.palette not in PALETTES:
            raise ValueError(f"palette must be one of {', '.join(PALETTES)}, not {self.palette!r}")
        if self.costume not in COSTUMES:
            raise ValueError(f"costume must be one of {', '.join(COSTUMES)}, not {self.costume!r}")
        if not 1.5 <= self.heads[0] <= self.heads[1] <= 10:
            raise ValueError(f"heads must be a range within 1.5 .. 10 heads tall, got {self.heads}")
        if self.limb_scale <= 0:
            raise ValueError("limb_scale must be positive")

    @property
    def is_default(self) -> bool:
        return self == RenderStyle(name=self.name)

    def restyle_proportions(self, prop):
        """The proportions with limbs and torso thickened by limb_scale."""
        if self.limb_scale == 1.0:
            return prop
        k = self.limb_scale
        names = ("r_neck", "r_shoulder", "r_elbow", "r_wrist", "r_hip", "r_knee", "r_ankle", "waist_hw", "chest_hd",
                 "pelvis_hd")  # fmt: skip
        return replace(prop, **{n: getattr(prop, n) * k for n in names})

    def restyle_outfit(self, outfit: Outfit, rng: np.random.Generator) -> Outfit:
        """The outfit in this style's palette, line weight and costume."""
        changes: dict = {}
        if self.line_weight is not None:
            changes["outline_px"] = float(rng.uniform(*self.line_weight))
        if self.palette == "ink":
            paper = _jitter(rng, (246, 244, 238), 6)
            grey = shade(paper, 0.84)
            colors = {m: paper for m in outfit.colors}
            colors.update(hair=grey if rng.random() < 0.5 else (40, 38, 44), shoes=(40, 38, 44), eye=(30, 30, 34),
                          eye_white=(255, 255, 255), mouth=(60, 50, 50), cuff=grey, joint=grey)  # fmt: skip
            changes.update(colors=colors, outline_dark=(12, 10, 14), shading=False)
        elif self.palette == "mono":
            hue = rng.random()
            colors = {}
            for m in outfit.colors:
                r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.3, 0.7), rng.uniform(0.35, 0.95))
                colors[m] = (int(r * 255), int(g * 255), int(b * 255))
            changes.update(colors=colors, outline_dark=None)
        if self.costume == "robe" and not outfit.mannequin:
            changes.update(legwear="skirt", skirt_length=1.0, skirt_flare=float(rng.uniform(0.08, 0.14)),
                           sleeves="short", sleeve_length=1.0, sleeve_scale=float(rng.uniform(1.6, 2.0)), boots=True,
                           boot_height=float(rng.uniform(0.6, 0.9)), cape=bool(rng.random() < 0.6),
                           cape_length=float(rng.uniform(0.45, 0.7)))  # fmt: skip
        return replace(outfit, **changes) if changes else outfit


#: Named styles (posefinder-train and the benchmarks pick them by name).
STYLES: dict[str, RenderStyle] = {
    "default": RenderStyle(),
    # another artist: chibi proportions, heavy ink lines on white fills, robes that hide the limbs' outlines
    "chibi-ink": RenderStyle(name="chibi-ink", heads=(2.6, 3.6), limb_scale=1.35, line_weight=(4.0, 6.0),
                             palette="ink", costume="robe"),
}
