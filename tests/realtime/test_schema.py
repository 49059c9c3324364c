"""The WebSocket contract is published in the OpenAPI schema (GET /api/schema/)."""

import pytest


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_the_frames_are_components_with_seq_on_pushed_frames(schema):
    components = schema["components"]["schemas"]
    notification = components["WsNotificationCreatedFrame"]
    assert notification["properties"]["data"] == {"$ref": "#/components/schemas/Notification"}
    assert notification["required"] == ["type", "data", "seq"]
    assert components["WsFeedUpdatedFrame"]["required"] == ["type", "seq"]
    assert components["WsPongFrame"]["required"] == ["type"]
    assert components["WsServerFrame"]["discriminator"]["mapping"] == {
        "notification.created": "#/components/schemas/WsNotificationCreatedFrame",
        "feed.updated": "#/components/schemas/WsFeedUpdatedFrame",
        "pong": "#/components/schemas/WsPongFrame",
        "auth.ok": "#/components/schemas/WsAuthOkFrame",
        "error": "#/components/schemas/WsErrorFrame",
    }
    codes = components["WsErrorFrame"]["properties"]["data"]["properties"]["code"]
    assert set(codes.get("enum") or components[codes["$ref"].rsplit("/", 1)[1]]["enum"]) == {
        "unknown_type", "malformed", "invalid_token"
    }


def test_the_description_states_the_change_from_api_md_and_how_to_catch_up(schema):
    description = schema["info"]["description"]
    assert "## Real time: `GET /ws/` (WebSocket)" in description
    assert "no longer sends the separate `post.created`" in description
    assert "**Catching up** after a reconnect, or when `seq` skips" in description
    assert "closes it with **4401**, reason\n`token expired`" in description
