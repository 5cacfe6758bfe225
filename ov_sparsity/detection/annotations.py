"""COCO instances files (`--annotations`), their shape declared: what pycocotools and the metrics read, each
field typed, boxes finite with non-negative sizes. A file that does not fit is one line naming the first
field that fails."""

from __future__ import annotations

import math
from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ov_sparsity.errors import OvSparsityError
from ov_sparsity.userfiles import first_error

Id = Annotated[int, Field(strict=True)]
Size = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # COCO files carry more (info, licenses, segmentation, ...)


class Image(_Open):
    id: Id
    file_name: Annotated[str, Field(strict=True, min_length=1)]


class Box(_Open):
    image_id: Id
    category_id: Id
    bbox: list[float]
    area: Size
    iscrowd: Optional[Annotated[int, Field(strict=True, ge=0, le=1)]] = 0

    @field_validator("bbox")
    @classmethod
    def _box(cls, v: list) -> list:
        if len(v) != 4 or not all(math.isfinite(x) for x in v):
            raise ValueError(f"must be 4 finite numbers [x, y, width, height], got {v}")
        if v[2] < 0 or v[3] < 0:
            raise ValueError(f"width and height must be >= 0, got {v}")
        return v


class Category(_Open):
    id: Id


class CocoInstances(_Open):
    images: list[Image]
    annotations: list[Box]
    categories: list[Category] = []


def parse_instances(data, what: str) -> dict:
    """`data` (parsed JSON) checked as COCO instances; returned as it was read."""
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise OvSparsityError(f"{what}: not a COCO instances JSON (needs images and annotations)")
    try:
        CocoInstances.model_validate(data)
    except ValidationError as exc:
        raise OvSparsityError(f"{what}: not a COCO instances JSON ({first_error(exc)})") from None
    return data
