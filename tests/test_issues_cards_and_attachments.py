"""Red cards from a ranking request and against an approval department (policy §五(三), §六(三)), and a
matter's attachments (photos and documents from mobile) over HTTP: limits, sniffed types, reach."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest_asyncio
from issues_world import (
    _id,
    dept,
    etag_of,
    issues_world,
    project_event,
    publish,
    report_and_assign,
    street,
)

from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.events import contracts as c

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
LIMIT = 4096


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix, monkeypatch):
    monkeypatch.setenv("LKG_ATTACHMENT_MAX_BYTES", str(LIMIT))
    async with issues_world(db_factory, nats_url, nats_prefix) as system:
        yield system


def ranking_request(world, request_id: uuid.UUID) -> c.RedCardRequested:
    return c.RedCardRequested(
        effective_at=datetime(2020, 6, 3, 9, tzinfo=TZ),
        request_id=request_id,
        ranking_id=_id(),
        period=c.Period(kind="month", start=date(2020, 5, 1), end=date(2020, 5, 31)),
        target=c.RedCardTarget(
            unit_id=world.org.service_dept, unit_name="区科经局", kind="approval_department"
        ),
        rank=3,
        ranked_count=3,
        evidence=(c.EvidenceRef(kind="ranking", note="2020年5月月度考核排名倒数第3名"),),
    )


async def test_a_ranking_request_issues_exactly_one_card_to_its_target(world):
    request = _id()
    await world.move_clock(set=datetime(2020, 6, 3, 9, tzinfo=TZ))
    # Scoring asks twice for the same card (a retry): one card.
    await publish(world, ranking_request(world, request), ranking_request(world, request))
    cards = (await world.client.get("/api/v1/red-cards?state=issued", headers=world.operator)).json()["items"]
    assert [
        (x["source"], x["reason"], x["target_unit_id"], x["target_kind"], x["request_id"], x["period_start"])
        for x in cards
    ] == [
        (
            "ranking",
            "bottom_of_ranking",
            str(world.org.service_dept),
            "approval_department",
            str(request),
            "2020-05-01",
        )
    ]
    assert cards[0]["evidence"] == [{"kind": "ranking", "id": None, "note": "2020年5月月度考核排名倒数第3名"}]
    issued = await world.published("issues", "red_card.issued")
    assert [str(e.red_card_id) for e in issued] == [cards[0]["id"]]
    # The target sees its card; a unit it does not concern does not.
    assert (
        await world.client.get(f"/api/v1/red-cards/{cards[0]['id']}", headers=dept(world))
    ).status_code == 200
    assert (
        await world.client.get(f"/api/v1/red-cards/{cards[0]['id']}", headers=street(world))
    ).status_code == 404


async def test_the_month_end_round_proposes_a_card_to_the_approval_department_of_a_stalled_item(world):
    org = world.org
    late = c.MilestoneSnapshot(
        id=_id(), type="construction_start", label="开工", planned_date=date(2020, 5, 15)
    )
    stuck = project_event(org, name="临空港冷链物流中心项目", milestones=(late,))
    housing, item = _id(), _id()
    await publish(world, stuck)
    await world.move_clock(set=datetime(2020, 5, 12, 9, tzinfo=TZ))
    await publish(
        world,
        c.ApprovalStalled(
            effective_at=datetime(2020, 5, 12, 9, tzinfo=TZ),
            approval_item_id=item,
            catalogue_item_id=_id(),
            item_name="施工许可证",
            project_id=stuck.project.id,
            project_name=stuck.project.name,
            handling_unit_id=housing,
            handling_unit_name="区住建局",
            due_at=datetime(2020, 5, 12, tzinfo=TZ),
        ),
    )
    await world.move_clock(set=datetime(2020, 5, 25, 9, tzinfo=TZ))
    cards = (await world.client.get("/api/v1/red-cards?state=proposed", headers=world.operator)).json()[
        "items"
    ]
    assert sorted((x["reason"], x["target_kind"], x["target_unit_id"]) for x in cards) == [
        ("no_real_progress", "approval_department", str(housing)),
        ("no_real_progress", "responsible_unit", str(org.street)),
    ]
    card = next(x for x in cards if x["target_kind"] == "approval_department")
    assert [e["kind"] for e in card["evidence"]] == ["project", "approval_item"]
    assert card["evidence"][1]["id"] == str(item)
    supervisor = world.auth(Role.SUPERVISION_OFFICE, person=str(_id()))
    etag = (await world.client.get(f"/api/v1/red-cards/{card['id']}", headers=supervisor)).headers["ETag"]
    checked = await world.client.post(
        f"/api/v1/red-cards/{card['id']}/field-checks",
        json={"method": "on_site_verification", "note": "施工许可证材料齐全，超期未办结"},
        headers={**supervisor, "If-Match": etag},
    )
    assert checked.status_code == 200, checked.text
    confirmed = await world.client.post(
        f"/api/v1/red-cards/{card['id']}/confirmation",
        headers={**supervisor, "If-Match": checked.headers["ETag"]},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["state"], confirmed.json()["target_kind"]) == ("issued", "approval_department")


def upload(world, problem_id: str, headers: dict, content: bytes, name: str = "现场照片.png", **kw):
    media_type = kw.pop("media_type", "image/png")
    return world.client.post(
        f"/api/v1/problems/{problem_id}/attachments",
        files={"file": (name, content, media_type)},
        headers=headers,
        **kw,
    )


async def attachments_of(world, problem_id: str) -> list[dict]:
    listed = await world.client.get(f"/api/v1/problems/{problem_id}/attachments", headers=world.operator)
    assert listed.status_code == 200, listed.text
    return listed.json()["items"]


async def test_a_photo_is_stored_listed_and_downloaded_by_whoever_sees_the_problem(world):
    import hashlib

    problem = await report_and_assign(world)
    pid = problem["id"]
    stored = await upload(world, pid, {**street(world), "Idempotency-Key": "photo-1"}, PNG)
    assert stored.status_code == 201, stored.text
    body = stored.json()
    assert (body["filename"], body["media_type"], body["size_bytes"], body["sha256"], body["layer"]) == (
        "现场照片.png",
        "image/png",
        len(PNG),
        hashlib.sha256(PNG).hexdigest(),
        1,
    )
    assert stored.headers["Location"] == f"/api/v1/problems/{pid}/attachments/{body['id']}"
    retried = await upload(world, pid, {**street(world), "Idempotency-Key": "photo-1"}, PNG)
    assert (retried.status_code, retried.headers["idempotent-replayed"], retried.json()["id"]) == (
        201,
        "true",
        body["id"],
    )
    # A PDF sent as application/octet-stream is stored as what it is.
    pdf = await upload(world, pid, dept(world), PDF, "处理意见.pdf", media_type="application/octet-stream")
    assert (pdf.status_code, pdf.json()["media_type"]) == (201, "application/pdf")
    assert [(a["filename"], a["media_type"]) for a in await attachments_of(world, pid)] == [
        ("现场照片.png", "image/png"),
        ("处理意见.pdf", "application/pdf"),
    ]
    first = (
        await world.client.get(f"/api/v1/problems/{pid}/attachments?limit=1", headers=street(world))
    ).json()
    rest = (
        await world.client.get(
            f"/api/v1/problems/{pid}/attachments",
            params={"limit": 1, "cursor": first["next_cursor"]},
            headers=street(world),
        )
    ).json()
    assert [a["filename"] for a in first["items"] + rest["items"]] == ["现场照片.png", "处理意见.pdf"]
    assert rest["next_cursor"] is None
    download = await world.client.get(
        f"/api/v1/problems/{pid}/attachments/{body['id']}/content", headers=street(world)
    )
    assert download.status_code == 200
    assert (
        download.content,
        download.headers["content-type"],
        download.headers["x-content-type-options"],
    ) == (
        PNG,
        "image/png",
        "nosniff",
    )
    assert (
        download.headers["content-disposition"]
        == "attachment; filename*=UTF-8''%E7%8E%B0%E5%9C%BA%E7%85%A7%E7%89%87.png"
    )
    trail = (await world.client.get(f"/api/v1/problems/{pid}/audit", headers=world.operator)).json()["items"]
    added = [
        (e["action"], e["detail"]["filename"], e["actor"]) for e in trail if e["action"] == "attachment_added"
    ]
    assert added == [
        ("attachment_added", "现场照片.png", f"person:{world.org.street_staff}"),
        ("attachment_added", "处理意见.pdf", f"person:{world.org.dept_staff}"),
    ]

    stranger = world.auth(Role.UNIT_USER, person=str(_id()))
    for path in ("attachments", f"attachments/{body['id']}", f"attachments/{body['id']}/content"):
        assert (await world.client.get(f"/api/v1/problems/{pid}/{path}", headers=stranger)).status_code == 404
    assert (await upload(world, pid, stranger, PNG)).status_code == 404
    supervisor = world.auth(Role.SUPERVISION_OFFICE, person=str(_id()))
    assert (
        await world.client.get(f"/api/v1/problems/{pid}/attachments", headers=supervisor)
    ).status_code == 200
    refused = await upload(world, pid, supervisor, PNG)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    missing = await world.client.get(f"/api/v1/problems/{pid}/attachments/{_id()}", headers=world.operator)
    assert (missing.status_code, missing.json()["code"]) == (404, "attachment_not_found")
    assert len(await attachments_of(world, pid)) == 2


async def test_limits_refuse_an_upload_and_store_nothing(world):
    problem = await report_and_assign(world)
    pid = problem["id"]
    cases = [
        (upload(world, pid, street(world), PNG + bytes(LIMIT)), 413, "attachment_too_large"),
        # Over the service-wide 1 MiB body limit: the upload route's own limit lets it reach the route,
        # which judges the file against attachment_max_bytes (a photo of a few MiB is normal).
        (upload(world, pid, street(world), PNG + bytes(2 * 1024 * 1024)), 413, "attachment_too_large"),
        (
            upload(world, pid, street(world), b"MZ\x90\x00 not a photo", "a.png"),
            415,
            "attachment_type_not_allowed",
        ),
        (
            upload(world, pid, street(world), PDF, "a.png", media_type="image/png"),
            415,
            "attachment_type_mismatch",
        ),
        (
            world.client.post(
                f"/api/v1/problems/{pid}/attachments", json={"file": "x"}, headers=street(world)
            ),
            415,
            "multipart_required",
        ),
        (
            world.client.post(
                f"/api/v1/problems/{pid}/attachments", files={"photo": ("a.png", PNG)}, headers=street(world)
            ),
            422,
            "validation_failed",
        ),
    ]
    for request, status, code in cases:
        refused = await request
        assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert await attachments_of(world, pid) == []
    withdrawn = await world.client.post(
        f"/api/v1/problems/{pid}/withdrawal",
        json={"reason": "已解决"},
        headers={**street(world), "If-Match": await etag_of(world, pid)},
    )
    assert withdrawn.status_code == 200
    closed = await upload(world, pid, street(world), PNG)
    assert (closed.status_code, closed.json()["code"]) == (409, "matter_closed")
    assert await attachments_of(world, pid) == []
