// libFuzzer: the endpoint URL parser. It accepts or throws cortex::Error(invalid_url); what it
// accepts prints back (to_string) to a URL it accepts again with the same fields; a refused URL is
// echoed only through redact_url, which keeps nothing of the user info.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cortex/storage/error.hpp"
#include "cortex/storage/url.hpp"

using namespace cortex::storage;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string url(reinterpret_cast<const char*>(data), size);
  try {
    const Endpoint e = parse_endpoint(url);
    const Endpoint again = parse_endpoint(e.to_string());
    if (again.scheme != e.scheme || again.host != e.host || again.port != e.port || again.path != e.path) std::abort();
    if (url.find('@') != std::string::npos && !e.is_local()) std::abort();  // user info is never accepted
  } catch (const cortex::Error& err) {
    if (err.code() != cortex::make_error_code(cortex::Errc::invalid_url)) std::abort();
    // The URL is echoed only through the one redaction, which keeps nothing between "://" and
    // the last '@' (a password may hold '@', '/' or ':').
    const std::string shown = redact_url(url);
    const bool has_nul = url.find('\0') != std::string::npos;  // what() ends at the first NUL
    if (!has_nul && std::string(err.what()).find("'" + shown + "'") == std::string::npos) std::abort();
    const auto from = url.find("://");
    const auto at = url.rfind('@');
    if (from != std::string::npos && at != std::string::npos && at >= from + 3 &&
        shown != url.substr(0, from + 3) + "***" + url.substr(at)) {
      std::abort();
    }
  }
  return 0;
}
