"""Query vectors: what each dense signal searches with for one query.

Text queries embed the query in catalogue words (``parsed.normalized``) once with the e5 text
encoder; the joint model's text head reads that same vector when it can. Photo queries run the
image network once: its output serves the image signal and, through the joint model's image
head, the joint-image signal; "like this, but red" (``composed``) moves the photo's joint vector
towards the words.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shopsearch.config import SearchConfig
from shopsearch.encode import l2_normalize
from shopsearch.encode.registry import feature_space
from shopsearch.index.builder import FIELD_ROLE_PREFIX
from shopsearch.preprocess.image import ImageError, ImageInput, load_image
from shopsearch.preprocess.query import ParsedQuery
from shopsearch.retrieve.encoders import EncoderSet


def image_list(image: ImageInput | Sequence[ImageInput] | None) -> list[ImageInput]:
    """One photo, a list or tuple of photos, or None as a list of photos. Anything else raises
    :class:`ImageError` naming its type (a string is one path, never a sequence of characters)."""
    if image is None:
        return []
    if isinstance(image, (str, Path, bytes, Image.Image)):
        return [image]
    if isinstance(image, (list, tuple)):
        return list(image)
    raise ImageError(f"unsupported image input of type {type(image).__name__}")


class QueryEncoder:
    """Query vectors by signal for an index with vector roles ``roles`` (its dense indexes)."""

    def __init__(self, encoders: EncoderSet, config: SearchConfig) -> None:
        self.encoders = encoders
        self.config = config

    @staticmethod
    def has_text_vectors(roles: Collection[str]) -> bool:
        return "text" in roles or any(r.startswith(FIELD_ROLE_PREFIX) for r in roles)

    def text(
        self, roles: Collection[str], text: str, parsed: ParsedQuery, use: Collection[str], want_types: bool,
        predict_type: Callable[[ParsedQuery, np.ndarray], ParsedQuery],
    ) -> tuple[dict[str, np.ndarray], ParsedQuery]:
        """Vectors of the text signals in ``use``, and ``parsed`` with a predicted product type
        (``predict_type``, from the text vector) when ``want_types`` and the words name none."""
        queries: dict[str, np.ndarray] = {}
        if self.has_text_vectors(roles) and "text" in use:
            queries["text"] = self.encoders.query_vector("text", parsed.normalized)
            if want_types and not parsed.types:
                parsed = predict_type(parsed, queries["text"])
        if "joint" in roles and "joint" in use:
            queries["joint"] = self.joint(text, parsed, queries.get("text"))
        if "zeroshot" in roles and "zeroshot" in use:
            queries["zeroshot"] = self.encoders.query_vector("zeroshot", text)
        return queries, parsed

    def joint(self, text: str, parsed: ParsedQuery | None, text_vec: np.ndarray | None) -> np.ndarray:
        """The joint model's query vector. Its text head reads the e5 query embedding of the
        query in catalogue words (``parsed.normalized``: Chinese and shoppers' English mapped),
        which is the text signal's vector: when the engine has it, only the (sub-millisecond)
        head runs instead of a second e5 pass."""
        joint = self.encoders.get("joint")
        query = parsed.normalized if parsed is not None else text
        if (text_vec is not None and parsed is not None and joint.text_encoder is self.encoders.peek("text")
                and joint.normalize_query(query) == query):
            return joint.project_texts(text_vec[None, :])[0]
        return self.encoders.query_vector("joint", query)

    def images(
        self, roles: Collection[str], image: ImageInput | Sequence[ImageInput], text: str | None,
        parsed: ParsedQuery | None, use: Collection[str], queries: dict[str, np.ndarray], index_name: Any,
    ) -> None:
        """Add the photo signals in ``use`` to ``queries`` (several photos: the mean of their
        vectors, "things like these"). ``ValueError`` when the index has no image vectors."""
        image_roles = [r for r in ("image", "joint") if r in roles]
        if not image_roles:
            raise ValueError(f"index {index_name} has no image vectors; re-index with the image field")
        photos = [load_image(p) for p in image_list(image)]
        if not photos:
            raise ValueError("image: an empty list of images")
        want_joint = "joint" in image_roles and ("joint_image" in use or "composed" in use)
        backbone: np.ndarray | None = None
        if "image" in image_roles and ("image" in use or want_joint):
            vecs, backbone = self.encoders.photo_vectors(photos)
            queries["image"] = l2_normalize(vecs.mean(axis=0, keepdims=True))[0]
        if want_joint:
            joint = self.encoders.get("joint")
            if backbone is not None and joint.image_backbone == feature_space(self.encoders.image_backbone().name):
                # one backbone pass serves both signals
                vecs = joint.project_images(joint.image_features_from(backbone, photos))
            else:
                vecs = joint.embed_images(photos)
            queries["joint_image"] = l2_normalize(vecs.mean(axis=0, keepdims=True))[0]
        if text and "joint_image" in queries and "composed" in use:
            # "like this, but red": the photo's joint vector moved towards the words
            if "joint" not in queries:
                queries["joint"] = self.joint(text, parsed, None)
            mixed = queries["joint_image"] + self.config.composed_text_weight * queries["joint"]
            queries["composed"] = l2_normalize(mixed[None, :])[0]
        for signal in [s for s in queries if s not in use]:
            del queries[signal]
