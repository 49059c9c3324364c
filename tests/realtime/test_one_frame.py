"""A friend's new post is one frame per online friend (README "Real time"), through the real
routes and tasks (in-process events, eager Celery, the Redis channel layer)."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from bellamy.asgi import application
from bellamy.events.routes import ROUTES
from bellamy.realtime.presence import get_presence, reset_presence
from posts import services as post_services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_presence():
    reset_presence()
    get_presence().clear()
    yield
    get_presence().clear()
    reset_presence()


async def frames_for(communicator, seconds: float) -> list[dict]:
    """Every frame that arrives until ``seconds`` pass without one."""
    frames = []
    while not await communicator.receive_nothing(timeout=seconds):
        frames.append(await communicator.receive_json_from())
    return frames


def test_a_new_post_is_one_notification_frame_per_friend_and_a_mention_replaces_friend_posted(
    user_factory, befriend
):
    author, sam, tess, stranger = (user_factory(username=n) for n in ("author", "sam", "tess", "stranger"))
    befriend(author, sam)
    befriend(author, tess)

    async def scenario():
        sockets = {}
        for user in (author, sam, tess, stranger):
            sockets[user.username] = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(user)}")
            await sockets[user.username].connect(timeout=5)
        post = await sync_to_async(post_services.post_create)(author=author, content="hi @tess #news")
        frames = {name: await frames_for(socket, 2) for name, socket in sockets.items()}
        for socket in sockets.values():
            await socket.disconnect()
        return post, frames

    post, frames = async_to_sync(scenario)()
    summary = {name: [(f["type"], f["data"]["type"], f["data"]["post_id"], f["seq"]) for f in got]
               for name, got in frames.items()}
    assert summary == {
        "author": [],
        "sam": [("notification.created", "friend_posted", post.pk, 1)],
        "tess": [("notification.created", "mentioned", post.pk, 1)],
        "stranger": [],
    }


def test_other_feed_changes_still_push_feed_updated(user_factory, befriend):
    author, uma = user_factory(username="author2"), user_factory(username="uma")
    befriend(author, uma)
    post = post_services.post_create(author=author, content="first")

    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(uma)}")
        await socket.connect(timeout=5)
        await sync_to_async(post_services.post_update)(post=post, user=author, content="edited")
        frames = await frames_for(socket, 2)
        await socket.disconnect()
        return frames

    assert [(f["type"], "seq" in f) for f in async_to_sync(scenario)()] == [("feed.updated", True)]


def test_post_created_routes_no_push_task():
    assert [route.task for route in ROUTES["post.created"] if route.queue == "default"] == [
        "feed.invalidate_feeds_task"
    ]
