// The Hybrid sync's decisions without a server: reading a feed, what ships, what is copied back,
// the conflict rule both ways, positions, and when the cache may serve.
#include <gtest/gtest.h>

#include "sync_plan.hpp"

using namespace cortex::pool::sync;
using cortex::storage::Array;
using cortex::storage::Box;
using cortex::storage::Object;
using cortex::storage::RecordId;
using cortex::storage::Value;

namespace {

const std::string kName = "s";
const std::string kRemote = "ws://remote:1/rpc";
const std::vector<std::string> kTables = {"note"};

Value rid(const std::string& table, std::int64_t key) { return Value(RecordId{table, Box<Value>(Value(key))}); }
Value update(const Value& id, std::int64_t n) { return Value(Object{{"update", Value(Object{{"id", id}, {"n", Value(n)}})}}); }
Value del(const Value& id) { return Value(Object{{"delete", Value(Object{{"id", id}})}}); }
Value entry(std::int64_t vs, Array changes) {
  return Value(Object{{"versionstamp", Value(vs)}, {"changes", Value(std::move(changes))}});
}
Value ship_marker() { return Value(Object{{"update", Value(Object{{"id", ship_position_id(kName)}, {"vs", Value(1)}})}}); }
Value pull_marker(const std::string& url, Array stamps = {}) {
  return Value(Object{{"update", Value(Object{{"id", pull_position_id(kName, url)}, {"stamps", Value(std::move(stamps))}})}});
}
Feed feed(Array entries, std::int64_t since = 0) { return parse_feed(Value(std::move(entries)), kName, kTables, since); }

std::vector<Value> ids(const Plan& p) {
  std::vector<Value> out;
  for (const auto& c : p.chunks) {
    for (const auto& ch : c.changes) out.push_back(ch.id);
  }
  return out;
}

}  // namespace

TEST(SyncFeed, KeepsTheSyncedTablesAndMarksThisSyncsOwnTransactions) {
  const auto other_sync = Value(RecordId{"_cortex_sync", Box<Value>(Value(Array{Value("other"), Value("ship")}))});
  const auto f = feed({entry(10, {Value(Object{{"define_table", Value(Object{{"name", Value("note")}})}})}),
                       entry(20, {update(rid("note", 1), 1), update(rid("other_table", 1), 1)}),
                       entry(30, {ship_marker(), update(rid("note", 2), 2)}),
                       entry(40, {pull_marker(kRemote, {Value(Array{rid("note", 3), Value(7)})}), update(rid("note", 3), 3),
                                  del(rid("note", 4))}),
                       entry(50, {Value(Object{{"update", Value(Object{{"id", other_sync}})}}), update(rid("note", 5), 5)})},
                      5);
  EXPECT_EQ(f.read, 5u);
  EXPECT_EQ(f.end, 51);
  ASSERT_EQ(f.entries.size(), 4u);  // the define_table entry holds no data
  EXPECT_EQ(f.entries[0].changes.size(), 1u);  // other_table is not synced
  EXPECT_FALSE(f.entries[0].shipped);
  EXPECT_TRUE(f.entries[1].shipped);
  EXPECT_EQ(f.entries[2].origin, kRemote);
  EXPECT_EQ(f.entries[2].changes[0].vs, 7);   // a copy keeps the remote's versionstamp
  EXPECT_EQ(f.entries[2].changes[1].vs, 40);  // no stamp: the entry's
  EXPECT_TRUE(f.entries[2].changes[1].deleted());
  EXPECT_FALSE(f.entries[3].shipped);  // another sync's position record is not ours
  EXPECT_TRUE(f.entries[3].origin.empty());
}

// Two caches on one remote: cache B reads cache A's shipment from the remote. It is not B's echo,
// and its changes keep the times of A's writes (carried in A's ship position record), not the time
// the ship committed on the remote. Before: the ship's commit time made A's older write beat B's
// newer unshipped one (found by the checker, HybridHistory seed 6).
TEST(SyncFeed, AnotherCachesShipmentKeepsItsWritesTimes) {
  const auto a_ship = Value(RecordId{"_cortex_sync", Box<Value>(Value(Array{Value("cache-a"), Value("ship")}))});
  const auto f = feed({entry(900, {Value(Object{{"update", Value(Object{{"id", a_ship},
                                                                         {"stamps", Value(Array{Value(Array{rid("note", 1), Value(115)})})}})}}),
                                   update(rid("note", 1), 18)})});
  ASSERT_EQ(f.entries.size(), 1u);
  EXPECT_FALSE(f.entries[0].shipped);
  EXPECT_EQ(f.entries[0].changes[0].vs, 115);
  // The cache's own unshipped write of that record at 118 is newer: it stays, and ships.
  const auto mine = feed({entry(118, {update(rid("note", 1), 19)})});
  EXPECT_TRUE(ids(plan_pull(f, mine, kRemote, 10)).empty());
}

TEST(SyncFeed, AnEmptyReadEndsWhereItStartedAndPlansNothing) {
  const auto f = feed({}, 42);
  EXPECT_EQ(f.end, 42);
  EXPECT_EQ(f.read, 0u);
  EXPECT_TRUE(plan_ship(f, kRemote, 10).chunks.empty());
  EXPECT_TRUE(plan_pull(f, Feed{}, kRemote, 10).chunks.empty());
}

TEST(SyncShip, EachRecordsLastChangeInOrderWithTheFeedsEndAsPosition) {
  const auto f = feed({entry(10, {update(rid("note", 1), 1), update(rid("note", 2), 1)}), entry(20, {del(rid("note", 1))}),
                       entry(30, {update(rid("note", 3), 1), update(rid("note", 2), 2)})});
  const auto p = plan_ship(f, kRemote, 1000);
  ASSERT_EQ(p.chunks.size(), 1u);
  EXPECT_EQ(p.chunks[0].next, 31);
  EXPECT_EQ(ids(p), (std::vector<Value>{rid("note", 1), rid("note", 3), rid("note", 2)}));
  EXPECT_TRUE(p.chunks[0].changes[0].deleted());
  EXPECT_EQ(p.chunks[0].changes[2].content["n"], Value(2));
}

TEST(SyncShip, RecordsLastCopiedFromTheRemoteAreNotSentBackButGoToTheOthers) {
  const auto f = feed({entry(10, {update(rid("note", 1), 1), update(rid("note", 2), 1)}),
                       entry(20, {pull_marker(kRemote), update(rid("note", 1), 9)})});
  const auto to_origin = plan_ship(f, kRemote, 1000);
  EXPECT_EQ(ids(to_origin), (std::vector<Value>{rid("note", 2)}));  // note:1's last state came from it
  EXPECT_EQ(to_origin.skipped, 1u);
  EXPECT_EQ(to_origin.chunks.back().next, 21);
  const auto to_other = plan_ship(f, "ws://other:1/rpc", 1000);
  EXPECT_EQ(ids(to_other), (std::vector<Value>{rid("note", 2), rid("note", 1)}));
  EXPECT_EQ(to_other.chunks[0].changes[1].content["n"], Value(9));
}

TEST(SyncShip, NothingLeftToApplyStillMovesThePosition) {
  const auto f = feed({entry(10, {pull_marker(kRemote), update(rid("note", 1), 1)})});
  const auto p = plan_ship(f, kRemote, 1000);
  ASSERT_EQ(p.chunks.size(), 1u);
  EXPECT_TRUE(p.chunks[0].changes.empty());
  EXPECT_EQ(p.chunks[0].next, 11);
}

TEST(SyncShip, ChunksEndBetweenTransactionsWithThePositionTheyReach) {
  const auto f = feed({entry(10, {update(rid("note", 1), 1), update(rid("note", 2), 1)}), entry(20, {update(rid("note", 3), 1)}),
                       entry(30, {update(rid("note", 4), 1)})});
  const auto p = plan_ship(f, kRemote, 2);
  ASSERT_EQ(p.chunks.size(), 2u);
  EXPECT_EQ(p.chunks[0].changes.size(), 2u);
  EXPECT_EQ(p.chunks[0].next, 11);  // resumed there, entries 20 and 30 are read again
  EXPECT_EQ(p.chunks[1].changes.size(), 2u);
  EXPECT_EQ(p.chunks[1].next, 31);
  // One transaction is never split, however many changes it holds.
  const auto big = plan_ship(feed({entry(10, {update(rid("note", 1), 1), update(rid("note", 2), 1), update(rid("note", 3), 1)})}),
                             kRemote, 1);
  EXPECT_EQ(big.chunks.size(), 1u);
}

TEST(SyncPull, OwnShipmentsReadBackAreNeverCopied) {
  // note:1 changed on the remote, then overwritten by a shipment: its last state is the cache's.
  const auto remote = feed({entry(100, {update(rid("note", 1), 5), update(rid("note", 2), 5)}),
                            entry(200, {ship_marker(), update(rid("note", 1), 1)})});
  const auto p = plan_pull(remote, Feed{}, kRemote, 1000);
  EXPECT_EQ(ids(p), (std::vector<Value>{rid("note", 2)}));
  EXPECT_EQ(p.chunks.back().next, 201);
}

TEST(SyncPull, TheNewerChangeWinsByVersionstampBothWays) {
  const auto remote = feed({entry(150, {update(rid("note", 1), 5)}), entry(250, {update(rid("note", 2), 5)}),
                            entry(300, {update(rid("note", 3), 5)})});
  const auto local = feed({entry(200, {update(rid("note", 1), 1), update(rid("note", 2), 1)}),
                           entry(300, {update(rid("note", 3), 1)})});
  const auto p = plan_pull(remote, local, kRemote, 1000);
  // note:1: the cache's (200) is newer than the remote's (150): kept, shipped later.
  // note:2: the remote's (250) is newer: copied. note:3: a tie goes to the cache.
  EXPECT_EQ(ids(p), (std::vector<Value>{rid("note", 2)}));
  EXPECT_EQ(p.skipped, 2u);
}

TEST(SyncPull, CopiesCompareByTheirOriginalVersionstamp) {
  // The cache copied note:1 from another remote at 500, a change made there at 100; this remote
  // changed it at 300: the remote's is newer, whatever the copy's own versionstamp.
  const auto local = feed({entry(500, {pull_marker("ws://other:1/rpc", {Value(Array{rid("note", 1), Value(100)})}),
                                       update(rid("note", 1), 1)})});
  const auto remote = feed({entry(300, {update(rid("note", 1), 3)})});
  EXPECT_EQ(ids(plan_pull(remote, local, kRemote, 1000)), (std::vector<Value>{rid("note", 1)}));
  // Changes the cache copied from this very remote are the remote's own: no conflict with them.
  const auto from_it = feed({entry(500, {pull_marker(kRemote, {Value(Array{rid("note", 1), Value(900)})}), update(rid("note", 1), 1)})});
  EXPECT_EQ(ids(plan_pull(remote, from_it, kRemote, 1000)), (std::vector<Value>{rid("note", 1)}));
}

TEST(SyncPull, ADeleteIsAChangeLikeAnyOther) {
  const auto remote = feed({entry(300, {del(rid("note", 1))}), entry(100, {del(rid("note", 2))})});
  const auto local = feed({entry(200, {update(rid("note", 1), 1), update(rid("note", 2), 1)})});
  const auto p = plan_pull(remote, local, kRemote, 1000);
  ASSERT_EQ(ids(p), (std::vector<Value>{rid("note", 1)}));
  EXPECT_TRUE(p.chunks[0].changes[0].deleted());
}

TEST(CacheGate, ServesOnlyAfterAPassThatBeganAfterTheLatestFailure) {
  CacheGate gate;
  EXPECT_FALSE(gate.serving(0));  // never caught up
  gate.caught_up(0);
  EXPECT_TRUE(gate.serving(0));
  EXPECT_FALSE(gate.serving(1));  // a failure since
  gate.caught_up(0);              // a pass that began before it does not count
  EXPECT_FALSE(gate.serving(1));
  gate.caught_up(1);
  EXPECT_TRUE(gate.serving(1));
}
