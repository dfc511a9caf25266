#pragma once
// The CBOR codec for SurrealDB's wire format (docs/protocol.md §3). Encoding always succeeds; decoding
// untrusted bytes throws cortex::Error(Errc::decode_error) naming the problem — never crashes, never
// allocates more than the input could describe, and refuses nesting deeper than `max_depth`.
#include <functional>
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
};

/// Decodes exactly one item spanning all of `bytes`. Throws cortex::Error(decode_error).
Value decode(std::string_view bytes, const DecodeOptions& options = {});

/// Decodes a top-level map entry by entry, handing each key and value to `on_entry` without
/// building the map (RPC envelopes: the hot path). Throws like decode(), also when the top level is
/// not a map or a key is not text.
void decode_map(std::string_view bytes, const std::function<void(std::string_view key, Value&& value)>& on_entry,
                const DecodeOptions& options = {});

// Low-level writers, used to build request envelopes without materialising a Value map.
void write_head(std::string& out, unsigned major, std::uint64_t arg);
void write_text(std::string& out, std::string_view s);
void write_int(std::string& out, std::int64_t v);

}  // namespace cortex::storage::cbor
