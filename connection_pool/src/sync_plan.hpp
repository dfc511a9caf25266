#pragma once
// The Hybrid sync's decisions, without I/O: what a changefeed read says (parse_feed), what to ship
// from the local cache to a remote (plan_ship) and what to copy back from a remote into the cache
// (plan_pull), and when the cache may take calls again (CacheGate). hybrid_sync.cpp does the
// reading and writing.
//
// The conflict rule, both ways: per record, the newer change wins, by versionstamp. SurrealDB 3.x
// versionstamps are hybrid-logical-clock times (Unix milliseconds << 16 | a counter), so the cache's
// and a remote's compare as times (as far as the servers' clocks agree). A change copied from a
// remote keeps its remote versionstamp (carried in the position record written with it), so a copy
// never looks newer than the write it copies.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cortex/storage/value.hpp"

namespace cortex::pool::sync {

struct Change {
  storage::Value id;       ///< the record id
  storage::Value content;  ///< the record after the change; NONE: deleted
  std::int64_t vs = 0;     ///< when it was made (see the rule above)
  bool deleted() const { return content.is_none(); }
};

struct FeedEntry {
  std::int64_t vs = 0;       ///< the transaction's versionstamp on the server read
  bool shipped = false;      ///< written by this sync's ship (an echo when read back from a remote)
  std::string origin;        ///< copied into the cache from this remote ("": written by a caller)
  std::vector<Change> changes;  ///< of the synced tables only
};

struct Feed {
  std::vector<FeedEntry> entries;
  std::int64_t end = 0;      ///< where the next read starts: the last versionstamp read + 1
  std::size_t read = 0;      ///< entries the server returned (before filtering)
};

/// The position record of this sync (`name`) in `_cortex_sync`: on a remote, how far the cache's
/// feed is shipped to it (`[name, "ship"]`); on the cache, how far a remote's feed is copied in
/// (`[name, "pull", url]`).
storage::Value ship_position_id(const std::string& name);
storage::Value pull_position_id(const std::string& name, const std::string& url);

/// Reads one `SHOW CHANGES FOR DATABASE` answer: keeps the changes of `tables`, marks the entries
/// that carry this sync's position records. `since`: where the read started (the end when empty).
Feed parse_feed(const storage::Value& answer, const std::string& name, const std::vector<std::string>& tables,
                std::int64_t since);
/// Appends `more` (the next read) to `feed`.
void append(Feed& feed, Feed more);

/// Changes applied in one transaction together with the position `next`.
struct Chunk {
  std::vector<Change> changes;
  std::int64_t next = 0;
};
struct Plan {
  std::vector<Chunk> chunks;  ///< empty: nothing was read, no position to move
  std::size_t skipped = 0;    ///< records left out (already there, or a newer change wins)
};

/// What the cache's pending feed (read from the remote's ship position) ships to remote `url`:
/// each record's last change, in order, except records whose last change was copied from `url`
/// (the remote has it).
Plan plan_ship(const Feed& local, const std::string& url, std::size_t chunk_changes);

/// What a remote's pending feed (read from its pull position) copies into the cache: each
/// record's last change, except this sync's own shipments (echoes) and records the cache changed
/// later, in changes not yet shipped to this remote (`local_unshipped`, read from its ship
/// position; those win and reach the remote by the next ship).
Plan plan_pull(const Feed& remote, const Feed& local_unshipped, const std::string& url, std::size_t chunk_changes);

/// A record id's key for maps of records (ids of any key type compare by their encoding).
std::string record_key(const storage::Value& id);

/// Leaves out of a ship `plan` the changes a remote overtook after the pass's pull: `remote_since`
/// is the remote's feed from the pull position, and a record it changed (not by this sync) at a
/// newer versionstamp than the cache's change keeps the remote's version (the next pull copies it
/// into the cache). Returns how many changes it left out.
std::size_t drop_overtaken(Plan& plan, const Feed& remote_since);

/// Whether the Hybrid cache may take calls: only once a sync pass that began after its latest
/// failure has copied the remotes' changes in (writes made on the remotes meanwhile are then
/// readable from the cache). Until the first such pass it may not.
class CacheGate {
 public:
  /// `failures`: the cache endpoint's count of failed calls and connects, now.
  bool serving(std::uint64_t failures) const noexcept {
    return caught_up_at_.load(std::memory_order_acquire) == failures;
  }
  /// A pass that began when the count was `failures_at_start` has caught the cache up.
  void caught_up(std::uint64_t failures_at_start) noexcept {
    caught_up_at_.store(failures_at_start, std::memory_order_release);
  }

 private:
  std::atomic<std::uint64_t> caught_up_at_{~std::uint64_t{0}};  // never
};

}  // namespace cortex::pool::sync
