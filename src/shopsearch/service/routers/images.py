"""``GET /images/{product_id}/{n}``: a product's n-th local image.

The file is looked up from the product record, never from a path in the URL, and is served
only if it resolves inside the catalog's image folders (as they were at start-up) and has an
image suffix. Responses carry a content type, an ETag, Last-Modified and Cache-Control.
"""

from __future__ import annotations

from email.utils import formatdate

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse, Response

from shopsearch.service.errors import ApiError
from shopsearch.service.state import IMAGE_ROUTE, ServiceState, get_state

router = APIRouter(tags=["images"])

CONTENT_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
    ".gif": "image/gif", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff",
}
CACHE_CONTROL = "public, max-age=86400"


@router.get(IMAGE_ROUTE + "/{product_id}/{index}", summary="A product image",
            response_class=FileResponse, responses={200: {"content": {"image/*": {}}}})
def product_image(request: Request, product_id: str = Path(min_length=1, max_length=128),
                  index: int = Path(ge=0, le=1000),
                  state: ServiceState = Depends(get_state)) -> Response:
    product = state.product(product_id)
    if product is None:
        raise ApiError(404, "product_id", f"no product with id {product_id!r}")
    if index >= len(product.images):
        raise ApiError(404, "index", f"product {product_id!r} has {len(product.images)} image(s)")
    ref = product.images[index]
    if ref.startswith(("http://", "https://")):
        return Response(status_code=307, headers={"Location": ref, "Cache-Control": CACHE_CONTROL})
    path = state.in_image_dirs(ref)
    if path is None or not path.is_file():
        raise ApiError(404, "index", "image file not available")
    media = CONTENT_TYPES.get(path.suffix.lower())
    if media is None:
        raise ApiError(404, "index", f"not an image file type ({path.suffix or 'no suffix'})")
    st = path.stat()
    etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL,
               "Last-Modified": formatdate(st.st_mtime, usegmt=True), "X-Content-Type-Options": "nosniff"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media, headers=headers)
