"""A tiny pure-Python plotter: lines, points, grouped bars and 5×7 text on an RGB canvas, written as a
PNG (zlib)."""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

Color = tuple[int, int, int]

# 5×7 glyphs, one byte per row, bit 4 the leftmost column. Lower case is drawn as upper case.
_FONT: dict[str, tuple[int, ...]] = {
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
    "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02),
    "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E),
    "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E),
    "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    "A": (0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11),
    "B": (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    "C": (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E),
    "D": (0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C),
    "E": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F),
    "F": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F),
    "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "J": (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "K": (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11),
    "L": (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11),
    "N": (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    "O": (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "P": (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    "Q": (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D),
    "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E),
    "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "U": (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "V": (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "W": (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A),
    "X": (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    "Y": (0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04),
    "Z": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
    " ": (0, 0, 0, 0, 0, 0, 0),
    ".": (0, 0, 0, 0, 0, 0x0C, 0x0C),
    ",": (0, 0, 0, 0, 0x0C, 0x04, 0x08),
    "-": (0, 0, 0, 0x1F, 0, 0, 0),
    "/": (0, 0x01, 0x02, 0x04, 0x08, 0x10, 0),
    "(": (0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02),
    ")": (0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08),
    ":": (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0),
    "%": (0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03),
    "=": (0, 0, 0x1F, 0, 0x1F, 0, 0),
    "<": (0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02),
    ">": (0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08),
    "_": (0, 0, 0, 0, 0, 0, 0x1F),
    "+": (0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0),
}

BLACK: Color = (20, 20, 20)
GREY: Color = (200, 200, 200)
PALETTE: list[Color] = [(31, 119, 180), (214, 39, 40), (255, 127, 14), (44, 160, 44), (148, 103, 189)]


class Canvas:
    def __init__(self, width: int, height: int, background: Color = (255, 255, 255)) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def dot(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.pixels[i : i + 3] = bytes(color)

    def fill(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        x0, x1 = max(x, 0), min(x + w, self.width)
        if x0 >= x1:
            return
        row = bytes(color) * (x1 - x0)
        for yy in range(max(y, 0), min(y + h, self.height)):
            i = (yy * self.width + x0) * 3
            self.pixels[i : i + len(row)] = row

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 1, dash: int = 0) -> None:
        """Bresenham; ``dash`` > 0 draws dashes of that many pixels."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        step = 0
        while True:
            if not dash or (step // dash) % 2 == 0:
                half = width // 2
                self.fill(x0 - half, y0 - half, width, width, color)
            if x0 == x1 and y0 == y1:
                return
            step += 1
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 1) -> None:
        for ch in text:
            glyph = _FONT.get(ch.upper(), _FONT["-"])
            for row, bits in enumerate(glyph):
                for col in range(5):
                    if bits & (0x10 >> col):
                        self.fill(x + col * scale, y + row * scale, scale, scale, color)
            x += 6 * scale

    def png(self) -> bytes:
        raw = bytearray()
        stride = self.width * 3
        for y in range(self.height):
            raw.append(0)
            raw += self.pixels[y * stride : (y + 1) * stride]

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))

        header = struct.pack("!IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + chunk(b"IEND", b"")
        )


def _nice_step(span: float, ticks: int = 6) -> float:
    raw = span / max(ticks, 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def latency_plot(
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    threshold: float | None = None,
    threshold_unit: str = "ms",
    decades: tuple[int, int] = (0, 5),
    colors: Sequence[Color] | None = None,
    width: int = 960,
    height: int = 560,
) -> bytes:
    """Lines with points; x linear from 0, y logarithmic (by default 1 ms to 100 s: ``decades`` are the
    powers of ten at the bottom and the top). ``colors``: one per series (by default the palette in
    turn). Returns PNG bytes."""
    left, right, top, bottom = 80, 190, 50, 70
    canvas = Canvas(width, height)
    pw, ph = width - left - right, height - top - bottom
    x_max = max((x for _, points in series for x, _ in points), default=1.0) * 1.05 or 1.0
    y_lo, y_hi = float(decades[0]), float(decades[1])

    def px(x: float) -> int:
        return left + round(x / x_max * pw)

    def py(y: float) -> int:
        value = math.log10(min(max(y, 10**y_lo), 10**y_hi))
        return top + ph - round((value - y_lo) / (y_hi - y_lo) * ph)

    canvas.text(left, 8, title, scale=2)
    for exponent in range(int(y_lo), int(y_hi) + 1):
        y = top + ph - round((exponent - y_lo) / (y_hi - y_lo) * ph)
        canvas.line(left, y, left + pw, y, GREY)
        label = f"{10**exponent:g}"
        canvas.text(left - 8 - 6 * len(label), y - 3, label)
    step = _nice_step(x_max)
    tick = 0.0
    while tick <= x_max:
        x = px(tick)
        canvas.line(x, top, x, top + ph, GREY)
        label = f"{tick / 1000:g}k" if tick >= 1000 else f"{tick:g}"
        canvas.text(x - 3 * len(label), top + ph + 8, label)
        tick += step
    canvas.line(left, top, left, top + ph, BLACK)
    canvas.line(left, top + ph, left + pw, top + ph, BLACK)
    canvas.text(left + pw // 2 - 3 * len(x_label), height - 30, x_label)
    canvas.text(8, top - 20, y_label)
    if threshold is not None:
        y = py(threshold)
        canvas.line(left, y, left + pw, y, (120, 120, 120), dash=6)
        canvas.text(left + pw - 6 * 10, y - 10, f"{threshold:g} {threshold_unit}")
    for n, (name, points) in enumerate(series):
        color = colors[n % len(colors)] if colors else PALETTE[n % len(PALETTE)]
        ordered = sorted(points)
        for (x0, y0), (x1, y1) in itertools.pairwise(ordered):
            canvas.line(px(x0), py(y0), px(x1), py(y1), color, width=2)
        for vx, vy in ordered:
            canvas.fill(px(vx) - 3, py(vy) - 3, 7, 7, color)
        ly = top + 10 + n * 18
        canvas.fill(left + pw + 15, ly, 18, 7, color)
        canvas.text(left + pw + 40, ly, name)
    return canvas.png()


def short(value: float) -> str:
    """A bar's value in at most about five characters: 0.42, 3.1, 27.5, 318, 4.2k, 196k, 1.3M."""
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.1f}M"
    if size >= 1e4:
        return f"{value / 1e3:.0f}k"
    if size >= 1e3:
        return f"{value / 1e3:.1f}k"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass(frozen=True)
class Panel:
    """One bar panel: its own linear y axis from 0 (``unit``), and groups of bars along x, each group a
    label and one value per series (``None``: that series has no figure there, no bar)."""

    unit: str
    groups: Sequence[tuple[str, Sequence[float | None]]]
    x_label: str = ""


def bar_chart(
    series: Sequence[str],
    panels: Sequence[Panel],
    *,
    title: str,
    colors: Sequence[Color] | None = None,
    width: int = 960,
    height: int = 560,
) -> bytes:
    """Grouped bars, one panel beside the other, each with its own y axis; one colour per series (the
    legend on the right), the value written above each bar. Returns PNG bytes."""
    colors = list(colors) if colors else [PALETTE[n % len(PALETTE)] for n in range(len(series))]
    canvas = Canvas(width, height)
    canvas.text(20, 8, title, scale=2)
    legend = 150
    top, bottom = 70, 60
    ph = height - top - bottom
    slot = (width - legend) // max(len(panels), 1)
    for k, panel in enumerate(panels):
        left = k * slot + 70
        pw = slot - 70 - 20
        values = [v for _, group in panel.groups for v in group if v is not None]
        y_max = max(values, default=0.0)
        step = _nice_step(y_max * 1.1 if y_max > 0 else 1.0, 5)
        y_top = step * math.ceil(y_max * 1.1 / step) if y_max > 0 else step * 5

        def py(y: float, y_top: float = y_top) -> int:
            return top + ph - round(max(y, 0.0) / y_top * ph)

        tick = 0.0
        while tick <= y_top * 1.0001:
            y = py(tick)
            canvas.line(left, y, left + pw, y, GREY)
            label = (
                f"{tick / 1e6:.4g}M"
                if tick >= 1e6
                else f"{tick / 1e3:.4g}k"
                if tick >= 1e3
                else f"{tick:.4g}"
            )
            canvas.text(left - 8 - 6 * len(label), y - 3, label)
            tick += step
        canvas.line(left, top, left, top + ph, BLACK)
        canvas.line(left, top + ph, left + pw, top + ph, BLACK)
        canvas.text(left - 60, top - 22, panel.unit[: max(1, (slot - 10) // 6)])
        if panel.x_label:
            canvas.text(left + pw // 2 - 3 * len(panel.x_label), height - 22, panel.x_label[: pw // 6])
        groups = max(len(panel.groups), 1)
        group_w = pw // groups
        bar_w = max(2, (group_w - 16) // max(len(series), 1))
        for g, (label, group) in enumerate(panel.groups):
            x0 = left + g * group_w + (group_w - bar_w * len(series)) // 2
            for n, value in enumerate(group[: len(series)]):
                if value is None:
                    continue
                x = x0 + n * bar_w
                y = py(value)
                canvas.fill(x + 1, y, bar_w - 2, top + ph - y, colors[n % len(colors)])
                text = short(value)
                if 6 * len(text) + 1 <= bar_w:
                    canvas.text(x + bar_w // 2 - 3 * len(text), y - 10, text)
            fits = label[: max(1, group_w // 6)]
            canvas.text(left + g * group_w + group_w // 2 - 3 * len(fits), top + ph + 8, fits)
    for n, name in enumerate(series):
        ly = top + 10 + n * 18
        canvas.fill(width - legend + 15, ly, 18, 7, colors[n % len(colors)])
        canvas.text(width - legend + 40, ly, name[:18])
    return canvas.png()
