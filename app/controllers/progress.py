"""The JSON the progress bars poll (static/progress.js) for a publication's matching and notices; a batch run's is
/api/finance/batches/{id}/progress."""

from __future__ import annotations

from litestar import get
from litestar.exceptions import NotFoundException

from app.auth.guards import requires
from app.controllers.policies.common import STAFF
from app.progress import ProgressRead, publication_progress
from app.schemas.errors import errors


@get(
    "/api/policies/versions/{version_id:int}/publication-progress",
    guards=[requires(*STAFF)],
    tags=["policies"],
    responses=errors(404),
)
async def api_publication_progress(version_id: int, as_of: str | None = None) -> ProgressRead:
    """Matching and notices after a publication: queued, matching, notifying, done (404: the version is not
    published, so nothing runs)."""
    p = await publication_progress(version_id, as_of)
    if p is None:
        raise NotFoundException(f"version {version_id} is not published")
    return p


route_handlers = [api_publication_progress]
