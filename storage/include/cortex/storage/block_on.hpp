#pragma once
// block_on: the one way this library turns an async operation into a blocking call. `start`
// receives a completion callback taking `Args...`; block_on waits on the calling thread until the
// operation calls it, and returns its arguments. The operation must complete (every async
// operation here ends by its own deadline). Never call it on the io thread that must run the
// operation (it would wait on itself).
#include <future>
#include <memory>
#include <tuple>
#include <type_traits>

namespace cortex::storage {

template <class... Args, class Start>
std::tuple<std::decay_t<Args>...> block_on(Start&& start) {
  using Result = std::tuple<std::decay_t<Args>...>;
  // Shared: the callback may run (and finish) after the waiting thread already woke.
  auto done = std::make_shared<std::promise<Result>>();
  auto result = done->get_future();
  std::forward<Start>(start)([done](Args... args) { done->set_value(Result(std::move(args)...)); });
  return result.get();
}

}  // namespace cortex::storage
