#include "temporal.hpp"

#include <cstdint>
#include <cstdio>

#include "cortex/storage/error.hpp"

namespace cortex::storage {
namespace {

[[noreturn]] void bad(const char* what, std::string_view s) {
  // The text is the server's: cut, so that a hostile megabyte is not copied into the message.
  const std::string shown = s.size() <= 64 ? std::string(s) : std::string(s.substr(0, 64)) + "…";
  throw Error(make_error_code(Errc::decode_error), std::string("malformed ") + what + ": '" + shown + "'");
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

void civil_from_days(long long z, long long& y, unsigned& m, unsigned& d) {
  z += 719468;
  const long long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<long long>(yoe) + era * 400 + (m <= 2);
}

}  // namespace

Datetime parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM), every field its exact count of digits: no sign, no
  // spaces, no letters where digits belong (sscanf's %d accepted "-001" and "+ab:cd").
  auto num = [&](std::size_t at, std::size_t n) {
    if (at + n > s.size()) bad("datetime", s);
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') bad("datetime", s);
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto sep = [&](std::size_t at, char c) {
    if (at >= s.size() || (s[at] != c && !(c == 'T' && (s[at] == 't' || s[at] == ' ')))) bad("datetime", s);
  };
  const int y = num(0, 4);
  sep(4, '-');
  const int mo = num(5, 2);
  sep(7, '-');
  const int d = num(8, 2);
  sep(10, 'T');
  const int h = num(11, 2);
  sep(13, ':');
  const int mi = num(14, 2);
  sep(16, ':');
  const int sec = num(17, 2);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) bad("datetime", s);
  std::size_t i = 19;
  std::uint32_t nanos = 0;
  if (i < s.size() && s[i] == '.') {
    int digits = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
      if (digits < 9) nanos = nanos * 10 + static_cast<std::uint32_t>(s[i] - '0');
    }
    if (digits == 0) bad("datetime", s);
    for (; digits < 9; ++digits) nanos *= 10;
  }
  long long offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-')) {
    const int oh = num(i + 1, 2);
    sep(i + 3, ':');
    const int om = num(i + 4, 2);
    if (oh > 23 || om > 59) bad("datetime", s);
    offset = (s[i] == '+' ? 1 : -1) * (oh * 3600LL + om * 60LL);
    i += 6;
  } else {
    bad("datetime", s);
  }
  if (i != s.size()) bad("datetime", s);
  const long long secs = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
                         h * 3600LL + mi * 60LL + sec - offset;
  return Datetime{secs, nanos};
}

std::string format_rfc3339(const Datetime& dt) {
  long long days = dt.seconds / 86400, rem = dt.seconds % 86400;
  if (rem < 0) { rem += 86400; --days; }
  long long y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", y, m, d, rem / 3600, rem / 60 % 60, rem % 60);
  if (dt.nanos) n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ".%09u", dt.nanos);
  return std::string(buf, static_cast<std::size_t>(n)) + "Z";
}

Duration parse_duration(std::string_view s) {
  // Units as SurrealDB spells them; y = 365 days, w = 7 days.
  struct Unit { std::string_view name; unsigned long long nanos; };
  static const Unit units[] = {{"ns", 1ULL}, {"us", 1000ULL}, {"\xC2\xB5s", 1000ULL}, {"ms", 1000000ULL},
                               {"s", 1000000000ULL}, {"m", 60000000000ULL}, {"h", 3600000000000ULL},
                               {"d", 86400000000000ULL}, {"w", 604800000000000ULL}, {"y", 31536000000000000ULL}};
  if (s.empty()) bad("duration", s);
  unsigned long long secs = 0, nanos = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned long long n = 0;
    const std::size_t start = i;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (n > (~0ULL - 9) / 10) bad("duration", s);
      n = n * 10 + static_cast<unsigned>(s[i] - '0');
    }
    if (i == start) bad("duration", s);
    const Unit* best = nullptr;
    for (const auto& u : units) {
      if (s.substr(i, u.name.size()) == u.name && (!best || u.name.size() > best->name.size())) best = &u;
    }
    if (!best) bad("duration", s);
    i += best->name.size();
    // Every sum and product checked: "1000000000000y" must fail, not wrap around.
    const unsigned long long per = 1000000000ULL;
    unsigned long long part;
    if (best->nanos >= per) {
      if (__builtin_mul_overflow(n, best->nanos / per, &part) || __builtin_add_overflow(secs, part, &secs)) bad("duration", s);
    } else if (__builtin_mul_overflow(n, best->nanos, &part) || __builtin_add_overflow(nanos, part, &nanos)) {
      bad("duration", s);
    }
  }
  if (__builtin_add_overflow(secs, nanos / 1000000000ULL, &secs) || secs > static_cast<unsigned long long>(INT64_MAX)) {
    bad("duration", s);  // beyond what the wire's integers (and our own encoding) can carry
  }
  return Duration{secs, static_cast<std::uint32_t>(nanos % 1000000000ULL)};
}

std::string format_duration(const Duration& d) {
  if (d.seconds == 0 && d.nanos == 0) return "0ns";
  std::string out;
  unsigned long long s = d.seconds;
  const std::pair<unsigned long long, const char*> big[] = {{31536000, "y"}, {604800, "w"}, {86400, "d"},
                                                           {3600, "h"}, {60, "m"}, {1, "s"}};
  for (const auto& [size, name] : big) {
    if (s >= size) { out += std::to_string(s / size) + name; s %= size; }
  }
  unsigned long long n = d.nanos;
  if (n >= 1000000) { out += std::to_string(n / 1000000) + "ms"; n %= 1000000; }
  if (n >= 1000) { out += std::to_string(n / 1000) + "\xC2\xB5s"; n %= 1000; }
  if (n) out += std::to_string(n) + "ns";
  return out;
}

}  // namespace cortex::storage
