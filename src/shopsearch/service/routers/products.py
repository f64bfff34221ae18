"""Products: read one, more like it, and the key-protected live updates.

Writes take catalog rows and validate them exactly like rows of a catalog file
(:func:`shopsearch.catalog.validate.validate_row`); local image paths must lie inside the
catalog's image folders and be readable images.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from shopsearch.catalog.images import check_image
from shopsearch.catalog.mapping import FieldMapping
from shopsearch.catalog.validate import validate_row
from shopsearch.service.errors import ApiError
from shopsearch.service.routers.search import engine_error, page_payload
from shopsearch.service.schemas import BatchRequest, ProductOut, SearchResponse, WriteResponse
from shopsearch.service.state import ServiceState, get_state, require_api_key
from shopsearch.types import Product

router = APIRouter(prefix="/v1", tags=["products"])

ProductId = Path(min_length=1, max_length=128, description="product id")
_MAPPING = FieldMapping()


_PATCHING = threading.Lock()  # this process's half of the patch lock (flock is per process)


@contextmanager
def _one_patch_at_a_time(state: ServiceState) -> Iterator[None]:
    """Hold the service's patch lock: threads of this worker and the other workers. Without
    it, two changes to different fields of one product, read at the same moment, each write
    the whole merged row, and the later one undoes the earlier (an acknowledged change lost)."""
    with _PATCHING:
        path = state.settings.patch_lock_path
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ApiError(503, None, f"cannot open the patch lock {path}: {exc.strerror}; "
                                      "nothing was changed") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _product(state: ServiceState, product_id: str) -> Product:
    product = state.product(product_id)
    if product is None:
        raise ApiError(404, "product_id", f"no product with id {product_id!r}")
    return product


@router.get("/products/{product_id}", response_model=ProductOut, summary="One product")
def get_product(product_id: str = ProductId, state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    return state.product_dict(_product(state, product_id))


@router.get("/products/{product_id}/similar", response_model=SearchResponse,
            summary="More like this product")
def similar(
    product_id: str = ProductId,
    k: int = Query(10, ge=1),
    page: int = Query(1, ge=1),
    filter: list[str] = Query(default_factory=list, description="key=value filters (repeatable)"),
    explain: bool = False,
    state: ServiceState = Depends(get_state),
) -> dict[str, Any]:
    s = state.settings
    if k > s.max_k:
        raise ApiError(422, "k", f"must be at most {s.max_k}, got {k}")
    if page > s.max_page:
        raise ApiError(422, "page", f"must be at most {s.max_page}, got {page}")
    if not hasattr(state.engine, "similar"):
        raise ApiError(501, None, "this engine version has no similar-product search")
    _product(state, product_id)
    try:
        result = state.engine.similar(product_id, k, filter or None, offset=(page - 1) * k)
    except KeyError:
        raise ApiError(404, "product_id", f"no product with id {product_id!r}") from None
    except ValueError as exc:
        raise engine_error(exc) from None
    body = page_payload(result, state, k, page, explain)
    body.update(transcript=None, server_ms=body["took_ms"])
    return body


# -- writes -----------------------------------------------------------------------------------

def validate_product(
    row: Any, state: ServiceState, index: int | None = None,
) -> tuple[Product | None, list[dict[str, Any]]]:
    """A :class:`Product` from one catalog row, or the list of every problem with it."""
    def reject(field: str, reason: str, pid: str | None = None) -> dict[str, Any]:
        return {"index": index, "product_id": pid, "field": field, "reason": reason}

    if not isinstance(row, dict):
        return None, [reject("row", f"expected an object, got {type(row).__name__}")]
    row = dict(row)
    extra = row.pop("extra", None)
    problems = []
    if extra is not None and not isinstance(extra, dict):
        problems.append(reject("extra", f"expected an object, got {type(extra).__name__}"))
    base = state.image_dirs[0] if state.image_dirs else state.settings.index_dir
    outcome = validate_row(row, line=(index or 0) + 1, file="request", mapping=_MAPPING, base_dir=base)
    pid = outcome.product_id
    problems += [reject(r.field, r.reason, pid) for r in outcome.rejects]
    for img in outcome.local_images:
        if state.in_image_dirs(img) is None:
            problems.append(reject("images", f"{img!r} is not a file inside the catalog's image folders", pid))
        else:
            why = check_image(img)
            if why:
                problems.append(reject("images", f"{img!r}: {why}", pid))
    if problems:
        return None, problems
    fields = dict(outcome.fields)
    fields["extra"] = {**fields.get("extra", {}), **(extra or {})}
    try:
        return Product(**fields), []
    except ValueError as exc:
        return None, [reject("row", str(exc), pid)]


def _row_of(product: Product) -> dict[str, Any]:
    row = product.to_dict()
    row.pop("extra")
    return {k: v for k, v in row.items() if v not in (None, "", [], {})}


def _upsert(state: ServiceState, products: list[Product]) -> dict[str, int]:
    try:
        return dict(state.engine.upsert(products) or {})
    except ValueError as exc:
        raise ApiError(422, "products", str(exc)) from None


def _put_or_patch(state: ServiceState, product_id: str, row: dict[str, Any], merge: bool) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ApiError(422, "body", "expected a JSON object (a catalog row)")
    body_id = row.get("id")
    if body_id is not None and body_id != product_id:
        raise ApiError(422, "id", f"body id {body_id!r} differs from the path id {product_id!r}")
    if merge:
        with _one_patch_at_a_time(state):  # read, merge and write with no other change between
            old = _product(state, product_id)
            merged = _row_of(old)
            merged["extra"] = dict(old.extra)
            for key in ("attributes", "extra"):
                if isinstance(row.get(key), dict):
                    row = {**row, key: {**merged.get(key, {}), **row[key]}}
            merged.update(row)
            return _write_row(state, product_id, merged)
    return _write_row(state, product_id, row)


def _write_row(state: ServiceState, product_id: str, row: dict[str, Any]) -> dict[str, Any]:
    row = {**row, "id": product_id}
    product, problems = validate_product(row, state)
    if product is None:
        first = problems[0]
        raise ApiError(422, first["field"], first["reason"], problems)
    counts = _upsert(state, [product])
    return {"upserted": 1, "deleted": 0, "counts": counts, "rejects": [],
            "product": state.product_dict(product)}


@router.put("/products/{product_id}", response_model=WriteResponse, dependencies=[Depends(require_api_key)],
            summary="Create or replace a product (catalog row)")
async def put_product(product_id: str = ProductId, row: dict[str, Any] = Body(...),
                      state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    return await run_in_threadpool(_put_or_patch, state, product_id, row, False)


@router.patch("/products/{product_id}", response_model=WriteResponse, dependencies=[Depends(require_api_key)],
              summary="Change some fields of a product")
async def patch_product(product_id: str = ProductId, row: dict[str, Any] = Body(...),
                        state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    return await run_in_threadpool(_put_or_patch, state, product_id, row, True)


@router.delete("/products/{product_id}", response_model=WriteResponse,
               dependencies=[Depends(require_api_key)], summary="Delete a product")
def delete_product(product_id: str = ProductId, state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    _product(state, product_id)
    deleted = state.engine.delete([product_id])
    if not deleted:
        raise ApiError(404, "product_id", f"no product with id {product_id!r}")
    return {"upserted": 0, "deleted": deleted}


@router.post("/products:batch", response_model=WriteResponse, dependencies=[Depends(require_api_key)],
             summary="Upsert and delete many products; bad rows are reported, good rows applied")
def batch(req: BatchRequest, state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    n = len(req.upsert) + len(req.delete)
    if n == 0:
        raise ApiError(422, "upsert", "nothing to do: give 'upsert' rows and/or 'delete' ids")
    if n > state.settings.max_batch:
        raise ApiError(413, "upsert", f"batch of {n} exceeds the limit of {state.settings.max_batch}")
    good: list[Product] = []
    rejects: list[dict[str, Any]] = []
    for i, row in enumerate(req.upsert):
        product, problems = validate_product(row, state, i)
        if product is None:
            rejects += problems
        else:
            good.append(product)
    seen: dict[str, int] = {}
    for i, p in enumerate(good):
        if p.id in seen:
            rejects.append({"index": None, "product_id": p.id, "field": "id",
                            "reason": "duplicate id in this batch (the first one is kept)"})
        seen.setdefault(p.id, i)
    good = [good[i] for i in sorted(seen.values())]
    if not good and not req.delete:
        first = rejects[0]
        raise ApiError(422, f"upsert[{first['index']}].{first['field']}", first["reason"], rejects)
    counts = _upsert(state, good) if good else {}
    deleted = state.engine.delete(req.delete) if req.delete else 0
    return {"upserted": len(good), "deleted": deleted, "counts": counts, "rejects": rejects}
