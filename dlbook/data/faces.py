"""Faces and non-faces: 200 small grey images from Labeled Faces in the Wild, for a face detector's first step.

:func:`lfw_faces` gives all 200 images at once, without a split: a set this small is measured by
cross-validation (every image is tested once, by a model that did not train on it), not by one small
test set. Shipped in ``files/`` (from scikit-image's ``skimage.data.lfw_subset()``); for teaching only,
see ``files/LICENSES.md``.
"""

import io
import lzma

import numpy as np
import torch

from dlbook.data import files

LFW_FILE = "lfw_subset.npy.xz"
FACE_CLASSES = ["not a face", "face"]


def lfw_faces() -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: 100 faces and 100 non-faces, ``x: (200, 1, 25, 25)`` float32 in [0, 1], ``y: (200,)`` int64.

    ``y = 1`` for a face (the first 100 images), 0 for a patch of background from the same photographs
    (``FACE_CLASSES`` names them). The faces are roughly centred and upright, as a face detector's
    crops would be (Huang et al., 2007; scikit-image's subset, resized to 25x25).
    """
    data = lzma.decompress(files.shipped(LFW_FILE).read_bytes())
    images = np.load(io.BytesIO(data), allow_pickle=False)
    if images.shape != (200, 25, 25) or images.dtype != np.uint8:
        raise ValueError(f"{LFW_FILE} holds {images.shape} {images.dtype}, not (200, 25, 25) uint8: reinstall dlbook.")
    x = torch.from_numpy(images.astype(np.float32) / 255).unsqueeze(1)
    y = torch.cat([torch.ones(100, dtype=torch.int64), torch.zeros(100, dtype=torch.int64)])
    return x, y
