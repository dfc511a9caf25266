// libFuzzer: the CBOR decoder on arbitrary bytes. Decoding either succeeds or throws
// cortex::Error(decode_error, or reply_too_large over the decode budget) — nothing else, no crash, no leak (ASan+UBSan) — and what decodes
// encodes to bytes that decode again. Both entry points (decode, decode_map) and peek_id.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cortex/storage/cbor.hpp"
#include "cortex/storage/error.hpp"

using namespace cortex::storage;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  cbor::DecodeOptions small;
  small.min_budget = std::size_t{8} << 20;  // keep each run's memory small
  try {
    const Value v = cbor::decode(in, small);
    const std::string again = cbor::encode(v);
    (void)cbor::decode(again);  // our own encoding always decodes
  } catch (const cortex::Error& e) {
    if (e.code() != cortex::make_error_code(cortex::Errc::decode_error) &&
        e.code() != cortex::make_error_code(cortex::Errc::reply_too_large) &&
        e.code() != cortex::make_error_code(cortex::Errc::invalid_argument)) {
      std::abort();  // a decode failure must say so
    }
  }
  try {
    cbor::decode_map(in, [](std::string_view, Value&&) {}, small);
  } catch (const cortex::Error&) {
  }
  (void)cbor::peek_id(in);
  (void)cbor::valid_utf8(in);
  return 0;
}
