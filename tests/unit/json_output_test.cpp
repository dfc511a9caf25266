// The JSON outputs (health status, metrics snapshot) stay valid JSON whatever bytes their strings
// carry: a server's refused-upgrade body in last_error, an agent id that is not UTF-8.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cortex/metrics/pool_metrics.hpp"
#include "cortex/pool/connection_manager.hpp"

namespace {
const std::string kNotUtf8 = "HTTP 400 Bad Request: \xff\xfe\xc3(";  // stray bytes and a cut sequence
const std::string kReplacement = "\xef\xbf\xbd";                     // U+FFFD
}  // namespace

// Before: nlohmann::json::type_error 316 (invalid UTF-8) escaped to_json().
TEST(JsonOutput, HealthStatusWithInvalidUtf8InLastErrorIsValidJson) {
  cortex::pool::HealthStatus h;
  cortex::pool::EndpointHealth e;
  e.url = "ws://127.0.0.1:1/rpc";
  e.last_error = kNotUtf8;
  h.endpoints.push_back(e);
  h.sync = cortex::pool::SyncHealth{};
  h.sync->last_error = kNotUtf8;
  std::string text;
  ASSERT_NO_THROW(text = h.to_json());
  const auto j = nlohmann::json::parse(text);
  const std::string last = j["endpoints"][0]["last_error"];
  EXPECT_EQ(last.rfind("HTTP 400 Bad Request: ", 0), 0u) << last;  // the readable part is kept
  EXPECT_NE(last.find(kReplacement), std::string::npos) << last;
  EXPECT_NE(j["sync"]["last_error"].get<std::string>().find(kReplacement), std::string::npos);
}

// Before: the same throw from MetricsSnapshot::to_json() for an agent id or endpoint URL.
TEST(JsonOutput, MetricsSnapshotWithInvalidUtf8IsValidJson) {
  cortex::metrics::MetricsSnapshot s;
  cortex::metrics::AgentStats a;
  a.name = kNotUtf8;
  a.operations = 3;
  s.agents.push_back(a);
  cortex::metrics::EndpointStats e;
  e.url = kNotUtf8;
  s.endpoints.push_back(e);
  std::string text;
  ASSERT_NO_THROW(text = s.to_json());
  const auto j = nlohmann::json::parse(text);
  EXPECT_NE(j["agents"][0]["agent"].get<std::string>().find(kReplacement), std::string::npos);
  EXPECT_EQ(j["agents"][0]["operations"], 3);
  EXPECT_NE(j["endpoints"][0]["url"].get<std::string>().find(kReplacement), std::string::npos);
}
