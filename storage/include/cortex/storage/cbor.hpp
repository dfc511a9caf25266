#pragma once
// The CBOR codec for SurrealDB's wire format (docs/protocol.md §3). Encoding always succeeds; decoding
// untrusted bytes throws cortex::Error(Errc::decode_error) naming the problem — never crashes, never
// allocates more than the input could describe, refuses nesting deeper than `max_depth` and (with
// Errc::reply_too_large) a decoded form larger than its budget, and is strict: text must be UTF-8, map keys unique, tagged
// payloads well-formed (datetimes, durations, uuids, decimals).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "cortex/storage/value.hpp"

namespace cortex::storage::cbor {

/// Appends the encoding of `v` to `out`.
void encode(const Value& v, std::string& out);
/// The encoding of `v`.
std::string encode(const Value& v);

struct DecodeOptions {
  std::size_t max_depth = 256;  ///< deepest nesting of arrays/maps/tags accepted
  /// The memory a decoded value may take, as a multiple of its encoded size (with a floor of
  /// `min_budget` bytes): one CBOR byte can become a 72-byte Value, so a frame of nulls would
  /// otherwise take 70 times its size. Beyond it the decode fails with reply_too_large. Real replies
  /// (objects of text and numbers) take 5-30 times their size.
  std::size_t max_amplification = 64;
  std::size_t min_budget = std::size_t{64} << 20;  ///< 64 MiB
};

/// Decodes exactly one item spanning all of `bytes`. Throws cortex::Error(decode_error), or
/// (reply_too_large) when the decoded form would exceed the options' budget.
Value decode(std::string_view bytes, const DecodeOptions& options = {});

/// Decodes a top-level map entry by entry, handing each key and value to `on_entry` without
/// building the map (RPC envelopes: the hot path). Throws like decode(), also when the top level is
/// not a map or a key is not text.
void decode_map(std::string_view bytes, const std::function<void(std::string_view key, Value&& value)>& on_entry,
                const DecodeOptions& options = {});

/// The `id` of an RPC envelope (a top-level map) when it can be found without decoding the values —
/// for attributing a frame that fails to decode to its request. nullopt when there is none.
std::optional<std::int64_t> peek_id(std::string_view bytes) noexcept;

/// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

// Low-level writers, used to build request envelopes without materialising a Value map.
void write_head(std::string& out, unsigned major, std::uint64_t arg);
void write_text(std::string& out, std::string_view s);
void write_int(std::string& out, std::int64_t v);

}  // namespace cortex::storage::cbor
