#pragma once
// One benchmark figure as a JSON line: {"name":…,"value":…,"unit":…} (the format every bench prints).
#include <cstdio>
#include <string>

inline void json_line(const std::string& name, double value, const char* unit) {
  std::printf("{\"name\":\"%s\",\"value\":%.3f,\"unit\":\"%s\"}\n", name.c_str(), value, unit);
}
