#include "sync_plan.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <unordered_map>

#include "cortex/storage/cbor.hpp"

namespace cortex::pool::sync {

using storage::Array;
using storage::Object;
using storage::RecordId;
using storage::Value;

namespace {

constexpr const char* kPositions = "_cortex_sync";

std::int64_t as_int(const Value& v) { return v.is<std::int64_t>() ? v.get<std::int64_t>() : 0; }

// Records are compared by their encoding: ids of any key type (text, number, array, object).
std::string key_of(const Value& id) { return storage::cbor::encode(id); }

// The newest versionstamp per record of `feed`'s changes not written by this sync.
std::unordered_map<std::string, std::int64_t> newest_by_others(const Feed& feed) {
  std::unordered_map<std::string, std::int64_t> out;
  for (const auto& e : feed.entries) {
    if (e.shipped) continue;
    for (const auto& c : e.changes) {
      auto& v = out[key_of(c.id)];
      v = std::max(v, c.vs);
    }
  }
  return out;
}

const RecordId* record(const Value& id) { return id.is<RecordId>() ? &id.get<RecordId>() : nullptr; }

// One occurrence of a record in a feed: the entry it is in and the change.
struct Last {
  std::size_t seq = 0;
  const FeedEntry* entry = nullptr;
  const Change* change = nullptr;
};

// Each record's last change in the feed, in feed order, kept when `keep(entry, change)`; chunked
// at transaction boundaries once a chunk holds `chunk_changes`. The last chunk carries the feed's
// end, so that what was read and left out is not read again.
Plan collapse(const Feed& feed, std::size_t chunk_changes, const std::function<bool(const FeedEntry&, const Change&)>& keep) {
  Plan plan;
  if (feed.read == 0) return plan;
  std::unordered_map<std::string, Last> last;
  std::size_t seq = 0;
  for (const auto& e : feed.entries) {
    for (const auto& c : e.changes) last[key_of(c.id)] = Last{seq++, &e, &c};
  }
  std::vector<Last> order;
  order.reserve(last.size());
  for (auto& [k, l] : last) order.push_back(l);
  std::sort(order.begin(), order.end(), [](const Last& a, const Last& b) { return a.seq < b.seq; });
  Chunk chunk;
  std::int64_t chunk_vs = 0;  // the entry versionstamp of the chunk's last change
  for (const auto& l : order) {
    if (!keep(*l.entry, *l.change)) {
      ++plan.skipped;
      continue;
    }
    // A chunk ends between transactions only: its position then covers whole entries.
    if (chunk.changes.size() >= chunk_changes && l.entry->vs != chunk_vs) {
      chunk.next = chunk_vs + 1;
      plan.chunks.push_back(std::move(chunk));
      chunk = Chunk{};
    }
    chunk.changes.push_back(*l.change);
    chunk_vs = l.entry->vs;
  }
  chunk.next = feed.end;
  plan.chunks.push_back(std::move(chunk));
  return plan;
}

}  // namespace

Value ship_position_id(const std::string& name) {
  return Value(RecordId{kPositions, storage::Box<Value>(Value(Array{Value(name), Value("ship")}))});
}

Value pull_position_id(const std::string& name, const std::string& url) {
  return Value(RecordId{kPositions, storage::Box<Value>(Value(Array{Value(name), Value("pull"), Value(url)}))});
}

Feed parse_feed(const Value& answer, const std::string& name, const std::vector<std::string>& tables, std::int64_t since) {
  Feed feed;
  feed.end = since;
  if (!answer.is<Array>()) return feed;
  for (const auto& raw : answer.get<Array>()) {
    ++feed.read;
    FeedEntry e;
    e.vs = as_int(raw["versionstamp"]);
    feed.end = std::max(feed.end, e.vs + 1);
    std::map<std::string, std::int64_t> stamps;  // a copy's original versionstamps, by record
    const auto& changes = raw["changes"];
    if (!changes.is<Array>()) continue;
    for (const auto& ch : changes.get<Array>()) {
      const bool update = ch["update"].is<Object>();
      const Value& id = update ? ch["update"]["id"] : ch["delete"]["id"];
      const RecordId* rid = record(id);
      if (!rid) continue;  // define_table and the like: schema, not data
      if (rid->table == kPositions) {
        if (!update) continue;
        // Any sync's position record carries the original versionstamps of the changes it wrote
        // with it (a copy or a shipment is not newer than the write it carries): another cache's
        // shipment read from a remote keeps its write's time.
        const auto& s = ch["update"]["stamps"];
        if (s.is<Array>()) {
          for (const auto& pair : s.get<Array>()) stamps[key_of(pair[0])] = as_int(pair[1]);
        }
        const Value& key = *rid->key;
        if (key[std::size_t{0}] != Value(name)) continue;  // another sync's: not an echo of ours
        if (key[1] == Value("ship")) e.shipped = true;
        if (key[1] == Value("pull") && key[2].is<std::string>()) e.origin = key[2].get<std::string>();
        continue;
      }
      if (std::find(tables.begin(), tables.end(), rid->table) == tables.end()) continue;
      e.changes.push_back(Change{id, update ? ch["update"] : Value(), e.vs});
    }
    for (auto& c : e.changes) {
      const auto it = stamps.find(key_of(c.id));
      if (it != stamps.end()) c.vs = it->second;
    }
    if (!e.changes.empty()) feed.entries.push_back(std::move(e));
  }
  return feed;
}

void append(Feed& feed, Feed more) {
  for (auto& e : more.entries) feed.entries.push_back(std::move(e));
  feed.end = std::max(feed.end, more.end);
  feed.read += more.read;
}

Plan plan_ship(const Feed& local, const std::string& url, std::size_t chunk_changes) {
  return collapse(local, chunk_changes, [&](const FeedEntry& e, const Change&) { return e.origin != url; });
}

std::string record_key(const Value& id) { return key_of(id); }

std::size_t drop_overtaken(Plan& plan, const Feed& remote_since) {
  const auto newer = newest_by_others(remote_since);
  if (newer.empty()) return 0;
  std::size_t dropped = 0;
  for (auto& chunk : plan.chunks) {
    auto& ch = chunk.changes;
    const auto keep_end = std::remove_if(ch.begin(), ch.end(), [&](const Change& c) {
      const auto it = newer.find(key_of(c.id));
      return it != newer.end() && it->second > c.vs;  // a tie goes to the cache, as in plan_pull
    });
    dropped += static_cast<std::size_t>(ch.end() - keep_end);
    ch.erase(keep_end, ch.end());
  }
  plan.skipped += dropped;
  return dropped;
}

Plan plan_pull(const Feed& remote, const Feed& local_unshipped, const std::string& url, std::size_t chunk_changes) {
  // The cache's latest change per record that this remote has not got yet.
  std::unordered_map<std::string, std::int64_t> local_vs;
  for (const auto& e : local_unshipped.entries) {
    if (e.origin == url) continue;  // copied from this remote: it has them
    for (const auto& c : e.changes) {
      auto& v = local_vs[key_of(c.id)];
      v = std::max(v, c.vs);
    }
  }
  return collapse(remote, chunk_changes, [&](const FeedEntry& e, const Change& c) {
    if (e.shipped) return false;  // our own shipment, read back
    const auto it = local_vs.find(key_of(c.id));
    return it == local_vs.end() || it->second < c.vs;  // a tie goes to the cache
  });
}

}  // namespace cortex::pool::sync
