#include "background_decoder.hpp"

#include <mutex>
#include <utility>

#include <asio/post.hpp>
#include <asio/thread_pool.hpp>

namespace cortex::storage::detail {

namespace {
std::mutex hook_mu;
std::function<void()>& hook() {
  static std::function<void()> h;
  return h;
}
asio::thread_pool& pool() {
  static asio::thread_pool p(1);  // joined at exit; work not yet started is dropped
  return p;
}
}  // namespace

void run_in_background(std::function<void()> work) {
  asio::post(pool(), [work = std::move(work)] {
    std::function<void()> h;
    {
      std::lock_guard<std::mutex> lock(hook_mu);
      h = hook();
    }
    if (h) h();
    work();
  });
}

void set_background_hook_for_testing(std::function<void()> h) {
  std::lock_guard<std::mutex> lock(hook_mu);
  hook() = std::move(h);
}

}  // namespace cortex::storage::detail
