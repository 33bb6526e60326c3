"""A Flask service that draws a picture with Pillow and serves its JPEG thumbnail."""

import io

from flask import Flask, Response
from PIL import Image, ImageDraw, features
from ulid import ULID

app = Flask(__name__)


def picture(width=640, height=480):
    """A gradient with a frame: something to make a thumbnail of."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shade = 255 * y // height
        draw.line([(0, y), (width, y)], fill=(shade, 128, 255 - shade))
    draw.rectangle([10, 10, width - 11, height - 11], outline=(255, 255, 255), width=4)
    return image


@app.get("/thumbnail.jpg")
def thumbnail():
    image = picture()
    image.thumbnail((128, 128))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return Response(out.getvalue(), mimetype="image/jpeg", headers={"X-Thumbnail-Id": str(ULID())})


@app.get("/healthz")
def healthz():
    # Which of Debian's libraries Pillow was built against and found at run time.
    return {"jpeg": features.check("jpg"), "zlib": features.check("zlib"), "libtiff": features.check("libtiff")}


def main():
    app.run(host="0.0.0.0", port=8000)
