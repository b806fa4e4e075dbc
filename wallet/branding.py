"""Pass images from a program's branding: its logo when it has one, a generated mark otherwise."""

import io
import logging

from PIL import Image, ImageDraw, ImageFont, ImageOps

from loyalty.models import LoyaltyProgram

logger = logging.getLogger(__name__)


def hex_to_rgb(value: str, default: tuple[int, int, int] = (31, 41, 55)) -> tuple[int, int, int]:
    value = (value or "").lstrip("#")
    try:
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    except (ValueError, IndexError):
        return default


def css_rgb(value: str) -> str:
    """``#1f2937`` -> ``rgb(31, 41, 55)``, the form pass.json wants."""
    red, green, blue = hex_to_rgb(value)
    return f"rgb({red}, {green}, {blue})"


def brand_name(program: LoyaltyProgram) -> str:
    return program.logo_text or program.merchant.name


def _program_logo(program: LoyaltyProgram) -> Image.Image | None:
    if not program.logo:
        return None
    try:
        with program.logo.open("rb") as handle:
            image = Image.open(handle)
            image.load()
    except (OSError, ValueError) as exc:
        logger.warning("logo of program %s cannot be read (%s); using the generated one", program.pk, exc)
        return None
    image = ImageOps.exif_transpose(image)
    return image.convert("RGBA")


def _mark(program: LoyaltyProgram, size: int) -> Image.Image:
    """A square in the program's background colour with the brand's initial."""
    image = Image.new("RGBA", (size, size), (*hex_to_rgb(program.background_color), 255))
    initial = (brand_name(program).strip()[:1] or "?").upper()
    font = ImageFont.load_default(size=max(int(size * 0.6), 8))
    draw = ImageDraw.Draw(image)
    draw.text(
        (size / 2, size / 2),
        initial,
        fill=(*hex_to_rgb(program.foreground_color, (255, 255, 255)), 255),
        font=font,
        anchor="mm",
    )
    return image


def _fit(image: Image.Image, width: int, height: int, background: tuple[int, int, int, int]) -> Image.Image:
    canvas = Image.new("RGBA", (width, height), background)
    image = image.copy()
    image.thumbnail((width, height), Image.Resampling.LANCZOS)
    canvas.alpha_composite(image, ((width - image.width) // 2, (height - image.height) // 2))
    return canvas


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def square_png(program: LoyaltyProgram, size: int, logo: Image.Image | None = None) -> bytes:
    """A square image (pass icon, Google program logo): the logo on the background colour."""
    logo = logo if logo is not None else _program_logo(program)
    if logo is None:
        return _png(_mark(program, size))
    return _png(_fit(logo, size, size, (*hex_to_rgb(program.background_color), 255)))


def logo_png(program: LoyaltyProgram, width: int, height: int, logo: Image.Image | None = None) -> bytes:
    """The pass logo: the program's logo within ``width`` x ``height``, transparent around it."""
    logo = logo if logo is not None else _program_logo(program)
    if logo is None:
        return _png(_mark(program, height))
    logo = logo.copy()
    logo.thumbnail((width, height), Image.Resampling.LANCZOS)
    return _png(logo)


# Drawn images per program branding, so passes of one program do not redraw the same PNGs
# (three quarters of a pass's build time otherwise). Bounded; a process restart empties it.
_PASS_IMAGES: dict[tuple, dict[str, bytes]] = {}
_PASS_IMAGES_MAX = 256


def _branding_key(program: LoyaltyProgram) -> tuple:
    """Everything the images are drawn from; a new logo upload also moves ``updated_at``."""
    return (
        program.pk,
        program.updated_at,
        program.logo.name or "",
        program.background_color,
        program.foreground_color,
        brand_name(program),
    )


def apple_pass_images(program: LoyaltyProgram) -> dict[str, bytes]:
    """icon and logo at 1x and 2x (Apple's sizes: icon 29pt, logo at most 160x50pt)."""
    key = _branding_key(program)
    images = _PASS_IMAGES.get(key)
    if images is None:
        logo = _program_logo(program)
        images = {
            "icon.png": square_png(program, 29, logo),
            "icon@2x.png": square_png(program, 58, logo),
            "logo.png": logo_png(program, 160, 50, logo),
            "logo@2x.png": logo_png(program, 320, 100, logo),
        }
        if len(_PASS_IMAGES) >= _PASS_IMAGES_MAX:
            _PASS_IMAGES.clear()
        _PASS_IMAGES[key] = images
    return dict(images)


def google_program_logo(program: LoyaltyProgram) -> bytes:
    """Google's program logo: a square, 660 px recommended."""
    return square_png(program, 660)
