"""The models an index was built with, checked against the manifest and loaded on first use.

An index records each vector role's encoder (name, dim, version) in its manifest; the engine
must embed queries with exactly those models. :func:`check_index_encoders` refuses an index
whose registry models this installation does not have (at load, before anything heavy is read);
:class:`EncoderSet` creates each role's encoder on first use, checks it against the manifest,
shares one image network between the image, joint and zero-shot roles, and keeps a bounded LRU
of query vectors (a repeated query costs no model call).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from cachetools import LRUCache

from shopsearch.encode import create_encoder, model_info
from shopsearch.index.builder import FIELD_ROLE_PREFIX
from shopsearch.index.manifest import IndexFormatError, Manifest

UNREGISTERED_ROLES = ("joint", "zeroshot")  # model files or fallbacks, not registry encoders


def check_index_encoders(index_dir: str | Path, manifest: Manifest, given: Mapping[str, Any] | None = None) -> None:
    """Refuse (``IndexFormatError``) an index built with a registry model this installation
    lacks, or with a different dim. Roles in ``given`` are checked when the engine takes them."""
    for role, ref in manifest.encoders.items():
        if role in UNREGISTERED_ROLES or (given and role in given):
            continue
        if role == "image" and is_model_dir_setting(manifest.settings.get("image_model")):
            continue  # a shop image model directory: checked when first used (load_image_for)
        try:
            info = model_info(ref.name)
        except ValueError as exc:
            raise IndexFormatError(f"index {index_dir} was built with {role} encoder {ref.name!r}: {exc}") from None
        if info.dim != ref.dim:
            raise IndexFormatError(
                f"index {index_dir}: {role} encoder {ref.name!r} has dim {info.dim} here "
                f"but the index was built with dim {ref.dim}; rebuild the index"
            )


class EncoderSet:
    """The encoders of one index by vector role, created on first use and checked against the
    manifest (``IndexFormatError`` on a mismatch). ``given``: ready encoder objects by role
    (``text``, ``image``, ``joint``...), checked now. ``text_threads``: threads of the text
    model it creates (0 or None: one per CPU). Thread-safe."""

    def __init__(self, manifest: Manifest, given: Mapping[str, Any] | None = None,
                 query_cache_size: int = 1024, text_threads: int | None = None) -> None:
        self.manifest = manifest
        self.text_threads = text_threads or None
        self._encoders: dict[str, Any] = dict(given or {})
        self._lock = threading.RLock()  # re-entrant: the joint model needs the image encoder
        self._queries: LRUCache[tuple[str, str], np.ndarray] | None = (
            LRUCache(maxsize=query_cache_size) if query_cache_size > 0 else None)
        self._queries_lock = threading.Lock()
        for role, enc in self._encoders.items():
            check_encoder(manifest, ref_role(manifest, role), enc)

    def loaded(self) -> dict[str, Any]:
        """The encoders created so far, by role (to hand to another engine over the same models)."""
        with self._lock:
            return dict(self._encoders)

    def peek(self, role: str) -> Any:
        """``role``'s encoder when it is loaded already, else None (loads nothing)."""
        return self._encoders.get(role)

    def rebind(self, manifest: Manifest) -> None:
        """Follow the index to another version: every loaded encoder must match its manifest."""
        with self._lock:
            for role, enc in self._encoders.items():
                check_encoder(manifest, ref_role(manifest, role), enc)
            self.manifest = manifest

    def get(self, role: str) -> Any:
        """``role``'s encoder (per-field text roles share the one text encoder)."""
        if role.startswith(FIELD_ROLE_PREFIX):
            role = "text"
        enc = self._encoders.get(role)
        if enc is not None:
            return enc
        with self._lock:
            enc = self._encoders.get(role)
            if enc is None:
                manifest = self.manifest
                ref = manifest.encoders[ref_role(manifest, role)]
                if role == "joint":
                    has_text = "text" in manifest.encoders or any(
                        r.startswith(FIELD_ROLE_PREFIX) for r in manifest.encoders)
                    text = self.get("text") if has_text else None
                    enc = load_joint_for(manifest, self.image_backbone(), text)
                elif role == "zeroshot":
                    from shopsearch.encode.zeroshot import ZeroShotEncoder

                    text = self.get("text") if "text" in manifest.encoders else None
                    enc = ZeroShotEncoder(text_encoder=text, image_encoder=self.image_backbone())
                elif role == "image":
                    enc = load_image_for(ref, manifest)
                else:
                    enc = create_encoder(ref.name, threads=self.text_threads)
                check_encoder(manifest, ref_role(manifest, role), enc)
                self._encoders[role] = enc
        return enc

    def image_backbone(self) -> Any:
        """The frozen image backbone the joint model and zero-shot labels read: the image
        encoder itself, or a shop image model's frozen branch (same network pass)."""
        enc = self.get("image")
        return getattr(enc, "backbone", enc)

    def photo_vectors(self, photos: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(image-role vectors, frozen backbone features) of query photos, one network pass."""
        enc = self.get("image")
        if hasattr(enc, "backbone"):
            emb, feats, _ = enc.run(photos)
            return emb, feats
        vecs = enc.embed_images(photos)
        return vecs, vecs

    def query_vector(self, role: str, text: str) -> np.ndarray:
        """Embedding (d,) float32 of a text query by ``role``'s encoder, through the LRU cache."""
        key = (role, text)
        if self._queries is not None:
            with self._queries_lock:
                vec = self._queries.get(key)
            if vec is not None:
                return vec
        vec = self.get(role).embed_queries([text])[0]
        if self._queries is not None:
            with self._queries_lock:
                self._queries[key] = vec
        return vec


def ref_role(manifest: Manifest, role: str) -> str:
    """The manifest entry describing ``role``'s encoder: per-field text roles stand for "text"."""
    if role == "text" and role not in manifest.encoders:
        return next((name for name in manifest.encoders if name.startswith(FIELD_ROLE_PREFIX)), role)
    return role


def check_encoder(manifest: Manifest, role: str, enc: Any) -> None:
    """Refuse an encoder whose name, dim or version differ from what the index was built with."""
    ref = manifest.encoders.get(role)
    if ref is None:
        raise IndexFormatError(f"the index has no {role!r} vectors; cannot use a {role} encoder")
    version = str(getattr(enc, "version", ""))
    if enc.name != ref.name or enc.dim != ref.dim or (ref.version and version != ref.version):
        raise IndexFormatError(
            f"{role} encoder mismatch: index built with {ref.name!r} (dim {ref.dim}"
            f"{', version ' + ref.version if ref.version else ''}), got {enc.name!r} (dim {enc.dim}"
            f"{', version ' + version if ref.version else ''}); rebuild the index or pass the matching model"
        )


def is_model_dir_setting(value: Any) -> bool:
    """Whether a manifest's ``image_model`` setting names a model directory (not a registry model)."""
    if not isinstance(value, str):
        return False
    try:
        model_info(value)
    except ValueError:
        return True
    return False


def load_image_for(ref: Any, manifest: Manifest) -> Any:
    """The index's image encoder: a registry model by name, or the shop image model directory
    the manifest names (refused by :func:`check_encoder` when it was retrained since)."""
    from shopsearch.encode.shop_image import ShopImageEncoder

    configured = manifest.settings.get("image_model")
    if not is_model_dir_setting(configured):
        return create_encoder(ref.name)
    configured = str(configured)
    if not Path(configured).is_dir():
        raise IndexFormatError(
            f"the index was built with the shop image model at {configured}, which no longer exists; "
            "restore it or rebuild the index"
        )
    return ShopImageEncoder(configured)


def load_joint_for(manifest: Manifest, image_encoder: Any, text_encoder: Any = None) -> Any:
    """The index's joint model, sharing the engine's image and (when it is the model's text
    backbone) text encoders, so no second copy of a model is loaded."""
    from shopsearch.encode.joint import JointEncoder, ModelFormatError

    configured = manifest.settings.get("joint_model")
    model_dir = None if configured in (None, "default") else Path(configured)
    if model_dir is not None and not model_dir.is_dir():
        raise IndexFormatError(
            f"the index was built with the joint model at {model_dir}, which no longer exists; "
            "pass encoders={'joint': JointEncoder.load(DIR)} or rebuild the index"
        )
    if text_encoder is not None:
        try:
            return JointEncoder.load(model_dir, image_encoder=image_encoder, text_encoder=text_encoder)
        except ModelFormatError:  # the model was trained on another text backbone: it loads its own
            pass
    return JointEncoder.load(model_dir, image_encoder=image_encoder)
