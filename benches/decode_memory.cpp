// Memory a decoded reply takes per byte of its frame, for frames of several shapes (issue #11:
// "a frame of N bytes costs O(N) memory with a small constant"). For each shape: encode a frame
// of about --mib MiB, decode it, and report the resident-set growth per frame byte and the decode
// time per MiB; shapes over the default decode budget are reported as refused.
//   build/benches/bench_decode_memory [--mib 16]
#include <malloc.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cortex/storage/cbor.hpp"
#include "cortex/storage/error.hpp"
#include "json_line.hpp"
#include "resident_memory.hpp"

using namespace cortex::storage;

namespace {

/// An array of copies of `item` whose encoding is about `bytes` long.
std::string frame_of(const Value& item, std::size_t bytes) {
  const std::size_t one = cbor::encode(item).size();
  Array a(bytes / one, item);
  return cbor::encode(Value(std::move(a)));
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t mib = 16;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--mib") == 0) mib = std::strtoul(argv[i + 1], nullptr, 10);
  }
  const std::size_t target = mib << 20;
  const std::vector<std::pair<std::string, Value>> shapes = {
      {"nulls", Value::null()},
      {"small_ints", Value(7)},
      {"short_text", Value("agent-0001")},
      {"row_object", Value(Object{{"id", Value(RecordId{"memory", Value("k1")})},
                                  {"text", Value("a remembered fact of some length")},
                                  {"n", Value(42)}})},
  };
  cbor::DecodeOptions unbounded;
  unbounded.max_amplification = 1u << 20;  // measure what decoding costs, budget aside
  for (const auto& [name, item] : shapes) {
    const std::string frame = frame_of(item, target);
    bool refused = false;
    try {
      (void)cbor::decode(frame);  // the default budget
    } catch (const cortex::Error&) {
      refused = true;
    }
    malloc_trim(0);
    const std::size_t before = cortex::test::resident_bytes();
    const auto t0 = std::chrono::steady_clock::now();
    Value v = cbor::decode(frame, unbounded);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::size_t after = cortex::test::resident_bytes();
    json_line("decode_rss_per_frame_byte/" + name, static_cast<double>(after - std::min(after, before)) / static_cast<double>(frame.size()),
              "bytes/byte");
    json_line("decode_ms_per_mib/" + name, secs * 1000.0 / (static_cast<double>(frame.size()) / (1 << 20)), "ms/MiB");
    json_line("refused_by_default_budget/" + name, refused ? 1 : 0, "bool");
  }
  return 0;
}
