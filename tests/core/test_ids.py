"""Ids that name their thread's shard (server/core/ids.py)."""

from __future__ import annotations

from collections import Counter

from server.core import ids


def test_a_threads_shard_is_stable_and_depends_on_contact_and_touchpoint() -> None:
    # The stored layout depends on these values: they must never change.
    assert ids.thread_shard("whatsapp:5511900000001", "wa") == "3a4"
    assert ids.thread_shard("messenger:6001", "fb") == "391"
    assert ids.thread_shard("whatsapp:5511900000001", "wa2") != ids.thread_shard("whatsapp:5511900000001", "wa")
    assert ids.thread_shard("whatsapp:5511900000002", "wa") != ids.thread_shard("whatsapp:5511900000001", "wa")


def test_threads_spread_evenly_over_the_shards() -> None:
    counts = Counter(ids.thread_shard(f"whatsapp:55119{n:08d}", "wa") for n in range(50_000))
    assert len(counts) == ids.SHARDS  # every bucket used
    mean = 50_000 / ids.SHARDS
    assert max(counts.values()) < 2 * mean and min(counts.values()) > mean / 2


def test_an_id_names_its_shard_and_only_a_well_formed_suffix_counts() -> None:
    shard = ids.thread_shard("whatsapp:5511900000001", "wa")
    minted = ids.in_shard("c_0192ab34cd56ef7890ab", shard)
    assert minted == f"c_0192ab34cd56ef7890ab.{shard}"
    assert ids.shard_of(minted) == shard
    assert ids.shard_of(ids.in_shard("m_1", "3ff")) == "3ff"
    for foreign in ("c1", "c_018f3a2b", ".2d5", "c.400", "c.2D5", "c. 2d", "c.0x1", "c.2d", "c.2d55", "wamid.HBgLMTU1"):
        assert ids.shard_of(foreign) is None, foreign
    assert len(ids.all_shards()) == ids.SHARDS and ids.all_shards()[-1] == "3ff"
