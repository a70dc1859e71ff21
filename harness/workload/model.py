"""The OpenIM data model the workload writes: ids, conversation ids, doc ids, message payloads.

Pure functions and dataclasses only (no I/O), so engines, checker and tests share one truth.
Facts: reference/openim-workload.md (conversationutil, model/msg.go, rockscache MsgInfoModel).
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.errors import HarnessError

MSGS_PER_DOC = 100  # singleGocMsgNum since v3.2.0
SEQ_BLOCK_SINGLE = 50  # getMallocSize: size+50 for single chats
SEQ_BLOCK_GROUP = 100  # size+100 for groups
MSG_CACHE_TTL_S = 24 * 3600
TOKEN_TTL_S = 90 * 24 * 3600
ONLINE_TTL_S = 1800
MALLOC_SEQ_TTL_S = 365 * 24 * 3600
PLATFORMS = ("IOS", "Android", "Windows", "OSX", "Web", "MiniWeb", "Linux", "APad", "IPad", "Admin", "HarmonyOS")
SESSION_SINGLE = 1
SESSION_GROUP = 3  # read-diffusion group
CONTENT_TEXT = 101
PAYLOAD_TEXT_BYTES = 700  # "a typical text is about 700 B" (OpenIM sizing guide)


def user_id(i: int) -> str:
    """OpenIM user ids are decimal strings (10 digits in the demo servers)."""
    return f"{1_000_000_000 + i}"


def group_id(i: int) -> str:
    return f"{3_000_000_000 + i}"


def single_cid(a: str, b: str) -> str:
    """`si_` + the two user ids sorted and joined with `_` (conversationutil.GenConversationIDForSingle)."""
    x, y = sorted((a, b))
    return f"si_{x}_{y}"


def group_cid(gid: str) -> str:
    """Read-diffusion group conversation (SessionType 3)."""
    return f"sg_{gid}"


def doc_id(cid: str, seq: int) -> str:
    """`<cid>:<(seq-1)//100>`: seqs 1..100 live in doc 0 (MsgDocModel.GetDocID)."""
    if seq < 1:
        raise ValueError(f"seq starts at 1, got {seq}")
    return f"{cid}:{(seq - 1) // MSGS_PER_DOC}"


def msg_index(seq: int) -> int:
    """Slot of a seq inside its doc (MsgDocModel.GetMsgIndex)."""
    return (seq - 1) % MSGS_PER_DOC


def seq_block(cid: str) -> int:
    return SEQ_BLOCK_GROUP if cid.startswith("sg_") else SEQ_BLOCK_SINGLE


def msg_cache_key(cid: str, seq: int) -> str:
    """v3.8.3+ rockscache key (a HASH whose field `value` holds the JSON)."""
    return f"MSG_CACHE:{cid}:{seq}"


def malloc_seq_key(cid: str) -> str:
    return f"MALLOC_SEQ:{cid}"


def token_key(uid: str, platform: str) -> str:
    return f"UID_PID_TOKEN_STATUS:{uid}:{platform}"


def online_key(uid: str) -> str:
    return f"ONLINE:{uid}"


def platform_id(platform: str) -> int:
    return PLATFORMS.index(platform) + 1


@dataclass(frozen=True)
class Conversation:
    cid: str
    session_type: int
    members: tuple[str, ...]  # single: the two users; group: the group's members
    group_id: str = ""


@dataclass(frozen=True)
class SeedSize:
    """How big the initial data set is; profiles choose it."""

    users: int = 200
    friends_per_user: int = 5
    groups: int = 10
    group_size: int = 20

    def __post_init__(self) -> None:
        if self.users < 2:
            raise HarnessError(f"seed size: users must be >= 2, got {self.users}")
        if self.friends_per_user < 1 or self.friends_per_user >= self.users:
            raise HarnessError(f"seed size: friends_per_user must be in 1..{self.users - 1}, got {self.friends_per_user}")
        if self.groups < 0 or not (2 <= self.group_size <= self.users):
            raise HarnessError(f"seed size: groups >= 0 and 2 <= group_size <= users required, got {self.groups}, {self.group_size}")


@dataclass(frozen=True)
class SeedInfo:
    """The seeded data set, as the load workers need it (ids only; JSON-serialisable)."""

    engine: str
    seed: int
    users: tuple[str, ...]
    friends: tuple[tuple[str, str], ...]  # (owner, friend), both directions present
    groups: tuple[tuple[str, tuple[str, ...]], ...]  # (group id, member ids)
    conversations: tuple[Conversation, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeedInfo:
        return cls(
            engine=data["engine"],
            seed=data["seed"],
            users=tuple(data["users"]),
            friends=tuple((a, b) for a, b in data["friends"]),
            groups=tuple((g, tuple(m)) for g, m in data["groups"]),
            conversations=tuple(
                Conversation(c["cid"], c["session_type"], tuple(c["members"]), c.get("group_id", ""))
                for c in data["conversations"]
            ),
        )


def plan_seed(engine: str, size: SeedSize, seed: int) -> SeedInfo:
    """The deterministic data set for (size, seed): users, friendships, groups, conversations."""
    rng = random.Random(seed)
    users = tuple(user_id(i) for i in range(size.users))
    pairs: set[tuple[str, str]] = set()
    for i, u in enumerate(users):
        # a ring neighbour guarantees everyone has a friend; the rest are random
        pairs.add(tuple(sorted((u, users[(i + 1) % len(users)]))))  # type: ignore[arg-type]
        for f in rng.sample(users, min(size.friends_per_user, len(users) - 1)):
            if f != u:
                pairs.add(tuple(sorted((u, f))))  # type: ignore[arg-type]
    ordered = sorted(pairs)
    friends = tuple(x for a, b in ordered for x in ((a, b), (b, a)))
    groups = tuple(
        (group_id(g), tuple(sorted(rng.sample(users, size.group_size)))) for g in range(size.groups)
    )
    convs = [Conversation(single_cid(a, b), SESSION_SINGLE, (a, b)) for a, b in ordered]
    convs += [Conversation(group_cid(g), SESSION_GROUP, m, g) for g, m in groups]
    return SeedInfo(engine, seed, users, friends, groups, tuple(convs))


def conversations_of(info: SeedInfo, uid: str) -> list[Conversation]:
    return [c for c in info.conversations if uid in c.members]


def text_pool(rng: random.Random, n: int = 32) -> tuple[str, ...]:
    """Message texts of realistic size, made once per client so payload building stays cheap."""
    return tuple("".join(rng.choices("abcdefghijklmnopqrstuvwxyz ", k=PAYLOAD_TEXT_BYTES)) for _ in range(n))


def message(conv: Conversation, sender: str, seq: int, client_msg_id: str, now_ms: int, text: str) -> dict[str, Any]:
    """A MsgDataModel-shaped message (Mongo field names) with a text payload of realistic size."""
    recv = "" if conv.session_type == SESSION_GROUP else next((m for m in conv.members if m != sender), sender)
    return {
        "send_id": sender,
        "recv_id": recv,
        "group_id": conv.group_id,
        "client_msg_id": client_msg_id,
        "server_msg_id": f"s{client_msg_id}",
        "sender_platform_id": 1,
        "sender_nickname": f"user{sender[-4:]}",
        "sender_face_url": "",
        "session_type": conv.session_type,
        "msg_from": 100,
        "content_type": CONTENT_TEXT,
        "content": json.dumps({"content": text}),
        "seq": seq,
        "send_time": now_ms,
        "create_time": now_ms,
        "status": 2,
        "is_read": False,
        "options": {},
        "offline_push": {"title": "", "desc": "", "ex": "", "ios_push_sound": "", "ios_badge_count": False},
        "at_user_id_list": [],
        "attached_info": "",
        "ex": "",
    }


_GO_NAMES = {
    "send_id": "SendID", "recv_id": "RecvID", "group_id": "GroupID", "client_msg_id": "ClientMsgID",
    "server_msg_id": "ServerMsgID", "sender_platform_id": "SenderPlatformID", "sender_nickname": "SenderNickname",
    "sender_face_url": "SenderFaceURL", "session_type": "SessionType", "msg_from": "MsgFrom",
    "content_type": "ContentType", "content": "Content", "seq": "Seq", "send_time": "SendTime",
    "create_time": "CreateTime", "status": "Status", "is_read": "IsRead", "options": "Options",
    "offline_push": "OfflinePush", "at_user_id_list": "AtUserIDList", "attached_info": "AttachedInfo", "ex": "Ex",
}


def msg_cache_json(msg: dict[str, Any]) -> str:
    """The MSG_CACHE `value`: JSON of MsgInfoModel with Go field names, as rockscache stores it."""
    go = {_GO_NAMES[k]: v for k, v in msg.items()}
    return json.dumps({"Msg": go, "Revoke": None, "DelList": None, "IsRead": False}, separators=(",", ":"))


def empty_slot() -> dict[str, Any]:
    return {"msg": None, "revoke": None, "del_list": [], "is_read": False}
