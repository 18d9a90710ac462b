"""Writes imagenet_reference.json: the top-5 classes that torchvision's ImageNet transform
(Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize) done with Pillow, fed to the same
ONNX model through onnxruntime, gives for each photo of the shared ImageNet sample, and the
accuracy that makes against the sample's labels. Only predictions and labels are written, never
image data (the photos are third-party data: they stay in ../shared).

The transform is make_preprocess_reference.py's, written out as torchvision runs it on a PIL
image, so torch is not needed. One image per run (batch 1), as the server runs them.

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

# The same transform the tensor reference uses (this directory is on sys.path when run).
from make_preprocess_reference import imagenet_transform


def tensor(path: Path) -> np.ndarray:
    return imagenet_transform(path)[0][None]  # NCHW


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
