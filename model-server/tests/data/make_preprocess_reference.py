"""Writes preprocess_reference.json: the model input that torchvision's ImageNet transform
(Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize) produces for the shared test images,
computed independently of the Rust code with Pillow + numpy.

torchvision's Resize on a PIL image is PIL's antialiased BILINEAR resize with the longer side
truncated to int(256 * long / short); CenterCrop offsets are int(round((size - 224) / 2)).
That is written out here directly so torch is not needed.

Run (Pillow 13, numpy 2):
    python make_preprocess_reference.py ../../../../shared/images > preprocess_reference.json
"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
GRID = 16  # sample every 16th pixel of the 224x224 crop: a 14x14 grid per channel


def imagenet_transform(path: Path):
    """The transform as torchvision runs it on a PIL image (pil_loader: no EXIF orientation):
    the CHW tensor, the source size, the resized size and the crop offset. Also used by
    make_imagenet_reference.py."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    if w <= h:
        size = (256, int(256 * h / w))
    else:
        size = (int(256 * w / h), 256)
    img = img.resize(size, Image.BILINEAR)
    left = int(round((size[0] - 224) / 2.0))
    top = int(round((size[1] - 224) / 2.0))
    crop = np.asarray(img.crop((left, top, left + 224, top + 224)), dtype=np.float32)
    tensor = ((crop / 255.0 - MEAN) / STD).transpose(2, 0, 1)  # CHW
    return tensor, (w, h), size, (left, top)


def reference(path: Path) -> dict:
    tensor, (w, h), size, (left, top) = imagenet_transform(path)
    return {
        "source_size": [w, h],
        "resized_size": list(size),
        "crop_offset": [left, top],
        "channel_means": [float(c.mean()) for c in tensor],
        "grid_step": GRID,
        "grid": [[[round(float(v), 5) for v in row[::GRID]] for row in c[::GRID]] for c in tensor],
    }


def main() -> None:
    images = Path(sys.argv[1])
    out = {name: reference(images / name) for name in ["cat-chelsea.png", "espresso-coffee.png", "house-finch.jpg"]}
    json.dump({"produced_by": "make_preprocess_reference.py (Pillow %s)" % Image.__version__, "images": out}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
