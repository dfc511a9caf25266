#pragma once
// Sans-I/O book-keeping of in-flight requests: ids, handlers and deadlines. Not thread-safe: the
// owning RpcConnection serialises access. Unit-tested with explicit time points.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cortex/storage/rpc_connection.hpp"

namespace cortex::storage {

class PendingRequests {
 public:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Handler handler;
    Clock::time_point deadline;
    NotificationHandler on_notify;  ///< set for `live` requests: registered when the reply arrives
    Clock::time_point sent{};       ///< when it was sent (for ConnectOptions::on_request_done)
    bool counted = true;           ///< told to on_request_done (not the keepalive pings)
    std::size_t bytes = 0;         ///< the encoded request's size (bytes() sums them)
    std::uint64_t id = 0;          ///< set by add()
  };

  /// The id the next add() will return (so that a request can be encoded before it is added).
  std::uint64_t peek_next_id() const noexcept { return next_id_; }
  /// Registers a request and returns its id (ids start at 1 and never repeat).
  std::uint64_t add(Entry entry) {
    const auto id = next_id_++;
    entry.id = id;
    bytes_ += entry.bytes;
    by_deadline_.emplace_back(entry.deadline, id);
    std::push_heap(by_deadline_.begin(), by_deadline_.end(), Later{});
    entries_.emplace(id, std::move(entry));
    return id;
  }

  /// Removes and returns the request `id`, if still pending (a late reply after a timeout is not).
  std::optional<Entry> take(std::uint64_t id) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return std::nullopt;
    Entry e = std::move(it->second);
    entries_.erase(it);
    bytes_ -= e.bytes;
    drop_taken();
    return e;
  }

  /// Removes and returns every request whose deadline is at or before `now`.
  std::vector<Entry> take_expired(Clock::time_point now) {
    std::vector<Entry> out;
    while (!by_deadline_.empty() && by_deadline_.front().first <= now) {
      const auto id = by_deadline_.front().second;
      pop_earliest();
      auto it = entries_.find(id);
      if (it == entries_.end()) continue;  // taken before: its deadline was left in the heap
      bytes_ -= it->second.bytes;
      out.push_back(std::move(it->second));
      entries_.erase(it);
    }
    drop_taken();
    return out;
  }

  /// Removes and returns everything (the socket died).
  std::vector<Entry> take_all() {
    std::vector<Entry> out;
    out.reserve(entries_.size());
    for (auto& [id, e] : entries_) out.push_back(std::move(e));
    entries_.clear();
    by_deadline_.clear();
    bytes_ = 0;
    return out;
  }

  std::optional<Clock::time_point> earliest() const {
    if (by_deadline_.empty()) return std::nullopt;
    return by_deadline_.front().first;  // a pending request's: drop_taken() keeps it so
  }
  std::size_t size() const noexcept { return entries_.size(); }
  /// Bytes of the requests pending (what a server that stopped reading holds us to).
  std::size_t bytes() const noexcept { return bytes_; }
  /// Deadlines held, taken requests' included (at most about twice size(): see drop_taken).
  std::size_t deadlines_held() const noexcept { return by_deadline_.size(); }

 private:
  using Deadline = std::pair<Clock::time_point, std::uint64_t>;
  struct Later {  // the heap's order: the earliest deadline on top
    bool operator()(const Deadline& a, const Deadline& b) const noexcept { return a > b; }
  };
  void pop_earliest() {
    std::pop_heap(by_deadline_.begin(), by_deadline_.end(), Later{});
    by_deadline_.pop_back();
  }
  // A taken request's deadline stays in the heap (removing it from the middle would cost a search)
  // until it reaches the top, where it is dropped here: the top is always a pending request's.
  // Replies come mostly in order, so the top is usually the request just taken. Behind one slow
  // request the dropped ones pile up; the heap is rebuilt from the pending ones when they are
  // more than half of it.
  void drop_taken() {
    while (!by_deadline_.empty() && entries_.count(by_deadline_.front().second) == 0) pop_earliest();
    if (by_deadline_.size() <= 2 * entries_.size() + 64) return;
    by_deadline_.clear();
    for (const auto& [id, e] : entries_) by_deadline_.emplace_back(e.deadline, id);
    std::make_heap(by_deadline_.begin(), by_deadline_.end(), Later{});
  }

  std::uint64_t next_id_ = 1;
  std::size_t bytes_ = 0;
  std::unordered_map<std::uint64_t, Entry> entries_;
  std::vector<Deadline> by_deadline_;  // a min-heap of (deadline, id), with taken ones left in
};

}  // namespace cortex::storage
