"""Writes imagenet_reference.json: the top-5 classes that torchvision's ImageNet transform
(Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize) done with Pillow, fed to the same
ONNX model through onnxruntime, gives for each photo of the shared ImageNet sample, and the
accuracy that makes against the sample's labels. Only predictions and labels are written, never
image data (the photos are third-party data: they stay in ../shared).

The transform is written out as torchvision runs it on a PIL image, so torch is not needed:
Image.open(...).convert("RGB") (torchvision's pil_loader: no EXIF orientation), Resize(256) =
PIL's antialiased BILINEAR resize of the shorter side to 256 with the longer side truncated to
int(256 * long / short), CenterCrop offsets int(round((size - 224) / 2)), /255, mean/std.
One image per run (batch 1), as the server runs them.

Run (Pillow 13, numpy 2, onnxruntime 1.32; the peer's requirements.txt installs them):
    python make_imagenet_reference.py ../../../../shared/images/imagenet-sample \
        ../../../../shared/models/mobilenetv2-int8/model.onnx > imagenet_reference.json
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def tensor(path: Path) -> np.ndarray:
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
    return ((crop / 255.0 - MEAN) / STD).transpose(2, 0, 1)[None]  # NCHW


def main() -> None:
    sample, model = Path(sys.argv[1]), sys.argv[2]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    with open(sample / "labels.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    images, top1, top5 = [], 0, 0
    for row in rows:
        logits = session.run(None, {name: tensor(sample / row["file"])})[0][0]
        best = [int(i) for i in np.argsort(-logits, kind="stable")[:5]]
        label = int(row["class_index"])
        top1 += best[0] == label
        top5 += label in best
        images.append({"file": row["file"], "class_index": label, "top5": best})
    out = {
        "produced_by": "make_imagenet_reference.py (Pillow %s, numpy %s, onnxruntime %s)"
        % (Image.__version__, np.__version__, ort.__version__),
        "images_count": len(images),
        "top1_correct": top1,
        "top5_correct": top5,
        "top1_accuracy": round(100.0 * top1 / len(images), 2),
        "top5_accuracy": round(100.0 * top5 / len(images), 2),
        "images": images,
    }
    json.dump(out, sys.stdout, indent=0)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
