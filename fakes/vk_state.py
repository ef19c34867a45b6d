"""What FakeVk knows: communities, users, walls with posts and threaded comments.

FakeVk inherits VkState, so tests call these helpers on the fake itself; the read methods
render the state in VK's 5.199 shapes (see /work/shared/fixtures/vk/). As on VK, a wall's
posts and comments share one id sequence, so ids only grow. Every change calls
`on_event(group_id, type, object)`, which FakeVk turns into Bots Long Poll events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PARAM_INVALID = "One of the parameters specified was missing or invalid"

# VK's own error_msg for each code (vk-api-schema errors.json and captured answers).
ERROR_MESSAGES: dict[int, str] = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    8: (
        'Invalid request: versions below 5.81 are deprecated. Version param should be passed '
        'as "v". "version" param is invalid and not supported. For more information go to '
        "https://vk.com/dev/constant_version_updates"
    ),
    9: "Flood control",
    10: "Internal server error",
    14: "Captcha needed",
    15: "Access denied",
    18: "User was deleted or banned",
    27: "Group authorization failed: method is unavailable with group auth.",
    28: "Application authorization failed: method is unavailable with service token.",
    29: "Rate limit reached",
    30: "This profile is private",
    100: PARAM_INVALID,
    203: "Access to group denied",
}
WALL_CLOSED = "Access denied: this wall available only for community members"
GROUP_BLOCKED = "Access denied: group is blocked"

EventSink = Callable[[int, str, dict[str, Any]], None]


class VkError(Exception):
    """An API error the fake answers with: `{"error": {"error_code", "error_msg", ...}}`."""

    def __init__(self, code: int, message: str | None = None, **extra: Any) -> None:
        self.code = code
        self.message = message or ERROR_MESSAGES.get(code, ERROR_MESSAGES[1])
        self.extra = extra
        super().__init__(f"[{code}] {self.message}")


def param_error(detail: str) -> VkError:
    return VkError(100, f"{PARAM_INVALID}: {detail}")


def unix(date: int | float | datetime) -> int:
    """Unix seconds from an int or an aware datetime (naive ones are refused)."""
    if isinstance(date, datetime):
        if date.tzinfo is None:
            raise ValueError("FakeVk needs aware datetimes")
        return int(date.timestamp())
    return int(date)


@dataclass
class Community:
    id: int
    name: str
    screen_name: str
    is_closed: int = 0
    type: str = "page"
    deactivated: str | None = None
    members_count: int = 0
    description: str = ""

    def as_vk(self, fields: Iterable[str] = ()) -> dict[str, Any]:
        group: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "screen_name": self.screen_name,
            "is_closed": self.is_closed,
            "type": self.type,
        }
        if self.deactivated:
            group["deactivated"] = self.deactivated
        group.update(is_admin=0, is_member=0, is_advertiser=0)
        for size in (50, 100, 200):
            group[f"photo_{size}"] = f"https://sun9-1.userapi.com/fake/g{self.id}_{size}.jpg"
        wanted = set(fields)
        if "members_count" in wanted:
            group["members_count"] = self.members_count
        if "description" in wanted:
            group["description"] = self.description
        return group


@dataclass
class User:
    id: int
    first_name: str
    last_name: str
    screen_name: str = ""
    deactivated: str | None = None

    def as_vk(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "can_access_closed": True,
            "is_closed": False,
        }
        if self.deactivated:
            profile["deactivated"] = self.deactivated
        profile.update(
            sex=0,
            screen_name=self.screen_name or f"id{self.id}",
            photo_50="https://vk.ru/images/camera_50.png",
            photo_100="https://vk.ru/images/camera_100.png",
            online=0,
        )
        return profile


@dataclass
class Post:
    id: int
    owner_id: int
    from_id: int
    date: int
    text: str
    is_pinned: bool = False
    edited: int | None = None
    deleted: bool = False
    attachments: list[dict[str, Any]] = field(default_factory=list)
    copy_history: list[dict[str, Any]] = field(default_factory=list)
    signer_id: int | None = None
    likes: int = 0
    reposts: int = 0
    views: int = 0


@dataclass
class Comment:
    id: int
    owner_id: int
    post_id: int
    from_id: int
    date: int
    text: str
    root_id: int | None = None  # the top-level comment whose thread holds this reply
    reply_to_comment: int | None = None
    reply_to_user: int | None = None
    deleted: bool = False
    deleter_id: int | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    likes: int = 0
    replies: list[int] = field(default_factory=list)  # top-level only, oldest first


@dataclass
class Wall:
    community: Community
    posts: dict[int, Post] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    last_id: int = 0

    @property
    def owner_id(self) -> int:
        return -self.community.id

    def next_id(self, wanted: int | None = None) -> int:
        if wanted is not None:
            if wanted in self.posts or wanted in self.comments:
                raise ValueError(f"id {wanted} is already used on wall {self.owner_id}")
            self.last_id = max(self.last_id, wanted)
            return wanted
        self.last_id += 1
        return self.last_id

    def post(self, post_id: int) -> Post:
        post = self.posts.get(post_id)
        if post is None:
            raise KeyError(f"no post {self.owner_id}_{post_id}")
        return post

    def comment(self, comment_id: int) -> Comment:
        comment = self.comments.get(comment_id)
        if comment is None:
            raise KeyError(f"no comment {comment_id} on wall {self.owner_id}")
        return comment

    def comment_count(self, post_id: int) -> int:
        """Every live comment and reply under the post (what `comments.count` shows)."""
        return sum(
            1 for c in self.comments.values() if c.post_id == post_id and not c.deleted
        )

    def top_level(self, post_id: int) -> list[Comment]:
        return sorted(
            (c for c in self.comments.values() if c.post_id == post_id and c.root_id is None),
            key=lambda c: c.id,
        )

    def visible_posts(self) -> list[Post]:
        """Live posts, the pinned one first, then newest first."""
        live = [p for p in self.posts.values() if not p.deleted]
        live.sort(key=lambda p: (p.date, p.id), reverse=True)
        live.sort(key=lambda p: not p.is_pinned)
        return live


class VkState:
    """Communities, users and walls; `clock()` gives the fake's unix time. Dates are unix
    seconds or aware datetimes."""

    def __init__(self, clock: Callable[[], int], on_event: EventSink | None = None) -> None:
        self.clock = clock
        self.on_event = on_event
        self.walls: dict[int, Wall] = {}
        self.users: dict[int, User] = {}
        self.last_board_id = 0

    # --- directory -----------------------------------------------------------------------
    def add_community(
        self,
        group_id: int,
        name: str | None = None,
        screen_name: str | None = None,
        is_closed: int = 0,
        **details: Any,
    ) -> Community:
        """Add (or re-profile) a community; details: type, members_count, description,
        deactivated. `is_closed` 1 (closed) or 2 (private) makes its wall answer 15."""
        group_id = abs(group_id)
        community = Community(
            id=group_id,
            name=name or f"Сообщество {group_id}",
            screen_name=screen_name or f"club{group_id}",
            is_closed=is_closed,
            **details,
        )
        if group_id in self.walls:
            self.walls[group_id].community = community
        else:
            self.walls[group_id] = Wall(community)
        return community

    def add_user(
        self,
        user_id: int,
        first_name: str = "Иван",
        last_name: str = "Петров",
        **details: Any,
    ) -> User:
        """A user as `profiles` shows them; details: screen_name, deactivated (their wall
        then answers 18)."""
        user = User(id=user_id, first_name=first_name, last_name=last_name, **details)
        self.users[user_id] = user
        return user

    def wall(self, group_id: int) -> Wall:
        wall = self.walls.get(abs(group_id))
        if wall is None:
            raise KeyError(f"community {abs(group_id)} was never added (add_community)")
        return wall

    def find_community(self, ref: str) -> Community | None:
        """A community by numeric id, screen name, or clubN/publicN/eventN."""
        key = ref.strip().lower().lstrip("-")
        for prefix in ("club", "public", "event"):
            if key.startswith(prefix) and key[len(prefix) :].isdigit():
                key = key[len(prefix) :]
        if key.isdigit() and int(key) in self.walls:
            return self.walls[int(key)].community
        for wall in self.walls.values():
            if wall.community.screen_name.lower() == key:
                return wall.community
        return None

    def deactivate_community(self, group_id: int, reason: str = "deleted") -> None:
        """Mark a community "deleted" or "banned": its wall answers 15 from then on."""
        self.wall(group_id).community.deactivated = reason

    @property
    def communities(self) -> dict[int, Wall]:
        """Every community's wall by positive group id (posts, comments, profile)."""
        return self.walls

    def profile(self, user_id: int) -> dict[str, Any]:
        user = self.users.get(user_id) or User(user_id, "Пользователь", str(user_id))
        return user.as_vk()

    # --- what the read methods see ---------------------------------------------------
    def readable_wall(self, params: dict[str, str]) -> Wall | None:
        """The community wall named by owner_id/domain (None: a user's wall, empty here)."""
        if "owner_id" in params:
            owner = int_param(params, "owner_id", 0)
            if owner > 0:
                user = self.users.get(owner)
                if user is not None and user.deactivated:
                    raise VkError(18)
                return None
            wall = self.walls.get(-owner)
            if wall is None:
                raise param_error("owner_id is invalid")
        else:
            community = self.find_community(params.get("domain", ""))
            if community is None:
                raise param_error("domain is invalid")
            wall = self.walls[community.id]
        if wall.community.deactivated:
            raise VkError(15, GROUP_BLOCKED)
        if wall.community.is_closed:
            raise VkError(15, WALL_CLOSED)
        return wall

    def comment_level(self, wall: Wall, params: dict[str, str]) -> tuple[list[Comment], int]:
        """The comments on the asked level (oldest first) and the `count` to report."""
        if "comment_id" in params:
            comment = wall.comments.get(int_param(params, "comment_id", 0))
            if comment is None:
                raise param_error("comment_id is invalid")
            root = comment if comment.root_id is None else wall.comments[comment.root_id]
            replies = [wall.comments[i] for i in root.replies]
            return replies, sum(1 for c in replies if not c.deleted)
        post = wall.posts.get(int_param(params, "post_id", 0))
        if post is None:
            raise param_error("post_id is invalid")
        if post.deleted:
            raise VkError(15, "Access denied: post was deleted")
        return wall.top_level(post.id), wall.comment_count(post.id)

    # --- posts -------------------------------------------------------------------------
    def add_post(
        self,
        group_id: int,
        text: str,
        *,
        date: int | datetime,
        from_id: int | None = None,
        is_pinned: bool = False,
        post_id: int | None = None,
        attachments: list[dict[str, Any]] | None = None,
        copy_history: list[dict[str, Any]] | None = None,
        signer_id: int | None = None,
    ) -> int:
        """Publish a post (by the community unless `from_id`); `post_id` picks the id, else
        the wall's next one. Pinning unpins the previous post. Emits `wall_post_new`."""
        wall = self.wall(group_id)
        post = Post(
            id=wall.next_id(post_id),
            owner_id=wall.owner_id,
            from_id=wall.owner_id if from_id is None else from_id,
            date=unix(date),
            text=text,
            attachments=list(attachments or []),
            copy_history=list(copy_history or []),
            signer_id=signer_id,
        )
        wall.posts[post.id] = post
        if is_pinned:
            self.pin_post(group_id, post.id)
        self._emit(wall, "wall_post_new", post_json(wall, post))
        return post.id

    def edit_post(self, group_id: int, post_id: int, text: str) -> None:
        """Change the text; VK then shows `edited` (no Bots Long Poll event exists)."""
        post = self.wall(group_id).post(post_id)
        post.text = text
        post.edited = self.clock()

    def delete_post(self, group_id: int, post_id: int) -> None:
        """Remove the post from the wall (VK sends no Bots Long Poll event)."""
        post = self.wall(group_id).post(post_id)
        post.deleted = True
        post.is_pinned = False

    def pin_post(self, group_id: int, post_id: int | None) -> None:
        """Pin a post (one per wall, as on VK) or, with None, unpin."""
        wall = self.wall(group_id)
        for post in wall.posts.values():
            post.is_pinned = post.id == post_id

    # --- comments ----------------------------------------------------------------------
    def add_comment(
        self,
        group_id: int,
        post_id: int,
        text: str,
        *,
        from_id: int,
        date: int | datetime,
        reply_to_comment: int | None = None,
        comment_id: int | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> int:
        """Comment on a post; `reply_to_comment` puts it into that comment's top-level thread
        with reply_to_comment/reply_to_user/parents_stack. Emits `wall_reply_new`."""
        wall = self.wall(group_id)
        wall.post(post_id)
        comment = Comment(
            id=0,
            owner_id=wall.owner_id,
            post_id=post_id,
            from_id=from_id,
            date=unix(date),
            text=text,
            attachments=list(attachments or []),
        )
        root: Comment | None = None
        if reply_to_comment is not None:
            target = wall.comment(reply_to_comment)
            if target.post_id != post_id:
                raise ValueError(f"comment {reply_to_comment} is not under post {post_id}")
            root = wall.comment(target.root_id) if target.root_id is not None else target
            comment.root_id = root.id
            comment.reply_to_comment = target.id
            comment.reply_to_user = target.from_id
        comment.id = wall.next_id(comment_id)
        wall.comments[comment.id] = comment
        if root is not None:
            root.replies.append(comment.id)
        self._emit(wall, "wall_reply_new", reply_event(wall, comment))
        return comment.id

    def edit_comment(self, group_id: int, comment_id: int, text: str) -> None:
        """Change a comment's text. Emits `wall_reply_edit`."""
        wall = self.wall(group_id)
        comment = wall.comment(comment_id)
        comment.text = text
        self._emit(wall, "wall_reply_edit", reply_event(wall, comment))

    def delete_comment(
        self, group_id: int, comment_id: int, *, deleter_id: int | None = None
    ) -> None:
        """Delete a comment: it stays in listings as `{"id", ..., "deleted": true}` without
        text or from_id. Emits `wall_reply_delete` (deleter: the author unless given)."""
        wall = self.wall(group_id)
        comment = wall.comment(comment_id)
        comment.deleted = True
        comment.deleter_id = comment.from_id if deleter_id is None else deleter_id
        event = {
            "owner_id": wall.owner_id,
            "id": comment.id,
            "deleter_id": comment.deleter_id,
            "post_id": comment.post_id,
        }
        self._emit(wall, "wall_reply_delete", event)

    def add_board_comment(
        self, group_id: int, topic_id: int, text: str, *, from_id: int, date: int | datetime
    ) -> int:
        """A comment in a discussion topic: only the `board_post_new` event is modelled."""
        wall = self.wall(group_id)
        self.last_board_id += 1
        event = {
            "id": self.last_board_id,
            "from_id": from_id,
            "date": unix(date),
            "text": text,
            "topic_owner_id": wall.owner_id,
            "topic_id": topic_id,
        }
        self._emit(wall, "board_post_new", event)
        return self.last_board_id

    def _emit(self, wall: Wall, kind: str, obj: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(wall.community.id, kind, obj)

    # --- extended answers --------------------------------------------------------------
    def extended(self, author_ids: Iterable[int], owner_ids: Iterable[int] = ()) -> dict[str, Any]:
        """`profiles` and `groups` for the users (>0) and communities (<0) named."""
        ids = set(author_ids) | set(owner_ids)
        profiles = [self.profile(i) for i in sorted(i for i in ids if i > 0)]
        groups = [
            self.walls[-i].community.as_vk() for i in sorted(ids, reverse=True)
            if i < 0 and -i in self.walls
        ]
        return {"profiles": profiles, "groups": groups}


# --- rendering ----------------------------------------------------------------------------
def post_json(wall: Wall, post: Post) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": post.id,
        "from_id": post.from_id,
        "owner_id": post.owner_id,
        "date": post.date,
        "marked_as_ads": 0,
        "post_type": "post",
        "text": post.text,
    }
    if post.is_pinned:
        data["is_pinned"] = 1
    if post.signer_id is not None:
        data["signer_id"] = post.signer_id
    if post.attachments:
        data["attachments"] = post.attachments
    if post.copy_history:
        data["copy_history"] = post.copy_history
    data["post_source"] = {"type": "vk"}
    data["comments"] = {
        "count": wall.comment_count(post.id),
        "can_post": 1,
        "can_view": 1,
        "groups_can_post": True,
    }
    data["likes"] = {"count": post.likes, "user_likes": 0, "can_like": 1, "can_publish": 1}
    data["reposts"] = {"count": post.reposts, "wall_count": post.reposts, "mail_count": 0,
                       "user_reposted": 0}
    data["views"] = {"count": post.views}
    data["is_favorite"] = False
    if post.edited is not None:
        data["edited"] = post.edited
    return data


def post_authors(posts: Iterable[Post]) -> set[int]:
    ids: set[int] = set()
    for post in posts:
        ids.update({post.owner_id, post.from_id})
        if post.signer_id is not None:
            ids.add(post.signer_id)
        ids.update(int(copy.get("from_id", 0)) for copy in post.copy_history)
    ids.discard(0)
    return ids


def reply_event(wall: Wall, comment: Comment) -> dict[str, Any]:
    """The object of `wall_reply_new`/`wall_reply_edit` (captured v5.110 shape)."""
    data: dict[str, Any] = {
        "id": comment.id,
        "from_id": comment.from_id,
        "post_id": comment.post_id,
        "owner_id": comment.owner_id,
        "parents_stack": [] if comment.root_id is None else [comment.root_id],
        "date": comment.date,
        "text": comment.text,
    }
    _add_reply_fields(data, comment)
    if comment.root_id is None:
        data["thread"] = {"count": len(comment.replies)}
    data["post_owner_id"] = wall.owner_id
    return data


def _add_reply_fields(data: dict[str, Any], comment: Comment) -> None:
    if comment.reply_to_comment is not None:
        data["reply_to_user"] = comment.reply_to_user
        data["reply_to_comment"] = comment.reply_to_comment


@dataclass(frozen=True)
class CommentView:
    """How wall.getComments was asked to render comments."""

    preview_length: int = 90
    thread_items: int = 0
    need_likes: bool = False


def comment_json(wall: Wall, comment: Comment, view: CommentView) -> dict[str, Any]:
    stack = [] if comment.root_id is None else [comment.root_id]
    if comment.deleted:
        stub: dict[str, Any] = {"id": comment.id, "parents_stack": stack, "date": comment.date}
        if comment.root_id is None:
            stub["thread"] = thread_json(wall, comment, view)
        stub["deleted"] = True
        return stub
    text = comment.text
    if view.preview_length > 0:
        text = text[: view.preview_length]
    data: dict[str, Any] = {
        "id": comment.id,
        "from_id": comment.from_id,
        "post_id": comment.post_id,
        "owner_id": comment.owner_id,
        "parents_stack": stack,
        "date": comment.date,
        "text": text,
    }
    _add_reply_fields(data, comment)
    if comment.attachments:
        data["attachments"] = comment.attachments
    if view.need_likes:
        data["likes"] = {"count": comment.likes, "user_likes": 0, "can_like": 1}
    if comment.root_id is None:
        data["thread"] = thread_json(wall, comment, view)
    return data


def thread_json(wall: Wall, root: Comment, view: CommentView) -> dict[str, Any]:
    shown = [wall.comments[i] for i in root.replies[: view.thread_items]]
    return {
        "count": len(root.replies),
        "items": [comment_json(wall, reply, view) for reply in shown],
        "can_post": True,
        "show_reply_button": True,
        "groups_can_post": True,
    }


# --- request parameters -------------------------------------------------------------------
def int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise param_error(f"{name} not integer") from None


def clamp(value: int, maximum: int) -> int:
    return min(max(value, 0), maximum)


def flag(raw: str | None) -> bool:
    return raw is not None and raw.strip() not in ("", "0", "false")
